/**
 * Why a task's attempt ended without success, in one shape for every reader: GetTaskStatus,
 * StreamTaskResults (from the results stream or from the task's record), orchctl and Bull Board.
 *
 * It is built once, in the pool, from the TaskError the executor threw (its detail carries the
 * exit code, signal and output); the pool's own stack never goes into it. Where it is kept:
 * - the results stream entry's fields `error`, `error_code`, `exit_code`, `signal`,
 *   `output_tail`, `retryable` (feed-format.ts);
 * - the task's BullMQ job: field FAILURE_FIELD (JSON, written by the script that fails the job),
 *   and the job's stacktrace entry, which is this failure as text (`failureTrace`), so Bull
 *   Board's error view shows the task's output rather than a stack of the pool's code.
 *
 * Whatever is read back comes from Redis, which others can write: `parseFailure` checks every
 * field and bounds every string, and gives undefined rather than throw.
 */
import type { TaskError } from './errors.js';

export interface TaskFailure {
  /** One line: the task's own error ("command exited with code 2"). */
  message: string;
  /** task_failed | timed_out | cancelled | policy_denied | result_too_large | stalled */
  kind: string;
  /** The exit code of the process (command, container, Slurm job), when it had one. */
  exitCode?: number;
  /** The signal that killed the process, when one did. */
  signal?: string;
  /** The end of the attempt's output; '' for none. */
  outputTail: string;
  /** Whether running the task again could help. */
  retryable: boolean;
}

/** The job hash field holding a final failure's JSON. */
export const FAILURE_FIELD = 'orqFailure';

/** Longest message or tail read back from Redis; anything longer is cut. */
const MAX_MESSAGE_CHARS = 4096;
const MAX_TAIL_BYTES = 65_536;

/** The last `bytes` bytes of `s` as UTF-8, without a character cut in half at the start. */
export function tailOf(s: string, bytes: number): string {
  if (bytes <= 0 || s === '') return '';
  // At most 3 bytes per UTF-16 unit: short strings need no byte count.
  if (s.length * 3 <= bytes) return s;
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= bytes) return s;
  let start = buf.length - bytes;
  // Skip UTF-8 continuation bytes (10xxxxxx): they belong to a character that starts earlier.
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start += 1;
  return buf.subarray(start).toString('utf8');
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The output tail of a failure's detail, within `bytes`: stderr first (where errors go), then
 * stdout, each labelled when both have something; an HTTP runner's response body.
 */
function outputTailOf(detail: Record<string, unknown> | undefined, bytes: number): string {
  if (!detail || bytes <= 0) return '';
  const stderr = str(detail.stderr).trimEnd();
  const stdout = str(detail.stdout).trimEnd();
  const body = str(detail.body).trimEnd();
  if (stderr && stdout) {
    // Each gets half; what one does not need goes to the other.
    const half = Math.floor(bytes / 2);
    const outBytes = Math.min(Buffer.byteLength(stdout), half);
    const err = tailOf(stderr, bytes - outBytes - 32);
    const out = tailOf(stdout, bytes - Buffer.byteLength(err) - 32);
    return `[stderr]\n${err}\n[stdout]\n${out}`;
  }
  return tailOf(stderr || stdout || body, bytes);
}

/** The failure an executor's TaskError describes, its output cut to `tailBytes`. */
export function failureOf(e: TaskError, tailBytes: number): TaskFailure {
  const d = e.detail;
  const exitCode = d && typeof d.exitCode === 'number' && Number.isInteger(d.exitCode) ? d.exitCode : undefined;
  const signal = d && typeof d.signal === 'string' && d.signal ? d.signal : undefined;
  return {
    message: firstLine(e.message),
    kind: e.code,
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(signal ? { signal } : {}),
    outputTail: outputTailOf(d, tailBytes),
    retryable: e.code !== 'cancelled' && e.retryable,
  };
}

/** A failure known only by its message (an older record, a stalled-out task, a cancel while queued). */
export function failureFromMessage(message: string, kind: string, retryable = false): TaskFailure {
  return { message: message.slice(0, MAX_MESSAGE_CHARS), kind, outputTail: '', retryable };
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return (i < 0 ? s : `${s.slice(0, i)} ...`).slice(0, MAX_MESSAGE_CHARS);
}

export function failureJson(f: TaskFailure): string {
  return JSON.stringify(f);
}

/** A failure stored as JSON, or undefined when `json` is absent or not one. */
export function parseFailure(json: string | undefined | null): TaskFailure | undefined {
  if (!json) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.message !== 'string' || typeof o.kind !== 'string') return undefined;
  const exitCode = typeof o.exitCode === 'number' && Number.isInteger(o.exitCode) && Math.abs(o.exitCode) < 2 ** 31 ? o.exitCode : undefined;
  const signal = typeof o.signal === 'string' && o.signal ? o.signal.slice(0, 32) : undefined;
  return {
    message: o.message.slice(0, MAX_MESSAGE_CHARS),
    kind: o.kind.slice(0, 64),
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(signal ? { signal } : {}),
    outputTail: tailOf(str(o.outputTail), MAX_TAIL_BYTES),
    retryable: o.retryable === true,
  };
}

/**
 * The failure as text, for the stacktrace BullMQ keeps of each failed attempt (what Bull Board's
 * error view shows): the message, then what the process said, never a stack of the pool's code.
 */
export function failureTrace(f: TaskFailure, attempt: number): string {
  const lines = [f.message];
  const facts = [`attempt ${attempt}`, f.kind];
  if (f.exitCode !== undefined) facts.push(`exit code ${f.exitCode}`);
  if (f.signal) facts.push(`signal ${f.signal}`);
  facts.push(f.retryable ? 'retryable' : 'not retryable');
  lines.push(`  (${facts.join(', ')})`);
  if (f.outputTail) lines.push('--- output tail ---', f.outputTail);
  return lines.join('\n');
}
