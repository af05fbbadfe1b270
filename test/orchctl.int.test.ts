/**
 * orchctl as operators run it: the built CLI as a subprocess against a live system (Redis, an
 * orchestrator process, a pool), checking output and exit codes, and `events --follow` riding out
 * an orchestrator restart without missing or repeating an event.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBareSystem, type BareSystem, type OrchestratorProcess } from './helpers/system.js';
import { spawnOrchctl, type OrchctlProcess } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from './helpers/free-port.js';

let sys: BareSystem;
let orch: OrchestratorProcess;
let addr: string;
const dir = mkdtempSync(join(tmpdir(), 'orq-cli-'));

beforeAll(async () => {
  sys = await startBareSystem();
  addr = `127.0.0.1:${await freePort()}`;
  orch = await sys.startOrchestrator({ addr });
  await sys.startPool({ classes: 'cpu_short,inproc' });
});
afterAll(async () => sys?.stop());

function orchctl(args: string[], opts: { stdin?: string; addr?: string } = {}): OrchctlProcess {
  return spawnOrchctl(['--addr', opts.addr ?? addr, ...args], opts);
}

const run = (args: string[], opts?: { stdin?: string; addr?: string }) => orchctl(args, opts).done;

describe('orchctl', { timeout: 120_000 }, () => {
  it('submits a task, waits for it, and shows its status', async () => {
    const r = await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', 'cli-1', '--wait']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/state\s+succeeded/);
    expect(r.out).toContain('{"a":"1"}');
    const s = await run(['--json', 'status', 'cli-1']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.out)).toMatchObject({ taskId: 'cli-1', state: 'TASK_STATE_SUCCEEDED', attemptsMade: 1, maxAttempts: 1 });
  });

  it('takes the payload from stdin and a command after --', async () => {
    const r = await run(['--json', 'submit', '-c', 'cpu_short', '--payload-stdin', '--wait', '--', 'sh', '-c', 'echo from-cli'], { stdin: '{"k":"v"}' });
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out.trim().split('\n').at(-1)!);
    expect(res.state).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(res.resultJson)).toMatchObject({ exitCode: 0, stdout: 'from-cli\n' });
  });

  it('submits a batch from a file and shows the progress', async () => {
    const file = join(dir, 'batch.jsonl');
    writeFileSync(file, [1, 2, 3].map((i) => JSON.stringify({ taskClass: 'inproc', payload: { i: String(i) } })).join('\n'));
    const r = await run(['submit', '--file', file, '--wait']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('3/3 done, 3 succeeded, 0 not');
  });

  it('exits 1 when a waited-for task fails, 2 for usage and bad input, 3 for not found, 4 when the server is away', async () => {
    expect((await run(['submit', '-c', 'inproc', '-p', 'a=1', '--handler', 'fail', '--attempts', '1', '--wait'])).code).toBe(1);
    const usage = await run(['submit', '--nope']);
    expect(usage.code).toBe(2);
    const bad = await run(['submit', '-c', 'no_such_class', '-p', 'a=1']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('task.task_class');
    const missing = await run(['status', 'no-such-task']);
    expect(missing.code).toBe(3);
    expect(missing.err).toContain('no task "no-such-task"');
    const away = await run(['--deadline-ms', '1500', 'health'], { addr: `127.0.0.1:${await freePort()}` });
    expect(away.code).toBe(4);
  });

  it('cancels a task', async () => {
    await run(['submit', '-c', 'inproc', '-p', 'ms=60000', '--handler', 'sleep', '--id', 'cli-cancel']);
    const r = await run(['--json', 'cancel', 'cli-cancel', '--reason', 'test']);
    expect(r.code).toBe(0);
    expect(['TASK_STATE_CANCELLED', 'TASK_STATE_RUNNING']).toContain(JSON.parse(r.out).state);
  });

  it('creates a workflow from a file, runs it and watches it to the end', async () => {
    const file = join(dir, 'wf.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'cli-wf',
        steps: [
          { stepId: 'a', task: { taskClass: 'inproc', payload: { x: '${inputs.x}' } } },
          { stepId: 'b', dependsOn: ['a'], task: { taskClass: 'inproc', payload: { y: '${steps.a.result.x}!' } } },
        ],
      }),
    );
    expect((await run(['workflow', 'create', file])).out).toMatch(/version\s+1/);
    const r = await run(['workflow', 'run', 'cli-wf', '-i', 'x=7', '--run-id', 'cli-run', '--watch']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('[2/2] b: succeeded');
    expect(r.out).toMatch(/state\s+succeeded/);
    expect(r.out).toContain('{"y":"7!"}');
    const status = await run(['--json', 'workflow', 'status', 'cli-run']);
    expect(JSON.parse(status.out)).toMatchObject({ runId: 'cli-run' });
  });

  it('prints health and metrics, as tables or JSON', async () => {
    const h = await run(['health']);
    expect(h.out).toMatch(/^(serving|degraded)/);
    const m = await run(['--json', 'metrics']);
    expect(m.code).toBe(0);
    expect(Object.keys(JSON.parse(m.out).metrics).length).toBeGreaterThanOrEqual(17);
  });

  it('shows and changes class limits, pauses and resumes a class', async () => {
    const set = await run(['--json', 'limits', 'inproc', '--global-concurrency', '3', '--rate', '50/1000']);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.out)).toMatchObject({ taskClass: 'inproc', globalConcurrency: 3, rateLimitMax: 50, rateLimitDurationMs: 1000, paused: false });
    expect((await run(['--json', 'pause', 'inproc'])).out).toContain('"paused":true');
    expect((await run(['--json', 'resume', 'inproc'])).out).toContain('"paused":false');
    const cleared = await run(['--json', 'limits', 'inproc', '--global-concurrency', '0', '--rate', '0/0']);
    expect(JSON.parse(cleared.out)).toMatchObject({ globalConcurrency: 0, rateLimitMax: 0, rateLimitDurationMs: 0 });
    expect((await run(['limits', 'inproc', '--pool-concurrency', '-1'])).code).toBe(2);
  });

  it('prints retained results of a task and stops', async () => {
    const r = await run(['results', '--task', 'cli-1']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('cli-1  succeeded  attempt 1');
  });

  it('events --follow resumes after an orchestrator restart, missing and repeating nothing', async () => {
    const follow = orchctl(['--json', 'events', '--follow', '--type', 'submitted', '--cursor', '$']);
    const seen = () =>
      follow
        .out()
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { taskId: string }).taskId);
    // The follower is connected once it sees an event submitted after it started.
    await waitFor(
      async () => {
        await run(['submit', '-c', 'inproc', '-p', 'a=1']);
        return seen().length > 0;
      },
      { timeoutMs: 30_000, message: 'the follower never saw an event' },
    );
    await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', 'before-restart']);
    await waitFor(() => seen().includes('before-restart'));

    orch.kill('SIGKILL');
    await orch.exited;
    orch = await sys.startOrchestrator({ addr });
    await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', 'after-restart']);
    await waitFor(() => seen().includes('after-restart'), { timeoutMs: 30_000, message: 'the follower did not resume' });
    follow.kill();
    const r = await follow.done;
    expect(seen().filter((id) => id === 'before-restart')).toHaveLength(1);
    expect(seen().filter((id) => id === 'after-restart')).toHaveLength(1);
    expect(r.err).toContain('connection lost');
  });
});
