/**
 * SubmitTaskStream: tasks submitted over one call, each answered with its own outcome
 * (SubmitTask's answer or its own refusal) while the call goes on; the tasks run. The call's
 * bounds: a message that does not decode or a request_id reused while it waits ends it; reading
 * stops at the unanswered cap and goes on as answers go out. Roles, class-limited tokens and
 * the per-task submit rate, as for SubmitTask. Real Redis, real gRPC, a real pool process.
 */
import { credentials, type Metadata, Server, ServerCredentials, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerMetadata, OrchestratorClient, TaskState } from '../src/client/orchestrator-client.js';
import * as pb from '../src/gen/orchestrator/v1/orchestrator.js';
import { submitStream } from '../src/grpc/submit-stream.js';
import { createLogger } from '../src/logging/logger.js';
import { grpcError } from './helpers/grpc.js';
import { getText, sample } from './helpers/http.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

const SUBMIT = 'stream-submit-token-0123456789';
const LIMITED = 'stream-limited-token-0123456789';
const SLOW = 'stream-slow-token-0123456789';
const READER = 'stream-read-token-0123456789';

let sys: TestSystem;
let client: OrchestratorClient;
const clients: OrchestratorClient[] = [];
const clientWith = (token: string) => {
  const c = new OrchestratorClient(sys.addr, { token });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  const token = (t: string, role: string, extra = '') => `[[grpc.auth.tokens]]\ntoken = "${t}"\nrole = "${role}"\n${extra}`;
  sys = await startSystem({
    toml:
      `${TEST_CONFIG_TOML}\n` +
      token(SUBMIT, 'submit') +
      token(LIMITED, 'submit', 'classes = ["inproc"]\n') +
      token(SLOW, 'submit', 'submitRateLimit = { perSecond = 0.01, burst = 2 }\n') +
      token(READER, 'read'),
  });
  await sys.startPool({ classes: 'inproc' });
  client = clientWith(SUBMIT);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await sys?.stop();
});

const task = (taskId: string, taskClass = 'inproc', payload: Record<string, string> = { n: taskId }) => ({ taskId, taskClass, payload });

/** One raw call: what it answered, by request_id, and its status once it ends. */
function rawCall(metadata: Metadata) {
  const call = client.raw.submitTaskStream(metadata);
  const answers = new Map<number, pb.SubmitTaskStreamResponse>();
  call.on('data', (r: pb.SubmitTaskStreamResponse) => answers.set(r.requestId, r));
  call.on('error', () => undefined);
  const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  return { call, answers, ended };
}

const handledOk = async () => {
  const { body } = await getText(`${sys.httpUrl}/metrics`);
  return (
    sample(
      body,
      'orq_grpc_server_handled_total',
      '{grpc_service="orchestrator.v1.OrchestratorService",grpc_method="SubmitTaskStream",grpc_type="bidi_stream",grpc_code="OK"}',
    ) ?? 0
  );
};

describe('SubmitTaskStream', () => {
  it('answers each task with its own outcome over one call, and the tasks run', async () => {
    const before = await handledOk();
    const s = client.submitStream();
    const ids = Array.from({ length: 30 }, (_, i) => `ss-${i}`);
    const answers = await Promise.all(ids.map((id) => s.submit(task(id))));
    expect(answers.map((a) => a.taskId)).toEqual(ids);
    for (const a of answers) expect(a).toMatchObject({ created: true, state: TaskState.TASK_STATE_QUEUED });
    expect(s.unanswered).toBe(0);
    await s.close();
    // All 30 went over one call, which ended OK at the client's half-close.
    await waitFor(async () => (await handledOk()) === before + 1, { message: 'one SubmitTaskStream call ended OK' });
    for (const id of ids) expect((await client.waitForResult(id, { timeoutMs: 30_000 })).state).toBe(TaskState.TASK_STATE_SUCCEEDED);
    // The same task again, on a new call the stream opens by itself: existing, with its state.
    expect(await s.submit(task('ss-0'))).toMatchObject({ taskId: 'ss-0', created: false, state: TaskState.TASK_STATE_SUCCEEDED });
    await s.close();
  });

  it('answers a refused task with its own status and field, and the call goes on', async () => {
    const { call, answers, ended } = rawCall(bearerMetadata(SUBMIT));
    const requests: pb.SubmitTaskStreamRequest[] = [
      { requestId: 1, task: pb.TaskSpec.fromPartial(task('rf-1')) },
      { requestId: 2, task: pb.TaskSpec.fromPartial(task('rf-x', 'no_such_class')) },
      // The same id with other content: it meets the first's claim.
      { requestId: 3, task: pb.TaskSpec.fromPartial(task('rf-1', 'inproc', { n: 'other' })) },
      { requestId: 4, task: pb.TaskSpec.fromPartial(task('rf-y', 'inproc', {})) },
      { requestId: 5, task: pb.TaskSpec.fromPartial(task('rf-2')) },
    ];
    for (const r of requests) call.write(r);
    call.end();
    expect((await ended).code).toBe(status.OK);
    const outcome = (id: number) => answers.get(id)?.outcome;
    expect(outcome(1)).toEqual({ $case: 'result', value: { taskId: 'rf-1', created: true, state: TaskState.TASK_STATE_QUEUED } });
    expect(outcome(2)).toMatchObject({ $case: 'error', value: { code: status.INVALID_ARGUMENT, field: 'task.task_class' } });
    expect(outcome(3)).toMatchObject({ $case: 'error', value: { code: status.ALREADY_EXISTS } });
    expect(outcome(4)).toMatchObject({ $case: 'error', value: { code: status.INVALID_ARGUMENT, field: 'task.payload' } });
    expect(outcome(5)).toMatchObject({ $case: 'result', value: { taskId: 'rf-2', created: true } });
    // The refused ones changed nothing.
    expect((await grpcError(client.getTaskStatus('rf-x'))).code).toBe(status.NOT_FOUND);
    expect((await client.getTaskStatus('rf-1')).taskClass).toBe('inproc');
  });

  it('ends the call INVALID_ARGUMENT at a message that does not decode', async () => {
    const m = pb.OrchestratorServiceService.submitTaskStream;
    const call = client.raw.makeBidiStreamRequest(m.path, (b: Buffer) => b, m.responseDeserialize as (b: Buffer) => unknown, bearerMetadata(SUBMIT));
    call.on('error', () => undefined);
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    // Field 1 (request_id, varint) with a truncated varint.
    call.write(Buffer.from([0x08, 0xff]));
    const st = await ended;
    expect(st.code).toBe(status.INVALID_ARGUMENT);
    expect(st.details).toContain('request');
  });

  it('ends the call INVALID_ARGUMENT when a request_id is reused while it waits for its answer', async () => {
    const { call, answers, ended } = rawCall(bearerMetadata(SUBMIT));
    // Both in one write of the client: the second arrives before the first's submission is answered.
    call.write({ requestId: 7, task: pb.TaskSpec.fromPartial(task('dup-1')) });
    call.write({ requestId: 7, task: pb.TaskSpec.fromPartial(task('dup-2')) });
    const st = await ended;
    expect(st.code).toBe(status.INVALID_ARGUMENT);
    expect(st.details).toContain('request_id: 7 is already waiting');
    expect(answers.size).toBe(0);
    expect((await grpcError(client.getTaskStatus('dup-2'))).code).toBe(status.NOT_FOUND);
  });

  it('needs the submit role', async () => {
    const err = (await grpcError(clientWith(READER).submitStream().submit(task('ro-1')))) as ServiceError;
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toBe('SubmitTaskStream needs role "submit" or above; this token has role "read"');
    expect((await grpcError(client.getTaskStatus('ro-1'))).code).toBe(status.NOT_FOUND);
  });

  it("ends a class-limited token's call at a task of another class, keeping what it accepted", async () => {
    const s = clientWith(LIMITED).submitStream();
    expect(await s.submit(task('lim-1'))).toMatchObject({ created: true });
    const err = await grpcError(s.submit(task('lim-2', 'cpu_short')));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toContain('cpu_short');
    expect((await grpcError(client.getTaskStatus('lim-2'))).code).toBe(status.NOT_FOUND);
    expect((await client.getTaskStatus('lim-1')).taskClass).toBe('inproc');
    s.cancel();
  });

  it("refuses a task over the caller's submit rate on its own, with a retry hint, and goes on", async () => {
    const s = clientWith(SLOW).submitStream();
    const settled = await Promise.allSettled([1, 2, 3].map((i) => s.submit(task(`rate-${i}`))));
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const refused = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as ServiceError;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toContain('submit rate');
    expect(Number(refused.metadata.get('retry-after-ms')[0])).toBeGreaterThan(0);
    // The call went on: the next task has its own answer (refused too: the bucket is empty).
    expect((await grpcError(s.submit(task('rate-4')))).code).toBe(status.RESOURCE_EXHAUSTED);
    await s.close();
  });
});

/** A grpc-js server of SubmitTaskStream alone whose submissions wait until the test opens their gates. */
async function gatedServer(maxUnanswered: number) {
  let seen = 0;
  const gates: (() => void)[] = [];
  const server = new Server();
  server.addService(
    { submitTaskStream: pb.OrchestratorServiceService.submitTaskStream },
    {
      submitTaskStream: submitStream({
        log: createLogger('silent', { process: 'test' }),
        streams: undefined,
        submissions: undefined,
        maxUnanswered,
        submit: (t) => {
          seen++;
          return new Promise((resolve) => gates.push(() => resolve({ taskId: t!.taskId, created: true, state: TaskState.TASK_STATE_QUEUED })));
        },
      }),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, gates, seen: () => seen, close: () => server.forceShutdown() };
}

describe('the stream of one call', () => {
  it('reads at most maxUnanswered requests ahead of their answers, and ends OK once all are answered', async () => {
    const gated = await gatedServer(4);
    const { gates } = gated;
    const raw = new pb.OrchestratorServiceClient(`127.0.0.1:${gated.port}`, credentials.createInsecure());
    try {
      const call = raw.submitTaskStream();
      const answers = new Map<number, pb.SubmitTaskStreamResponse>();
      call.on('data', (r: pb.SubmitTaskStreamResponse) => answers.set(r.requestId, r));
      const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
      for (let i = 1; i <= 20; i++) call.write({ requestId: i, task: pb.TaskSpec.fromPartial(task(`p-${i}`)) });
      call.end();
      await waitFor(() => gated.seen() === 4);
      // One answer lets exactly one more request in.
      gates.shift()!();
      await waitFor(() => answers.size === 1 && gated.seen() === 5);
      expect(gated.seen()).toBe(5);
      while (answers.size < 20) {
        gates.splice(0).forEach((open) => open());
        await waitFor(() => gates.length > 0 || answers.size === 20);
      }
      expect((await ended).code).toBe(status.OK);
      expect([...answers.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(answers.get(20)?.outcome).toMatchObject({ $case: 'result', value: { taskId: 'p-20' } });
    } finally {
      raw.close();
      gated.close();
    }
  });

  it("gives up on a task with no answer within the client's deadline: DEADLINE_EXCEEDED, its outcome unknown", async () => {
    const gated = await gatedServer(4);
    const c = new OrchestratorClient(`127.0.0.1:${gated.port}`);
    try {
      const s = c.submitStream({ deadlineMs: 300 });
      const err = await grpcError(s.submit(task('late-1')));
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(err.details).toContain("no answer within 300 ms: the task's outcome is unknown");
      expect(s.unanswered).toBe(0);
      // Its answer, coming late, is dropped; the call goes on and the next task is answered.
      gated.gates.splice(0).forEach((open) => open());
      const next = s.submit(task('late-2'));
      await waitFor(() => gated.gates.length === 1);
      gated.gates.shift()!();
      expect(await next).toMatchObject({ taskId: 'late-2', created: true });
      s.cancel();
    } finally {
      c.close();
      gated.close();
    }
  });
});
