/**
 * The `http` executor: hands one attempt to a task runner that already exists as an HTTP
 * service. The request is `{task_id, task_class, attempt, payload}` as JSON; the response body
 * is the result (parsed when its content type is JSON, else the text).
 *
 * Why it is shaped like this:
 * - The URL is checked against this pool's allow-list (`executors.http.allowedUrlPrefixes`)
 *   even though submission checked it against the front end's: a pool is the one that makes the
 *   call, so its own configuration has the last word.
 * - Redirects are not followed: a redirect could lead anywhere, past the allow-list.
 * - The task's timeout and CancelTask arrive as `ctx.signal`, which is handed to fetch: it
 *   aborts the request and the body read, closing the connection, so the runner sees the
 *   client go away.
 * - Retry follows what the status says about the request: 5xx, 408, 429 and connection errors
 *   may succeed later; any other 4xx will not, and a 3xx is a misconfigured URL.
 * - Bodies are bounded: a result larger than `maxResponseBytes` fails the attempt (it would be
 *   stored in Redis with every result), and an error body keeps only its tail.
 */
import { TaskError } from '../../src/errors/errors.js';
import { describeUrl, httpUrlAllowed, normaliseHttpUrl } from '../../src/executors/executor-policy.js';
import type { HttpExecutorSpec } from '../../src/tasks/task-spec.js';
import type { ExecutionContext, Executor } from './executor.js';
import { OutputTail } from './output-tail.js';

export type HttpSpec = Omit<HttpExecutorSpec, 'kind'>;

export interface HttpExecutorOptions {
  /** Normalised URL prefixes this pool may call (config `executors.http.allowedUrlPrefixes`). */
  allowedUrlPrefixes: readonly string[];
  /** Largest response body taken as a result. @default 1048576 */
  maxResponseBytes?: number;
  /** Bytes of an error response's body kept in the result. @default 4096 */
  errorBodyTailBytes?: number;
}

/** Statuses that say "try again later" although they are not 5xx. */
const RETRYABLE_4XX = new Set([408, 429]);

export class HttpExecutor implements Executor<HttpSpec> {
  readonly kind = 'http';
  private readonly maxResponseBytes: number;
  private readonly errorBodyTailBytes: number;

  constructor(private readonly opts: HttpExecutorOptions) {
    this.maxResponseBytes = opts.maxResponseBytes ?? 1 << 20;
    this.errorBodyTailBytes = opts.errorBodyTailBytes ?? 4096;
  }

  async run(spec: HttpSpec, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown> {
    const url = normaliseHttpUrl(spec.url);
    if (url === undefined || !httpUrlAllowed(url, this.opts.allowedUrlPrefixes)) {
      throw new TaskError('task_failed', `executor.http.url ${describeUrl(spec.url)} is not allowed on this pool (executors.http.allowedUrlPrefixes)`, {
        retryable: false,
      });
    }
    const method = spec.method || 'POST';
    const where = `${method} ${describeUrl(url)}`;
    if (ctx.signal.aborted) throw ctx.signal.reason;

    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...spec.headers,
          'content-type': 'application/json',
          'x-orchestrator-task-id': ctx.taskId,
          'x-orchestrator-attempt': String(ctx.attempt),
          // W3C trace context: the runner's spans continue this attempt's (set only when the pool traces).
          ...(ctx.traceparent ? { traceparent: ctx.traceparent, ...(ctx.tracestate ? { tracestate: ctx.tracestate } : {}) } : {}),
        },
        body: JSON.stringify({ task_id: ctx.taskId, task_class: ctx.taskClass, attempt: ctx.attempt, payload }),
        redirect: 'manual',
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw new TaskError('task_failed', `${where}: ${networkError(err)}`, { retryable: true, cause: err });
    }

    if (res.status >= 200 && res.status < 300) {
      const body = await this.readBody(res, where, ctx.signal);
      const type = res.headers.get('content-type') ?? '';
      if (!isJson(type)) return body;
      try {
        return body === '' ? null : (JSON.parse(body) as unknown);
      } catch {
        ctx.output?.write('stdout', body.slice(-this.errorBodyTailBytes));
        throw new TaskError('task_failed', `${where}: answered ${res.status} with content type ${type} but a body that is not JSON`, {
          retryable: false,
          detail: { status: res.status, body: body.slice(-this.errorBodyTailBytes) },
        });
      }
    }

    const tail = await this.readTail(res, ctx.signal);
    // The runner's answer is the only output an http task has: its tail goes to the attempt's log.
    if (tail !== '') ctx.output?.write('stdout', tail);
    const retryable = res.status >= 500 || RETRYABLE_4XX.has(res.status);
    const why = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
    throw new TaskError('task_failed', `${where}: answered ${res.status} ${res.statusText}${why}`.trimEnd(), {
      retryable,
      detail: { status: res.status, body: tail },
    });
  }

  /** The whole body as text, refusing one over the limit. */
  private async readBody(res: Response, where: string, signal: AbortSignal): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body ?? []) {
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          await res.body?.cancel().catch(() => undefined);
          throw new TaskError('task_failed', `${where}: response body is over ${this.maxResponseBytes} bytes (executors.http.maxResponseBytes)`, {
            retryable: false,
            detail: { status: res.status },
          });
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof TaskError) throw err;
      throw new TaskError('task_failed', `${where}: reading the response: ${networkError(err)}`, { retryable: true, cause: err });
    }
    return Buffer.concat(chunks, size).toString('utf8');
  }

  /** The tail of an error response's body; whatever could be read if the read fails. */
  private async readTail(res: Response, signal: AbortSignal): Promise<string> {
    const tail = new OutputTail(this.errorBodyTailBytes);
    try {
      for await (const chunk of res.body ?? []) tail.push(Buffer.from(chunk));
    } catch {
      if (signal.aborted) throw signal.reason;
    }
    return tail.toString();
  }
}

function isJson(contentType: string): boolean {
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  return mime === 'application/json' || mime.endsWith('+json');
}

/** undici reports "fetch failed" with the useful part (ECONNREFUSED, ...) in `cause`. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
