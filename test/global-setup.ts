/**
 * Runs once before the suites: makes sure redis-server exists (installing Debian's package
 * when running as root on a machine without it), so `npm test` works on a fresh machine.
 */
import { ensureRedisServer } from '../src/redis/embedded-redis.js';

export default function setup(): void {
  ensureRedisServer({
    info: (_o, msg) => process.stderr.write(`${msg ?? ''}\n`),
    warn: (o, msg) => process.stderr.write(`${msg ?? ''} ${JSON.stringify(o)}\n`),
  });
}
