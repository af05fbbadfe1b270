/**
 * Caps on concurrent server streams (StreamEvents, StreamTaskResults, StreamWorkflowStatus):
 * `grpc.maxStreams` in all and `grpc.maxStreamsPerCaller` per caller, RESOURCE_EXHAUSTED beyond.
 * A caller is its bearer token when the server has tokens (the auth interceptor names it in
 * CALLER_METADATA, a digest, never the token), otherwise the peer's address without its port,
 * so one client cannot take every slot by opening connections from many ports.
 */
import type { Metadata } from '@grpc/grpc-js';
import { OrchestratorError } from '../errors/errors.js';
import { CALLER_METADATA } from './auth-interceptor.js';

export interface StreamAdmissionOptions {
  /** grpc.maxStreams */
  maxStreams: number;
  /** grpc.maxStreamsPerCaller */
  maxStreamsPerCaller: number;
  /**
   * Whether CALLER_METADATA comes from the auth interceptor (the server has tokens). Without
   * tokens no interceptor runs and a client could write any name there, so it is ignored.
   */
  callerFromToken: boolean;
}

/** What admission needs of a call. */
export interface AdmittedCall {
  getPeer(): string;
  metadata: Metadata;
}

/** "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7", "ipv6:[::1]:51234" -> "ipv6:[::1]". */
export function peerHost(peer: string): string {
  return peer.replace(/:\d+$/, '');
}

/**
 * Who makes a call, for per-caller limits: the token digest the auth interceptor set (only when
 * the server has tokens: without them a client could write any name there), else the peer's
 * address without its port.
 */
export function callerOf(call: AdmittedCall, callerFromToken: boolean): string {
  if (callerFromToken) {
    const v = call.metadata.get(CALLER_METADATA);
    if (v.length === 1) return String(v[0]);
  }
  return `peer:${peerHost(call.getPeer())}`;
}

export class StreamAdmission {
  private total = 0;
  private readonly byCaller = new Map<string, number>();
  /** How to end each open stream with a status (see endAll). */
  private readonly enders = new Set<(err: unknown) => void>();

  constructor(private readonly opts: StreamAdmissionOptions) {}

  /** Streams open now, in all. */
  get open(): number {
    return this.total;
  }

  callerOf(call: AdmittedCall): string {
    return callerOf(call, this.opts.callerFromToken);
  }

  /**
   * Takes a slot for the call, or throws resource_exhausted; the returned function frees it
   * (once). `end` ends the stream with a status; endAll calls it while the slot is held.
   */
  admit(call: AdmittedCall, end?: (err: unknown) => void): () => void {
    const caller = this.callerOf(call);
    const mine = this.byCaller.get(caller) ?? 0;
    if (this.total >= this.opts.maxStreams)
      throw new OrchestratorError('resource_exhausted', `this server has ${this.total} streams open, its limit (grpc.maxStreams); retry later`, {
        retryable: true,
      });
    if (mine >= this.opts.maxStreamsPerCaller)
      throw new OrchestratorError(
        'resource_exhausted',
        `this caller has ${mine} streams open, its limit (grpc.maxStreamsPerCaller); close one or retry later`,
        { retryable: true },
      );
    this.total++;
    this.byCaller.set(caller, mine + 1);
    if (end) this.enders.add(end);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      if (end) this.enders.delete(end);
      this.total--;
      const n = (this.byCaller.get(caller) ?? 1) - 1;
      if (n > 0) this.byCaller.set(caller, n);
      else this.byCaller.delete(caller);
    };
  }

  /**
   * Ends every open stream with `err`. At shutdown, before the server stops: a stream cut by the
   * server's forced shutdown ends CANCELLED, which a client cannot tell from its own cancel, so
   * it would not resume; UNAVAILABLE says "resume from your last cursor, elsewhere".
   */
  endAll(err: unknown): number {
    const all = [...this.enders];
    for (const end of all) end(err);
    return all.length;
  }
}
