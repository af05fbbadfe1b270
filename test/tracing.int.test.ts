/**
 * OpenTelemetry tracing end to end: the orchestrator (in this process) and a pool process export
 * with the real OTLP/HTTP exporter to a receiver started here, which parses the JSON export
 * requests. A caller's traceparent reaches the submit span and, through the job, the pool's
 * queue-wait, attempt and executor spans, the command's own environment and an HTTP runner's
 * request headers, a handler's ctx; a retry makes two
 * attempt spans; a workflow's steps hang under their run; a malformed traceparent starts a new
 * trace without failing the call; and with tracing off nothing is sent, nor carried in the job.
 */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPbTask, TaskState, WorkflowRunState, type TaskInput } from '../src/client/orchestrator-client.js';
import type { SubmitTaskResponse } from '../src/gen/orchestrator/v1/orchestrator.js';
import { orchctl } from './helpers/orchctl.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  statusCode: number;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}

/** An OTLP/HTTP receiver: POST /v1/traces with JSON bodies, every span kept flat. */
class OtlpReceiver {
  readonly spans: ExportedSpan[] = [];
  requests = 0;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        this.take(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  private take(body: {
    resourceSpans?: {
      resource?: { attributes?: { key: string; value: OtlpValue }[] };
      scopeSpans?: { spans?: Record<string, unknown>[] }[];
    }[];
  }): void {
    const value = (v: OtlpValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue ?? ''));
    for (const rs of body.resourceSpans ?? []) {
      const service = String(value(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {}));
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes: ExportedSpan['attributes'] = {};
          for (const a of (s.attributes as { key: string; value: OtlpValue }[] | undefined) ?? []) attributes[a.key] = value(a.value);
          this.spans.push({
            traceId: String(s.traceId),
            spanId: String(s.spanId),
            parentSpanId: String(s.parentSpanId ?? ''),
            name: String(s.name),
            service,
            startMs: Number(BigInt(String(s.startTimeUnixNano)) / 1_000_000n),
            endMs: Number(BigInt(String(s.endTimeUnixNano)) / 1_000_000n),
            attributes,
            statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
          });
        }
      }
    }
  }

  inTrace(traceId: string): ExportedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;

/** The TOML of a system that exports to `endpoint`, in small batches so the test does not wait long. */
const tracingToml = (endpoint: string, extra = '') => `${TEST_CONFIG_TOML}${extra}
[tracing]
endpoint = "${endpoint}"
exportIntervalMs = 100
`;

/** SubmitTask with call metadata (the TS client sends only its token). */
function submitWith(sys: TestSystem, task: TaskInput, md: Record<string, string>): Promise<SubmitTaskResponse> {
  const meta = new Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) =>
    sys.client.raw.submitTask({ task: toPbTask(task) }, meta, (err: ServiceError | null, res: SubmitTaskResponse) => (err ? reject(err) : resolve(res))),
  );
}

const named = (spans: ExportedSpan[], name: string, taskId?: string) =>
  spans.filter((s) => s.name === name && (taskId === undefined || s.attributes['orchestrator.task.id'] === taskId));

describe('tracing on', () => {
  const receiver = new OtlpReceiver();
  let sys: TestSystem;
  // An HTTP task runner: the headers of each request it took.
  const runnerHeaders: Record<string, string | string[] | undefined>[] = [];
  const runner = createServer((req, res) => {
    runnerHeaders.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => runner.listen(0, '127.0.0.1', resolve));
    const runnerUrl = `http://127.0.0.1:${(runner.address() as { port: number }).port}/run`;
    sys = await startSystem({ toml: tracingToml(await receiver.start(), `\n[executors.http]\nallowedUrlPrefixes = ["${runnerUrl}"]\n`) });
    // A handler that reports the trace context it was given, in ctx.env and in process.env.
    const handlersDir = mkdtempSync(join(tmpdir(), 'orq-trace-handlers-'));
    writeFileSync(
      join(handlersDir, 'trace-env.mjs'),
      'export default (payload, ctx) => ({ ctx: ctx.env.TRACEPARENT ?? null, process: process.env.TRACEPARENT ?? null });\n',
    );
    await sys.startPool({ classes: 'cpu_short:4,inproc:4', env: { ORCHESTRATOR_HANDLERS_DIR: handlersDir } });
  }, 120_000);
  afterAll(async () => {
    await sys?.stop();
    await receiver.stop();
    await new Promise<void>((resolve) => runner.close(() => resolve()));
  });

  it('continues the caller trace through submit, queue wait, attempt and the command, which sees TRACEPARENT', async () => {
    const { taskId } = await submitWith(
      sys,
      { taskClass: 'cpu_short', payload: { n: '1' }, executor: { command: { argv: ['sh', '-c', 'printf %s "$TRACEPARENT"'] } } },
      { traceparent: TRACEPARENT, tracestate: 'vendor=abc' },
    );
    const r = await sys.client.waitForResult(taskId);
    expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    const spans = (await waitFor(() => {
      const t = receiver.inTrace(TRACE_ID);
      // Every span of the task, from both processes, which export on their own schedules.
      const all = ['submit', 'queue wait', 'attempt', 'execute command'].every((n) => named(t, n, taskId).length === 1);
      return all ? t : undefined;
    }))!;
    const [submit] = named(spans, 'submit', taskId);
    const [wait] = named(spans, 'queue wait', taskId);
    const [attempt] = named(spans, 'attempt', taskId);
    const [exec] = named(spans, 'execute command', taskId);
    expect(submit).toMatchObject({
      parentSpanId: CALLER_SPAN,
      service: 'orchestrator',
      attributes: { 'rpc.method': 'SubmitTask', 'orchestrator.task.class': 'cpu_short' },
    });
    expect(wait).toMatchObject({ parentSpanId: submit!.spanId, service: 'orchestrator-pool' });
    expect(wait!.startMs).toBeLessThanOrEqual(attempt!.startMs);
    expect(attempt).toMatchObject({
      parentSpanId: submit!.spanId,
      attributes: {
        'orchestrator.task.attempt': 1,
        'orchestrator.executor.kind': 'command',
        'orchestrator.attempt.outcome': 'succeeded',
        'process.exit.code': 0,
      },
    });
    expect(exec).toMatchObject({ parentSpanId: attempt!.spanId });
    // The command's TRACEPARENT is its executor span's: its own spans would hang under it.
    expect(JSON.parse(r.resultJson).stdout).toBe(`00-${TRACE_ID}-${exec!.spanId}-01`);
  });

  it("joins the trace of orchctl's environment (TRACEPARENT), as a traced script's child process", async () => {
    const otherTrace = '5bf92f3577b34da6a3ce929d0e0e4737';
    const env = { TRACEPARENT: `00-${otherTrace}-${CALLER_SPAN}-01`, TRACESTATE: 'vendor=cli' };
    const r = await orchctl(['--addr', sys.addr, '--json', 'submit', '--class', 'cpu_short', '--payload', 'via=orchctl'], { env });
    expect(r.code, r.err).toBe(0);
    const { taskId } = JSON.parse(r.out) as { taskId: string };
    const [submit] = (await waitFor(() => {
      const found = named(receiver.inTrace(otherTrace), 'submit', taskId);
      return found.length === 1 ? found : undefined;
    }))!;
    expect(submit).toMatchObject({ parentSpanId: CALLER_SPAN, attributes: { 'rpc.method': 'SubmitTask' } });
    // A malformed one is not sent: the submit still works, in a trace of its own.
    const bad = await orchctl(['--addr', sys.addr, 'submit', '--class', 'cpu_short', '--payload', 'via=orchctl'], { env: { TRACEPARENT: 'not-a-trace' } });
    expect(bad.code, bad.err).toBe(0);
  });

  it("gives an HTTP runner the executor span's traceparent and the caller's tracestate as headers", async () => {
    const url = `http://127.0.0.1:${(runner.address() as { port: number }).port}/run`;
    const { taskId } = await submitWith(
      sys,
      { taskClass: 'cpu_short', payload: { n: '3' }, executor: { http: { url } } },
      { traceparent: TRACEPARENT, tracestate: 'vendor=abc' },
    );
    expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    const [exec] = (await waitFor(() => {
      const e = named(receiver.inTrace(TRACE_ID), 'execute http', taskId);
      return e.length === 1 ? e : undefined;
    }))!;
    const seen = runnerHeaders.find((h) => h['x-orchestrator-task-id'] === taskId);
    expect(seen).toMatchObject({ traceparent: `00-${TRACE_ID}-${exec!.spanId}-01`, tracestate: 'vendor=abc' });
  });

  it("gives a handler the executor span's traceparent in ctx.env, and in process.env when sandboxed", async () => {
    for (const taskClass of ['cpu_short', 'inproc']) {
      const { taskId } = await submitWith(sys, { taskClass, payload: { n: '4' }, executor: { handler: 'trace-env' } }, { traceparent: TRACEPARENT });
      const r = await sys.client.waitForResult(taskId);
      expect(r.state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      const [exec] = (await waitFor(() => {
        const e = named(receiver.inTrace(TRACE_ID), 'execute handler', taskId);
        return e.length === 1 ? e : undefined;
      }))!;
      const tp = `00-${TRACE_ID}-${exec!.spanId}-01`;
      // An in-process handler shares the pool's process.env, so it gets the context in ctx only.
      expect(JSON.parse(r.resultJson)).toEqual({ ctx: tp, process: taskClass === 'inproc' ? null : tp });
    }
  });

  it('records one attempt span per attempt of a retried task, with its outcome and exit code', async () => {
    const { taskId } = await submitWith(
      sys,
      { taskClass: 'cpu_short', payload: { n: '2' }, maxAttempts: 2, executor: { command: { argv: ['sh', '-c', 'exit 3'] } } },
      { traceparent: TRACEPARENT },
    );
    expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_FAILED);
    const attempts = (await waitFor(() => {
      const a = named(receiver.inTrace(TRACE_ID), 'attempt', taskId);
      return a.length === 2 && named(receiver.inTrace(TRACE_ID), 'submit', taskId).length === 1
        ? a.sort((x, y) => Number(x.attributes['orchestrator.task.attempt']) - Number(y.attributes['orchestrator.task.attempt']))
        : undefined;
    }))!;
    const [submit] = named(receiver.inTrace(TRACE_ID), 'submit', taskId);
    expect(
      attempts.map((a) => [a.attributes['orchestrator.task.attempt'], a.attributes['orchestrator.attempt.outcome'], a.attributes['process.exit.code']]),
    ).toEqual([
      [1, 'retried', 3],
      [2, 'failed', 3],
    ]);
    expect(attempts.every((a) => a.parentSpanId === submit!.spanId && a.statusCode === 2)).toBe(true);
    // Only the first attempt waited in the queue since submission; the retry's wait is the gap.
    expect(named(receiver.inTrace(TRACE_ID), 'queue wait', taskId)).toHaveLength(1);
  });

  it("links a workflow's steps to their run: step spans under the run's, step tasks' attempts under their step", async () => {
    await sys.client.createWorkflow({
      name: 'traced',
      steps: [
        { stepId: 'a', task: { taskClass: 'inproc', payload: { x: '1' } } },
        { stepId: 'b', dependsOn: ['a'], task: { taskClass: 'inproc', payload: { y: '${steps.a.result.x}' } } },
      ],
    });
    const traceId = 'a'.repeat(31) + '1';
    const meta = new Metadata();
    meta.set('traceparent', `00-${traceId}-${'b'.repeat(16)}-01`);
    const { runId } = await new Promise<{ runId: string }>((resolve, reject) =>
      sys.client.raw.startWorkflowRun({ name: 'traced', version: 0, inputs: {}, runId: '' }, meta, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect((await sys.client.waitForRun(runId)).state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    const spans = (await waitFor(() => {
      const t = receiver.inTrace(traceId);
      return named(t, 'attempt').length === 2 && named(t, 'workflow step').length === 2 && named(t, 'workflow run').length === 1 ? t : undefined;
    }))!;
    const [run] = named(spans, 'workflow run');
    expect(run).toMatchObject({ parentSpanId: 'b'.repeat(16), attributes: { 'orchestrator.workflow.run_id': runId, 'orchestrator.workflow.name': 'traced' } });
    const steps = named(spans, 'workflow step');
    expect(steps.map((s) => s.attributes['orchestrator.workflow.step_id']).sort()).toEqual(['a', 'b']);
    expect(steps.every((s) => s.parentSpanId === run!.spanId)).toBe(true);
    for (const s of steps) {
      const [attempt] = named(spans, 'attempt', String(s.attributes['orchestrator.task.id']));
      expect(attempt?.parentSpanId).toBe(s.spanId);
    }
    // The trace rides in the job's data ahead of workflowId, which ListTasks still reads from its end.
    const listed = await sys.client.listTasks({ workflowId: runId });
    expect(listed.tasks).toHaveLength(2);
  });

  it('starts a new trace for a malformed traceparent, and the submit succeeds', async () => {
    for (const bad of ['00-zz-11-01', `00-${'0'.repeat(32)}-${CALLER_SPAN}-01`, `${TRACEPARENT}-extra`, 'x'.repeat(10_000)]) {
      const { taskId } = await submitWith(sys, { taskClass: 'inproc', payload: { bad: bad.slice(0, 20) } }, { traceparent: bad, tracestate: '"quoted"=x' });
      expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      // The two processes export on their own schedules: wait for both spans.
      const [submit, attempt] = (await waitFor(() => {
        const pair = [named(receiver.spans, 'submit', taskId)[0], named(receiver.spans, 'attempt', taskId)[0]];
        return pair[0] && pair[1] ? pair : undefined;
      }))!;
      expect(submit!.parentSpanId).toBe('');
      expect(submit!.traceId).not.toBe(TRACE_ID);
      expect(attempt).toMatchObject({ traceId: submit!.traceId, parentSpanId: submit!.spanId });
      // Nothing of the bad header reached the job.
      const data = JSON.parse((await sys.r.hget(sys.keys.job('inproc', taskId), 'data'))!) as Record<string, unknown>;
      expect(data.traceparent).toBe(`00-${submit!.traceId}-${submit!.spanId}-01`);
      expect(data.tracestate).toBeUndefined();
    }
  });
});

describe('tracing off', () => {
  it('sends nothing and carries nothing in the job, even with an endpoint configured', async () => {
    const receiver = new OtlpReceiver();
    // The endpoint is set but tracing.disabled (env OTEL_SDK_DISABLED) turns it off; without an
    // endpoint, the default, nothing is even configured to send to.
    const sys = await startSystem({ toml: `${tracingToml(await receiver.start())}disabled = true\n` });
    try {
      const pool = await sys.startPool({ classes: 'inproc:2' });
      const { taskId } = await submitWith(sys, { taskClass: 'inproc', payload: { n: '1' } }, { traceparent: TRACEPARENT });
      expect((await sys.client.waitForResult(taskId)).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
      const data = JSON.parse((await sys.r.hget(sys.keys.job('inproc', taskId), 'data'))!) as Record<string, unknown>;
      // Only the payload: a handler's executor is the job name, the timeout the class's (src/store/codecs/job-data.ts).
      expect(Object.keys(data)).toEqual(['payload']);
      // A pool that stops flushes its spans: after a clean stop there is nothing left to come.
      pool.kill('SIGTERM');
      expect(await pool.exited).toBe(0);
    } finally {
      // Closes the orchestrator, which would flush its spans too.
      await sys.stop();
    }
    expect(receiver.requests).toBe(0);
    await receiver.stop();
  }, 120_000);
});
