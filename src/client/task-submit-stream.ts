/**
 * The client's side of SubmitTaskStream: tasks submitted over one long-lived call, each
 * submit() resolved with its own answer (SubmitTask's) or rejected with its own refusal, as a
 * grpc-js ServiceError like SubmitTask's (code, details, `field` and `retry-after-ms` in its
 * metadata). The call opens with the first submit() and again with the first after it ended.
 *
 * When the call ends before a task is answered (the server went away, the call was refused),
 * that task's submit() rejects with the call's error: its outcome is unknown, and submitting it
 * again with the same task_id is answered as existing if it had been accepted. So does a task
 * with no answer within the deadline (DEADLINE_EXCEEDED), as a unary call past its deadline: a
 * front end that hangs does not hold its callers forever.
 */
import { Metadata, status as Status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import * as pb from '../gen/orchestrator/v1/orchestrator.js';

/** The call carries requests this side encoded: a task that does not encode is refused alone, not the call. */
type Call = ClientDuplexStream<Buffer, pb.SubmitTaskStreamResponse>;

interface Waiter {
  resolve: (r: pb.SubmitTaskResponse) => void;
  reject: (err: unknown) => void;
  /** Date.now() past which it rejects DEADLINE_EXCEEDED. */
  deadline: number;
}

/** A stream answer's refusal as the ServiceError SubmitTask would have failed with. */
export function refusalError(e: pb.SubmitTaskStreamError | undefined): ServiceError {
  const code = (e?.code ?? Status.UNKNOWN) as Status;
  const details = e?.message ?? 'the answer carried no outcome';
  const metadata = new Metadata();
  if (e?.field) metadata.set('field', e.field);
  if (e?.retryAfterMs) metadata.set('retry-after-ms', String(e.retryAfterMs));
  return Object.assign(new Error(`${code} ${Status[code] ?? 'UNKNOWN'}: ${details}`), { code, details, metadata });
}

export class TaskSubmitStream {
  private call?: Call;
  private nextId = 1;
  /** In the order sent, so in the order of their deadlines. */
  private readonly waiting = new Map<number, Waiter>();
  private sweep?: NodeJS.Timeout;

  /** `open` starts a call (with the client's metadata); `deadlineMs`: how long a task waits for its answer. */
  constructor(
    private readonly open: () => Call,
    private readonly deadlineMs: number,
  ) {}

  /** Tasks sent and not yet answered. */
  get unanswered(): number {
    return this.waiting.size;
  }

  submit(task: pb.TaskSpec): Promise<pb.SubmitTaskResponse> {
    const requestId = this.nextId;
    let bytes: Buffer;
    try {
      bytes = Buffer.from(pb.SubmitTaskStreamRequest.encode({ requestId, task }).finish());
    } catch (err) {
      return Promise.reject(
        refusalError({ code: Status.INVALID_ARGUMENT, message: `the task does not encode: ${(err as Error).message}`, retryAfterMs: 0, field: 'task' }),
      );
    }
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    const call = this.call ?? this.start();
    return new Promise((resolve, reject) => {
      this.waiting.set(requestId, { resolve, reject, deadline: Date.now() + this.deadlineMs });
      this.sweep ??= setInterval(() => this.rejectOverdue(), Math.min(1_000, this.deadlineMs)).unref();
      call.write(bytes);
    });
  }

  /** Rejects the tasks past their deadline (the oldest first); stops the sweep when none waits. */
  private rejectOverdue(): void {
    const now = Date.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(id);
      w.reject(
        refusalError({
          code: Status.DEADLINE_EXCEEDED,
          message: `no answer within ${this.deadlineMs} ms: the task's outcome is unknown (submitted again with the same task_id, it is answered as existing if it was accepted)`,
          retryAfterMs: 0,
          field: '',
        }),
      );
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /** Half-closes the call and waits for every task sent to be answered (or the call to end). */
  async close(): Promise<void> {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    await new Promise<void>((resolve) => {
      call.once('close', () => resolve());
      call.once('error', () => resolve());
      call.end();
    });
  }

  /** Ends the call at once: tasks not yet answered reject with CANCELLED (their outcome unknown). */
  cancel(): void {
    this.call?.cancel();
  }

  private start(): Call {
    const call = this.open();
    this.call = call;
    // The answers of this call: every waiter is this call's, since a new call starts only once it ended.
    call.on('data', (r: pb.SubmitTaskStreamResponse) => {
      const w = this.waiting.get(r.requestId);
      if (!w) return;
      this.waiting.delete(r.requestId);
      if (r.outcome?.$case === 'result') w.resolve(r.outcome.value);
      else w.reject(refusalError(r.outcome?.value));
    });
    const ended = (err: unknown) => {
      if (this.call === call) this.call = undefined;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    call.on('error', ended);
    call.on('end', () => ended(refusalError({ code: Status.UNAVAILABLE, message: 'the submit stream ended before answering', retryAfterMs: 0, field: '' })));
    return call;
  }
}
