/**
 * The Redis settings refuse combinations that would look safe and not be: TLS files on a plain
 * URL, a password file for the embedded server. Unreadable files name their key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../../src/config/config.js';
import { redactRedisUrl } from '../../src/redis/connection-check.js';
import { configuredConnectionSettings } from '../../src/redis/connection-settings.js';

const dir = mkdtempSync(join(tmpdir(), 'orq-sec-redis-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const load = (redis: ConfigInput['redis'], env: NodeJS.ProcessEnv = {}) => loadConfig({ env, overrides: { redis } });

describe('redis settings', () => {
  it('TLS files need a rediss:// url, and the embedded server has no TLS', () => {
    expect(() => load({ url: 'redis://h:6379', tls: { caFile: '/ca.pem' } })).toThrow(/redis\.tls\.caFile.*needs a rediss:\/\/ url/);
    expect(() => load({ tls: { servername: 'r.internal' } })).toThrow(/redis\.tls\.servername.*embedded server has no TLS/);
    expect(() => load({ url: 'rediss://h:6380', tls: { certFile: '/c.pem' } })).toThrow(/redis\.tls\.keyFile.*go together/);
    expect(load({ url: 'rediss://h:6380', tls: { caFile: '/ca.pem' } }).redis.tls.caFile).toBe('/ca.pem');
  });

  it('a password file needs a url: the embedded server makes its own', () => {
    expect(() => load({ passwordFile: '/run/secrets/redis_password' })).toThrow(/redis\.passwordFile.*needs redis\.url/);
  });

  it('reads ORCHESTRATOR_REDIS_PASSWORD_FILE and ORCHESTRATOR_REDIS_CA_FILE', () => {
    const c = load({}, { REDIS_URL: 'rediss://h:6380', ORCHESTRATOR_REDIS_PASSWORD_FILE: '/run/secrets/p', ORCHESTRATOR_REDIS_CA_FILE: '/run/secrets/ca.pem' });
    expect(c.redis.passwordFile).toBe('/run/secrets/p');
    expect(c.redis.tls.caFile).toBe('/run/secrets/ca.pem');
  });

  it('reads the password and TLS files once, naming the key of one it cannot read', () => {
    const pw = join(dir, 'pw');
    const ca = join(dir, 'ca.pem');
    writeFileSync(pw, 's3cret\n');
    writeFileSync(ca, 'PEM');
    const s = configuredConnectionSettings(load({ url: 'rediss://h:6380', passwordFile: pw, tls: { caFile: ca, servername: 'r.internal' } }).redis);
    expect(s.password).toBe('s3cret');
    expect(s.tls?.ca?.toString()).toBe('PEM');
    expect(s.tls?.servername).toBe('r.internal');
    expect(configuredConnectionSettings(load({ url: 'redis://h:6379', passwordFile: pw }).redis).tls).toBeUndefined();
    expect(() => configuredConnectionSettings(load({ url: 'redis://h:6379', passwordFile: join(dir, 'none') }).redis)).toThrow(
      /redis\.passwordFile: cannot read .*ENOENT/,
    );
    writeFileSync(join(dir, 'empty'), '\n');
    expect(() => configuredConnectionSettings(load({ url: 'redis://h:6379', passwordFile: join(dir, 'empty') }).redis)).toThrow(
      /redis\.passwordFile: .* is empty/,
    );
  });

  it('URLs in messages carry no password', () => {
    expect(redactRedisUrl('redis://orq:s3cret@h:6379/2')).toBe('redis://orq:***@h:6379/2');
    expect(redactRedisUrl('rediss://h:6380')).toBe('rediss://h:6380');
  });
});
