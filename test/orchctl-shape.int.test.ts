/**
 * orchctl's first minutes against a live system with bearer tokens: quiet when its reader goes
 * away (EPIPE), the token from ORCHESTRATOR_TOKEN with --token winning, one JSON shape on every
 * command, `events --follow` from the end of the feed, and task and workflow files written with
 * either field naming.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/paths.js';
import { ListTasksResponse, TaskEvent, TaskStatus, WorkflowRun } from '../src/gen/orchestrator/v1/orchestrator.js';
import { startBareSystem, TEST_CONFIG_TOML, type BareSystem } from './helpers/system.js';
import { spawnOrchctl, type OrchctlProcess } from './helpers/orchctl.js';
import { waitFor } from './helpers/wait.js';

const ADMIN = 'first-minutes-admin-token-0123456789';
const OTHER = 'first-minutes-read-token-0123456789';

let sys: BareSystem;
let addr: string;
const dir = mkdtempSync(join(tmpdir(), 'orq-cli-shape-'));

beforeAll(async () => {
  sys = await startBareSystem({
    toml: `${TEST_CONFIG_TOML}\n[grpc.auth]\n[[grpc.auth.tokens]]\ntoken = "${ADMIN}"\nrole = "admin"\n[[grpc.auth.tokens]]\ntoken = "${OTHER}"\nrole = "read"\n`,
  });
  addr = (await sys.startOrchestrator()).addr;
  await sys.startPool({ classes: 'cpu_short,inproc' });
});
afterAll(async () => sys?.stop());

/** orchctl with the admin token in its environment, as an operator's shell would have it. */
function orchctl(args: string[], env: Record<string, string> = { ORCHESTRATOR_TOKEN: ADMIN }): OrchctlProcess {
  return spawnOrchctl(['--addr', addr, ...args], { env });
}
const run = (args: string[], env?: Record<string, string>) => orchctl(args, env).done;
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Every field of the message is there, none left out as proto3 JSON would. */
function expectEveryField(json: Record<string, unknown>, empty: object): void {
  expect(Object.keys(json).sort()).toEqual(Object.keys(empty).sort());
}

describe('orchctl first minutes', { timeout: 120_000 }, () => {
  it('reads the token from ORCHESTRATOR_TOKEN, and --token wins over it', async () => {
    expect((await run(['health'], {})).code).toBe(5);
    expect((await run(['health'])).code).toBe(0);
    // A wrong flag beats a right environment, and a right flag a wrong environment.
    const wrongFlag = await run(['--token', 'not-a-token-of-this-server-000', 'health']);
    expect(wrongFlag.code).toBe(5);
    expect(wrongFlag.err).toMatch(/token/i);
    expect((await run(['--token', ADMIN, 'health'], { ORCHESTRATOR_TOKEN: 'not-a-token-of-this-server-000' })).code).toBe(0);
    // The read role may look but not submit: the env token is the one used.
    expect((await run(['submit', '-c', 'inproc', '-p', 'a=1'], { ORCHESTRATOR_TOKEN: OTHER })).code).toBe(5);
  });

  it('prints one JSON shape: full enum names, numbers, null for absent values, every field', async () => {
    const submitted = await run(['--json', 'submit', '-c', 'inproc', '-p', 'a=1', '--id', 'shape-1', '--wait']);
    expect(submitted.code).toBe(0);
    const result = jsonLines(submitted.out).at(-1)!;
    expect(result).toMatchObject({ taskId: 'shape-1', state: 'TASK_STATE_SUCCEEDED', attempt: 1, error: null, workflowId: null });
    expect(typeof result.finishedAtMs).toBe('number');

    const status = JSON.parse((await run(['--json', 'status', 'shape-1'])).out) as Record<string, unknown>;
    expectEveryField(status, TaskStatus.fromPartial({}));
    expect(status).toMatchObject({ taskId: 'shape-1', taskClass: 'inproc', state: 'TASK_STATE_SUCCEEDED', attemptsMade: 1, maxAttempts: 1, priority: 0 });
    expect(status).toMatchObject({ error: null, workflowId: null, scheduleId: null, undeliverable: null, resultJson: '{"a":"1"}' });
    for (const k of ['submittedAtMs', 'startedAtMs', 'finishedAtMs']) expect(typeof status[k], k).toBe('number');

    const list = JSON.parse((await run(['--json', 'tasks', '--class', 'inproc', '--limit', '1'])).out) as { tasks: Record<string, unknown>[] };
    expectEveryField(list, ListTasksResponse.fromPartial({}));
    expect(list.tasks[0]).toMatchObject({ state: 'TASK_STATE_SUCCEEDED', attemptsMade: 1 });
    expect(typeof list.tasks[0]!.submittedAtMs).toBe('number');

    const events = jsonLines((await run(['--json', 'events', '--task', 'shape-1'])).out);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['submitted', 'started', 'succeeded']));
    for (const e of events) {
      expectEveryField(e, TaskEvent.fromPartial({}));
      expect(typeof e.atMs).toBe('number');
      expect(e.workflowId).toBeNull();
    }

    const health = JSON.parse((await run(['--json', 'health'])).out) as { status: string; uptimeMs: unknown; components: { status: string }[] };
    expect(health.status).toMatch(/^SERVING_STATUS_/);
    expect(typeof health.uptimeMs).toBe('number');
    expect(health.components.every((c) => c.status.startsWith('SERVING_STATUS_'))).toBe(true);

    const limits = JSON.parse((await run(['--json', 'limits', 'inproc'])).out);
    expect(limits).toEqual({ taskClass: 'inproc', poolConcurrency: 0, globalConcurrency: 0, rateLimitMax: 0, rateLimitDurationMs: 0, paused: false });
  });

  it('exits quietly when its reader goes away (EPIPE), streaming or not', async () => {
    await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', 'epipe-1', '--wait']);
    for (const args of [['events', '--follow', '--from-start'], ['--json', 'events'], ['tasks'], ['--json', 'status', 'epipe-1'], ['results']]) {
      // As `orchctl ... | true`: the reading end is closed before orchctl writes a byte.
      const child = spawn(process.execPath, [join(PROJECT_ROOT, 'dist/src/cli/orchctl.js'), '--addr', addr, ...args], {
        env: { PATH: process.env.PATH, ORCHESTRATOR_TOKEN: ADMIN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.destroy();
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect({ args, code, err }).toEqual({ args, code: 0, err: '' });
    }
  });

  it('events --follow prints only what happens after it starts, unless --from-start', async () => {
    await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', 'before-follow', '--wait']);
    const follow = orchctl(['--json', 'events', '--follow', '--type', 'submitted']);
    const fromStart = orchctl(['--json', 'events', '--follow', '--from-start', '--type', 'submitted']);
    const ids = (p: OrchctlProcess) => jsonLines(p.out()).map((e) => e.taskId);
    let n = 0;
    // Connected once it sees a task submitted after it started.
    await waitFor(
      async () => {
        await run(['submit', '-c', 'inproc', '-p', 'a=1', '--id', `after-follow-${++n}`]);
        return ids(follow).length > 0;
      },
      { timeoutMs: 30_000, message: 'the follower never saw an event' },
    );
    await waitFor(() => ids(fromStart).includes(`after-follow-${n}`));
    follow.kill();
    fromStart.kill();
    expect(ids(follow)).not.toContain('before-follow');
    expect(ids(follow).every((id) => String(id).startsWith('after-follow-'))).toBe(true);
    expect(ids(fromStart)).toContain('before-follow');
    expect((await run(['events', '--follow', '--from-start', '--cursor', '0'])).code).toBe(2);
  });

  it('takes task and workflow files with snake_case or camelCase names, in the client or the proto JSON form', async () => {
    const batch = join(dir, 'tasks.jsonl');
    writeFileSync(
      batch,
      [
        { task_id: 'file-snake', task_class: 'inproc', payload: { n: 1 }, max_attempts: '2', executor: { handler: { name: 'echo' } } },
        { taskId: 'file-camel', taskClass: 'inproc', payload: { n: '2' }, maxAttempts: 3, backoff: { type: 'BACKOFF_TYPE_FIXED', delay_ms: 10 } },
      ]
        .map((t) => JSON.stringify(t))
        .join('\n'),
    );
    const submitted = await run(['submit', '--file', batch, '--wait']);
    expect(submitted.code, submitted.err).toBe(0);
    const snake = JSON.parse((await run(['--json', 'status', 'file-snake'])).out);
    expect(snake).toMatchObject({ taskClass: 'inproc', maxAttempts: 2, state: 'TASK_STATE_SUCCEEDED', resultJson: '{"n":"1"}' });
    expect(JSON.parse((await run(['--json', 'status', 'file-camel'])).out)).toMatchObject({ maxAttempts: 3, resultJson: '{"n":"2"}' });

    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify([{ task_class: 'inproc', payload: {}, max_attempt: 2 }]));
    const refused = await run(['submit', '--file', typo]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('task 1.max_attempt: unknown field');

    const wf = join(dir, 'wf.json');
    writeFileSync(
      wf,
      JSON.stringify({
        name: 'file-wf',
        failure_policy: 'FAILURE_POLICY_CONTINUE',
        steps: [
          { step_id: 'a', task: { task_class: 'inproc', payload: { x: '${inputs.x}' } } },
          { stepId: 'b', dependsOn: ['a'], task: { taskClass: 'inproc', payload: { y: '${steps.a.result.x}!' } } },
          { step_id: 'c', depends_on: ['a', 'b'], task: { task_class: 'inproc', payload: { z: 'done' }, executor: { handler: 'echo' } } },
        ],
      }),
    );
    expect((await run(['workflow', 'create', wf])).code).toBe(0);
    const toml = join(dir, 'wf.toml');
    writeFileSync(toml, `name = "file-wf-toml"\n[[steps]]\nstep_id = "only"\ntask = { task_class = "inproc", payload = { k = "v" } }\n`);
    expect((await run(['workflow', 'create', toml])).code).toBe(0);

    const watched = await run(['workflow', 'run', 'file-wf', '-i', 'x=7', '--run-id', 'file-run', '--watch']);
    expect(watched.code, watched.out + watched.err).toBe(0);
    const runJson = JSON.parse((await run(['--json', 'workflow', 'status', 'file-run'])).out) as Record<string, unknown> & {
      steps: { stepId: string; dependsOn: string[]; resultJson: string }[];
    };
    expectEveryField(runJson, WorkflowRun.fromPartial({}));
    expect(runJson).toMatchObject({ state: 'WORKFLOW_RUN_STATE_SUCCEEDED', failurePolicy: 'FAILURE_POLICY_CONTINUE', stopReason: null });
    expect(runJson.steps.map((s) => [s.stepId, s.dependsOn])).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', ['a', 'b']],
    ]);
    expect(runJson.steps[1]!.resultJson).toBe('{"y":"7!"}');
  });
});
