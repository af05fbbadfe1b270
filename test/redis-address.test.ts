import { describe, expect, it } from 'vitest';
import { clusterUrl, isClusterUrl, parseRedisAddress, redactAddress, RedisAddressError } from '../src/config/redis-address.js';

describe('redis address', () => {
  it('reads one host as a single Redis, with credentials, database and default port', () => {
    expect(parseRedisAddress('redis://127.0.0.1:6380/2')).toEqual({ tls: false, db: 2, nodes: [{ host: '127.0.0.1', port: 6380 }], cluster: false });
    expect(parseRedisAddress('rediss://app:p%40ss@redis.example')).toMatchObject({
      tls: true,
      username: 'app',
      password: 'p@ss',
      nodes: [{ host: 'redis.example', port: 6379 }],
    });
    expect(parseRedisAddress('redis://h:1/0?family=6').nodes).toEqual([{ host: 'h', port: 1 }]);
    expect(parseRedisAddress('redis://:secret@[::1]:7000')).toMatchObject({ username: undefined, password: 'secret', nodes: [{ host: '::1', port: 7000 }] });
  });

  it('reads several hosts as the seeds of a cluster', () => {
    const a = parseRedisAddress('redis://u:pw@10.0.0.1:7001,10.0.0.2:7002, 10.0.0.3');
    expect(a).toMatchObject({ cluster: true, username: 'u', password: 'pw', db: 0 });
    expect(a.nodes).toEqual([
      { host: '10.0.0.1', port: 7001 },
      { host: '10.0.0.2', port: 7002 },
      { host: '10.0.0.3', port: 6379 },
    ]);
    expect(isClusterUrl('redis://u:pw@10.0.0.1:7001,10.0.0.2:7002')).toBe(true);
    expect(isClusterUrl('redis://u:p,w@10.0.0.1:7001')).toBe(false);
    expect(isClusterUrl('redis://10.0.0.1:7001')).toBe(false);
  });

  it('refuses what it cannot read, naming the URL without its password', () => {
    for (const bad of [
      'http://h:1',
      'redis://',
      'redis://h:99999',
      'redis://u:secret@h:1,g:2/3',
      'redis://u:%zz@h:1',
      'redis://h:1:2',
      'redis://u:secret@h:1,g:2?family=6',
    ]) {
      let err: unknown;
      try {
        parseRedisAddress(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(RedisAddressError);
      expect(String((err as Error).message)).not.toContain('secret');
    }
  });

  it('redacts passwords of one host or several', () => {
    expect(redactAddress('redis://u:secret@a:1,b:2')).toBe('redis://u:***@a:1,b:2');
    expect(redactAddress('rediss://:secret@a:1')).toBe('rediss://:***@a:1');
    expect(redactAddress('redis://a:1')).toBe('redis://a:1');
  });

  it('joins redis.cluster seeds into one URL, credentials from the first', () => {
    expect(clusterUrl(['redis://:pw@127.0.0.1:7001', 'redis://127.0.0.1:7002', 'redis://127.0.0.1:7001'])).toBe('redis://:pw@127.0.0.1:7001,127.0.0.1:7002');
    expect(() => clusterUrl(['redis://a:1', 'rediss://b:2'])).toThrow(/same scheme/);
    expect(clusterUrl([])).toBe('');
    // One seed is a cluster too: redis.cluster says so, whatever the number of seeds.
    expect(isClusterUrl(clusterUrl(['redis://10.0.0.1:7000']))).toBe(true);
    expect(parseRedisAddress(clusterUrl(['redis://10.0.0.1:7000'])).cluster).toBe(true);
  });
});
