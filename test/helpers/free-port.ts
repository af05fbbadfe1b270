import { createServer } from 'node:net';

/**
 * A loopback port free a moment ago: for a server a test starts later (or again after a kill),
 * or never, so that connecting to it is refused.
 */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}
