/**
 * Lost locks, for every executor: tasks run while Redis stops answering for longer than their
 * lock (SIGSTOP of the redis-server, then SIGCONT), while Redis is killed and started again on
 * its data (AOF, `appendfsync always`) after longer than the lock, and while their pool's
 * process is stopped past the lock (SIGSTOP, SIGCONT). Either way the stall check queues each task again
 * and the same pool takes it anew while its first run may still go. Each task must end
 * succeeded exactly once (one result, no `retrying` or `failed`, nothing after the final event),
 * its events must read sanely in stream order (a `stalled` before its rerun's `started`, never a
 * running task that goes back to queued), and nothing of the first run may be left running: no
 * command process, no container, no Slurm job.
 *
 * One class with a 2 s lock, one stall allowed and one attempt: before runs were tracked one by
 * one, the first run's end stopped the rerun's lock renewal and these tasks failed "job stalled
 * more than allowable limit".
 *
 * Only the first run of a task must outlast the fault. The command, http, container and Slurm
 * tasks know a rerun (the first run leaves a marker file, or the http runner has seen the task)
 * and end it within a second, so a round does not wait a second 12 s run; the handlers' sleeps
 * cannot tell, and rerun whole.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmodSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServerProcess, type RedisServerProcess } from '../src/redis/redis-server-process.js';
import { TaskState, type TaskInput } from '../src/client/orchestrator-client.js';
import { slurmJobName } from '../workers/executors/slurm.js';
import { dockerForTests, ensureTestImage, taskContainers } from './helpers/docker.js';
import { slurm, slurmForTests } from './helpers/slurm.js';
import { OPEN_POLICY, startSystem, TEST_CONFIG_TOML, type PoolProcess, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const docker = await dockerForTests('lost locks suite (container tasks)');
const slurmUp = await slurmForTests('lost locks suite (Slurm tasks)');
/**
 * How long each task runs: every task of a round must still run when the fault ends. Containers
 * and Slurm jobs take seconds to get going, so they start first and run longer.
 */
const RUN_MS = 6_000;
const SLOW_RUN_MS = 12_000;
/** How long the fault lasts: over twice the 2 s lock. */
const FAULT_MS = 4_500;

const spoolDir = mkdtempSync(join(tmpdir(), 'orq-locks-'));
/**
 * Where a task's first run leaves its marker: written by commands run as nobody and by containers
 * as 65534, read by Slurm jobs, so open to all (a throwaway directory of this suite).
 */
const markerDir = mkdtempSync(join(tmpdir(), 'orq-locks-markers-'));
chmodSync(markerDir, 0o777);
/**
 * A shell script that sleeps `firstRun` the first time it runs for `marker` and a moment on a
 * rerun: the first run must outlast the fault, a rerun only has to succeed.
 */
const firstRunOnly = (marker: string, firstRun: string) => `if [ -e ${marker} ]; then sleep 0.5; else : > ${marker}; sleep ${firstRun}; fi`;
/** The suite's config; `httpBase` is the only place its http tasks may call. */
const toml = (httpBase: string) => `${TEST_CONFIG_TOML}
[classes.locks]
policy = ${OPEN_POLICY}
concurrency = 8
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = 1
[classes.locks_inproc]
policy = ${OPEN_POLICY}
concurrency = 4
attempts = 1
inProcessHandlers = true
lockDurationMs = 2000
stalledIntervalMs = 1000
maxStalledCount = 1
[redis]
prefix = "orqlocks${process.pid}"
[executors.http]
allowedUrlPrefixes = ["${httpBase}/"]
[executors.container]
killGraceMs = 1000
allowedMounts = ["${markerDir}"]
[executors.slurm]
spoolDir = "${spoolDir}"
pollIntervalMs = 200
`;

let sys: TestSystem;
let server: Server;
let httpBase: string;
let image = '';
/** The redis-server started again on the same port and data by the kill test. */
let restarted: RedisServerProcess | undefined;

beforeAll(async () => {
  if (docker) image = await ensureTestImage(docker);
  // The http executor's runner: answers after `ms` (a task's first call; 500 ms for a call of a
  // task it has seen), or never when the caller goes first.
  const seen = new Set<string>();
  server = createServer((req, res) => {
    const params = new URL(req.url!, 'http://x').searchParams;
    const task = params.get('task') ?? '';
    const ms = seen.has(task) ? 500 : Number(params.get('ms') ?? '0');
    seen.add(task);
    const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sleptMs: ms })), ms);
    req.socket.once('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sys = await startSystem({ toml: toml(httpBase) });
});

afterAll(async () => {
  await restarted?.stop();
  await sys?.stop();
  await new Promise((resolve) => server?.close(resolve));
  if (docker && sys) for (const c of await docker.containersLabelled({ 'orchestrator.prefix': sys.config.redis.prefix })) await docker.remove(c.Id);
});

interface Case {
  name: string;
  /** Its work takes seconds to start (a container, a Slurm job): submitted first. */
  slow?: boolean;
  request: (taskId: string) => TaskInput;
  /** Whether something of the task still runs outside the pool. */
  running?: (taskId: string) => Promise<boolean>;
}

/** A fraction unique to the round, so the command's processes can be found by their argv. */
const sleepArg = (taskId: string) => `${RUN_MS / 1000}.${parseInt(taskId.slice(-6), 16) % 100_000}`;
const processesMatching = (pattern: string): boolean => {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
};

function cases(): Case[] {
  const all: Case[] = [
    {
      name: 'handler in-process',
      request: (taskId) => ({ taskId, taskClass: 'locks_inproc', payload: { ms: String(RUN_MS) }, executor: { handler: 'sleep' } }),
    },
    {
      name: 'handler sandboxed',
      request: (taskId) => ({ taskId, taskClass: 'locks', payload: { ms: String(RUN_MS) }, executor: { handler: 'sleep' } }),
    },
    {
      name: 'command',
      request: (taskId) => ({
        taskId,
        taskClass: 'locks',
        payload: { run: '1' },
        executor: { command: { argv: ['sh', '-c', `${firstRunOnly(join(markerDir, taskId), sleepArg(taskId))}; echo done`] } },
      }),
      running: async (taskId) => processesMatching(`sleep ${sleepArg(taskId)}`),
    },
    {
      name: 'http',
      request: (taskId) => ({ taskId, taskClass: 'locks', payload: { run: '1' }, executor: { http: { url: `${httpBase}/run?ms=${RUN_MS}&task=${taskId}` } } }),
    },
  ];
  if (docker) {
    all.push({
      name: 'container',
      slow: true,
      request: (taskId) => ({
        taskId,
        taskClass: 'locks',
        payload: { run: '1' },
        executor: {
          container: {
            image,
            command: ['sh', '-c', `${firstRunOnly(`/markers/${taskId}`, String(SLOW_RUN_MS / 1000))}; echo finished`],
            mounts: [{ hostPath: markerDir, containerPath: '/markers', writable: true }],
          },
        },
      }),
      running: async (taskId) => (await taskContainers(docker, sys, taskId)).length > 0,
    });
  }
  if (slurmUp) {
    all.push({
      name: 'slurm',
      slow: true,
      request: (taskId) => ({
        taskId,
        taskClass: 'locks',
        payload: { run: '1' },
        executor: { slurm: { memoryMb: 50, script: `#!/bin/sh\n${firstRunOnly(join(markerDir, taskId), String(SLOW_RUN_MS / 1000))}\necho finished\n` } },
      }),
      running: async (taskId) => {
        for (const jobId of await slurm.jobsNamed(slurmJobName(sys.config.redis.prefix, taskId, 1))) {
          const info = await slurm.job(jobId);
          if (info && !['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'].includes(info.state))
            return true;
        }
        return false;
      },
    });
  }
  return all;
}

async function eventsOf(taskId: string): Promise<Record<string, string>[]> {
  return (await sys.r.xrange(sys.keys.events, '-', '+'))
    .map(([, f]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) m[f[i]!] = f[i + 1]!;
      return m;
    })
    .filter((e) => e.task_id === taskId);
}

/**
 * The problems in a task's events read in stream order: a state machine queued -> running (on
 * `started`) -> queued (on `stalled`) -> ... -> succeeded, which must be the last event.
 */
function orderProblems(events: Record<string, string>[]): string[] {
  const problems: string[] = [];
  let state: 'queued' | 'running' | 'done' = 'queued';
  for (const e of events) {
    const t = e.type!;
    if (state === 'done') problems.push(`${t} after the final event`);
    else if (t === 'submitted' || t === 'progress') continue;
    else if (t === 'started') {
      if (state !== 'queued') problems.push('started while already running (no stalled before the rerun)');
      state = 'running';
    } else if (t === 'stalled') {
      if (state !== 'running') problems.push('stalled while not running');
      state = 'queued';
    } else if (t === 'succeeded') {
      if (state !== 'running') problems.push('succeeded while not running');
      state = 'done';
    } else problems.push(`unexpected ${t}: ${e.detail ?? ''}`);
  }
  if (state !== 'done') problems.push(`ended ${state}, not succeeded`);
  return problems;
}

/** Runs one task of every case on a fresh pool, applies `fault` while they all run, checks each. */
async function survives(fault: (pool: PoolProcess) => Promise<void>): Promise<void> {
  const pool = await sys.startPool({ classes: 'locks:8,locks_inproc:4' });
  const round = cases().map((c) => ({ ...c, taskId: `lock-${c.name.replace(/\W+/g, '-')}-${randomUUID().slice(0, 8)}` }));
  // Every task running (its run announced, and its process, container or job up) just before
  // the fault: the slow starters first, then the rest.
  const submitAndWait = async (cs: typeof round) => {
    await Promise.all(cs.map((c) => sys.client.submitTask(c.request(c.taskId))));
    await waitFor(async () => (await Promise.all(cs.map(async (c) => (await eventsOf(c.taskId)).some((e) => e.type === 'started')))).every(Boolean), {
      timeoutMs: 60_000,
      message: 'not every task started',
    });
    await waitFor(async () => (await Promise.all(cs.map(async (c) => !c.running || (await c.running(c.taskId))))).every(Boolean), {
      timeoutMs: 30_000,
      message: 'not every task got its work running',
    });
  };
  await submitAndWait(round.filter((c) => c.slow));
  await submitAndWait(round.filter((c) => !c.slow));

  await fault(pool);

  for (const c of round) {
    const r = await sys.client.waitForResult(c.taskId, { timeoutMs: 90_000 });
    const seen = (await eventsOf(c.taskId)).map((e) => `${e.type}@${e.worker ?? ''}:${e.detail ?? ''}`).join(' | ');
    expect(TaskState[r.state], `${c.name}: ${r.error}; events: ${seen}`).toBe('TASK_STATE_SUCCEEDED');
  }
  for (const c of round) {
    // Stopped runs' leftovers go within moments: a killed command's group, a stopped container.
    if (c.running) await waitFor(async () => !(await c.running!(c.taskId)), { timeoutMs: 15_000, message: `${c.name}: still running after its result` });
    const results = (await sys.r.xrange(sys.keys.results, '-', '+')).filter(([, f]) => f[1] === c.taskId);
    expect(results, c.name).toHaveLength(1);
    const events = await eventsOf(c.taskId);
    expect(orderProblems(events), `${c.name}: ${events.map((e) => `${e.type}@${e.worker ?? ''}`).join(' ')}`).toEqual([]);
    // The fault was longer than the lock: the task stalled (once) and ran again.
    expect(
      events.filter((e) => e.type === 'stalled'),
      c.name,
    ).toHaveLength(1);
    expect((await sys.client.getTaskStatus(c.taskId)).state, c.name).toBe(TaskState.TASK_STATE_SUCCEEDED);
  }
  expect(pool.output()).not.toMatch(/stalled more than allowable limit/);
  pool.kill('SIGTERM');
  await pool.exited;
}

/** The fault lasts FAULT_MS: the outage itself, not a wait for a condition. */
const outage = () => new Promise((resolve) => setTimeout(resolve, FAULT_MS));

describe('lost locks', { timeout: 240_000 }, () => {
  it('Redis not answering for longer than the lock: every task succeeds once, nothing left running', async () => {
    await survives(async () => {
      process.kill(sys.redis.pid!, 'SIGSTOP');
      try {
        await outage();
      } finally {
        process.kill(sys.redis.pid!, 'SIGCONT');
      }
    });
  });

  it('a pool stopped past its lock, then continued: every task succeeds once, nothing left running', async () => {
    await survives(async (pool) => {
      pool.kill('SIGSTOP');
      try {
        await outage();
      } finally {
        pool.kill('SIGCONT');
      }
    });
  });

  // Last: the suite's Redis is a restarted one afterwards.
  it('Redis killed and started again on its data after longer than the lock: every task succeeds once, nothing left running', async () => {
    // Every write on disk before it is acknowledged, so the kill loses nothing.
    await sys.r.config('SET', 'appendfsync', 'always');
    await sys.r.config('SET', 'appendonly', 'yes');
    await waitFor(
      async () => {
        const info = await sys.r.info('persistence');
        return ['aof_enabled:1', 'aof_rewrite_in_progress:0', 'aof_rewrite_scheduled:0'].every((f) => info.includes(f));
      },
      { message: 'the AOF was never written' },
    );
    await survives(async () => {
      process.kill(sys.redis.pid!, 'SIGKILL');
      await outage();
      restarted = await startRedisServerProcess({
        port: sys.redis.port,
        dir: sys.redis.dir,
        appendonly: true,
        extraArgs: ['--appendfsync', 'always'],
        unref: true,
      });
    });
  });
});
