/**
 * The gpu class on a pool given two GPU ids (no hardware here): one task per GPU, each told its
 * device, and a pool serving gpu without GPUs refusing to start. The container part runs
 * against the real Docker engine; it has no nvidia runtime, so a container with a device
 * request cannot start here, and the request is read back from a created container instead.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { containerCreateOptions } from '../workers/executors/container-create-options.js';
import { dockerForTests, ensureTestImage } from './helpers/docker.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const GPU_TOML = `${TEST_CONFIG_TOML}
[classes.gpu]
attempts = 1
lockDurationMs = 2000
stalledIntervalMs = 1000
`;

let sys: TestSystem;
const gates = mkdtempSync(join(tmpdir(), 'orq-gpu-'));

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

  it('refuses to start a pool that serves gpu without GPUs (exit code 2)', async () => {
    const err = await sys.startPool({ classes: 'gpu', env: { ORCHESTRATOR_POOL_GPUS: '' } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited at start \(2\)/);
    expect((err as Error).message).toMatch(/serves gpu, which needs GPUs, but it has none/);
  });
});

const docker = await dockerForTests('gpu container suite');

describe.skipIf(!docker)('gpu class in containers', () => {
  it('creates a gpu task’s container with a device request for its GPU only', async () => {
    const d = docker!;
    const image = await ensureTestImage(d);
    const spec = { image, command: ['true'], env: {}, workingDir: '', cpuMillis: 0, memoryBytes: 0, pidsLimit: 0, user: '', network: false, mounts: [] };
    const pool = {
      prefix: `orqgpu${process.pid}`,
      poolId: 'p',
      networkMode: 'none',
      defaultMemoryBytes: 64 << 20,
      defaultCpuMillis: 500,
      defaultPidsLimit: 64,
      tmpfsBytes: 1 << 20,
    };
    const container = await d.api.createContainer(
      containerCreateOptions(spec, { taskId: 'gpu-container', taskClass: 'gpu', attempt: 1, env: { CUDA_VISIBLE_DEVICES: '1' }, gpu: '1', mounts: [] }, pool),
    );
    try {
      const info = await container.inspect();
      expect(info.HostConfig.DeviceRequests).toEqual([{ Driver: 'nvidia', Count: 0, DeviceIDs: ['1'], Capabilities: [['gpu']], Options: null }]);
      expect(info.Config.Env).toContain('CUDA_VISIBLE_DEVICES=1');
    } finally {
      await d.remove(container.id);
    }
  });
});
