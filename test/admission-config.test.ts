/**
 * The admission and retention keys of the config: their defaults, and bad values refused at
 * start naming the key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultEmbeddedMaxMemoryBytes, loadConfig } from '../src/config/config.js';

function tomlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'orq-config-')), 'c.toml');
  writeFileSync(file, text);
  return file;
}

const load = (toml: string) => loadConfig({ file: tomlFile(toml), env: {} });

describe('admission config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.redis).toMatchObject({ memoryHighWaterMark: 0.8, memoryHighWaterMarkBytes: 0, memoryCheckIntervalMs: 1000 });
    expect(c.redis.embedded.maxMemoryBytes).toBe(Math.min(1 << 30, Math.floor(totalmem() / 2 / (1 << 20)) * (1 << 20)));
    expect(c.redis.embedded.maxMemoryBytes).toBe(defaultEmbeddedMaxMemoryBytes());
    expect(c.grpc.submitRateLimit).toEqual({ perSecond: 10_000, burst: 50_000 });
    expect(c.retention).toMatchObject({ maxFinishedBytes: 0, maxFinishedFraction: 0.5 });
  });

  it('takes a per-token submit rate and the other keys from the file', () => {
    const c = load(`
[redis]
memoryHighWaterMark = 0.9
memoryHighWaterMarkBytes = 1000000
embedded = { maxMemoryBytes = 0 }
[grpc]
submitRateLimit = { perSecond = 0.5, burst = 3 }
[[grpc.auth.tokens]]
token = "0123456789abcdefXYZ"
role = "submit"
submitRateLimit = { perSecond = 100, burst = 1000 }
[retention]
maxFinishedBytes = 500000
`);
    expect(c.redis).toMatchObject({ memoryHighWaterMark: 0.9, memoryHighWaterMarkBytes: 1_000_000 });
    expect(c.redis.embedded.maxMemoryBytes).toBe(0);
    expect(c.grpc.submitRateLimit).toEqual({ perSecond: 0.5, burst: 3 });
    expect(c.grpc.auth.tokens[0]!.submitRateLimit).toEqual({ perSecond: 100, burst: 1000 });
    expect(c.retention.maxFinishedBytes).toBe(500_000);
  });

  it.each([
    ['[redis]\nmemoryHighWaterMark = 1.5\n', /config key redis\.memoryHighWaterMark:/],
    ['[redis]\nmemoryHighWaterMark = -0.1\n', /config key redis\.memoryHighWaterMark:/],
    ['[redis]\nmemoryHighWaterMarkBytes = 1.5\n', /config key redis\.memoryHighWaterMarkBytes:/],
    ['[redis]\nmemoryCheckIntervalMs = 10\n', /config key redis\.memoryCheckIntervalMs:/],
    ['[redis.embedded]\nmaxMemoryBytes = 1000\n', /config key redis\.embedded\.maxMemoryBytes: at least 1048576 \(1 MiB\), or 0 for no limit/],
    ['[grpc]\nsubmitRateLimit = { perSecond = -1 }\n', /config key grpc\.submitRateLimit\.perSecond:/],
    ['[grpc]\nsubmitRateLimit = { burst = 0 }\n', /config key grpc\.submitRateLimit\.burst:/],
    ['[grpc]\nsubmitRateLimit = { perSecond = 1, per = 2 }\n', /config key grpc\.submitRateLimit: .*per/],
    [
      '[[grpc.auth.tokens]]\ntoken = "0123456789abcdefXYZ"\nrole = "submit"\nsubmitRateLimit = { burst = 0.5 }\n',
      /config key grpc\.auth\.tokens\.0\.submitRateLimit\.burst:/,
    ],
    [
      '[[envManager.auth.tokens]]\ntoken = "0123456789abcdefXYZ"\nrole = "read"\nsubmitRateLimit = { burst = 5 }\n',
      /config key envManager\.auth\.tokens\.0\.submitRateLimit:/,
    ],
    ['[retention]\nmaxFinishedFraction = 2\n', /config key retention\.maxFinishedFraction:/],
    ['[retention]\nmaxFinishedBytes = -5\n', /config key retention\.maxFinishedBytes:/],
    ['[retention]\nmaxFinishedFraction = 0.8\n', /config key retention\.maxFinishedFraction: 0\.8 must be below redis\.memoryHighWaterMark \(0\.8\)/],
    [
      '[redis]\nmemoryHighWaterMarkBytes = 1000\n[retention]\nmaxFinishedBytes = 1000\n',
      /config key retention\.maxFinishedBytes: 1000 must be below redis\.memoryHighWaterMarkBytes/,
    ],
  ])('refuses %j naming the key', (toml, message) => {
    expect(() => load(toml)).toThrow(ConfigError);
    expect(() => load(toml)).toThrow(message);
  });
});
