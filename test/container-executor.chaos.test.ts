/**
 * Containers outliving their pool: a pool killed (SIGKILL) mid-task leaves its container running
 * on the engine. The task must complete on another pool without a second container living on,
 * and a pool starting up must remove the containers of pools that are gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { dockerStatus } from '../src/docker/docker-client.js';
import { CONTAINER_LABELS } from '../workers/executors/container.js';
import { containerSuiteToml, dockerForTests, ensureTestImage, taskContainers } from './helpers/docker.js';
import { OPEN_POLICY, startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const docker = await dockerForTests('container chaos suite');
let image: string;
let sys: TestSystem;

describe.skipIf(!docker)('containers and dying pools', () => {
  const d = docker!;
  const gone = async (id: string) =>
    d.api
      .getContainer(id)
      .inspect()
      .then(
        () => false,
        (err: unknown) => dockerStatus(err) === 404,
      );

  beforeAll(async () => {
    image = await ensureTestImage(d);
    sys = await startSystem({ toml: containerSuiteToml('orqcchaos') });
  });

  afterAll(async () => {
    if (!sys) return;
    await sys.stop();
    for (const c of await d.containersLabelled({ [CONTAINER_LABELS.prefix]: sys.config.redis.prefix })) await d.remove(c.Id);
  });

  it('runs a task again elsewhere after its pool was killed, and leaves no container behind', async () => {
    const first = await sys.startPool({ classes: 'cpu_long:1' });
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_long',
      payload: { a: '1' },
      // Long enough that the orphan would still be there, exited, when the test looks.
      executor: { container: { image, command: ['sh', '-c', 'sleep 5; echo finished'] } },
    });
    const orphan = (await waitFor(async () => (await taskContainers(d, sys, taskId)).find((c) => c.State === 'running'), {
      message: 'the first container never ran',
    }))!;
    expect(orphan.Labels[CONTAINER_LABELS.poolId]).toBe(first.id);
    first.kill('SIGKILL');
    await first.exited;

    const second = await sys.startPool({ classes: 'cpu_long:1' });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(r.workerId).toBe(second.id);
    expect(JSON.parse(r.resultJson)).toMatchObject({ exitCode: 0, stdout: 'finished\n' });
    expect(await gone(orphan.Id)).toBe(true);
    await waitFor(async () => (await taskContainers(d, sys, taskId)).length === 0, { message: 'a container of the task is still there' });
    second.kill('SIGTERM');
    await second.exited;
  });

  it('removes, at start-up, the containers of pools that are gone and of its own earlier life, not those of live pools', async () => {
    const live = await sys.startPool({ classes: 'cpu_long:1' });
    const nextId = `chaos-reaper-${process.pid}`;
    const make = async (poolId: string) => {
      const c = await d.api.createContainer({
        Image: image,
        Cmd: ['sleep', '300'],
        Labels: { [CONTAINER_LABELS.prefix]: sys.config.redis.prefix, [CONTAINER_LABELS.poolId]: poolId, [CONTAINER_LABELS.taskId]: `orphan-of-${poolId}` },
        HostConfig: { NetworkMode: 'none' },
      });
      await c.start();
      return c.id;
    };
    const ofGonePool = await make('a-pool-that-is-gone');
    const ofEarlierLife = await make(nextId);
    const ofLivePool = await make(live.id);

    // startPool returns once the pool has registered, which it does after removing orphans.
    await sys.startPool({ classes: 'cpu_long:1', id: nextId });
    expect(await gone(ofGonePool)).toBe(true);
    expect(await gone(ofEarlierLife)).toBe(true);
    expect(await gone(ofLivePool)).toBe(false);
    await d.remove(ofLivePool);
  });
});

describe.skipIf(!docker)('containers of a task that stalls out', () => {
  const d = docker!;
  let stall: TestSystem;

  beforeAll(async () => {
    image = await ensureTestImage(d);
    // No stall recovery at all: the first time its pool dies, the task fails for good. A lock of
    // 5 s: a live pool starved of CPU on a busy machine for a second or two must keep it.
    stall = await startSystem({
      toml: `${containerSuiteToml('orqcstall')}
[classes.stallout]
policy = ${OPEN_POLICY}
concurrency = 1
attempts = 1
lockDurationMs = 5000
stalledIntervalMs = 1000
maxStalledCount = 0
`,
    });
  });

  afterAll(async () => {
    if (!stall) return;
    await stall.stop();
    for (const c of await d.containersLabelled({ [CONTAINER_LABELS.prefix]: stall.config.redis.prefix })) await d.remove(c.Id);
  });

  it('removes the container of a task that failed because its pool died more often than allowed', { timeout: 120_000 }, async () => {
    const doomed = await stall.startPool({ classes: 'stallout:1' });
    const { taskId } = await stall.client.submitTask({
      taskClass: 'stallout',
      payload: { a: '1' },
      executor: { container: { image, command: ['sleep', '300'] } },
    });
    // The pool's start and the container's creation, on a machine busy with other suites.
    await waitFor(async () => (await taskContainers(d, stall, taskId)).some((c) => c.State === 'running'), {
      timeoutMs: 60_000,
      message: 'the container never ran',
    });
    expect(TaskState[(await stall.client.getTaskStatus(taskId)).state]).toBe('TASK_STATE_RUNNING');
    doomed.kill('SIGKILL');
    await doomed.exited;

    // The survivor's stall check finds the task without a pool and fails it for good; a pool
    // only just gone is not yet counted dead by the start-up reaper, so this is the removal.
    await stall.startPool({ classes: 'stallout:1' });
    const r = await stall.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toMatch(/stalled/);
    await waitFor(async () => (await taskContainers(d, stall, taskId)).length === 0, { message: 'the container of the stalled-out task is still there' });
  });
});
