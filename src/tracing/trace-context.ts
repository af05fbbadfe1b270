/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as it crosses our boundaries: the
 * `traceparent` and `tracestate` a caller sends in gRPC metadata, and the pair a task carries in
 * its job data to the pool. Both come from outside (a caller, or Redis, which others can write),
 * so parsing never throws: a value that is not well formed, or too long, is ignored and the
 * span that would have continued it starts a new trace instead.
 */

/** The trace context a task carries, as the W3C headers write it. */
export interface TraceCarrier {
  /** `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`. */
  traceparent: string;
  /** Vendor entries, passed on as they came (validated, bounded); absent when there are none. */
  tracestate?: string;
}

/** A traceparent of version 00 is exactly this long; later versions may append fields after it. */
const TRACEPARENT_LENGTH = 55;
/** Longest traceparent read (a future version's extra fields are dropped, not stored). */
const MAX_TRACEPARENT_CHARS = 256;
/** The W3C limit of 32 list members of at most 256 characters would allow 8 KiB: we keep 512 characters. */
export const MAX_TRACESTATE_CHARS = 512;
const MAX_TRACESTATE_MEMBERS = 32;
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/**
 * One tracestate member, `key=value`. The value is printable ASCII without `,` and `=`, and here
 * also without `"` and `\`: the pair is stored inside the job's JSON, whose readers in Lua match
 * fields by pattern (src/store/bullmq/task-backend.ts), so nothing in it may need escaping.
 */
const TRACESTATE_MEMBER_RE =
  /^[a-z0-9][a-z0-9_\-*/]{0,240}(@[a-z][a-z0-9_\-*/]{0,13})?=[\x20-\x21\x23-\x2b\x2d-\x3c\x3e-\x5b\x5d-\x7e]{0,255}[\x21\x23-\x2b\x2d-\x3c\x3e-\x5b\x5d-\x7e]$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  /** The flags byte; bit 0 is "sampled". */
  flags: number;
}

/** A traceparent's parts, or undefined when it is not a valid one (any version but ff; fields of later versions dropped). */
export function parseTraceparent(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string' || value.length < TRACEPARENT_LENGTH || value.length > MAX_TRACEPARENT_CHARS) return undefined;
  const text = value.trim();
  if (text !== text.toLowerCase()) return undefined; // upper-case hex is invalid per the spec
  const version = text.slice(0, 2);
  // Version 00 is exactly 55 characters; a later one may carry more after a "-".
  if (version === '00' ? text.length !== TRACEPARENT_LENGTH : text.length > TRACEPARENT_LENGTH && text[TRACEPARENT_LENGTH] !== '-') return undefined;
  const m = TRACEPARENT_RE.exec(text.slice(0, TRACEPARENT_LENGTH));
  if (!m || m[1] === 'ff' || m[2] === ZERO_TRACE_ID || m[3] === ZERO_SPAN_ID) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, flags: parseInt(m[4]!, 16) };
}

/** The tracestate to pass on, or undefined when there is none or it is malformed or too long (it is then dropped whole). */
export function parseTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TRACESTATE_CHARS) return undefined;
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  if (!members.every((m) => TRACESTATE_MEMBER_RE.test(m))) return undefined;
  return members.join(',');
}

/** A carrier from untrusted header values, or undefined when the traceparent is not valid (a tracestate alone means nothing). */
export function parseCarrier(traceparent: unknown, tracestate?: unknown): TraceCarrier | undefined {
  const p = parseTraceparent(traceparent);
  if (!p) return undefined;
  const state = parseTracestate(tracestate);
  return { traceparent: formatTraceparent(p), ...(state ? { tracestate: state } : {}) };
}

/** The version-00 traceparent of a span context. */
export function formatTraceparent(p: ParsedTraceparent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}
