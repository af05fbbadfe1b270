/**
 * What every Redis connection of a process carries besides its URL: the password (from
 * redis.passwordFile, or the embedded server's generated one) and the TLS settings of a
 * rediss:// URL (redis.tls). Files are read once, at start, so a missing or unreadable one
 * stops start-up naming its config key (a ConfigError: exit code 2) rather than failing on the
 * first reconnect.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { ConfigError, type Config } from '../config/config.js';

export interface RedisConnectionSettings {
  /** Used when the URL carries no password. */
  password?: string;
  /** Applied to rediss:// URLs only. */
  tls?: ConnectionOptions;
}

function readSetting(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads a password file: its content without trailing line ends; empty is an error. */
export function readPasswordFile(key: string, path: string): string {
  const password = readSetting(key, path)
    .toString('utf8')
    .replace(/[\r\n]+$/, '');
  if (!password) throw new ConfigError(`${key}: ${path} is empty`);
  return password;
}

/** The settings of a configured (not embedded) Redis. */
export function configuredConnectionSettings(redis: Config['redis']): RedisConnectionSettings {
  const settings: RedisConnectionSettings = {};
  if (redis.passwordFile) settings.password = readPasswordFile('redis.passwordFile', redis.passwordFile);
  if (redis.url.startsWith('rediss://')) {
    const { caFile, certFile, keyFile, servername } = redis.tls;
    const tls: ConnectionOptions = {};
    if (caFile) tls.ca = readSetting('redis.tls.caFile', caFile);
    if (certFile) tls.cert = readSetting('redis.tls.certFile', certFile);
    if (keyFile) tls.key = readSetting('redis.tls.keyFile', keyFile);
    if (servername) tls.servername = servername;
    settings.tls = tls;
  }
  return settings;
}
