/**
 * What clients send Redis while a piece of a test runs, seen through MONITOR: to count the calls
 * an operation makes. Commands a script runs (MONITOR's "lua" source) are left out: a script call
 * is one call. MONITOR is read on a plain socket: ioredis's monitor mode fails now and then
 * ("Command queue state error") when a line comes in with its reply to MONITOR.
 */
import { connect } from 'node:net';
import type { Redis } from 'ioredis';
import { waitFor } from './wait.js';

/** One MONITOR line's arguments: `"EVALSHA" "ab\"c"` -> ['EVALSHA', 'ab"c']. */
function argsOf(line: string): string[] {
  const args: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"/g)) args.push(m[1]!.replace(/\\(.)/g, '$1'));
  return args;
}

/**
 * The commands (each as its arguments joined by spaces, long ones cut) that clients sent while
 * `fn` ran and that `match` picks, up to a marker sent after `fn` came back through MONITOR.
 */
export async function commandsSent(r: Redis, match: (args: string[]) => boolean, fn: () => Promise<unknown>): Promise<string[]> {
  const socket = connect({ host: r.options.host ?? '127.0.0.1', port: r.options.port ?? 6379 });
  const seen: string[] = [];
  const marker = `monitor-marker-${process.pid}-${Date.now()}`;
  let monitoring = false;
  let markerSeen = false;
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') monitoring = true;
      else if (line.startsWith('+')) {
        const source = /^\+\S+ \[\d+ ([^\]]+)\]/.exec(line)?.[1];
        const args = argsOf(line);
        if (args.includes(marker)) markerSeen = true;
        else if (source !== 'lua' && match(args)) seen.push(args.map((a) => (a.length > 40 ? `${a.slice(0, 40)}…` : a)).join(' '));
      }
    }
  });
  try {
    socket.write('MONITOR\r\n');
    await waitFor(() => monitoring, { message: 'MONITOR never answered' });
    await fn();
    await r.echo(marker);
    await waitFor(() => markerSeen, { message: 'MONITOR never showed the marker' });
  } finally {
    socket.destroy();
  }
  return seen;
}

/** commandsSent of the commands naming `id` anywhere in their arguments. */
export const commandsNaming = (r: Redis, id: string, fn: () => Promise<unknown>) => commandsSent(r, (args) => args.some((a) => a.includes(id)), fn);
