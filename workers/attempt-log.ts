/**
 * The capture of one attempt's output into its task's log (src/tasks/task-log-format.ts).
 *
 * - Bounded per attempt (logs.maxLinesPerAttempt, logs.maxBytesPerAttempt, counted as stored):
 *   the first half of each budget is written as it comes (a follower sees it live), the last
 *   half is kept in a ring and written when the attempt ends, after a `system` line saying how
 *   many lines were dropped in between. The start shows what ran, the end usually why it failed.
 * - Batched: lines are sent on a short timer (logs.flushIntervalMs) and at the end of the
 *   attempt, one script call per batch, never one per line. An attempt that printed nothing
 *   costs no Redis call at all.
 * - Lines are split here: a chunk may end inside a line (held until its end) or inside a UTF-8
 *   character (a StringDecoder per stream keeps it whole). A line over logs.maxLineBytes is cut
 *   and the rest of it skipped up to its newline.
 * - Best effort: a failed write is logged on the pool's debug log and the lines are dropped; the
 *   attempt's outcome never depends on its logs.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../src/logging/logger.js';
import { DROPPED_MARK, formatLogLine, type LogStream } from '../src/tasks/task-log-format.js';
import type { TaskLogStore } from '../src/tasks/task-log-store.js';
import type { AttemptOutput } from './executors/executor.js';
import { settlesWithin } from './executors/settles-within.js';

export interface AttemptLogLimits {
  /** Most lines one attempt keeps. */
  maxLinesPerAttempt: number;
  /** Most bytes one attempt keeps, as stored (each line with its ~45-byte marker). */
  maxBytesPerAttempt: number;
  /** Longest line kept, in bytes of text; longer ones are cut. */
  maxLineBytes: number;
  /** Longest time a line waits before it is written. */
  flushIntervalMs: number;
}

export interface AttemptLogsOptions {
  store: TaskLogStore;
  limits: AttemptLogLimits;
  logger: Logger;
}

/** Opens the log capture of each attempt a pool runs. */
export class AttemptLogs {
  constructor(private readonly opts: AttemptLogsOptions) {}

  open(taskClass: string, taskId: string, attempt: number): AttemptLog {
    const { store, limits, logger } = this.opts;
    return new AttemptLog(
      attempt,
      limits,
      (entries) => store.write(taskClass, taskId, entries),
      (err) => logger.debug({ err, taskId, taskClass, attempt }, 'task log lines could not be written; dropped'),
    );
  }
}

const CUT = ' [cut]';
/**
 * Longest the end of an attempt waits for its last lines to be written: a Redis that does not
 * answer must not hold back the attempt's outcome, nor a stopping pool past its grace.
 */
const CLOSE_WAIT_MS = 2_000;

interface PartialLine {
  decoder: StringDecoder;
  text: string;
  /** The current line was cut: skip up to its newline. */
  skipping: boolean;
}

export class AttemptLog implements AttemptOutput {
  private readonly partial = new Map<LogStream, PartialLine>();
  private pending: string[] = [];
  private readonly headLines: number;
  private readonly headBytes: number;
  private linesWritten = 0;
  private bytesWritten = 0;
  /** Once the head budget is spent every later line goes to the tail ring, so order is kept. */
  private inTail = false;
  private tail: { entry: string; bytes: number }[] = [];
  private tailBytes = 0;
  private dropped = 0;
  private droppedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Batches sent and not yet answered. */
  private writing = 0;

  constructor(
    readonly attempt: number,
    private readonly limits: AttemptLogLimits,
    private readonly sink: (entries: string[]) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {
    this.headLines = Math.ceil(limits.maxLinesPerAttempt / 2);
    this.headBytes = Math.ceil(limits.maxBytesPerAttempt / 2);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer | string): void {
    if (this.closed) return;
    let p = this.partial.get(stream);
    if (!p) this.partial.set(stream, (p = { decoder: new StringDecoder('utf8'), text: '', skipping: false }));
    let text = p.text + (typeof chunk === 'string' ? chunk : p.decoder.write(chunk));
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      if (!p.skipping) this.add(stream, text.slice(0, nl));
      p.skipping = false;
      text = text.slice(nl + 1);
    }
    if (p.skipping) text = '';
    else if (text.length > this.limits.maxLineBytes && Buffer.byteLength(text) > this.limits.maxLineBytes) {
      // A line with no end in sight: keep its start, skip the rest up to its newline, so a
      // process printing without newlines cannot grow the pool's memory.
      this.add(stream, text);
      p.skipping = true;
      text = '';
    }
    p.text = text;
  }

  line(stream: LogStream, text: string): void {
    if (this.closed) return;
    for (const l of text.split('\n')) this.add(stream, l);
  }

  /**
   * Ends the capture: the held partial lines, the note of what was dropped and the tail ring are
   * written, and every write has been answered when this resolves (or CLOSE_WAIT_MS passed, a
   * write still pending: then it may land later, or fail and be logged). Never rejects. Resolves
   * at once when nothing was captured.
   */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    for (const [stream, p] of this.partial) {
      const rest = p.text + p.decoder.end();
      if (rest !== '' && !p.skipping) this.add(stream, rest);
    }
    this.closed = true;
    if (this.dropped > 0) {
      this.pending.push(
        formatLogLine({
          attempt: this.attempt,
          atMs: Date.now(),
          stream: 'system',
          text: `... ${this.dropped} ${DROPPED_MARK} (${this.droppedBytes} bytes): this attempt's output is over logs.maxLinesPerAttempt or logs.maxBytesPerAttempt; its first and last lines are kept`,
        }),
      );
    }
    for (const t of this.tail) this.pending.push(t.entry);
    this.tail = [];
    this.flush();
    if (this.writing > 0) await settlesWithin(this.chain, CLOSE_WAIT_MS);
  }

  private add(stream: LogStream, raw: string): void {
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const max = this.limits.maxLineBytes;
    if (text.length > max / 3 && Buffer.byteLength(text) > max) {
      // Cut at a character boundary: decode the first max bytes and drop a split character.
      text =
        Buffer.from(text)
          .subarray(0, max)
          .toString('utf8')
          .replace(/\uFFFD$/, '') + CUT;
    }
    const entry = formatLogLine({ attempt: this.attempt, atMs: Date.now(), stream, text });
    const bytes = entry.length * 3 <= 256 ? entry.length : Buffer.byteLength(entry);
    if (!this.inTail && this.linesWritten < this.headLines && this.bytesWritten + bytes <= this.headBytes) {
      this.linesWritten++;
      this.bytesWritten += bytes;
      this.pending.push(entry);
      this.timer ??= setTimeout(() => this.flush(), this.limits.flushIntervalMs);
      return;
    }
    this.inTail = true;
    const tailLines = this.limits.maxLinesPerAttempt - this.headLines;
    const tailBytes = this.limits.maxBytesPerAttempt - this.headBytes;
    this.tail.push({ entry, bytes });
    this.tailBytes += bytes;
    while (this.tail.length > 0 && (this.tail.length > tailLines || this.tailBytes > tailBytes)) {
      const gone = this.tail.shift()!;
      this.tailBytes -= gone.bytes;
      this.dropped++;
      this.droppedBytes += gone.bytes;
    }
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    // Chained: batches reach Redis in order even when one write is slow.
    this.writing++;
    this.chain = this.chain
      .then(() => this.sink(batch))
      .then(
        () => undefined,
        (err: unknown) => void this.onError(err),
      )
      .finally(() => this.writing--);
  }
}
