/**
 * Makes a sandbox child process exit when its pool goes, however the pool went.
 *
 * Why two mechanisms:
 * - The IPC channel closes when the pool exits, even by SIGKILL, and Node emits 'disconnect'
 *   on the child; but only on the child's main thread, which a handler that never yields (a
 *   tight loop, a blocking call: the `spin` built-in) keeps busy for ever.
 * - So a worker thread, whose event loop the handler cannot block, also polls the parent pid:
 *   once the pool is gone the kernel hands the child to another parent (init or a subreaper),
 *   and the thread SIGKILLs its own process. `process.exit()` from a thread would end only the
 *   thread, and Linux's PR_SET_PDEATHSIG is not reachable from Node.
 * A child killed this way runs no handler cleanup; its task is the dead pool's, which another
 * pool's stall checker takes back, so there is nothing left for the child to report to.
 */
import { isMainThread, Worker } from 'node:worker_threads';

/** How often the watch thread looks at the parent pid. */
export const PARENT_POLL_MS = 250;

const WATCH_THREAD = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.ppid) process.kill(process.pid, 'SIGKILL');
}, workerData.pollMs);
`;

let watching = false;

/**
 * Starts the watch once per process. A no-op in a worker-thread sandbox (the thread dies with
 * the pool's process) and in a process that has no parent channel (not forked by a pool).
 */
export function exitWhenParentGoes(pollMs = PARENT_POLL_MS): void {
  if (watching || !isMainThread || typeof process.send !== 'function') return;
  watching = true;
  const ppid = process.ppid;
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // The parent may have gone before the watch started: then there is nothing to wait for.
  if (!process.connected) process.kill(process.pid, 'SIGKILL');
  // No execArgv of the child's (a flag such as --input-type=module would make this CommonJS
  // source fail to load, and the watch with it).
  const thread = new Worker(WATCH_THREAD, { eval: true, execArgv: [], workerData: { ppid, pollMs } });
  // A watch that failed must not take the handler's call down with it ('error' unhandled throws).
  thread.on('error', () => undefined);
  // The watch must not keep a child alive whose work is done, nor stop it from exiting normally.
  thread.unref();
}
