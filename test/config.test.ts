import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';

function tomlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'orq-config-')), 'c.toml');
  writeFileSync(file, text);
  return file;
}

describe('config loader', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.grpc.addr).toBe('127.0.0.1:50052');
    expect(c.http.addr).toBe('127.0.0.1:9097');
    expect(c.redis.url).toBe('');
    expect([...c.classes.keys()]).toEqual(['cpu_short', 'cpu_long', 'gpu', 'gpu_slurm']);
    expect(Object.isFrozen(c.grpc)).toBe(true);
  });

  it('takes the pool GPUs from the file or ORCHESTRATOR_POOL_GPUS; unset means detect, empty means none', () => {
    expect(loadConfig({ env: {} }).pool.gpus).toBeUndefined();
    expect(loadConfig({ file: tomlFile('[pool]\ngpus = ["0", "1"]\n'), env: {} }).pool.gpus).toEqual(['0', '1']);
    expect(loadConfig({ file: tomlFile('[pool]\ngpus = ["0"]\n'), env: { ORCHESTRATOR_POOL_GPUS: '2, 3' } }).pool.gpus).toEqual(['2', '3']);
    expect(loadConfig({ env: { ORCHESTRATOR_POOL_GPUS: '' } }).pool.gpus).toEqual([]);
    expect(() => loadConfig({ env: { ORCHESTRATOR_POOL_GPUS: '0,a b' } })).toThrow(/config key pool\.gpus\.1/);
    expect(loadConfig({ env: {} }).classes.get('gpu')!.usesGpu).toBe(true);
    expect(loadConfig({ env: {} }).executors.slurm).toMatchObject({ pollIntervalMs: 2000, sbatchPath: 'sbatch', defaultPartition: '' });
  });

  it('reads the older stack environment names over the file', () => {
    const file = tomlFile('[grpc]\naddr = "0.0.0.0:1"\n');
    const c = loadConfig({ file, env: { ORCHESTRATOR_GRPC_ADDR: '127.0.0.1:6000', ORCHESTRATOR_HTTP_ADDR: '127.0.0.1:6001', REDIS_URL: 'redis://x:1' } });
    expect(c.grpc.addr).toBe('127.0.0.1:6000');
    expect(c.http.addr).toBe('127.0.0.1:6001');
    expect(c.redis.url).toBe('redis://x:1');
  });

  it('takes a Redis Cluster as a URL of several hosts or as redis.cluster, and refuses a URL it cannot read', () => {
    expect(loadConfig({ env: { REDIS_URL: 'redis://:pw@10.0.0.1:7000,10.0.0.2:7000' } }).redis.url).toBe('redis://:pw@10.0.0.1:7000,10.0.0.2:7000');
    const c = loadConfig({ file: tomlFile('[redis]\ncluster = ["redis://:pw@10.0.0.1:7000", "redis://10.0.0.2:7001"]\n'), env: {} });
    expect(c.redis.url).toBe('redis://:pw@10.0.0.1:7000,10.0.0.2:7001');
    expect(() => loadConfig({ file: tomlFile('[redis]\ncluster = ["redis://a:1"]\n'), env: { REDIS_URL: 'redis://b:2' } })).toThrow(
      /config key redis\.cluster: set either/,
    );
    expect(() => loadConfig({ env: { REDIS_URL: 'redis://:secret@a:1,b:2/3' } })).toThrow(/config key redis\.url: .*only database 0/);
    expect(() => loadConfig({ env: { REDIS_URL: 'redis://:secret@a:1,b:2/3' } })).not.toThrow(/secret/);
    expect(() => loadConfig({ env: { REDIS_URL: 'localhost:6379' } })).toThrow(/config key redis\.url: .*not a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('adds and overrides task classes field by field', () => {
    const file = tomlFile('[classes.cpu_short]\nconcurrency = 3\n[classes.video]\nattempts = 5\n');
    const c = loadConfig({ file, env: {} });
    expect(c.classes.get('cpu_short')!.concurrency).toBe(3);
    expect(c.classes.get('cpu_short')!.timeoutMs).toBe(60_000);
    expect(c.classes.get('video')!.attempts).toBe(5);
  });

  it('parses pool classes from the environment', () => {
    const c = loadConfig({ env: { ORCHESTRATOR_POOL_CLASSES: 'cpu_short:8, gpu' } });
    expect(c.pool.classes).toEqual({ cpu_short: 8, gpu: 0 });
  });

  it.each([
    ['[grpc]\naddr = "nope"\n', 'grpc.addr'],
    ['[grpc]\nmaxPayloadBytes = -1\n', 'grpc.maxPayloadBytes'],
    ['[classes.cpu_short]\nconcurrency = 0\n', 'classes.cpu_short.concurrency'],
    ['[classes.cpu_short]\nconcurency = 2\n', 'classes.cpu_short'],
    ['[pool]\nsandbox = "vm"\n', 'pool.sandbox'],
    ['[pool.classes]\nnosuch = 1\n', 'pool.classes.nosuch'],
    ['bogus = 1\n', 'bogus'],
    ['[executors.http]\nallowedUrlPrefixes = ["ftp://x/"]\n', 'executors.http.allowedUrlPrefixes.0'],
    ['[executors.http]\nallowedUrlPrefixes = ["http://x/?a=1"]\n', 'executors.http.allowedUrlPrefixes.0'],
  ])('rejects %j naming %s', (text, key) => {
    expect(() => loadConfig({ file: tomlFile(text), env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: tomlFile(text), env: {} })).toThrow(key);
  });

  it('allows no http URL by default and stores prefixes normalised', () => {
    expect(loadConfig({ env: {} }).executors.http.allowedUrlPrefixes).toEqual([]);
    const c = loadConfig({ file: tomlFile('[executors.http]\nallowedUrlPrefixes = ["HTTPS://Runner:443/a/./b/"]\n'), env: {} });
    expect(c.executors.http.allowedUrlPrefixes).toEqual(['https://runner/a/b/']);
  });

  it('locks containers down by default and reads the Docker socket from DOCKER_HOST', () => {
    const c = loadConfig({ env: { DOCKER_HOST: 'unix:///run/other.sock' } });
    expect(c.executors.container).toMatchObject({ allowNetwork: false, allowedMounts: [], defaultMemoryBytes: 1 << 30, defaultPidsLimit: 256 });
    const file = tomlFile('[executors.container]\nallowedMounts = ["/srv//data/"]\n');
    expect(loadConfig({ file, env: {} }).executors.container.allowedMounts).toEqual(['/srv/data']);
    expect(() => loadConfig({ file: tomlFile('[executors.container]\nallowedMounts = ["srv"]\n'), env: {} })).toThrow('executors.container.allowedMounts.0');
    expect(c.docker.socketPath).toBe('/run/other.sock');
    expect(() => loadConfig({ env: { DOCKER_HOST: 'tcp://10.0.0.1:2375' } })).toThrow('DOCKER_HOST');
  });

  it("gives the env-manager its own gRPC tokens and TLS, checked like the orchestrator's, not inherited from grpc", () => {
    const file = tomlFile(
      '[[grpc.auth.tokens]]\ntoken = "orchestrator-token-0123"\nrole = "admin"\n[envManager.tls]\ncertFile = "/srv/env.pem"\nkeyFile = "/srv/env.key"\n',
    );
    const c = loadConfig({ file, env: { ORCHESTRATOR_ENV_TOKENS_FILE: '/srv/env-tokens' } });
    expect(c.envManager.auth).toEqual({ tokens: [], tokensFile: '/srv/env-tokens' });
    expect(c.envManager.tls).toMatchObject({ certFile: '/srv/env.pem', keyFile: '/srv/env.key', requireClientCert: false });
    expect(c.envManager.maxMessageBytes).toBe(16 << 20);
    expect(() => loadConfig({ env: {}, overrides: { envManager: { tls: { certFile: '/srv/env.pem' } } } })).toThrow(/config key envManager\.tls\.keyFile/);
    expect(() => loadConfig({ env: {}, overrides: { envManager: { auth: { tokens: [{ token: 'short', role: 'read' }] } } } })).toThrow(
      /config key envManager\.auth\.tokens\.0\.token/,
    );
  });

  it("takes orchctl's token from ORCHESTRATOR_TOKEN (client.token), none by default", () => {
    expect(loadConfig({ env: {} }).client.token).toBe('');
    expect(loadConfig({ env: { ORCHESTRATOR_TOKEN: 'from-the-environment-0123' } }).client.token).toBe('from-the-environment-0123');
  });

  it('names the file when its TOML is broken', () => {
    const file = tomlFile('[grpc\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(file);
  });
});
