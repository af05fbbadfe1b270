/**
 * The gpu class on a pool given two GPU ids (no hardware here): one task per GPU, each told its
 * device, and a pool serving gpu without GPUs refusing to start. The container part runs
 * through a real pool against the real Docker engine, whose "nvidia" device driver exists
 * because a no-op nvidia-container-runtime-hook is on dockerd's PATH (.ci/run installs it):
 * the containers start, and each one's device request is read back while it runs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { CONTAINER_LABELS } from '../workers/executors/container.js';
import { containerSuiteToml, dockerForTests, ensureTestImage, gpuDriverForTests, taskContainers } from './helpers/docker.js';
import { OPEN_POLICY, startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';
import { taskReadableTempDir } from './helpers/temp-dir.js';

const GPU_CLASS_TOML = `
[classes.gpu]
policy = ${OPEN_POLICY}
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000

[classes.gpu_b]
policy = ${OPEN_POLICY}
usesGpu = true
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000

[classes.gpu_c]
policy = ${OPEN_POLICY}
usesGpu = true
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
`;
const GPU_TOML = `${TEST_CONFIG_TOML}${GPU_CLASS_TOML}`;

let sys: TestSystem;
const gates = taskReadableTempDir('orq-gpu-');

/** Events of the given tasks, in stream order. */
async function events(taskIds: string[]): Promise<{ type: string; taskId: string }[]> {
  return (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => ({ type: f[1]!, taskId: f[3]! })).filter((e) => taskIds.includes(e.taskId));
}

describe('gpu class', () => {
  beforeAll(async () => {
    sys = await startSystem({ toml: GPU_TOML });
  });

  afterAll(async () => {
    await sys?.stop();
  });

  it('runs one task per GPU, each with its own CUDA_VISIBLE_DEVICES; a third waits for a free GPU', async () => {
    await sys.startPool({ classes: 'gpu:8', env: { ORCHESTRATOR_POOL_GPUS: '0,1' } });
    const ids = ['gpu-a', 'gpu-b', 'gpu-c'];
    for (const id of ids) {
      // Each holds its GPU until its gate file appears.
      const gate = join(gates, id);
      await sys.client.submitTask({
        taskId: id,
        taskClass: 'gpu',
        payload: { a: '1' },
        executor: {
          command: { argv: ['sh', '-c', `echo "cuda=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES"; while [ ! -e ${gate} ]; do sleep 0.05; done`] },
        },
      });
    }
    const started = async () => (await events(ids)).filter((e) => e.type === 'started').map((e) => e.taskId);
    const firstTwo = (await waitFor(
      async () => {
        const s = await started();
        return s.length >= 2 ? s : undefined;
      },
      { message: 'two gpu tasks never started' },
    ))!;
    expect(firstTwo).toHaveLength(2);
    const waiting = ids.find((id) => !firstTwo.includes(id))!;
    expect((await sys.client.getTaskStatus(waiting)).state).toBe(TaskState.TASK_STATE_QUEUED);

    writeFileSync(join(gates, firstTwo[0]!), '');
    const r0 = await sys.client.waitForResult(firstTwo[0]!);
    await waitFor(async () => (await started()).includes(waiting), { message: 'the third gpu task never started' });
    for (const id of [firstTwo[1]!, waiting]) writeFileSync(join(gates, id), '');
    const [r1, r2] = await Promise.all([sys.client.waitForResult(firstTwo[1]!), sys.client.waitForResult(waiting)]);

    const device = (r: typeof r0) => {
      expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
      const m = /^cuda=(\d) nvidia=(\d)\n$/.exec((JSON.parse(r.resultJson) as { stdout: string }).stdout);
      expect(m?.[1]).toBe(m?.[2]);
      return m![1]!;
    };
    const [d0, d1, d2] = [device(r0), device(r1), device(r2)];
    expect(new Set([d0, d1])).toEqual(new Set(['0', '1']));
    // The third took the GPU the first gave back.
    expect(d2).toBe(d0);

    // Never three at once: replay the events.
    let running = 0;
    let most = 0;
    for (const e of await events(ids)) {
      if (e.type === 'started') most = Math.max(most, ++running);
      if (e.type === 'succeeded' || e.type === 'failed') running--;
    }
    expect(most).toBe(2);
  });

  it('counts a task’s timeout from when it holds a GPU, not while it waits for one', async () => {
    // Two GPU classes on one pool with one GPU: a task of each may be taken at once, and the
    // second waits in the pool for the GPU the first holds, for longer than its own timeout.
    // (Classes no other pool of this suite serves.)
    await sys.startPool({ classes: 'gpu_b:1,gpu_c:1', env: { ORCHESTRATOR_POOL_GPUS: '0' } });
    const gate = join(gates, 'holder');
    await sys.client.submitTask({
      taskId: 'gpu-holder',
      taskClass: 'gpu_c',
      payload: { a: '1' },
      executor: { command: { argv: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done`] } },
    });
    await waitFor(async () => (await events(['gpu-holder'])).some((e) => e.type === 'started'), { message: 'the holder never started' });
    const timeoutMs = 1_500;
    await sys.client.submitTask({ taskId: 'gpu-waiter', taskClass: 'gpu_b', payload: { a: '1' }, timeoutMs, executor: { command: { argv: ['true'] } } });
    await waitFor(async () => (await events(['gpu-waiter'])).some((e) => e.type === 'started'), { message: 'the waiter was never taken' });
    const takenAt = Date.now();
    // The waiter has now waited past its timeout without failing.
    await waitFor(async () => Date.now() - takenAt > 2 * timeoutMs, { timeoutMs: 30_000 });
    expect((await sys.client.getTaskStatus('gpu-waiter')).state).toBe(TaskState.TASK_STATE_RUNNING);
    writeFileSync(gate, '');
    const r = await sys.client.waitForResult('gpu-waiter');
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(r.attempt).toBe(1);
    expect(TaskState[(await sys.client.waitForResult('gpu-holder')).state]).toBe('TASK_STATE_SUCCEEDED');
  });

  it('refuses to start a pool that serves gpu without GPUs (exit code 2)', async () => {
    const err = await sys.startPool({ classes: 'gpu', env: { ORCHESTRATOR_POOL_GPUS: '' } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited at start \(2\)/);
    expect((err as Error).message).toMatch(/serves gpu, which needs GPUs, but it has none/);
  });
});

const docker = await dockerForTests('gpu container suite');
const gpuDriver = docker !== undefined && (await gpuDriverForTests(docker, 'gpu container suite'));

describe.skipIf(!gpuDriver)('gpu class in containers', () => {
  const d = docker!;
  let csys: TestSystem;

  beforeAll(async () => {
    csys = await startSystem({ toml: `${containerSuiteToml('orqgpucont')}\n${GPU_CLASS_TOML}` });
  });

  afterAll(async () => {
    if (!csys) return;
    await csys.stop();
    for (const c of await d.containersLabelled({ [CONTAINER_LABELS.prefix]: csys.config.redis.prefix })) await d.remove(c.Id);
  });

  it('starts each gpu task’s container with a device request for its own GPU; a third waits for a free GPU', async () => {
    const image = await ensureTestImage(d);
    await csys.startPool({ classes: 'gpu:8', env: { ORCHESTRATOR_POOL_GPUS: '0,1' } });
    const ids = ['gpuc-a', 'gpuc-b', 'gpuc-c'];
    for (const id of ids) {
      await csys.client.submitTask({ taskId: id, taskClass: 'gpu', payload: { a: '1' }, executor: { container: { image, command: ['sleep', '300'] } } });
    }
    /** The tasks' running containers, by task id. */
    const running = async () => {
      const found = new Map<string, string>();
      for (const id of ids) {
        const c = (await taskContainers(d, csys, id)).find((c) => c.State === 'running');
        if (c) found.set(id, c.Id);
      }
      return found;
    };
    /** The GPU a live container's device request names, after checking the request is that one GPU alone. */
    const deviceOf = async (containerId: string) => {
      const info = await d.api.getContainer(containerId).inspect();
      expect(info.State.Running).toBe(true);
      expect(info.HostConfig.DeviceRequests).toHaveLength(1);
      const [request] = info.HostConfig.DeviceRequests!;
      expect(request).toMatchObject({ Driver: 'nvidia', Count: 0, Capabilities: [['gpu']] });
      expect(request!.DeviceIDs).toHaveLength(1);
      const gpu = request!.DeviceIDs![0]!;
      expect(info.Config.Env).toEqual(expect.arrayContaining([`CUDA_VISIBLE_DEVICES=${gpu}`, `NVIDIA_VISIBLE_DEVICES=${gpu}`]));
      return gpu;
    };

    const firstTwo = (await waitFor(
      async () => {
        const r = await running();
        return r.size >= 2 ? r : undefined;
      },
      { timeoutMs: 60_000, message: 'two gpu containers never ran' },
    ))!;
    expect(firstTwo.size).toBe(2);
    const waiting = ids.find((id) => !firstTwo.has(id))!;
    expect((await csys.client.getTaskStatus(waiting)).state).toBe(TaskState.TASK_STATE_QUEUED);
    expect(await taskContainers(d, csys, waiting)).toEqual([]);
    const [[first, firstContainer], [second, secondContainer]] = [...firstTwo];
    const gpus = [await deviceOf(firstContainer!), await deviceOf(secondContainer!)];
    expect(new Set(gpus)).toEqual(new Set(['0', '1']));

    // Ending the first gives its GPU to the waiting task.
    await csys.client.cancelTask(first!, 'done with it');
    const third = (await waitFor(async () => (await running()).get(waiting), { timeoutMs: 60_000, message: 'the third gpu container never ran' }))!;
    expect(await deviceOf(third)).toBe(gpus[0]);

    for (const id of [second!, waiting]) await csys.client.cancelTask(id, 'done with it');
    for (const id of ids) {
      expect(TaskState[(await csys.client.waitForResult(id)).state]).toBe('TASK_STATE_CANCELLED');
      expect(await taskContainers(d, csys, id)).toEqual([]);
    }
  });
});
