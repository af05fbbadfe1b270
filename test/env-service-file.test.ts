/** The env-manager's service file: what loads, and every kind of bad file, named by key and line. */
import { describe, expect, it } from 'vitest';
import { parseServiceFile, ServiceFileError } from '../src/env-manager/service-file.js';

const GOOD = `
[settings]
project = "demo"
stopGrace = "2s"
allowedVolumeRoots = ["/srv/orq"]

[services.redis]
image = "redis:7"
command = ["redis-server", "--appendonly", "yes"]
ports = ["127.0.0.1:6379:6379"]
volumes = ["/srv/orq/redis:/data", "cache:/cache:ro"]
memory = "256m"
restart = "always"
[services.redis.healthcheck]
kind = "tcp"
port = 6379
interval = "500ms"

[services.api]
image = "api:1"
depends_on = ["redis"]
[services.api.healthcheck]
kind = "http"
port = 8080
path = "/health"
`;

function error(text: string): ServiceFileError {
  try {
    parseServiceFile(text, 'services.toml');
  } catch (err) {
    if (err instanceof ServiceFileError) return err;
    throw err;
  }
  throw new Error('expected the file to be rejected');
}

describe('service file', () => {
  it('loads services in dependency order with durations and sizes converted', () => {
    const f = parseServiceFile(GOOD, 'services.toml');
    expect(f.settings).toMatchObject({ project: 'demo', stopGrace: 2_000, onStartFailure: 'keep', allowedVolumeRoots: ['/srv/orq'] });
    expect(f.services.map((s) => s.name)).toEqual(['redis', 'api']);
    expect(f.services[0]).toMatchObject({ memory: 256 << 20, restart: 'always', healthcheck: { kind: 'tcp', port: 6379, interval: 500, retries: 3 } });
    expect(f.services[1]).toMatchObject({ restart: 'on-failure', healthcheck: { kind: 'http', path: '/health' } });
  });

  it('takes an image from the environment over the file', () => {
    const f = parseServiceFile(GOOD, 'services.toml', { ORCHESTRATOR_ENV_REDIS_IMAGE: 'redis:7.2' });
    expect(f.services[0]!.image).toBe('redis:7.2');
  });

  it.each([
    ['an unknown key', GOOD.replace('restart = "always"', 'restart = "always"\nrestartt = 1'), 'services.redis.restartt', 14, /unknown key/],
    ['an unknown table key', GOOD.replace('[settings]', '[settings]\nflavour = 1'), 'settings.flavour', 3, /unknown key/],
    [
      'a dependency cycle',
      GOOD.replace('image = "redis:7"', 'image = "redis:7"\ndepends_on = ["api"]'),
      'services.redis.depends_on',
      9,
      /cycle: redis -> api -> redis|cycle: api -> redis -> api/,
    ],
    ['a missing dependency', GOOD.replace('depends_on = ["redis"]', 'depends_on = ["db"]'), 'services.api.depends_on', 21, /unknown service "db"/],
    ['a bad duration', GOOD.replace('interval = "500ms"', 'interval = "soon"'), 'services.redis.healthcheck.interval', 17, /not a duration/],
    ['a bad size', GOOD.replace('memory = "256m"', 'memory = "lots"'), 'services.redis.memory', 12, /not a size/],
    [
      'a volume outside the allowed roots',
      GOOD.replace('/srv/orq/redis:/data', '/etc:/data'),
      'services.redis.volumes.0',
      11,
      /not under settings.allowedVolumeRoots/,
    ],
    ['a tcp check without a port', GOOD.replace('port = 6379\n', ''), 'services.redis.healthcheck.kind', 15, /needs a port/],
    ['a bad restart policy', GOOD.replace('restart = "always"', 'restart = "sometimes"'), 'services.redis.restart', 13, /expected one of|Invalid option/],
  ])('rejects %s, naming the key and its line', (_what, text, key, line, message) => {
    const err = error(text);
    expect({ key: err.key, line: err.line }).toEqual({ key, line });
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`services.toml:${line}:`);
  });

  it('rejects TOML syntax errors with the line', () => {
    const err = error('[services.a]\nimage = "x"\nbroken = [\n');
    expect(err.message).toMatch(/^services\.toml:\d+:/);
  });

  it('rejects a file without services', () => {
    expect(error('[settings]\nproject = "x"\n').message).toMatch(/services/);
  });
});
