/**
 * The pool guard: a small process each pool starts next to itself that stops what the pool's
 * tasks left running outside it when the pool dies, however it dies (SIGKILL, the OOM killer):
 * the process groups of its command tasks and its Docker containers.
 *
 *   node dist/workers/pool-guard/pool-guard-main.js '<GuardArgs as JSON>'
 *
 * Protocol (stdin, one line each, written only by the pool):
 *   add <pgid> <taskId>   a command task's group started
 *   del <pgid>            that group is gone
 * End of stdin means the pool is gone (the kernel closes the pipe of a killed process) or is
 * closing. Then every group still listed gets SIGTERM, and SIGKILL after `killGraceMs`; every
 * container labelled with this deployment's prefix and this pool's id is removed (none is left
 * after an orderly close); and the guard exits. It ignores SIGTERM, SIGINT and SIGHUP, which a
 * terminal or a service manager may send to the pool's whole group: it must outlive the pool to
 * do its job, and cannot outlive it by much, since only the pool holds the other end of the pipe.
 *
 * It keeps its list of groups in a file under `runDir` (guard-state.ts) so that a pool starting
 * later on the same host can reap them should the guard itself have been killed too. Containers
 * need no such file: they carry their pool's id as a label (workers/container-reaper.ts).
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { procStat } from './proc-stat.js';
import { guardStateFile, type GuardArgs, type GuardedGroup, type GuardState } from './guard-state.js';

const args = JSON.parse(process.argv[2] ?? '{}') as GuardArgs;
const POLL_MS = 100;
/** Time the engine gets, beyond the groups' grace, to list and remove the pool's containers. */
const ENGINE_BUDGET_MS = 10_000;
const groups = new Map<number, GuardedGroup>();
const stateFile = guardStateFile(args.runDir, args.poolId, process.pid);
const self = { pid: process.pid, start: procStat(process.pid)?.start ?? 0 };

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => undefined);

/** Best effort: without the file the guard still works; only the reap after its own death is lost. */
function saveState(): void {
  try {
    if (groups.size === 0) {
      rmSync(stateFile, { force: true });
      return;
    }
    mkdirSync(args.runDir, { recursive: true, mode: 0o700 });
    const state: GuardState = { poolId: args.poolId, guard: self, groups: [...groups.values()] };
    writeFileSync(`${stateFile}.tmp`, JSON.stringify(state));
    renameSync(`${stateFile}.tmp`, stateFile);
  } catch {
    // Nowhere to report to: the pool does not read this process's output.
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    // EPERM: some member we may not signal; the others got it. ESRCH: the group is gone.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stopGroups(): Promise<void> {
  let live = [...groups.keys()].filter((pgid) => signalGroup(pgid, 'SIGTERM'));
  const deadline = Date.now() + args.killGraceMs;
  while (live.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    live = live.filter((pgid) => signalGroup(pgid, 0));
  }
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
  groups.clear();
  saveState();
}

async function removeContainers(): Promise<void> {
  if (!args.docker) return;
  try {
    // Loaded only here: most guards never need the engine, and dockerode is slow to load.
    const { DockerClient } = await import('../../src/docker/docker-client.js');
    const { CONTAINER_LABELS } = await import('../executors/container-create-options.js');
    const docker = new DockerClient({ socketPath: args.docker.socketPath });
    const left = await docker.containersLabelled({ [CONTAINER_LABELS.prefix]: args.docker.prefix, [CONTAINER_LABELS.poolId]: args.poolId });
    await Promise.all(left.map((c) => docker.remove(c.Id).catch(() => undefined)));
  } catch {
    // No engine answers: the next pool's start-up reap (container-reaper.ts) removes them.
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [op, pgidText, taskId = ''] = line.split(' ');
  const pgid = Number(pgidText);
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  if (op === 'add') groups.set(pgid, { pgid, start: procStat(pgid)?.start ?? 0, taskId });
  else if (op === 'del') groups.delete(pgid);
  else return;
  saveState();
});
lines.on('close', () => {
  // A hung engine must not keep the guard: the groups are stopped by then, and the next pool's
  // start-up reap (container-reaper.ts) removes containers left behind.
  setTimeout(() => process.exit(0), args.killGraceMs + ENGINE_BUDGET_MS).unref();
  void Promise.all([stopGroups(), removeContainers()]).then(() => process.exit(0));
});
