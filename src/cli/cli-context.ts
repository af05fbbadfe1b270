/**
 * What every orchctl command shares: the clients (built from the global flags and the config
 * file), output as a readable table or as JSON (--json), and the exit codes:
 *
 *   0 done   1 failed (a task or run ended failed, or another error)   2 usage or bad input
 *   3 not found   4 server unavailable (or a deadline passed)   5 not allowed (authentication)
 */
import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { bearerMetadata, channelCredentials, OrchestratorClient, type ClientTlsOptions } from '../client/orchestrator-client.js';
import { loadConfig, type Config } from '../config/config.js';
import * as envpb from '../gen/envmanager/v1/envmanager.js';
import { parseCarrier } from '../tracing/trace-context.js';
import { jsonOf, plainJson, type JsonMessageType } from './json-output.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, unavailable: 4, denied: 5 } as const;

export interface GlobalFlags {
  addr?: string;
  envAddr?: string;
  config?: string;
  json?: boolean;
  deadlineMs?: string;
  token?: string;
  tokenFile?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

/** An error that ends the command with a given exit code and message. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code for an error a call failed with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const code = (err as Partial<ServiceError>)?.code;
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.ALREADY_EXISTS:
    case status.FAILED_PRECONDITION:
      return EXIT.usage;
    case status.NOT_FOUND:
      return EXIT.notFound;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return EXIT.unavailable;
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return EXIT.denied;
    default:
      return EXIT.failed;
  }
}

/** An enum value's name without its prefix, lower case: TASK_STATE_QUEUED -> queued. */
export function enumName(e: Record<number, string>, value: number, prefix: string): string {
  return (e[value] ?? String(value)).replace(prefix, '').toLowerCase();
}

export class CliContext {
  private config?: Config;
  private orch?: OrchestratorClient;
  private env?: envpb.EnvManagerServiceClient;

  constructor(readonly flags: GlobalFlags) {}

  get json(): boolean {
    return Boolean(this.flags.json);
  }

  private cfg(): Config {
    this.config ??= loadConfig({ file: this.flags.config });
    return this.config;
  }

  get deadlineMs(): number {
    const n = Number(this.flags.deadlineMs ?? 30_000);
    if (!Number.isInteger(n) || n <= 0) throw new CliError(`--deadline-ms: expected a positive integer, got "${this.flags.deadlineMs}"`, EXIT.usage);
    return n;
  }

  /**
   * The bearer token: --token, else the first word of the first line of --token-file, else
   * client.token of the config (env ORCHESTRATOR_TOKEN), else none. The first word, so a line
   * copied from a server's tokens file (`<token> <role> ...`) works as is.
   */
  private token(): string | undefined {
    if (this.flags.token) return this.flags.token;
    if (!this.flags.tokenFile) return this.cfg().client.token || undefined;
    const first = readFileSync(this.flags.tokenFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l && !l.startsWith('#'));
    if (!first) throw new CliError(`--token-file: ${this.flags.tokenFile} holds no token`, EXIT.usage);
    return first.split(/\s/)[0];
  }

  /** TLS settings from --tls, --ca, --cert, --key (any of them turns TLS on). */
  private tls(): ClientTlsOptions | undefined {
    const { tls, ca, cert, key } = this.flags;
    if (!tls && !ca && !cert && !key) return undefined;
    if (Boolean(cert) !== Boolean(key)) throw new CliError('--cert and --key go together (mutual TLS)', EXIT.usage);
    const read = (f: string | undefined) => (f ? readFileSync(f) : undefined);
    return { ca: read(ca), certChain: read(cert), privateKey: read(key) };
  }

  client(): OrchestratorClient {
    this.orch ??= new OrchestratorClient(this.flags.addr ?? this.cfg().grpc.addr, {
      defaultDeadlineMs: this.deadlineMs,
      token: this.token(),
      tls: this.tls(),
      callMetadata: () => this.traceMetadata(),
    });
    return this.orch;
  }

  /** The trace context of the environment (TRACEPARENT, TRACESTATE), sent with every call. */
  private traceMetadata(): Record<string, string> {
    const { traceparent, tracestate } = this.cfg().client;
    // Checked as the server checks it: a malformed context is not sent (the call is not failed).
    const carrier = traceparent ? parseCarrier(traceparent, tracestate) : undefined;
    return carrier ? { ...carrier } : {};
  }

  /** The env-manager's client, with the same credentials (--token, --tls, ...) as the orchestrator's. */
  envClient(): envpb.EnvManagerServiceClient {
    this.env ??= new envpb.EnvManagerServiceClient(this.flags.envAddr ?? this.cfg().envManager.grpcAddr, channelCredentials({ tls: this.tls() }));
    return this.env;
  }

  /** Metadata of every env-manager call: the bearer token, when there is one. */
  private envMetadata(): Metadata {
    return bearerMetadata(this.token());
  }

  /** One unary call of the env-manager, with the deadline. */
  envCall<Req, Res>(method: keyof envpb.EnvManagerServiceClient, req: Req, deadlineMs = this.deadlineMs): Promise<Res> {
    const c = this.envClient() as unknown as Record<string, (r: Req, md: Metadata, o: object, cb: (e: Error | null, v: Res) => void) => void>;
    return new Promise((resolve, reject) =>
      c[method]!.call(c, req, this.envMetadata(), { deadline: Date.now() + deadlineMs }, (e, v) => (e ? reject(e) : resolve(v))),
    );
  }

  close(): void {
    this.orch?.close();
    this.env?.close();
  }

  line(text = ''): void {
    process.stdout.write(`${text}\n`);
  }

  /** One JSON value per line (--json), e.g. a streamed item, in the shape of json-output.ts. */
  jsonLine(value: unknown): void {
    this.line(JSON.stringify(plainJson(value)));
  }

  /** An API message as one JSON line (--json), in the shape of json-output.ts. */
  jsonMessage<T>(type: JsonMessageType<T>, message: T): void {
    this.line(JSON.stringify(jsonOf(type, message)));
  }

  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  /** A record as "key  value" lines (human output; --json prints the message instead). */
  record(value: Record<string, unknown>): void {
    if (this.json) return this.jsonLine(value);
    const width = Math.max(...Object.keys(value).map((k) => k.length));
    for (const [k, v] of Object.entries(value)) this.line(`${k.padEnd(width)}  ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '')}`);
  }

  /** An API message: its JSON (--json), or the human record `view` makes of it. */
  show<T>(type: JsonMessageType<T>, message: T, view: (m: T) => Record<string, unknown>): void {
    if (this.json) return this.jsonMessage(type, message);
    this.record(view(message));
  }

  /** Rows: JSON (an array), or an aligned table with a header. */
  table(rows: Record<string, unknown>[], columns = rows[0] ? Object.keys(rows[0]) : []): void {
    if (this.json) return this.jsonLine(rows);
    const cell = (v: unknown) => {
      const s = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '');
      return s.length > 60 ? `${s.slice(0, 57)}...` : s;
    };
    const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
    const fmt = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    this.line(fmt(columns.map((c) => c.toUpperCase())));
    for (const r of rows) this.line(fmt(columns.map((c) => cell(r[c]))));
  }
}
