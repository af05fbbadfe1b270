/**
 * SubmitTaskStream: tasks submitted over one long-lived bidirectional call, each request answered
 * on it by one response carrying its request_id, as SubmitTask would answer it: its own created
 * or existing, or its own refusal (the status code, message, field and retry hint SubmitTask
 * would have ended with), after which the stream goes on. A client that submits continuously
 * pays no call per task: no HTTP/2 stream, headers, metadata or interceptor chain each, on
 * either side (README "Benchmarks": a unary call's objects outlive the client's young
 * collections).
 *
 * Bounds, so that one stream cannot hold more than a few tasks' worth of the front end:
 * - the call takes a server-stream slot (grpc.maxStreams, grpc.maxStreamsPerCaller);
 * - each task passes submit admission (the Redis memory mark, the caller's submit rate) as a
 *   SubmitTask would, and is refused on its own when it does not;
 * - at most MAX_UNANSWERED requests wait for their answer: reading stops there (HTTP/2 flow
 *   control then holds the client back) and goes on as answers go out, and stops too while the
 *   client does not read its answers;
 * - each request counts against grpc.maxInFlightBytes until its answer goes out (in-flight-bytes.ts);
 * - a request_id already waiting for its answer ends the call INVALID_ARGUMENT: two answers
 *   with one id could not be told apart.
 *
 * The client's half-close ends the call with OK once every request has its answer. A call that
 * ends otherwise (cancelled, refused) leaves its unanswered requests' outcomes unknown: each was
 * accepted or not, and submitting it again with the same task_id is answered as existing.
 */
import type { Metadata, ServerDuplexStream } from '@grpc/grpc-js';
import { invalidArgument } from '../errors/errors.js';
import type * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { Logger } from '../logging/logger.js';
import type { StreamAdmission } from './stream-admission.js';
import type { SubmitAdmission } from './submit-admission.js';
import { toServiceError } from './status.js';
import { UndecodableRequest } from './request-decoding.js';

/** Most requests of one stream waiting for their answer; reading pauses there. */
export const MAX_UNANSWERED = 64;

export interface SubmitStreamOptions {
  log: Logger;
  streams: StreamAdmission | undefined;
  submissions: SubmitAdmission | undefined;
  /** Submits one task as SubmitTask does (validation, tracing, the replicas' acknowledgement). */
  submit: (task: pb.TaskSpec | undefined, metadata: Metadata) => Promise<pb.SubmitTaskResponse>;
  /** @default MAX_UNANSWERED */
  maxUnanswered?: number;
}

/** A refusal as a stream answer carries it: what toServiceError would send as the call's status. */
export function toStreamError(err: unknown): pb.SubmitTaskStreamError {
  const e = toServiceError(err);
  const retry = Number(e.metadata?.get('retry-after-ms')[0] ?? 0);
  return { code: e.code, message: e.details, retryAfterMs: Number.isFinite(retry) ? retry : 0, field: String(e.metadata?.get('field')[0] ?? '') };
}

export function submitStream(opts: SubmitStreamOptions) {
  const max = opts.maxUnanswered ?? MAX_UNANSWERED;
  return (call: ServerDuplexStream<pb.SubmitTaskStreamRequest, pb.SubmitTaskStreamResponse>) => {
    let release = () => undefined as void;
    /** Whether the call has its status (or was cancelled): nothing more is written. */
    let ended = false;
    const finish = () => {
      if (ended) return false;
      ended = true;
      release();
      return true;
    };
    const endWith = (err: unknown) => {
      if (finish()) call.emit('error', toServiceError(err));
    };
    try {
      if (opts.streams) release = opts.streams.admit(call, endWith);
    } catch (err) {
      call.emit('error', toServiceError(err));
      return;
    }
    call.on('cancelled', finish);
    call.on('close', finish);
    call.on('error', () => finish());

    const unanswered = new Set<number>();
    let halfClosed = false;
    let paused = false;
    let draining = false;
    const flow = () => {
      if (ended) return;
      if (halfClosed && unanswered.size === 0) {
        if (finish()) call.end();
        return;
      }
      const hold = draining || unanswered.size >= max;
      if (hold && !paused) call.pause();
      else if (!hold && paused) call.resume();
      paused = hold;
    };
    const answer = (requestId: number, outcome: pb.SubmitTaskStreamResponse['outcome']) => {
      unanswered.delete(requestId);
      if (ended) return;
      if (!call.write({ requestId, outcome }) && !draining) {
        draining = true;
        call.once('drain', () => {
          draining = false;
          flow();
        });
      }
      flow();
    };

    call.on('data', (req: pb.SubmitTaskStreamRequest | UndecodableRequest) => {
      if (ended) return;
      // A message that did not decode has no request_id to answer: the call ends with its error.
      if (req instanceof UndecodableRequest) {
        endWith(req.error);
        return;
      }
      const id = req.requestId;
      if (unanswered.has(id)) {
        endWith(invalidArgument('request_id', `${id} is already waiting for its answer on this stream`));
        return;
      }
      unanswered.add(id);
      flow();
      // Inside a promise: admission and the request's mapping throw synchronously, and whatever
      // one task's submission throws is that task's answer, never the call's end.
      new Promise<pb.SubmitTaskResponse>((resolve) => {
        opts.submissions?.admit(call, 1);
        resolve(opts.submit(req.task, call.metadata));
      })
        .then(
          (value) => answer(id, { $case: 'result', value }),
          (err: unknown) => answer(id, { $case: 'error', value: toStreamError(err) }),
        )
        .catch((err: unknown) => opts.log.warn({ err }, 'submit stream answer could not be written'));
    });
    call.on('end', () => {
      halfClosed = true;
      flow();
    });
  };
}
