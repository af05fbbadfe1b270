/**
 * The container executor end to end against the real Docker engine: tasks submitted over gRPC,
 * run by a real pool process in containers of a local busybox image. Skips without an engine on
 * a laptop; fails under CI=true (see helpers/docker.ts).
 *
 * The tests run concurrently: each submits tasks of its own and reads only what belongs to
 * them (their results, events and containers, found by task id), and most of a test is waiting
 * on the engine, which then overlaps. The pool's four slots queue what does not fit.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState, type ExecutorInput } from '../src/client/orchestrator-client.js';
import { LogStream } from '../src/gen/orchestrator/v1/orchestrator.js';
import { dockerStatus } from '../src/docker/docker-client.js';
import { CONTAINER_LABELS } from '../workers/executors/container.js';
import { containerEngineError } from '../workers/executors/container-errors.js';
import { containerSuiteToml, dockerForTests, ensureTestImage, taskContainers } from './helpers/docker.js';
import { resultFields } from './helpers/results.js';
import { startSystem, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const docker = await dockerForTests('container executor suite');
let image: string;
let sys: TestSystem;
/** The one host directory containers may bind here. */
const mountDir = mkdtempSync(join(tmpdir(), 'orq-mounts-'));

describe.skipIf(!docker)('container executor', { concurrent: true, timeout: 120_000 }, () => {
  const d = docker!;
  const container = (c: Partial<Extract<ExecutorInput, { container: unknown }>['container']>): ExecutorInput => ({ container: { image, ...c } });

  beforeAll(async () => {
    image = await ensureTestImage(d);
    mkdirSync(join(mountDir, 'in'));
    writeFileSync(join(mountDir, 'in', 'input.txt'), 'from the host\n');
    // Containers run as nobody unless a task names its user: the writable mount is open to it.
    mkdirSync(join(mountDir, 'out'), { mode: 0o777 });
    chmodSync(join(mountDir, 'out'), 0o777);
    symlinkSync('/etc', join(mountDir, 'escape'));
    sys = await startSystem({ toml: containerSuiteToml('orqcont', `allowedMounts = ["${mountDir}"]`) });
    await sys.startPool({ classes: 'cpu_short:4' });
  });

  afterAll(async () => {
    if (!sys) return;
    await sys.stop();
    for (const c of await d.containersLabelled({ [CONTAINER_LABELS.prefix]: sys.config.redis.prefix })) await d.remove(c.Id);
  });

  it('runs a command in a container and returns its output', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: container({ command: ['sh', '-c', 'echo "hello $GREETING $ORCHESTRATOR_TASK_ID"; echo note >&2'], env: { GREETING: 'there' } }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toMatchObject({ exitCode: 0, stdout: `hello there ${taskId}\n`, stderr: 'note\n' });
    expect(await taskContainers(d, sys, taskId)).toEqual([]);
  });

  it('fails a container that exits non-zero, with its exit code and output', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 1,
      executor: container({ command: ['sh', '-c', 'echo broken >&2; exit 3'] }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('exited with code 3');
    expect(JSON.parse((await resultFields(sys.r, sys.keys, taskId))!.result!)).toMatchObject({ exitCode: 3, stderr: 'broken\n' });
    // The failure in one place: the result and the task's status say the same.
    expect(r.failure).toMatchObject({ message: 'container exited with code 3', kind: 'task_failed', exitCode: 3, retryable: true, outputTail: 'broken' });
    await waitFor(async () => TaskState[(await sys.client.getTaskStatus(taskId)).state] === 'TASK_STATE_FAILED');
    expect((await sys.client.getTaskStatus(taskId)).failure).toEqual(r.failure);
  });

  it("writes a container's stdout and stderr to the task's log, by stream", async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 1,
      executor: container({ command: ['sh', '-c', 'echo "step one"; echo "step two failed" >&2; exit 5'] }),
    });
    expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_FAILED);
    const logs = await sys.client.getTaskLogs(taskId);
    // Docker copies a container's stdout and stderr on separate pipes: each stream keeps its own
    // order, but which of two lines on different streams is logged first is not defined.
    const lines = logs.lines.map((l) => [l.attempt, LogStream[l.stream], l.text]);
    expect(lines.filter(([, s]) => s === 'LOG_STREAM_STDOUT')).toEqual([[1, 'LOG_STREAM_STDOUT', 'step one']]);
    expect(lines.filter(([, s]) => s === 'LOG_STREAM_STDERR')).toEqual([[1, 'LOG_STREAM_STDERR', 'step two failed']]);
    expect(lines).toHaveLength(2);
  });

  it('kills and removes a running container over its timeout', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      // Long enough for the container to be running well before the timeout fires, even on a
      // loaded machine (a start takes about 0.3 s here), so the test proves a running
      // container is killed, not one that never started.
      timeoutMs: 8000,
      maxAttempts: 1,
      executor: container({ command: ['sh', '-c', 'echo started; exec sleep 300'] }),
    });
    const running = (await waitFor(async () => (await taskContainers(d, sys, taskId)).find((c) => c.State === 'running'), {
      message: 'the container never ran before its timeout',
    }))!;
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toBe('timed out after 8000 ms');
    const fields = (await resultFields(sys.r, sys.keys, taskId))!;
    expect(fields.error_code).toBe('timed_out');
    // It ran (its output) and was killed: sleep, as the container's PID 1, ignores SIGTERM, so
    // the stop ends in SIGKILL after the grace (exit status 128 + 9).
    expect(JSON.parse(fields.result!)).toMatchObject({ stdout: 'started\n', exitCode: 137 });
    // The very container seen running is gone.
    expect(
      dockerStatus(
        await d.api
          .getContainer(running.Id)
          .inspect()
          .catch((e: unknown) => e),
      ),
    ).toBe(404);
    expect(await taskContainers(d, sys, taskId)).toEqual([]);
  });

  it('kills and removes a running container on CancelTask', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: container({ command: ['sleep', '300'] }),
    });
    await waitFor(async () => (await taskContainers(d, sys, taskId)).some((c) => c.State === 'running'), { message: 'the container never ran' });
    await sys.client.cancelTask(taskId, 'not wanted');
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_CANCELLED');
    expect(r.error).toContain('not wanted');
    expect(await taskContainers(d, sys, taskId)).toEqual([]);
    expect((await sys.client.getTaskStatus(taskId)).attemptsMade).toBe(1);
  });

  it('reports a container killed at its memory limit as out of memory, without retrying', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      // dd allocates its 64 MiB block at once: four times the limit.
      executor: container({ command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], memoryBytes: 16 << 20 }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('out of memory');
    // Not retried after the OOM kill (an earlier attempt may have failed otherwise on a loaded machine).
    const retries = (await sys.r.xrange(sys.keys.events, '-', '+')).map(([, f]) => f).filter((f) => f[1] === 'retrying' && f[3] === taskId);
    expect(retries.filter((f) => f.join(' ').includes('out of memory'))).toHaveLength(0);
    expect(r.attempt).toBe(retries.length + 1);
    expect(JSON.parse((await resultFields(sys.r, sys.keys, taskId))!.result!)).toMatchObject({ oomKilled: true });
  });

  it('gives a container no network: only the loopback interface', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: container({ command: ['cat', '/proc/net/dev'] }) });
    const r = await sys.client.waitForResult(taskId);
    const { stdout } = JSON.parse(r.resultJson) as { stdout: string };
    // Two header lines, then one line per interface.
    const interfaces = stdout
      .trim()
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim());
    expect(interfaces).toEqual(['lo']);
  });

  it('mounts the root filesystem read-only, with a writable /tmp', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: container({
        command: ['sh', '-c', 'if touch /x 2>/dev/null; then echo root-writable; else echo root-readonly; fi; echo data > /tmp/y && cat /tmp/y'],
      }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(JSON.parse(r.resultJson)).toMatchObject({ exitCode: 0, stdout: 'root-readonly\ndata\n' });
  });

  it('locks a container down: no capabilities, privileges, mounts or network; limits from the pool defaults', async () => {
    const { taskId } = await sys.client.submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: container({ command: ['sleep', '300'] }) });
    const running = (await waitFor(async () => (await taskContainers(d, sys, taskId)).find((c) => c.State === 'running'), {
      message: 'the container never ran',
    }))!;
    const info = await d.api.getContainer(running.Id).inspect();
    await sys.client.cancelTask(taskId);
    expect(info.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Privileged: false,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 1 << 30,
      MemorySwap: 1 << 30,
      NanoCpus: 1e9,
      PidsLimit: 256,
    });
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
    expect(info.HostConfig.Binds ?? []).toEqual([]);
    expect(info.Mounts).toEqual([]);
    expect(info.Config.Labels).toMatchObject({
      [CONTAINER_LABELS.taskId]: taskId,
      [CONTAINER_LABELS.attempt]: '1',
      [CONTAINER_LABELS.poolId]: expect.any(String),
    });
    await sys.client.waitForResult(taskId);
  });

  it('binds an allowed host directory read-only unless asked, and a writable one as asked', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: container({
        command: [
          'sh',
          '-c',
          'cat /in/input.txt; if echo x > /in/new 2>/dev/null; then echo in-writable; else echo in-readonly; fi; echo result > /out/result.txt',
        ],
        mounts: [
          { hostPath: join(mountDir, 'in'), containerPath: '/in' },
          { hostPath: join(mountDir, 'out'), containerPath: '/out', writable: true },
        ],
      }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(JSON.parse(r.resultJson)).toMatchObject({ exitCode: 0, stdout: 'from the host\nin-readonly\n' });
    expect(readFileSync(join(mountDir, 'out', 'result.txt'), 'utf8')).toBe('result\n');
  });

  it('refuses a host path outside the allowed directories at submission', async () => {
    const err = (await sys.client
      .submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: container({ mounts: [{ hostPath: '/etc', containerPath: '/x' }] }) })
      .catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.metadata.get('field')).toEqual(['task.executor.container.mounts[0].host_path']);
  });

  it('refuses, on the pool, a host path that a symbolic link leads out of the allowed directories', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: container({ command: ['cat', '/x/hostname'], mounts: [{ hostPath: join(mountDir, 'escape'), containerPath: '/x' }] }),
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toContain('resolves to "/etc"');
    expect(await taskContainers(d, sys, taskId)).toEqual([]);
  });

  it('fails a task whose image is missing without retrying', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: { container: { image: 'orchestrator-test/no-such-image:1', command: ['true'] } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toContain('image "orchestrator-test/no-such-image:1" is not on this pool\'s Docker engine');
  });

  it('fails a container the engine cannot give a GPU, for want of a device driver, without retrying', async () => {
    // The engine's own refusal: one without NVIDIA's toolkit refuses any GPU request in these
    // words, one with it (as in CI, see .ci/run) a capability its driver lacks.
    const created = await d.api.createContainer({
      Image: image,
      Cmd: ['true'],
      Labels: { [CONTAINER_LABELS.prefix]: sys.config.redis.prefix },
      HostConfig: { NetworkMode: 'none', DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['0'], Capabilities: [['orq-no-such-capability']] }] },
    });
    const err = await created.start().catch((e: unknown) => e);
    await d.remove(created.id);
    expect(dockerStatus(err)).toBe(500);
    const e = containerEngineError('starting the container', err, { image, network: false, networkMode: 'bridge', gpu: '0' });
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^this pool's Docker engine has no GPU device driver, so the container cannot be given GPU 0 .*could not select device driver/);
  });

  it('refuses a task asking for a network at submission, when the config does not allow one', async () => {
    const err = (await sys.client
      .submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: container({ network: true }) })
      .catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.metadata.get('field')).toEqual(['task.executor.container.network']);
  });
});

describe.skipIf(!docker)('container executor with networks allowed', { concurrent: true, timeout: 120_000 }, () => {
  const d = docker!;
  const network = `orq-no-such-network-${process.pid}`;
  let nsys: TestSystem;

  beforeAll(async () => {
    image = await ensureTestImage(d);
    nsys = await startSystem({ toml: containerSuiteToml('orqcontnet', `allowNetwork = true\nnetworkMode = "${network}"`) });
    await nsys.startPool({ classes: 'cpu_short:2' });
  });

  afterAll(async () => {
    if (!nsys) return;
    await nsys.stop();
    for (const c of await d.containersLabelled({ [CONTAINER_LABELS.prefix]: nsys.config.redis.prefix })) await d.remove(c.Id);
  });

  it('fails a task whose network does not exist on the engine without retrying, naming the network (not the image)', async () => {
    const { taskId } = await nsys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: { container: { image, command: ['true'], network: true } },
    });
    const r = await nsys.client.waitForResult(taskId);
    expect(TaskState[r.state]).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toContain(`network "${network}" (executors.container.networkMode) does not exist on this pool's Docker engine`);
    expect(r.error).not.toContain('is not on this pool');
    expect(await taskContainers(d, nsys, taskId)).toEqual([]);
  });
});
