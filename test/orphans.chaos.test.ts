/**
 * No orphan processes: a pool killed with SIGKILL while it runs sandboxed handlers (process and
 * thread sandboxes), raw command tasks and container tasks leaves nothing of its own running.
 *
 * - Sandbox children see their parent go (workers/sandbox/parent-watch.ts), even one whose
 *   handler (`spin`) never yields.
 * - Command groups and containers are stopped by the pool's guard (workers/pool-guard/).
 * - When the guard is killed with its pool, the next pool on the host reaps the recorded groups
 *   at start-up (orphan-group-reaper.ts), and its container reaper the containers.
 *
 * "Nothing of it runs" is read from /proc: every descendant of the pool, taken while the tasks
 * ran, and every member of the command tasks' process groups, must be gone (or a zombie, which
 * runs nothing) within 5 s. Processes outlive their parent's tree once reparented, so the tree
 * is taken before the kill.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { TaskInput } from '../src/client/orchestrator-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allProcesses, procStat, type ProcStat } from '../workers/pool-guard/proc-stat.js';
import { CONTAINER_LABELS } from '../workers/executors/container.js';
import { containerSuiteToml, dockerForTests, ensureTestImage } from './helpers/docker.js';
import { descendants, procState as state, stillRunning as running } from './helpers/process-tree.js';
import { startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from './helpers/system.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';
import { waitFor } from './helpers/wait.js';
import type { GuardState } from '../workers/pool-guard/guard-state.js';

const docker = await dockerForTests('orphan processes suite');
const image = docker ? await ensureTestImage(docker) : '';
/** The bound: within 5 s of the kill nothing of the pool runs. */
const GONE_WITHIN_MS = 5_000;

let sys: TestSystem;
const runDir = taskReadableTempDir('orq-orphans-run-');
/** Every process the suite saw belonging to a pool, checked gone at the end. */
const seen: ProcStat[] = [];

beforeAll(async () => {
  sys = await startSystem({ toml: docker ? containerSuiteToml('orqorphans') : TEST_CONFIG_TOML });
});
afterAll(async () => {
  await sys?.stop();
  try {
    // The pools' guards stop what the stopped pools left; then nothing the suite saw may remain.
    await waitFor(() => seen.every((p) => !running(p)), { timeoutMs: 15_000, message: 'processes of the suite are still running' });
  } finally {
    // What a failed test left is killed here, so it does not spin on: a group it leads (a
    // command task's shell) whole, any other process alone (a pool's group may be ours).
    for (const p of seen.filter(running)) {
      try {
        process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
});

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200);
  } catch {
    return '';
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** CPU ticks (user + system) a process has used. */
function cpuTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

async function startedOn(pool: PoolProcess, taskIds: string[]): Promise<void> {
  await waitFor(
    async () => {
      const started = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[1] === 'started' && f.includes(pool.id));
      return taskIds.every((id) => started.some((f) => f[3] === id));
    },
    { timeoutMs: 30_000, message: `tasks never started on ${pool.id}` },
  );
}

/** This suite's shell loop: its marker tells it from another suite's on the same machine. */
const LOOP_MARK = `orphans-suite-${process.pid}`;
const LOOP = ['sh', '-c', `sleep 600 & while :; do :; done # ${LOOP_MARK}`];

/** Whether process `pid` is this suite's: its shell loop, or a process started with its pools' run folder in its environment. */
function ofThisSuite(pid: number, runDir: string): boolean {
  if (cmdline(pid).includes(LOOP_MARK)) return true;
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`ORCHESTRATOR_POOL_RUN_DIR=${runDir}`);
  } catch {
    return false;
  }
}

/** Submits the mix the issue names on `taskClass`; returns the task ids. */
async function submitMix(taskClass: string, tag: string, opts: { commands: boolean; container: boolean }): Promise<string[]> {
  const tasks: Omit<TaskInput, 'taskClass'>[] = [
    { taskId: `${tag}-spin`, executor: { handler: 'spin' }, payload: { ms: '600000' } },
    { taskId: `${tag}-sleep`, executor: { handler: 'sleep' }, payload: { ms: '600000' } },
    ...(opts.commands ? [{ taskId: `${tag}-loop`, executor: { command: { argv: LOOP } }, payload: { kind: 'loop' } }] : []),
    ...(opts.container && docker
      ? [{ taskId: `${tag}-container`, executor: { container: { image, command: ['sleep', '600'] } }, payload: { kind: 'container' } }]
      : []),
  ];
  for (const t of tasks) await sys.client.submitTask({ taskClass, timeoutMs: 600_000, ...t });
  return tasks.map((t) => t.taskId!);
}

async function poolContainers(poolId: string) {
  if (!docker) return [];
  return docker.containersLabelled({ [CONTAINER_LABELS.prefix]: sys.config.redis.prefix, [CONTAINER_LABELS.poolId]: poolId });
}

describe('a pool killed with SIGKILL', { timeout: 180_000 }, () => {
  it('leaves no sandbox child, command process or container running, and nothing burning CPU', async () => {
    const env = { ORCHESTRATOR_POOL_RUN_DIR: runDir };
    const byProcess = await sys.startPool({ classes: 'cpu_short:4', env });
    const byThread = await sys.startPool({ classes: 'cpu_long:2', env: { ...env, ORCHESTRATOR_SANDBOX: 'thread' } });
    const ids = await submitMix('cpu_short', 'proc', { commands: true, container: true });
    const threadIds = await submitMix('cpu_long', 'thread', { commands: false, container: false });
    await startedOn(byProcess, ids);
    await startedOn(byThread, threadIds);

    // Everything running: two sandbox children, the shell loop and its `sleep`, the container.
    const tree = (await waitFor(
      () => {
        const d = descendants(byProcess.child.pid!);
        const names = d.map((p) => comm(p.pid));
        return names.includes('sh') && names.includes('sleep') && names.filter((n) => n === 'node').length >= 3 ? d : undefined;
      },
      { message: 'the tasks never all ran' },
    ))!;
    // Processes started from here on (in clock ticks since boot, as /proc counts) are the pools'.
    const firstStart = Math.min(...tree.map((p) => p.start));
    const shell = tree.find((p) => comm(p.pid) === 'sh')!;
    const groups = [shell.pgid];
    if (docker) await waitFor(async () => (await poolContainers(byProcess.id)).some((c) => c.State === 'running'), { message: 'the container never ran' });
    const threadTree = descendants(byThread.child.pid!);
    seen.push(...tree, ...threadTree);

    byProcess.kill('SIGKILL');
    byThread.kill('SIGKILL');
    await Promise.all([byProcess.exited, byThread.exited]);
    const killedAt = Date.now();

    const left = () => [...tree, ...threadTree].filter(running).concat(allProcesses().filter((p) => groups.includes(p.pgid) && state(p.pid) !== 'Z'));
    await waitFor(() => left().length === 0, {
      timeoutMs: GONE_WITHIN_MS,
      intervalMs: 100,
      message: `still running: ${JSON.stringify(left().map((p) => [p.pid, procStat(p.pid)?.ppid, state(p.pid), cmdline(p.pid)]))}`,
    });
    if (docker)
      await waitFor(async () => (await poolContainers(byProcess.id)).length === 0, {
        timeoutMs: GONE_WITHIN_MS - (Date.now() - killedAt),
        message: 'a container of the pool is left',
      });
    expect(Date.now() - killedAt).toBeLessThan(GONE_WITHIN_MS + 1_000);

    // Nothing burns CPU: besides the processes above, no process of the kinds that spin (a
    // sandbox child, the shell loop) started since these pools did is left without a live pool
    // as its parent. Only this suite's count: other suites' pools run such processes on this
    // machine meanwhile, and those killed by their own chaos leave theirs for a moment.
    const spinKind = /bullmq\/dist\/cjs\/classes\/main\.js|while :; do :; done/;
    const stray = allProcesses().filter(
      (p) =>
        p.start >= firstStart &&
        spinKind.test(cmdline(p.pid)) &&
        !cmdline(p.ppid).includes('workers/main.js') &&
        state(p.pid) !== 'Z' &&
        ofThisSuite(p.pid, runDir),
    );
    expect(stray.map((p) => [p.pid, cmdline(p.pid), cpuTicks(p.pid)])).toEqual([]);

    // The next pool's start-up reap finds nothing of them left.
    const next = await sys.startPool({ classes: 'inproc:1', env });
    expect(await poolContainers(byProcess.id)).toEqual([]);
    expect(next.output()).not.toMatch(/killing a command task its pool left behind/);
    seen.push(...descendants(next.child.pid!));
    next.kill('SIGTERM');
    await next.exited;
    // Not for the next test's pool to run.
    for (const id of [...ids, ...threadIds]) await sys.client.cancelTask(id);
  });

  it('whose guard was killed too: the next pool on the host kills its command tasks at start-up', async () => {
    const env = { ORCHESTRATOR_POOL_RUN_DIR: runDir };
    const doomed = await sys.startPool({ classes: 'cpu_short:2', env });
    const [taskId] = [`guarded-${Date.now()}`];
    await sys.client.submitTask({ taskId, taskClass: 'cpu_short', timeoutMs: 600_000, payload: { kind: 'loop' }, executor: { command: { argv: LOOP } } });
    await startedOn(doomed, [taskId]);
    const tree = (await waitFor(() => {
      const d = descendants(doomed.child.pid!);
      return d.some((p) => comm(p.pid) === 'sleep') ? d : undefined;
    }))!;
    seen.push(...tree);
    const shell = tree.find((p) => comm(p.pid) === 'sh')!;
    // The guard is the pool's child in a session of its own.
    const guard = tree.find((p) => p.ppid === doomed.child.pid && p.pgid === p.pid && p.pgid !== shell.pgid && comm(p.pid) === 'node')!;
    expect(guard).toBeDefined();
    // The record's groups, parsed: the pgid's digits can appear in the file before the group does
    // (in the guard's start time), and a guard killed before it recorded the group leaves nothing to reap.
    await waitFor(
      () => {
        const recorded = JSON.parse(readFileSync(`${runDir}/${doomed.id}.${guard.pid}.json`, 'utf8')) as GuardState;
        return recorded.groups.some((g) => g.pgid === shell.pgid);
      },
      { message: 'the guard never recorded the group' },
    );

    // The pool is stopped first: a pool that sees its guard exit removes the guard's record and
    // starts another (pool-guard.ts), and between two kills a running pool can get that far.
    doomed.kill('SIGSTOP');
    process.kill(guard.pid, 'SIGKILL');
    doomed.kill('SIGKILL');
    await doomed.exited;
    // Nobody watches the loop now: it runs on, reparented.
    expect(running(shell)).toBe(true);

    const next = await sys.startPool({ classes: 'inproc:1', env });
    const orphaned = () => allProcesses().filter((p) => p.pgid === shell.pgid && state(p.pid) !== 'Z');
    // The diagnostics are read when the wait gives up, not before it starts.
    await waitFor(() => orphaned().length === 0, { timeoutMs: GONE_WITHIN_MS }).catch((err: Error) => {
      throw new Error(
        `the next pool did not kill the orphaned command task (still running: ${JSON.stringify(orphaned().map((p) => [p.pid, state(p.pid), cmdline(p.pid)]))}; guard ${guard.pid} ${state(guard.pid) ?? 'gone'}; run dir: ${readdirSync(runDir).join(', ')}; the next pool's output:\n${next.output().slice(-3000)})`,
        { cause: err },
      );
    });
    expect(next.output()).toMatch(/killing a command task its pool left behind/);
    expect(() => readFileSync(`${runDir}/${doomed.id}.${guard.pid}.json`)).toThrow();
    seen.push(...descendants(next.child.pid!));
    next.kill('SIGTERM');
    await next.exited;
  });
});
