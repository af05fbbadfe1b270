/**
 * The http executor end to end: a real node:http task runner on 127.0.0.1:0, tasks submitted
 * over gRPC and run by a real pool process, with the runner allowed by the config's URL list.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskState } from '../src/client/orchestrator-client.js';
import { resultFields } from './helpers/results.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: { task_id: string; task_class: string; attempt: number; payload: Record<string, string> };
}

/** Requests seen, by task id, and the ones left hanging with whether their client went away. */
const received = new Map<string, Received[]>();
const hanging = new Map<string, { closed: boolean }>();

function route(res: ServerResponse, r: Received): void {
  const seen = received.get(r.body.task_id)!.length;
  const json = (code: number, value: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };
  switch (r.path) {
    case '/tasks/echo':
      return json(200, { got: r.body.payload, attempt: r.body.attempt, auth: r.headers.authorization ?? null });
    case '/tasks/text':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('plain words ✓');
      return;
    case '/tasks/flaky':
      if (seen === 1) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded, try later');
        return;
      }
      return json(200, { ok: true, attempt: r.body.attempt });
    case '/tasks/crashes-once':
      if (seen === 1) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error: lost the database');
        return;
      }
      return json(200, { ok: true, attempt: r.body.attempt });
    case '/tasks/bad':
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${'x'.repeat(10_000)} bad input: field "n" is missing`);
      return;
    case '/tasks/hang': {
      // Never answers; records when the client closes the connection.
      const h = { closed: false };
      hanging.set(r.body.task_id, h);
      res.on('close', () => (h.closed = true));
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

let server: Server;
let base: string;
/** A port nothing listens on, also allowed, for connection errors. */
let closedPort: number;
let sys: TestSystem;

async function listen(s: Server): Promise<number> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      const r: Received = { method: req.method!, path: req.url!, headers: req.headers, body: JSON.parse(text) };
      received.set(r.body.task_id, [...(received.get(r.body.task_id) ?? []), r]);
      route(res, r);
    });
  });
  base = `http://127.0.0.1:${await listen(server)}`;
  const probe = createServer();
  closedPort = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  sys = await startSystem({
    toml: `${TEST_CONFIG_TOML}\n[executors.http]\nallowedUrlPrefixes = ["${base}/tasks/", "http://127.0.0.1:${closedPort}/"]\n`,
  });
  await sys.startPool({ classes: 'cpu_short:4' });
});

afterAll(async () => {
  await sys?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const state = (s: TaskState) => TaskState[s];

describe('http executor', () => {
  it('posts the task as JSON and takes a JSON response as the result', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { n: '7' },
      executor: { http: { url: `${base}/tasks/echo`, headers: { authorization: 'Bearer t0ken' } } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    expect(JSON.parse(r.resultJson)).toEqual({ got: { n: '7' }, attempt: 1, auth: 'Bearer t0ken' });
    const [req] = received.get(taskId)!;
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.body).toEqual({ task_id: taskId, task_class: 'cpu_short', attempt: 1, payload: { n: '7' } });
    expect(req!.headers['x-orchestrator-task-id']).toBe(taskId);
  });

  it('takes a non-JSON response as text', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      executor: { http: { url: `${base}/tasks/text`, method: 'PUT' } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(JSON.parse(r.resultJson)).toBe('plain words ✓');
    expect(received.get(taskId)![0]!.method).toBe('PUT');
  });

  it('retries a 5xx answer and succeeds on the next attempt', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 100 },
      executor: { http: { url: `${base}/tasks/flaky` } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    expect(r.attempt).toBe(2);
    expect(JSON.parse(r.resultJson)).toEqual({ ok: true, attempt: 2 });
    const retrying = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && f[1] === 'retrying');
    expect(retrying).toHaveLength(1);
    expect(retrying[0]![1].join(' ')).toContain('answered 503 Service Unavailable');
  });

  it('retries a plain 500 answer and succeeds on the next attempt', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 100 },
      executor: { http: { url: `${base}/tasks/crashes-once` } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_SUCCEEDED');
    expect(r.attempt).toBe(2);
    expect(JSON.parse(r.resultJson)).toEqual({ ok: true, attempt: 2 });
    expect(received.get(taskId)).toHaveLength(2);
    const retrying = (await sys.r.xrange(sys.keys.events, '-', '+')).filter(([, f]) => f[3] === taskId && f[1] === 'retrying');
    expect(retrying).toHaveLength(1);
    expect(retrying[0]![1].join(' ')).toContain('answered 500 Internal Server Error');
    // The error answer's body is attempt 1's log; the successful answer is the result, not a log line.
    const first = await sys.client.getTaskLogs(taskId, { attempt: 1 });
    expect(first.lines.map((l) => l.text)).toEqual(['internal error: lost the database']);
    expect(await sys.client.getTaskLogs(taskId)).toMatchObject({ attempt: 2, lines: [], attempts: [1] });
  });

  it('fails a 4xx answer without retrying, with the status and the body tail', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: { http: { url: `${base}/tasks/bad` } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(1);
    expect(r.error).toContain('400');
    // The detail is in the results stream entry; a result answered from the task's record (when
    // it finished before the subscription started) carries no detail for a failure.
    const fields = (await resultFields(sys.r, sys.keys, taskId))!;
    expect(fields.error_code).toBe('task_failed');
    const detail = JSON.parse(fields.result!) as { status: number; body: string };
    expect(detail.status).toBe(400);
    expect(detail.body.endsWith('bad input: field "n" is missing')).toBe(true);
    expect(detail.body.length).toBeLessThanOrEqual(4096);
    expect(received.get(taskId)).toHaveLength(1);
  });

  it('retries a connection error', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 2,
      backoff: { type: 'fixed', delayMs: 50 },
      executor: { http: { url: `http://127.0.0.1:${closedPort}/run` } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.attempt).toBe(2);
    expect(r.error).toContain('ECONNREFUSED');
  });

  it('aborts the request when the task times out', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      // Long enough for the request to reach the runner even on a busy machine.
      timeoutMs: 2000,
      maxAttempts: 1,
      executor: { http: { url: `${base}/tasks/hang` } },
    });
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_FAILED');
    expect(r.error).toContain('timed out after 2000 ms');
    expect((await resultFields(sys.r, sys.keys, taskId))!.error_code).toBe('timed_out');
    await waitFor(() => hanging.get(taskId)?.closed, { message: 'the runner never saw the request go away' });
  });

  it('aborts a running request on CancelTask', async () => {
    const { taskId } = await sys.client.submitTask({
      taskClass: 'cpu_short',
      payload: { a: '1' },
      maxAttempts: 3,
      executor: { http: { url: `${base}/tasks/hang` } },
    });
    await waitFor(() => hanging.has(taskId), { message: 'the request never reached the runner' });
    await sys.client.cancelTask(taskId, 'no longer needed');
    const r = await sys.client.waitForResult(taskId);
    expect(state(r.state)).toBe('TASK_STATE_CANCELLED');
    expect(r.error).toContain('no longer needed');
    await waitFor(() => hanging.get(taskId)!.closed, { message: 'the runner never saw the request go away' });
    expect((await sys.client.getTaskStatus(taskId)).attemptsMade).toBe(1);
    expect(received.get(taskId)).toHaveLength(1);
  });

  // URLs are built inside the test: the runner's port is only known once beforeAll has run.
  // A URL outside the allow-list is a rule (PERMISSION_DENIED); a malformed request is bad input.
  it.each<[string, (base: string) => { url: string; method?: string; headers?: Record<string, string> }, string, status]>([
    ['a URL outside the allowed prefixes', (b) => ({ url: `${b}/admin/reset` }), 'task.executor.http.url', status.PERMISSION_DENIED],
    ['a lookalike host', (b) => ({ url: b.replace('127.0.0.1', '127.0.0.1.example.com') + '/tasks/echo' }), 'task.executor.http.url', status.PERMISSION_DENIED],
    ['a path climbing out of the prefix', (b) => ({ url: `${b}/tasks/%2e%2e/admin` }), 'task.executor.http.url', status.PERMISSION_DENIED],
    ['a non-http scheme', () => ({ url: 'file:///etc/passwd' }), 'task.executor.http.url', status.INVALID_ARGUMENT],
    ['a method without a body', (b) => ({ url: `${b}/tasks/echo`, method: 'GET' }), 'task.executor.http.method', status.INVALID_ARGUMENT],
    [
      'a header the executor sets',
      (b) => ({ url: `${b}/tasks/echo`, headers: { 'Content-Type': 'text/plain' } }),
      'task.executor.http.headers',
      status.INVALID_ARGUMENT,
    ],
  ])('refuses %s at submission', async (_name, http, field, code) => {
    const err = (await sys.client
      .submitTask({ taskClass: 'cpu_short', payload: { a: '1' }, executor: { http: http(base) } })
      .catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(code);
    expect(err.metadata.get('field')).toEqual([field]);
  });
});
