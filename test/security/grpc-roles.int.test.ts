/**
 * Token roles against real servers: every RPC of the orchestrator and of the env-manager called
 * with a token of every role (PERMISSION_DENIED exactly when the role is below the method's, any
 * other outcome otherwise: an empty request may well be INVALID_ARGUMENT), without a token
 * (UNAUTHENTICATED), and with a token limited to one class (refused when the call reaches
 * another, with nothing stored).
 */
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_MANAGER_ROLES, GRPC_ROLES, roleCovers } from '../../src/auth/roles.js';
import { loadConfig } from '../../src/config/config.js';
import type { DockerClient } from '../../src/docker/docker-client.js';
import { EnvManager } from '../../src/env-manager/env-manager.js';
import { parseServiceFile } from '../../src/env-manager/service-file.js';
import * as envPb from '../../src/gen/envmanager/v1/envmanager.js';
import * as pb from '../../src/gen/orchestrator/v1/orchestrator.js';
import { EnvManagerServer } from '../../src/grpc/env-manager-service.js';
import { grpcSecurity } from '../../src/grpc/grpc-security.js';
import { ENV_MANAGER_METHOD_ROLES, ORCHESTRATOR_METHOD_ROLES } from '../../src/grpc/method-roles.js';
import { createLogger } from '../../src/logging/logger.js';
import { dockerForTests, TEST_IMAGE } from '../helpers/docker.js';
import { getText, sample } from '../helpers/http.js';
import { orchctl } from '../helpers/orchctl.js';
import { startSystem, TEST_CONFIG_TOML, type TestSystem } from '../helpers/system.js';

const TOKENS = {
  read: 'role-read-0123456789abcdef',
  submit: 'role-submit-0123456789abcdef',
  operate: 'role-operate-0123456789abcdef',
  admin: 'role-admin-0123456789abcdef',
} as const;
const LIMITED = 'role-limited-0123456789abcdef';

/** How long a stream the token may open is given before the test takes "not refused" as the answer. */
const STREAM_MS = 1_500;

interface Outcome {
  code: status;
  details: string;
  /** The response of a unary call, the messages a stream delivered. */
  messages: unknown[];
}

type MethodDef = { path: string; requestStream: boolean; responseStream: boolean; requestDeserialize: (b: Buffer) => unknown };

/**
 * One call by method name, with `token` (none: no metadata). A stream ends at its first message
 * when `firstMessage`, else at its end or after STREAM_MS (DEADLINE_EXCEEDED: it was let in).
 */
function call(
  client: Client,
  def: Record<string, MethodDef>,
  method: string,
  token: string | undefined,
  request?: unknown,
  firstMessage = false,
): Promise<Outcome> {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  const m = def[method]!;
  // An empty message decoded: every field at its default, so the generated encoder takes it.
  const req = request ?? m.requestDeserialize(Buffer.alloc(0));
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!.bind(client);
  return new Promise<Outcome>((resolve) => {
    const done = (err: ServiceError | null) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? '', messages });
    const messages: unknown[] = [];
    if (!m.responseStream) {
      fn(req, md, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res: unknown) => {
        if (res !== undefined) messages.push(res);
        done(err);
      });
      return;
    }
    // A bidirectional call (SubmitTaskStream) takes its request as its one message, then its half-close.
    const stream = (
      m.requestStream ? fn(md, { deadline: Date.now() + STREAM_MS }) : fn(req, md, { deadline: Date.now() + STREAM_MS })
    ) as NodeJS.EventEmitter & {
      cancel(): void;
      write?(msg: unknown): void;
      end?(): void;
    };
    if (m.requestStream) {
      stream.write!(req);
      stream.end!();
    }
    stream.on('data', (msg: unknown) => {
      messages.push(msg);
      if (firstMessage) {
        stream.cancel();
        resolve({ code: status.OK, details: '', messages });
      }
    });
    stream.on('error', (err: ServiceError) => done(err));
    stream.on('end', () => done(null));
  });
}

let sys: TestSystem;
let client: Client;
const orch = (method: keyof typeof pb.OrchestratorServiceService, token: string | undefined, request?: unknown, firstMessage = false) =>
  call(client, pb.OrchestratorServiceService as unknown as Record<string, MethodDef>, method, token, request, firstMessage);

beforeAll(async () => {
  const tokens = Object.entries(TOKENS)
    .map(([role, token]) => `[[grpc.auth.tokens]]\ntoken = "${token}"\nrole = "${role}"\n`)
    .join('');
  sys = await startSystem({
    toml: `${TEST_CONFIG_TOML}\n${tokens}[[grpc.auth.tokens]]\ntoken = "${LIMITED}"\nrole = "operate"\nclasses = ["cpu_short"]\n`,
  });
  client = new pb.OrchestratorServiceClient(sys.addr, credentials.createInsecure());
});
afterAll(async () => {
  client?.close();
  await sys?.stop();
});

describe('orchestrator roles', () => {
  it('refuses every RPC without a token', async () => {
    for (const method of Object.keys(ORCHESTRATOR_METHOD_ROLES) as (keyof typeof ORCHESTRATOR_METHOD_ROLES)[]) {
      expect((await orch(method, undefined)).code, method).toBe(status.UNAUTHENTICATED);
    }
  });

  it('lets each role call exactly the RPCs at or below it', async () => {
    const methods = Object.entries(ORCHESTRATOR_METHOD_ROLES) as [keyof typeof ORCHESTRATOR_METHOD_ROLES, string][];
    const cells = methods.flatMap(([method, needed]) => GRPC_ROLES.map((role) => ({ method, needed, role })));
    // Concurrently: the streams a role may open each take STREAM_MS.
    const outcomes = await Promise.all(cells.map((c) => orch(c.method, TOKENS[c.role])));
    const wrong = cells
      .map((c, i) => ({ ...c, outcome: outcomes[i]! }))
      .filter((c) => (c.outcome.code === status.PERMISSION_DENIED) !== !roleCovers(GRPC_ROLES, c.role, c.needed))
      .map((c) => `${c.method} as ${c.role}: ${status[c.outcome.code]} ${c.outcome.details}`);
    expect(wrong).toEqual([]);
    // Some calls of the lowest role get through to a real answer, not only "not refused".
    expect(outcomes[cells.findIndex((c) => c.method === 'health' && c.role === 'read')]!.code).toBe(status.OK);
    expect(outcomes.filter((o) => o.code === status.UNAUTHENTICATED)).toEqual([]);
  });

  it('names the role a refused call needs', async () => {
    const o = await orch('submitTask', TOKENS.read, pb.SubmitTaskRequest.fromPartial({ task: { taskClass: 'cpu_short' } }));
    expect(o.code).toBe(status.PERMISSION_DENIED);
    expect(o.details).toBe('SubmitTask needs role "submit" or above; this token has role "read"');
    expect((await orch('purgeTasks', TOKENS.submit)).details).toBe('PurgeTasks needs role "operate" or above; this token has role "submit"');
  });

  it('counts refusals by code in the gRPC metrics', async () => {
    expect((await orch('submitTask', TOKENS.read)).code).toBe(status.PERMISSION_DENIED);
    const { body } = await getText(`${sys.httpUrl}/metrics`);
    const labels = '{grpc_service="orchestrator.v1.OrchestratorService",grpc_method="SubmitTask",grpc_type="unary"';
    expect(sample(body, 'orq_grpc_server_handled_total', `${labels},grpc_code="PERMISSION_DENIED"}`)).toBeGreaterThanOrEqual(1);
  });

  it('lets every role use server reflection, and nobody without a token', async () => {
    // ServerReflectionRequest{list_services: ""}, by hand: field 7, length 0.
    const Reflection = makeGenericClientConstructor(
      {
        info: {
          path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'ServerReflection',
    );
    const reflection = new Reflection(sys.addr, credentials.createInsecure()) as unknown as Client & {
      info(md: Metadata): NodeJS.EventEmitter & { write(b: Buffer): void; end(): void };
    };
    const list = (token?: string) =>
      new Promise<{ code: status; bytes: number }>((resolve) => {
        const md = new Metadata();
        if (token) md.set('authorization', `Bearer ${token}`);
        const stream = reflection.info(md);
        let bytes = 0;
        stream.on('data', (b: Buffer) => (bytes += b.length));
        stream.on('error', (e: ServiceError) => resolve({ code: e.code, bytes }));
        stream.on('end', () => resolve({ code: status.OK, bytes }));
        stream.write(Buffer.from([0x3a, 0x00]));
        stream.end();
      });
    try {
      expect((await list()).code).toBe(status.UNAUTHENTICATED);
      for (const role of GRPC_ROLES) {
        const o = await list(TOKENS[role]);
        expect(o.code, role).toBe(status.OK);
        expect(o.bytes, role).toBeGreaterThan(0);
      }
    } finally {
      reflection.close();
    }
  });

  it('orchctl exits 5 on a call beyond its token, 0 within it', async () => {
    const denied = await orchctl(['--addr', sys.addr, '--token', TOKENS.read, 'submit', '-c', 'cpu_short', '-p', 'a=1']);
    expect(denied.code).toBe(5);
    expect(denied.err).toContain('needs role "submit"');
    expect((await orchctl(['--addr', sys.addr, '--token', TOKENS.read, 'metrics'])).code).toBe(0);
    // A line as the server's tokens file has it: the token is its first word.
    const file = join(mkdtempSync(join(tmpdir(), 'orq-roles-')), 'token');
    writeFileSync(file, `# mine\n${TOKENS.submit} submit\n`);
    expect((await orchctl(['--addr', sys.addr, '--token-file', file, 'submit', '-c', 'cpu_short', '-p', 'a=1'])).code).toBe(0);
  });
});

describe('a token limited to cpu_short', () => {
  const task = (taskId: string, taskClass: string) => ({ taskId, taskClass, payload: { n: '1' } });
  const submit = (token: string, taskId: string, taskClass: string) =>
    orch('submitTask', token, pb.SubmitTaskRequest.fromPartial({ task: task(taskId, taskClass) }));

  beforeAll(async () => {
    expect((await submit(TOKENS.admin, 'other-1', 'cpu_long')).code).toBe(status.OK);
    expect((await submit(LIMITED, 'mine-1', 'cpu_short')).code).toBe(status.OK);
  });

  it('submits to its class only; a batch with one task of another class stores nothing', async () => {
    const other = await submit(LIMITED, 'lim-x', 'cpu_long');
    expect(other.code).toBe(status.PERMISSION_DENIED);
    expect(other.details).toBe('this token acts on classes cpu_short only; the call reaches class "cpu_long"');
    const batch = await orch('submitTasks', LIMITED, pb.SubmitTasksRequest.fromPartial({ tasks: [task('lim-a', 'cpu_short'), task('lim-b', 'cpu_long')] }));
    expect(batch.code).toBe(status.PERMISSION_DENIED);
    for (const id of ['lim-x', 'lim-a', 'lim-b']) expect((await orch('getTaskStatus', TOKENS.admin, { taskId: id })).code).toBe(status.NOT_FOUND);
  });

  it("reads and cancels its own class's tasks by id, not another's; an unknown id is NOT_FOUND as for anyone", async () => {
    expect((await orch('getTaskStatus', LIMITED, { taskId: 'mine-1' })).code).toBe(status.OK);
    expect((await orch('getTaskStatus', LIMITED, { taskId: 'other-1' })).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('cancelTask', LIMITED, { taskId: 'other-1', reason: '' })).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('retryTasks', LIMITED, pb.RetryTasksRequest.fromPartial({ taskIds: ['other-1'] }))).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('getTaskStatus', LIMITED, { taskId: 'no-such-task' })).code).toBe(status.NOT_FOUND);
    // The other class's task is still there and queued: the refused cancel did nothing.
    expect((await orch('getTaskStatus', TOKENS.admin, { taskId: 'other-1' })).code).toBe(status.OK);
  });

  it('lists, streams and purges with a filter on its class, and is refused without one', async () => {
    expect((await orch('listTasks', LIMITED)).code).toBe(status.PERMISSION_DENIED);
    const listed = await orch('listTasks', LIMITED, pb.ListTasksRequest.fromPartial({ filter: { taskClasses: ['cpu_short'] } }));
    expect(listed.code).toBe(status.OK);
    expect((await orch('listTasks', LIMITED, pb.ListTasksRequest.fromPartial({ filter: { taskClasses: ['cpu_short', 'cpu_long'] } }))).code).toBe(
      status.PERMISSION_DENIED,
    );
    expect((await orch('streamEvents', LIMITED)).code).toBe(status.PERMISSION_DENIED);
    const events = await orch('streamEvents', LIMITED, pb.StreamEventsRequest.fromPartial({ taskClasses: ['cpu_short'], cursor: '0' }), true);
    expect((events.messages[0] as pb.TaskEvent).taskClass).toBe('cpu_short');
    expect((await orch('streamEvents', LIMITED, pb.StreamEventsRequest.fromPartial({ taskIds: ['other-1'], cursor: '0' }))).code).toBe(
      status.PERMISSION_DENIED,
    );
    // Results of a task not submitted yet: only with the class named.
    const notYet = await orch('streamTaskResults', LIMITED, pb.StreamTaskResultsRequest.fromPartial({ taskIds: ['not-yet'] }));
    expect(notYet.code).toBe(status.PERMISSION_DENIED);
    expect(notYet.details).toMatch(/task "not-yet" is not known yet; name task_class as well/);
    expect((await orch('streamTaskResults', LIMITED, pb.StreamTaskResultsRequest.fromPartial({ taskIds: ['not-yet'], taskClass: 'cpu_short' }))).code).toBe(
      status.DEADLINE_EXCEEDED,
    );
    expect((await orch('purgeTasks', LIMITED)).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('purgeTasks', LIMITED, pb.PurgeTasksRequest.fromPartial({ taskClasses: ['cpu_short'], olderThanMs: 3_600_000 }))).code).toBe(status.OK);
    expect((await orch('getMetrics', LIMITED)).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('health', LIMITED)).code).toBe(status.OK);
  });

  it('pauses, creates workflows and schedules for its class only', async () => {
    expect((await orch('pauseClass', LIMITED, { taskClass: 'cpu_long' })).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('getClassLimits', TOKENS.admin, { taskClass: 'cpu_long' })).messages[0]).toMatchObject({ taskClass: 'cpu_long', paused: false });
    expect((await orch('pauseClass', LIMITED, { taskClass: 'cpu_short' })).code).toBe(status.OK);
    expect((await orch('resumeClass', LIMITED, { taskClass: 'cpu_short' })).code).toBe(status.OK);
    const step = (stepId: string, taskClass: string) => ({ stepId, task: { taskClass, payload: { n: '1' } } });
    const mixed = pb.CreateWorkflowRequest.fromPartial({ name: 'lim-mixed', steps: [step('a', 'cpu_short'), step('b', 'cpu_long')] });
    expect((await orch('createWorkflow', LIMITED, mixed)).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('createWorkflow', TOKENS.admin, mixed)).code).toBe(status.OK);
    expect((await orch('startWorkflowRun', LIMITED, pb.StartWorkflowRunRequest.fromPartial({ name: 'lim-mixed' }))).code).toBe(status.PERMISSION_DENIED);
    const own = pb.CreateWorkflowRequest.fromPartial({ name: 'lim-own', steps: [step('a', 'cpu_short')] });
    expect((await orch('createWorkflow', LIMITED, own)).code).toBe(status.OK);
    expect((await orch('startWorkflowRun', LIMITED, pb.StartWorkflowRunRequest.fromPartial({ name: 'lim-own', runId: 'lim-run' }))).code).toBe(status.OK);
    expect((await orch('getWorkflowRun', LIMITED, { runId: 'lim-run' })).code).toBe(status.OK);
    const schedule = (scheduleId: string, taskClass: string) =>
      pb.CreateScheduleRequest.fromPartial({
        schedule: { scheduleId, everyMs: 3_600_000, startAtMs: Date.now() + 3_600_000, task: { taskClass, payload: { n: '1' } } },
      });
    expect((await orch('createSchedule', LIMITED, schedule('lim-long', 'cpu_long'))).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('createSchedule', TOKENS.admin, schedule('adm-long', 'cpu_long'))).code).toBe(status.OK);
    expect((await orch('getSchedule', LIMITED, { scheduleId: 'adm-long' })).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('deleteSchedule', LIMITED, { scheduleId: 'adm-long' })).code).toBe(status.PERMISSION_DENIED);
    expect((await orch('listSchedules', LIMITED)).code).toBe(status.PERMISSION_DENIED);
    // Moving another class's schedule into its own class is acting on the other class.
    expect((await orch('updateSchedule', LIMITED, pb.UpdateScheduleRequest.fromPartial(schedule('adm-long', 'cpu_short')))).code).toBe(
      status.PERMISSION_DENIED,
    );
  });
});

const docker: DockerClient | undefined = await dockerForTests('grpc-roles (env-manager)');

describe.skipIf(!docker)('env-manager roles', () => {
  const ENV_TOKENS = { read: 'env-read-0123456789abcdef', control: 'env-control-0123456789abcdef' } as const;
  let server: EnvManagerServer;
  let envClient: Client;
  let manager: EnvManager;

  beforeAll(async () => {
    const logger = createLogger('warn', { process: 'test-env-roles' });
    const config = loadConfig({
      env: {},
      overrides: { envManager: { auth: { tokens: Object.entries(ENV_TOKENS).map(([role, token]) => ({ token, role: role as 'read' })) } } },
    });
    const file = parseServiceFile(
      `[settings]\nproject = "orqroles${process.pid}"\n[services.idle]\nimage = "${TEST_IMAGE}"\ncommand = ["sleep", "3600"]\n`,
      'roles.toml',
    );
    manager = new EnvManager({ docker: docker!, file, logger, maxBackoffMs: 1_000 });
    const security = grpcSecurity(
      config.envManager,
      { section: 'envManager', addrKey: 'envManager.grpcAddr', addr: '127.0.0.1:0', roles: ENV_MANAGER_ROLES },
      logger,
    );
    server = new EnvManagerServer({ addr: '127.0.0.1:0', maxMessageBytes: 4 << 20, security, manager, docker: docker!, logger });
    await server.start();
    envClient = new envPb.EnvManagerServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    envClient?.close();
    await server?.close(500);
    await manager?.close();
  });

  it('lets read list, inspect and follow, and only control start, stop and restart', async () => {
    // Names of no service: a call let in ends INVALID_ARGUMENT and starts nothing.
    const requests: Partial<Record<keyof typeof ENV_MANAGER_METHOD_ROLES, unknown>> = {
      startServices: { names: ['no-such-service'] },
      stopServices: { names: ['no-such-service'] },
      restartService: { name: 'no-such-service' },
    };
    const def = envPb.EnvManagerServiceService as unknown as Record<string, MethodDef>;
    const cells = (Object.entries(ENV_MANAGER_METHOD_ROLES) as [keyof typeof ENV_MANAGER_METHOD_ROLES, string][]).flatMap(([method, needed]) =>
      [undefined, ...ENV_MANAGER_ROLES].map((role) => ({ method, needed, role })),
    );
    const outcomes = await Promise.all(cells.map((c) => call(envClient, def, c.method, c.role && ENV_TOKENS[c.role], requests[c.method])));
    const wrong = cells
      .map((c, i) => ({ ...c, outcome: outcomes[i]! }))
      .filter((c) => {
        const expected = c.role === undefined ? status.UNAUTHENTICATED : roleCovers(ENV_MANAGER_ROLES, c.role, c.needed) ? undefined : status.PERMISSION_DENIED;
        return expected === undefined ? [status.PERMISSION_DENIED, status.UNAUTHENTICATED].includes(c.outcome.code) : c.outcome.code !== expected;
      })
      .map((c) => `${c.method} as ${c.role ?? 'nobody'}: ${status[c.outcome.code]} ${c.outcome.details}`);
    expect(wrong).toEqual([]);
    const listed = await call(envClient, def, 'listServices', ENV_TOKENS.read);
    expect(listed.code).toBe(status.OK);
    const start = await call(envClient, def, 'startServices', ENV_TOKENS.read, { names: ['idle'] });
    expect(start.details).toBe('StartServices needs role "control" or above; this token has role "read"');
    expect((await manager.list()).map((s) => s.state)).toEqual(['absent']);
  });
});
