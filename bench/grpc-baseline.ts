/**
 * Bare grpc-js: a server whose SubmitTask answers at once, and a client calling it, so the unary
 * scenario can print our front end's rate as a ratio to the transport's own (both in this
 * process), and the latency scenario our submit->result times beside a bare call's (the server
 * in a process of its own: bench/bare-grpc-process.ts).
 *
 * - `proto-loader`: the service loaded from proto/ with @grpc/proto-loader (protobufjs codecs),
 *   as a grpc-js user who writes no code generation gets it.
 * - `ts-proto`: our generated service definition and client (src/gen), the codecs our front end
 *   and OrchestratorClient use.
 *
 * Both answer every unary method of OrchestratorService the same way (only SubmitTask is called),
 * and StreamTaskResults with a given message, as fast as flow control lets it go out: the
 * transport's own rate of result delivery.
 */
import { credentials, loadPackageDefinition, Server, ServerCredentials, type Client, type ServerWritableStream, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { OrchestratorClient, type TaskInput } from '../src/client/orchestrator-client.js';
import { OrchestratorServiceService } from '../src/gen/orchestrator/v1/orchestrator.js';
import { PROTO_DIR } from '../src/paths.js';
import { CHANNELZ_OFF } from '../src/client/channelz.js';

export type BareCodecs = 'proto-loader' | 'ts-proto';

export interface BareGrpc {
  /** One SubmitTask of `task` (SubmitTaskRequest.task, the same message OrchestratorClient sends), resolved with the answer. */
  submit(task: TaskInput): Promise<unknown>;
  /** One StreamTaskResults call, read to its end: how many messages came. */
  readResults(): Promise<number>;
  close(): void;
}

export interface BareOptions {
  /** What StreamTaskResults sends: `message` `count` times, as fast as the call takes them, then ends. */
  results?: { message: object; count: number };
}

const ANSWER = { taskId: 'x', created: true, state: 0 };

type Handler = (call: unknown, cb: (err: null, value: unknown) => void) => void;

/** Writes `count` copies of `message` on a server stream, waiting for 'drain' when its buffer is full. */
function streamCopies(call: ServerWritableStream<unknown, unknown>, message: object, count: number): void {
  let sent = 0;
  const more = () => {
    while (sent < count) {
      sent++;
      if (!call.write(message)) return void call.once('drain', more);
    }
    call.end();
  };
  more();
}

function serveAtOnce(definition: ServiceDefinition, names: string[], opts: BareOptions): { server: Server; bound: Promise<number> } {
  // Our server's transport options (channelz off), so that the ratio is of our code, not of settings.
  const server = new Server({ ...CHANNELZ_OFF });
  const answer: Handler = (_call, cb) => cb(null, ANSWER);
  const results = opts.results ?? { message: {}, count: 0 };
  const stream = (call: ServerWritableStream<unknown, unknown>) => streamCopies(call, results.message, results.count);
  server.addService(definition, Object.fromEntries(names.map((m) => [m, /^stream/i.test(m) ? stream : answer])));
  const bound = new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, bound };
}

/** The bare service's definition and method names, with the codecs named. */
function bareService(codecs: BareCodecs) {
  if (codecs === 'ts-proto') return { definition: OrchestratorServiceService as ServiceDefinition, Client: undefined };
  const definition = loadSync(join(PROTO_DIR, 'orchestrator', 'v1', 'orchestrator.proto'), {
    includeDirs: [PROTO_DIR],
    longs: String,
    enums: Number,
    defaults: false,
  });
  const pkg = loadPackageDefinition(definition) as unknown as {
    orchestrator: {
      v1: { OrchestratorService: (new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client) & { service: ServiceDefinition } };
    };
  };
  const Service = pkg.orchestrator.v1.OrchestratorService;
  return { definition: Service.service, Client: Service };
}

/** Serves the bare service on a free loopback port: the port, and how to stop it. */
export async function serveBareGrpc(codecs: BareCodecs, opts: BareOptions = {}): Promise<{ port: number; close(): void }> {
  const { definition } = bareService(codecs);
  const { server, bound } = serveAtOnce(definition, Object.keys(definition), opts);
  return { port: await bound, close: () => server.forceShutdown() };
}

/** A client of the bare service at `addr`, with the codecs named; close() closes the client only. */
export function connectBareGrpc(codecs: BareCodecs, addr: string): BareGrpc {
  const { Client: Service } = bareService(codecs);
  if (!Service) {
    const client = new OrchestratorClient(addr);
    return {
      submit: (task) => client.submitTask(task),
      readResults: async () => {
        let n = 0;
        for await (const _ of client.streamTaskResults({})) n++;
        return n;
      },
      close: () => client.close(),
    };
  }
  const client = new Service(addr, credentials.createInsecure()) as Client & {
    SubmitTask(req: unknown, cb: (err: Error | null, res: unknown) => void): void;
    StreamTaskResults(req: unknown): AsyncIterable<unknown>;
  };
  return {
    submit: (task) =>
      new Promise((resolve, reject) =>
        client.SubmitTask({ task: { taskId: task.taskId ?? '', taskClass: task.taskClass, payload: task.payload ?? {} } }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      ),
    readResults: async () => {
      let n = 0;
      for await (const _ of client.StreamTaskResults({})) n++;
      return n;
    },
    close: () => client.close(),
  };
}

/** Starts the server and connects a client to it in this process, with the codecs named. */
export async function startBareGrpc(codecs: BareCodecs, opts: BareOptions = {}): Promise<BareGrpc> {
  const server = await serveBareGrpc(codecs, opts);
  const client = connectBareGrpc(codecs, `127.0.0.1:${server.port}`);
  return {
    ...client,
    close: () => {
      client.close();
      server.close();
    },
  };
}
