/**
 * The Python example (examples/python/) against a live server: stubs generated from our proto
 * with grpcio-tools, a task submitted and its result streamed. Debian's python3-grpcio and
 * python3-grpc-tools provide the modules; without them the suite skips on a laptop and fails
 * under CI=true (.ci/run installs them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { startSystem, type TestSystem } from './helpers/system.js';

/** Debian's interpreter: the one its python3-grpcio packages install into. */
const PYTHON = '/usr/bin/python3';

function pythonHasGrpc(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { stdio: 'ignore' });
  if (r.status === 0) return true;
  const why = `python client: ${PYTHON} cannot import grpc and grpc_tools`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI must install python3-grpcio and python3-grpc-tools (.ci/run)`);
  process.stderr.write(`SKIPPED ${why} (apt-get install python3-grpcio python3-grpc-tools)\n`);
  return false;
}

const available = pythonHasGrpc();
let sys: TestSystem;
beforeAll(async () => {
  if (!available) return;
  sys = await startSystem();
  await sys.startPool({ classes: 'cpu_short' });
});
afterAll(async () => sys?.stop());

function python(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [join(PROJECT_ROOT, 'examples/python/orchestrator_client.py'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe.skipIf(!available)('the Python client example', () => {
  it('submits a task over gRPC and streams its result', async () => {
    const r = await python(['--addr', sys.addr, '--task-class', 'cpu_short', '--payload', 'text=from python']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^submitted \S+ \(TASK_STATE_QUEUED\)/m);
    expect(r.out).toMatch(/result \S+ TASK_STATE_SUCCEEDED attempt=1 \{"text":"from python"\}/);
  });

  it("reads a failed task's logs (GetTaskLogs): the handler's ctx.log and its console, by attempt and stream", async () => {
    const r = await python(['--addr', sys.addr, '--task-class', 'cpu_short', '--handler', 'fail', '--payload', 'log=hello from python', '--logs']);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/result \S+ TASK_STATE_FAILED attempt=1 /);
    expect(r.out).toContain('log 1 LOG_STREAM_LOG hello from python');
    expect(r.out).toContain('log 1 LOG_STREAM_STDOUT console: hello from python');
  });

  it("prints a failed task's own failure", async () => {
    const r = await python([
      '--addr',
      sys.addr,
      '--task-class',
      'cpu_short',
      '--handler',
      'fail',
      '--payload',
      'message=bad row 7',
      '--payload',
      'retryable=false',
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/result \S+ TASK_STATE_FAILED attempt=1 bad row 7/);
    expect(r.out).toContain('failure kind=task_failed retryable=False');
  });

  it('reports a bad request with its gRPC status', async () => {
    const r = await python(['--addr', sys.addr, '--task-class', 'no_such_class']);
    expect(r.code).toBe(2);
    expect(r.out).toContain('INVALID_ARGUMENT: task.task_class: unknown class "no_such_class"');
  });
});
