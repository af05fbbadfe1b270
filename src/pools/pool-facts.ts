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
 *   stopped                  ms it left cleanly (written by its farewell), absent before
 * Redis contents are not trusted: a reader bounds every field and skips an entry that does not
 * parse, rather than failing the whole list.
 */

export type DrainMode = 'stay' | 'exit';

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
}

/** Most classes one pool entry may list. */
const MAX_CLASSES = 200;
const CLASS_NAME = /^[a-z0-9_]{1,100}$/;
/** Largest slot count believed (a pool of more is malformed). */
const MAX_SLOTS = 1_000_000;

/** Every field of the hash, in the order readers ask for them. */
export const POOL_FIELDS = ['host', 'pid', 'version', 'classes', 'busy', 'busy_by_class', 'metrics', 'at', 'started', 'draining', 'stopped'] as const;

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
  };
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
    };
  } catch {
    return undefined;
  }
}
