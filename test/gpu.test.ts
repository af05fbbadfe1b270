/** GPU assignment without hardware: nvidia-smi's output, the slots, and the container's device request. */
import { describe, expect, it } from 'vitest';
import { containerCreateOptions } from '../workers/executors/container-create-options.js';
import { parseNvidiaSmi } from '../workers/gpu-devices.js';
import { GpuSlots } from '../workers/gpu-slots.js';

const spec = { image: 'img', command: [], env: {}, workingDir: '', cpuMillis: 0, memoryBytes: 0, pidsLimit: 0, user: '', network: false, mounts: [] };
const pool = {
  prefix: 'p',
  poolId: 'pool',
  networkMode: 'bridge',
  defaultMemoryBytes: 1 << 30,
  defaultCpuMillis: 1000,
  defaultPidsLimit: 256,
  tmpfsBytes: 1 << 20,
};
const attempt = { taskId: 't', taskClass: 'gpu', attempt: 1, env: {}, mounts: [] };

describe('GPU devices', () => {
  it('reads the indexes from nvidia-smi --query-gpu=index,uuid --format=csv,noheader', () => {
    expect(parseNvidiaSmi('0, GPU-8d1f1e2a-aaaa\n1, GPU-3c2b9f00-bbbb\n')).toEqual(['0', '1']);
    expect(parseNvidiaSmi('')).toEqual([]);
  });

  it('hands each device to one holder at a time; a third waits for one to be released, or for its signal', async () => {
    const slots = new GpuSlots(['0', '1']);
    const signal = new AbortController().signal;
    expect(await slots.acquire(signal)).toBe('0');
    expect(await slots.acquire(signal)).toBe('1');
    const third = slots.acquire(signal);
    const gaveUp = new AbortController();
    const fourth = slots.acquire(gaveUp.signal);
    gaveUp.abort(new Error('cancelled'));
    await expect(fourth).rejects.toThrow('cancelled');
    slots.release('1');
    expect(await third).toBe('1');
    slots.release('0');
    expect(await slots.acquire(signal)).toBe('0');
  });

  it('asks Docker for exactly the attempt’s GPU, and for none without one', () => {
    const withGpu = containerCreateOptions(spec, { ...attempt, gpu: '1', env: { CUDA_VISIBLE_DEVICES: '1' } }, pool);
    expect(withGpu.HostConfig?.DeviceRequests).toEqual([{ Driver: 'nvidia', DeviceIDs: ['1'], Capabilities: [['gpu']] }]);
    expect(withGpu.Env).toContain('CUDA_VISIBLE_DEVICES=1');
    expect(containerCreateOptions(spec, attempt, pool).HostConfig?.DeviceRequests).toBeUndefined();
  });
});
