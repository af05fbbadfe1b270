/**
 * ListWorkflowRuns: runs newest first (by start time), filtered by workflow, state and start
 * time, paged by an opaque cursor.
 *
 * The run index (`{<prefix>}:runs:index`, run_id -> start ms) is written with the run itself
 * (src/store/lua/workflows/start-run.lua). A finished run's keys expire after
 * workflows.runRetentionMs (src/store/lua/includes/finish-run.lua); its
 * index entry goes when a list finds the run gone, and the workflow engine's sweep walks the
 * index a slice at a time to drop the others (pruneSlice), so the index stays in step with the
 * runs kept. Paging is task-list.ts's: (start ms, run id) descending, the cursor is the last one
 * a page looked at; each page looks at a bounded number of runs, so a selective filter can give
 * a short (even empty) page with a token to go on from.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { invalidArgument } from '../errors/errors.js';
import { pageNewestFirst } from '../store/lists/page-newest-first.js';
import { forgetRuns } from '../store/workflows/forget-runs.js';
import { decodeCursor, encodeCursor } from '../tasks/task-list.js';
import type { RunState } from './workflow-runs.js';

export interface RunListFilter {
  /** Empty: every workflow. */
  workflowName: string;
  /** Empty: every state. */
  states: RunState[];
  /** Started at or after (ms since the epoch); 0: no bound. */
  startedSinceMs: number;
  /** Started before (ms since the epoch); 0: no bound. */
  startedUntilMs: number;
}

export interface RunSummaryView {
  runId: string;
  workflowName: string;
  version: number;
  state: RunState;
  startedAtMs: number;
  finishedAtMs: number;
  stopReason: string;
  steps: number;
  openSteps: number;
}

export interface RunPage {
  runs: RunSummaryView[];
  /** Empty when there is nothing more. */
  nextPageToken: string;
}

export interface WorkflowRunListOptions {
  redis: RedisClient;
  keys: Keys;
}

/** page_size when the request gives 0. */
export const DEFAULT_RUN_PAGE_SIZE = 50;
export const MAX_RUN_PAGE_SIZE = 500;
/** Most runs one page looks at. */
const SCAN_LIMIT = 2_000;
/** Runs read per pipeline. */
const CHUNK = 200;
/** Index entries the sweep checks each time. */
const PRUNE_SLICE = 200;
const MAX_NAME = 200;
const MAX_REASON = 4_096;
const RUN_STATES: ReadonlySet<string> = new Set(['running', 'succeeded', 'failed', 'cancelled']);

const RUN_FIELDS = ['name', 'version', 'state', 'started_at', 'finished_at', 'stop_reason', 'open'] as const;

function int(v: string | null | undefined): number {
  const n = Number(v ?? 0);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function checkRunFilter(f: RunListFilter): void {
  if (f.workflowName.length > MAX_NAME) throw invalidArgument('workflow_name', `is longer than ${MAX_NAME} characters`);
  if (!Number.isSafeInteger(f.startedSinceMs) || f.startedSinceMs < 0)
    throw invalidArgument('started_since_ms', `must not be negative, got ${f.startedSinceMs}`);
  if (!Number.isSafeInteger(f.startedUntilMs) || f.startedUntilMs < 0)
    throw invalidArgument('started_until_ms', `must not be negative, got ${f.startedUntilMs}`);
  if (f.startedUntilMs && f.startedUntilMs <= f.startedSinceMs) {
    throw invalidArgument('started_until_ms', `must be after started_since_ms (${f.startedSinceMs}), got ${f.startedUntilMs}`);
  }
}

export class WorkflowRunList {
  private readonly page: ReturnType<typeof pageNewestFirst>;
  /** Drops the index entries of runs found gone. */
  private readonly forget: ReturnType<typeof forgetRuns>;
  /** Where the next prune slice starts (rank in the index, oldest first). */
  private pruneAt = 0;

  constructor(private readonly opts: WorkflowRunListOptions) {
    this.page = pageNewestFirst(opts.redis);
    this.forget = forgetRuns(opts.redis, opts.keys);
  }

  /** One page. `pageSize` 0 means DEFAULT_RUN_PAGE_SIZE. */
  async list(filter: RunListFilter, pageSize: number, pageToken: string): Promise<RunPage> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_RUN_PAGE_SIZE) {
      throw invalidArgument('page_size', `must be 0 (the default, ${DEFAULT_RUN_PAGE_SIZE}) to ${MAX_RUN_PAGE_SIZE}, got ${pageSize}`);
    }
    checkRunFilter(filter);
    const cursor = decodeCursor(pageToken);
    const size = pageSize || DEFAULT_RUN_PAGE_SIZE;
    let max = filter.startedUntilMs ? filter.startedUntilMs - 1 : Infinity;
    if (cursor) max = Math.min(max, cursor.s);
    const entries = await this.page(this.opts.keys.runIndex, {
      maxScore: max,
      minScore: filter.startedSinceMs || -Infinity,
      cursor: cursor && { score: cursor.s, id: cursor.i },
      count: SCAN_LIMIT,
    });
    const candidates = entries.map((e) => ({ runId: e.id, score: e.score }));
    const more = candidates.length >= SCAN_LIMIT;
    const states = new Set(filter.states);
    const runs: RunSummaryView[] = [];
    let looked = 0;
    for (let at = 0; at < candidates.length && runs.length < size; at += CHUNK) {
      const chunk = candidates.slice(at, at + CHUNK);
      const views = await this.summaries(chunk.map((c) => c.runId));
      for (const v of views) {
        looked += 1;
        if (v && (!states.size || states.has(v.state)) && (!filter.workflowName || v.workflowName === filter.workflowName)) {
          runs.push(v);
          if (runs.length === size) break;
        }
      }
    }
    const last = candidates[looked - 1];
    const nextPageToken = last && (more || looked < candidates.length) ? encodeCursor({ s: last.score, i: last.runId }) : '';
    return { runs, nextPageToken };
  }

  /**
   * Summaries of runs from their hashes, in one pipeline; undefined for a run that is gone (its
   * index entry is removed) or whose hash does not parse.
   */
  private async summaries(runIds: string[]): Promise<(RunSummaryView | undefined)[]> {
    const { redis, keys } = this.opts;
    const pipe = redis.pipeline();
    for (const id of runIds) pipe.hmget(keys.run(id), ...RUN_FIELDS).hlen(keys.runSteps(id));
    const replies = (await pipe.exec()) ?? [];
    const gone: string[] = [];
    const out = runIds.map((runId, i) => {
      const h = replies[2 * i]?.[1] as (string | null)[] | undefined;
      const steps = Number(replies[2 * i + 1]?.[1] ?? 0) || 0;
      if (!h || h[0] === null) {
        gone.push(runId);
        return undefined;
      }
      const [name, version, state, startedAt, finishedAt, stopReason, open] = h;
      if (!name || name.length > MAX_NAME || !state || !RUN_STATES.has(state)) return undefined;
      return {
        runId,
        workflowName: name,
        version: int(version),
        state: state as RunState,
        startedAtMs: int(startedAt),
        finishedAtMs: int(finishedAt),
        stopReason: (stopReason ?? '').slice(0, MAX_REASON),
        steps,
        openSteps: Math.min(int(open), steps),
      };
    });
    await this.forget(gone);
    return out;
  }

  /**
   * Drops the index entries of runs whose keys expired, checking one slice of the index per
   * call and going on from there the next time (from the oldest again after the end).
   */
  async pruneSlice(): Promise<number> {
    const { redis, keys } = this.opts;
    const ids = await redis.zrange(keys.runIndex, this.pruneAt, this.pruneAt + PRUNE_SLICE - 1);
    if (ids.length < PRUNE_SLICE) this.pruneAt = 0;
    if (ids.length === 0) return 0;
    const pipe = redis.pipeline();
    for (const id of ids) pipe.exists(keys.run(id));
    const replies = (await pipe.exec()) ?? [];
    const gone = ids.filter((_, i) => replies[i]?.[0] == null && replies[i]?.[1] === 0);
    await this.forget(gone);
    if (ids.length === PRUNE_SLICE) this.pruneAt += PRUNE_SLICE - gone.length;
    return gone.length;
  }
}
