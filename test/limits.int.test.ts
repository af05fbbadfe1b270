/**
 * Every documented limit works at the limit, and no request takes the orchestrator down: a batch
 * of grpc.maxBatchSize tasks with every optional field set (over gRPC and through
 * `orchctl submit --file`), Redis answering a script error, out-of-range integers and NUL bytes.
 * The orchestrator is a real child process, so "still serving" means its process lived through it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutorInput, TaskInput } from '../src/client/orchestrator-client.js';
import { ServingStatus, TaskState } from '../src/gen/orchestrator/v1/orchestrator.js';
import { fieldOf, grpcError } from './helpers/grpc.js';
import { orchctl } from './helpers/orchctl.js';
import { startBareSystem, type BareSystem, type OrchestratorProcess } from './helpers/system.js';
import { countIndexedTasks } from '../src/store/tasks/read-task-index.js';

const BATCH = 10_000;

let sys: BareSystem;
let orch: OrchestratorProcess;
beforeAll(async () => {
  sys = await startBareSystem();
  orch = await sys.startOrchestrator();
}, 60_000);
afterAll(async () => sys?.stop());

/** The orchestrator process is alive and answers. */
async function expectServing(): Promise<void> {
  expect(orch.child.exitCode).toBeNull();
  expect(orch.child.signalCode).toBeNull();
  const h = await orch.client.health();
  expect(h.status).not.toBe(ServingStatus.SERVING_STATUS_NOT_SERVING);
}

/** A task with every optional field set: id, priority, attempts, backoff, timeout, delay, a command with env and cwd. */
function fullTask(prefix: string, i: number, payloadBytes: number): TaskInput {
  return {
    taskId: `${prefix}-${i}`,
    taskClass: 'cpu_short',
    payload: { i: String(i), fill: 'x'.repeat(payloadBytes) },
    priority: i % 1000,
    maxAttempts: 3,
    backoff: { type: 'exponential', delayMs: 250 },
    timeoutMs: 60_000,
    // Delayed, so no pool is needed and nothing runs: this suite is about submission.
    delayMs: 3_600_000,
    executor: { command: { argv: ['/bin/echo', `task ${i}`], env: { STEP: String(i), MODE: 'limits' }, cwd: '/tmp' } },
  };
}

describe('SubmitTasks at grpc.maxBatchSize', () => {
  // About 5 KB a task: the 10,000 fill some 55 MB of the 64 MiB message limit.
  const tasks = Array.from({ length: BATCH }, (_, i) => fullTask('full', i, 5_000));

  it('takes 10,000 tasks with every optional field set, all or nothing', async () => {
    const res = await orch.client.submitTasks(tasks, 120_000);
    expect(res).toHaveLength(BATCH);
    expect(res.every((r) => r.created && r.state === TaskState.TASK_STATE_SCHEDULED)).toBe(true);
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(BATCH);
    expect(await sys.r.zcard(`${sys.keys.queuePrefix}:cpu_short:delayed`)).toBe(BATCH);
    const one = await orch.client.getTaskStatus('full-9999');
    expect(one).toMatchObject({ taskId: 'full-9999', maxAttempts: 3, priority: 999 });
    await expectServing();
  }, 180_000);

  it('answers the same batch again as existing, creating nothing', async () => {
    const res = await orch.client.submitTasks(tasks, 120_000);
    expect(res.filter((r) => r.created)).toHaveLength(0);
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(BATCH);
    await expectServing();
  }, 180_000);

  it('writes nothing of a 10,000-task batch when its last id conflicts', async () => {
    const fresh = Array.from({ length: BATCH }, (_, i) => fullTask('fresh', i, 100));
    fresh[BATCH - 1] = { ...fullTask('full', 0, 5_000), payload: { other: 'content' } };
    const err = await grpcError(orch.client.submitTasks(fresh, 120_000));
    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(await sys.r.hexists(sys.keys.taskIndex('fresh-0'), 'fresh-0')).toBe(0);
    expect(await countIndexedTasks(sys.r, sys.keys)).toBe(BATCH);
    await expectServing();
  }, 180_000);

  it('answers RESOURCE_EXHAUSTED one task over the limit', async () => {
    const over = Array.from({ length: BATCH + 1 }, (_, i) => ({ taskId: `over-${i}`, taskClass: 'cpu_short', payload: { a: '1' } }));
    const err = await grpcError(orch.client.submitTasks(over, 60_000));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    await expectServing();
  }, 60_000);

  it('orchctl submit --file takes a 10,000-line file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orq-limits-'));
    const file = join(dir, 'tasks.jsonl');
    const lines = Array.from({ length: BATCH }, (_, i) =>
      JSON.stringify({ taskId: `cli-${i}`, taskClass: 'cpu_short', payload: { n: String(i) }, priority: 5, maxAttempts: 2, delayMs: 3_600_000 }),
    );
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await orchctl(['--addr', orch.addr, '--json', 'submit', '--file', file]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(await sys.r.hexists(sys.keys.taskIndex('cli-9999'), 'cli-9999')).toBe(1);
    expect(await sys.r.hexists(sys.keys.taskIndex('cli-0'), 'cli-0')).toBe(1);
    await expectServing();
  }, 180_000);
});

describe('a failure inside a request ends that request, not the process', () => {
  it('answers INTERNAL when Redis answers a script error, then serves again', async () => {
    // The tasks index of the wrong type: the claim script's HGET fails inside Redis.
    const index = sys.keys.taskIndex('script-error');
    await sys.r.hset(index, 'limits-placeholder', 'x');
    await sys.r.rename(index, `${index}:aside`);
    await sys.r.set(index, 'not a hash');
    try {
      const err = await grpcError(orch.client.submitTask({ taskId: 'script-error', taskClass: 'cpu_short', payload: { a: '1' } }));
      expect(err.code).toBe(status.INTERNAL);
      expect(err.details).toContain('WRONGTYPE');
      await expectServing();
    } finally {
      await sys.r.del(index);
      await sys.r.rename(`${index}:aside`, index);
      await sys.r.hdel(index, 'limits-placeholder');
    }
    expect(await orch.client.submitTask({ taskId: 'script-error', taskClass: 'cpu_short', payload: { a: '1' }, delayMs: 3_600_000 })).toMatchObject({
      created: true,
    });
  });
});

describe('INVALID_ARGUMENT at submit, naming the field', () => {
  const cases: [string, ExecutorInput, string][] = [
    ['container memory_bytes above 2^53', { container: { image: 'orchestrator-test/sleeper', memoryBytes: 2 ** 60 } }, 'task.executor.container.memory_bytes'],
    ['slurm memory_mb above 2^53', { slurm: { command: ['/bin/true'], memoryMb: 2 ** 55 } }, 'task.executor.slurm.memory_mb'],
    ['NUL in a command argv', { command: { argv: ['/bin/echo', 'a\0b'] } }, 'task.executor.command.argv[1]'],
    ['NUL in a command cwd', { command: { argv: ['/bin/true'], cwd: '/tmp\0x' } }, 'task.executor.command.cwd'],
    ['NUL in a command env value', { command: { argv: ['/bin/true'], env: { A: 'x\0y' } } }, 'task.executor.command.env.A'],
    ['NUL in a command env key', { command: { argv: ['/bin/true'], env: { 'A\0B': 'x' } } }, 'task.executor.command.env'],
    ['NUL in a container command', { container: { image: 'orchestrator-test/sleeper', command: ['sh', '-c\0'] } }, 'task.executor.container.command[1]'],
    ['NUL in a container working_dir', { container: { image: 'orchestrator-test/sleeper', workingDir: '/w\0' } }, 'task.executor.container.working_dir'],
    ['NUL in a container env value', { container: { image: 'orchestrator-test/sleeper', env: { A: '\0' } } }, 'task.executor.container.env.A'],
    ['NUL in a slurm command', { slurm: { command: ['/bin/true', '\0'] } }, 'task.executor.slurm.command[1]'],
    ['NUL in a slurm env value', { slurm: { command: ['/bin/true'], env: { A: '\0' } } }, 'task.executor.slurm.env.A'],
  ];
  for (const [what, executor, field] of cases) {
    it(what, async () => {
      const err = await grpcError(orch.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor }));
      expect(err.code, err.details).toBe(status.INVALID_ARGUMENT);
      expect(fieldOf(err)).toBe(field);
    });
  }

  it('a request that is not a protobuf message at all', async () => {
    const raw = new Client(orch.addr, credentials.createInsecure());
    // Field 1 (the task), length-delimited, claiming more bytes than follow.
    const garbled = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const err = await new Promise<ServiceError | null>((resolve) =>
      raw.makeUnaryRequest(
        '/orchestrator.v1.OrchestratorService/SubmitTask',
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbled,
        (e) => resolve(e),
      ),
    );
    raw.close();
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/^request: does not decode/);
    await expectServing();
  });

  it('a ListTasks window above 2^53 too, and the process serves on', async () => {
    const err = await grpcError(orch.client.listTasks({ submittedSinceMs: 2 ** 60 }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldOf(err)).toBe('filter.submitted_since_ms');
    await expectServing();
  });
});
