/**
 * The execution policy against real processes: the front end refuses what a class's policy
 * forbids and stores nothing; a pool refuses, with a `policy_denied` outcome and without running
 * anything, a job written straight into Redis (as Bull Board's add, a script or an older front
 * end would write it); command tasks get a clean environment and run as the configured user;
 * containers run as a non-root user unless a task is allowed to ask for root.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutorInput } from '../../src/client/orchestrator-client.js';
import { TaskState } from '../../src/client/orchestrator-client.js';
import { dockerForTests, ensureTestImage, TEST_IMAGE } from '../helpers/docker.js';
import { grpcError, fieldOf } from '../helpers/grpc.js';
import { resultFields } from '../helpers/results.js';
import { startSystem, type TestSystem } from '../helpers/system.js';
import { taskReadableTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const root = process.getuid?.() === 0;
const DASHBOARD_ADMIN = 'dashboard-admin-token-0123456789';
const markers = taskReadableTempDir('orq-policy-');

/** Short timings; no policy beyond the defaults except where a class says so. */
const SAFE_TOML = `
logLevel = "warn"
[pool]
heartbeatMs = 500
shutdownGraceMs = 2000
[[http.dashboard.tokens]]
token = "${DASHBOARD_ADMIN}"
role = "admin"
[executors.command.commands.printenv]
argv = ["env"]
[executors.command.commands.whoami]
argv = ["id", "-u"]
[classes.cpu_short]
attempts = 3
backoff = { type = "fixed", delayMs = 50 }
lockDurationMs = 2000
stalledIntervalMs = 1000
# Commands: named ones, raw ones as nobody (where the pool is root), KEEP_ME passed through.
[classes.cmds]
attempts = 1
policy = { executors = ["command"], command = { raw = true${root ? ', runAs = "nobody"' : ''} }, envPassthrough = ["KEEP_ME"] }
# Raw commands opened, but no runAs: on a root pool they are refused.
[classes.rootraw]
attempts = 1
policy = { executors = ["command"], command = { raw = true } }
# Containers of the test image, small ceilings.
[classes.boxes]
attempts = 1
policy = { executors = ["container"], container = { images = ["orchestrator-test/*"], maxMemoryBytes = 268435456, maxPidsLimit = 64 } }
`;

let sys: TestSystem;
const queues: Queue[] = [];

beforeAll(async () => {
  sys = await startSystem({ toml: SAFE_TOML });
  await sys.startPool({
    classes: 'cpu_short,cmds,rootraw,boxes',
    // Secrets a pool typically has in its environment; none may reach a task.
    env: { SECRET_API_TOKEN: 'tok-0123456789abcdef', ORCHESTRATOR_GRPC_TOKENS_FILE: '/etc/orq/tokens', KEEP_ME: 'kept' },
  });
});
afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  await sys?.stop();
});

/** A job added straight to a class's BullMQ queue, as Bull Board's add or any Redis client can. */
async function inject(taskClass: string, taskId: string, data: unknown): Promise<Queue> {
  const q = new Queue(taskClass, { connection: sys.r.duplicate(), prefix: sys.keys.queuePrefix });
  queues.push(q);
  await q.add('injected', data, { jobId: taskId, attempts: 3 });
  return q;
}

/** Waits for a task's final result on the results stream. */
function finalResult(taskId: string): Promise<Record<string, string>> {
  return waitFor(() => resultFields(sys.r, sys.keys, taskId), { timeoutMs: 30_000, message: `no result for ${taskId}` }) as Promise<Record<string, string>>;
}

describe('at submission', () => {
  const marker = join(markers, 'submitted');
  it.each<[string, ExecutorInput, string]>([
    ['a raw command', { command: { argv: ['touch', marker] } }, 'task.executor.command'],
    ['a named command', { command: { name: 'printenv' } }, 'task.executor.command'],
    ['a container', { container: { image: TEST_IMAGE, command: ['touch', '/tmp/x'] } }, 'task.executor.container'],
    ['an http call', { http: { url: 'http://127.0.0.1:9/run' } }, 'task.executor.http'],
    ['a Slurm script', { slurm: { script: `#!/bin/sh\ntouch ${marker}\n` } }, 'task.executor.slurm'],
    ['a test handler', { handler: 'crash' }, 'task.executor.handler.name'],
  ])('refuses %s on a class that does not allow it, storing nothing', async (_what, executor, field) => {
    const taskId = `denied-${field.replace(/\W/g, '-')}`;
    const err = await grpcError(sys.client.submitTask({ taskId, taskClass: 'cpu_short', payload: { a: '1' }, executor }));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(fieldOf(err)).toBe(field);
    expect(err.details).toMatch(/classes\.cpu_short\.policy|executors\.handler\.testHandlers/);
    expect(await sys.r.exists(sys.keys.job('cpu_short', taskId))).toBe(0);
    expect((await grpcError(sys.client.getTaskStatus(taskId))).code).toBe(status.NOT_FOUND);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses a whole batch when one task is denied, storing none of it', async () => {
    const err = await grpcError(
      sys.client.submitTasks([
        { taskId: 'batch-ok', taskClass: 'cpu_short', payload: { a: '1' } },
        { taskId: 'batch-bad', taskClass: 'cpu_short', payload: { a: '1' }, executor: { command: { argv: ['true'] } } },
      ]),
    );
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(fieldOf(err)).toBe('tasks[1].executor.command');
    expect(await sys.r.exists(sys.keys.job('cpu_short', 'batch-ok'))).toBe(0);
  });

  it('accepts the same task on a class whose policy allows it', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cmds', payload: { a: '1' }, executor: { command: { name: 'whoami' } } });
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
  });
});

describe('on the pool, for jobs written straight into Redis', () => {
  const base = { payload: { a: '1' }, timeoutMs: 10_000 };
  it.each<[string, string, unknown, RegExp]>([
    [
      'a raw command',
      'cpu_short',
      { ...base, executor: { kind: 'command', argv: ['touch', join(markers, 'raw')], env: {}, cwd: '' } },
      /does not accept command/,
    ],
    ['a container', 'cpu_short', { ...base, executor: { kind: 'container', image: TEST_IMAGE, command: ['true'] } }, /does not accept container/],
    [
      'a Slurm script',
      'cpu_short',
      { ...base, executor: { kind: 'slurm', script: `#!/bin/sh\ntouch ${join(markers, 'slurm')}\n`, command: [] } },
      /does not accept slurm/,
    ],
    ['an http call', 'cpu_short', { ...base, executor: { kind: 'http', url: 'http://127.0.0.1:9/x', method: 'POST', headers: {} } }, /does not accept http/],
    ['a test handler', 'cpu_short', { ...base, executor: { kind: 'handler', name: 'spin' } }, /testHandlers/],
    ['an unknown executor kind', 'cpu_short', { ...base, executor: { kind: 'shell', cmd: 'id' } }, /not one this pool knows/],
    ['data that is not a task', 'cpu_short', 'just a string', /not an object/],
    [
      'a payload that is not a map of strings',
      'cpu_short',
      { timeoutMs: 1000, payload: { a: 1 }, executor: { kind: 'handler', name: 'echo' } },
      /payload\.a is not a string/,
    ],
    ['a timeout of zero', 'cpu_short', { ...base, timeoutMs: 0, executor: { kind: 'handler', name: 'echo' } }, /timeoutMs/],
    ['a negative pids limit', 'boxes', { ...base, executor: { kind: 'container', image: TEST_IMAGE, pidsLimit: -1 } }, /pidsLimit is not a whole number/],
    ['memory over the ceiling', 'boxes', { ...base, executor: { kind: 'container', image: TEST_IMAGE, memoryBytes: 1 << 30 } }, /maxMemoryBytes/],
    ['an image not allowed', 'boxes', { ...base, executor: { kind: 'container', image: 'evil/rootkit:1' } }, /policy\.container\.images/],
    ['root in a container', 'boxes', { ...base, executor: { kind: 'container', image: TEST_IMAGE, user: '0' } }, /allowRootUser/],
    [
      'a named command the pool does not define',
      'cmds',
      { ...base, executor: { kind: 'command', name: 'rm-everything', args: {}, argv: [], env: {}, cwd: '' } },
      /not defined/,
    ],
    [
      'an option smuggled into a named command',
      'cmds',
      { ...base, executor: { kind: 'command', name: 'whoami', args: { x: '-n' }, argv: [], env: {}, cwd: '' } },
      /not an argument/,
    ],
  ])('fails %s with policy_denied, once, running nothing', async (what, taskClass, data, reason) => {
    const taskId = `inj-${what.replace(/\W+/g, '-')}`;
    const q = await inject(taskClass, taskId, data);
    const r = await finalResult(taskId);
    expect(r.state).toBe('failed');
    expect(r.error_code).toBe('policy_denied');
    expect(r.error).toMatch(reason);
    expect(r.attempt).toBe('1');
    // Failed for good on its first attempt, though the job asked for three.
    const job = (await q.getJob(taskId))!;
    expect(await job.getState()).toBe('failed');
    expect(job.failedReason).toMatch(/refused by the pool/);
    expect(job.attemptsMade).toBe(1);
    for (const m of ['raw', 'slurm']) expect(existsSync(join(markers, m))).toBe(false);
  });

  it("fails a raw command added through Bull Board's add (an admin's dashboard)", async () => {
    const marker = join(markers, 'bull-board');
    const added = await fetch(`${sys.httpUrl}/admin/queues/api/queues/cpu_short/add`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DASHBOARD_ADMIN}`, 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({
        name: 'command',
        data: { ...base, executor: { kind: 'command', argv: ['touch', marker], env: {}, cwd: '' } },
        options: { jobId: 'bull-board-add' },
      }),
    });
    expect(added.status).toBe(200);
    const r = await finalResult('bull-board-add');
    expect(r.error_code).toBe('policy_denied');
    expect(r.error).toMatch(/classes\.cpu_short\.policy\.executors/);
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!root)('refuses a raw command on a root pool whose class names no runAs user', async () => {
    await inject('rootraw', 'inj-rootraw', { ...base, executor: { kind: 'command', argv: ['touch', join(markers, 'rootraw')], env: {}, cwd: '' } });
    const r = await finalResult('inj-rootraw');
    expect(r.error_code).toBe('policy_denied');
    expect(r.error).toMatch(/classes\.rootraw\.policy\.command\.runAs/);
    expect(existsSync(join(markers, 'rootraw'))).toBe(false);
  });
});

describe('what a command task gets', () => {
  it('a clean environment: the base, its class pass-through list and its own, never the pool’s secrets', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cmds',
      payload: { a: '1' },
      executor: { command: { name: 'printenv', env: { MINE: 'yes' } } },
    });
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    const env = Object.fromEntries(
      (JSON.parse(r.resultJson) as { stdout: string }).stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const secret of ['REDIS_URL', 'ORCHESTRATOR_CONFIG', 'SECRET_API_TOKEN', 'ORCHESTRATOR_GRPC_TOKENS_FILE', 'ORCHESTRATOR_HTTP_ADDR'])
      expect(env).not.toHaveProperty(secret);
    expect(JSON.stringify(env)).not.toContain(sys.redis.url);
    expect(env).toMatchObject({ KEEP_ME: 'kept', MINE: 'yes', ORCHESTRATOR_TASK_ID: taskId, ORCHESTRATOR_TASK_CLASS: 'cmds' });
    expect(env.PATH).toBeTruthy();
  });

  it.skipIf(!root)('the runAs user, not root', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cmds', payload: { a: '1' }, executor: { command: { argv: ['id', '-u'] } } });
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
    expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect((JSON.parse(r.resultJson) as { stdout: string }).stdout.trim()).toBe('65534');
  });

  it.skipIf(!root)("no way to the Docker socket or Slurm's munge key as the runAs user", async () => {
    const probe = (path: string) => `if [ -e ${path} ] && { [ -w ${path} ] || [ -r ${path} ]; }; then echo open; else echo refused; fi`;
    for (const path of ['/var/run/docker.sock', '/etc/munge/munge.key']) {
      const { taskId } = await sys.client.submitTask({ taskClass: 'cmds', payload: { a: '1' }, executor: { command: { argv: ['sh', '-c', probe(path)] } } });
      const r = await sys.client.waitForResult(taskId, { timeoutMs: 30_000 });
      expect((JSON.parse(r.resultJson) as { stdout: string }).stdout.trim(), path).toBe('refused');
    }
  });
});

const docker = await dockerForTests('execution policy container checks');
describe.skipIf(!docker)('what a container task gets', () => {
  beforeAll(async () => {
    await ensureTestImage(docker!);
  });

  it('runs as the class default user (nobody), not the image’s root', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'boxes',
      payload: { a: '1' },
      executor: { container: { image: TEST_IMAGE, command: ['id', '-u'] } },
    });
    const r = await sys.client.waitForResult(taskId, { timeoutMs: 60_000 });
    expect(r.state, `${r.error} ${r.failure?.outputTail ?? ''}`).toBe(TaskState.TASK_STATE_SUCCEEDED);
    expect((JSON.parse(r.resultJson) as { stdout: string }).stdout.trim()).toBe('65534');
  });

  it('refuses root and limits over the ceilings at submission', async () => {
    for (const [container, field] of [
      [{ image: TEST_IMAGE, user: 'root' }, 'task.executor.container.user'],
      [{ image: TEST_IMAGE, pidsLimit: 65 }, 'task.executor.container.pids_limit'],
      [{ image: TEST_IMAGE, memoryBytes: 512 << 20 }, 'task.executor.container.memory_bytes'],
    ] as const) {
      const err = await grpcError(sys.client.submitTask({ taskClass: 'boxes', payload: { a: '1' }, executor: { container } }));
      expect(err.code).toBe(status.PERMISSION_DENIED);
      expect(fieldOf(err)).toBe(field);
    }
  });
});
