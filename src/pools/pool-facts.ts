/**
 * What a pool publishes about itself, and the validated reading of it.
 *
 * Contract of the pool's hash `{<prefix>}:pool:<id>` (written by each heartbeat, kept
 * `pool.goneListedMs` plus three heartbeats after the last one):
 *   host, pid, version       where and what runs
 *   classes                  JSON {class: concurrency}
 *   busy                     tasks running over all classes
 *   busy_by_class            JSON {class: tasks running}
 *   metrics                  host:port of its /metrics
 *   at, started              last heartbeat and start time, ms since the epoch
 *   draining                 "" | "stay" | "exit": the drain the pool has applied
 *   runners                  JSON [{name, address, state, inFlight, capacity, tasks, detail}]:
 *                            the task runners the pool calls, as it sees them (PoolRunner)
 *   stopped                  ms it left cleanly (written by its farewell), absent before
 * Redis contents are not trusted: a reader bounds every field and skips an entry that does not
 * parse, rather than failing the whole list.
 */

export type DrainMode = 'stay' | 'exit';

/** One task runner as a pool sees it (workers/executors/runner-targets.ts). */
export interface PoolRunner {
  name: string;
  address: string;
  state: 'unknown' | 'up' | 'down';
  inFlight: number;
  capacity: number;
  /** The task names it serves (at most MAX_RUNNER_TASKS kept). */
  tasks: string[];
  /** Its own description, or why it is down. */
  detail: string;
}

export interface PoolFacts {
  host: string;
  pid: number;
  version: string;
  /** Concurrency per class. */
  classes: Record<string, number>;
  busy: number;
  busyByClass: Record<string, number>;
  metricsAddr: string;
  lastHeartbeatMs: number;
  startedAtMs: number;
  draining: DrainMode | '';
  stoppedAtMs: number;
  runners: PoolRunner[];
}

/** Most classes one pool entry may list. */
const MAX_CLASSES = 200;
const CLASS_NAME = /^[a-z0-9_]{1,100}$/;
/** Largest slot count believed (a pool of more is malformed). */
const MAX_SLOTS = 1_000_000;

/** Every field of the hash, in the order readers ask for them. */
export const POOL_FIELDS = [
  'host',
  'pid',
  'version',
  'classes',
  'busy',
  'busy_by_class',
  'metrics',
  'at',
  'started',
  'draining',
  'stopped',
  'runners',
] as const;

/** Most runners, and task names per runner, one pool entry may list. */
const MAX_RUNNERS = 100;
const MAX_RUNNER_TASKS = 50;
const RUNNER_STATES: ReadonlySet<string> = new Set(['unknown', 'up', 'down']);

export function encodePoolFacts(f: Omit<PoolFacts, 'stoppedAtMs'>): Record<string, string> {
  return {
    host: f.host,
    pid: String(f.pid),
    version: f.version,
    classes: JSON.stringify(f.classes),
    busy: String(f.busy),
    busy_by_class: JSON.stringify(f.busyByClass),
    metrics: f.metricsAddr,
    at: String(f.lastHeartbeatMs),
    started: String(f.startedAtMs),
    draining: f.draining,
    runners: JSON.stringify(f.runners.slice(0, MAX_RUNNERS).map((r) => ({ ...r, tasks: r.tasks.slice(0, MAX_RUNNER_TASKS) }))),
  };
}

/** The runners of a pool's hash; a malformed one makes the whole entry unreadable, as any field. */
function runnerList(v: string | undefined): PoolRunner[] {
  if (v === undefined || v === '') return [];
  if (v.length > 256 * 1024) throw new Error('too long');
  const parsed: unknown = JSON.parse(v);
  if (!Array.isArray(parsed) || parsed.length > MAX_RUNNERS) throw new Error('not a runner list');
  return parsed.map((r: unknown): PoolRunner => {
    if (!r || typeof r !== 'object') throw new Error('bad runner');
    const o = r as Record<string, unknown>;
    const str = (x: unknown, max: number) => {
      if (typeof x !== 'string' || x.length > max) throw new Error('bad runner field');
      return x;
    };
    const num = (x: unknown) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > MAX_SLOTS) throw new Error('bad runner count');
      return x;
    };
    const state = str(o.state, 10);
    if (!RUNNER_STATES.has(state)) throw new Error('bad runner state');
    if (!Array.isArray(o.tasks) || o.tasks.length > MAX_RUNNER_TASKS) throw new Error('bad runner tasks');
    return {
      name: str(o.name, 64),
      address: str(o.address, 300),
      state: state as PoolRunner['state'],
      inFlight: num(o.inFlight),
      capacity: num(o.capacity),
      tasks: o.tasks.map((t) => str(t, 128)),
      detail: str(o.detail, 300),
    };
  });
}

function boundedString(v: string | undefined, max: number): string {
  if (v === undefined) return '';
  if (v.length > max) throw new Error('too long');
  return v;
}

function count(v: string | undefined, max: number, required = false): number {
  if (v === undefined || v === '') {
    if (required) throw new Error('missing');
    return 0;
  }
  if (!/^\d{1,16}$/.test(v)) throw new Error('not a count');
  const n = Number(v);
  if (n > max) throw new Error('out of range');
  return n;
}

function classMap(v: string | undefined, required: boolean): Record<string, number> {
  if (v === undefined || v === '') {
    if (required) throw new Error('missing');
    return {};
  }
  if (v.length > 64 * 1024) throw new Error('too long');
  const parsed: unknown = JSON.parse(v);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
  const entries = Object.entries(parsed);
  if (entries.length > MAX_CLASSES) throw new Error('too many classes');
  const out: Record<string, number> = {};
  for (const [name, n] of entries) {
    if (!CLASS_NAME.test(name) || typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_SLOTS) throw new Error('bad class entry');
    out[name] = n;
  }
  return out;
}

/** The facts of a pool's hash, or undefined when the hash is missing or malformed. */
export function parsePoolFacts(h: Record<string, string>): PoolFacts | undefined {
  if (!h || Object.keys(h).length === 0) return undefined;
  try {
    const draining = h.draining ?? '';
    if (draining !== '' && draining !== 'stay' && draining !== 'exit') throw new Error('bad draining');
    return {
      host: boundedString(h.host, 255),
      pid: count(h.pid, 2 ** 31 - 1),
      version: boundedString(h.version, 64),
      classes: classMap(h.classes, true),
      busy: count(h.busy, MAX_SLOTS),
      busyByClass: classMap(h.busy_by_class, false),
      metricsAddr: boundedString(h.metrics, 300),
      lastHeartbeatMs: count(h.at, Number.MAX_SAFE_INTEGER, true),
      startedAtMs: count(h.started, Number.MAX_SAFE_INTEGER),
      draining,
      stoppedAtMs: count(h.stopped, Number.MAX_SAFE_INTEGER),
      runners: runnerList(h.runners),
    };
  } catch {
    return undefined;
  }
}
