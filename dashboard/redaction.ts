/**
 * What the read_only role sees of task data: every value of an executor's `headers` (http) and
 * `env` (command, container, slurm) replaced by REDACTED, and so is the value of any key, at any
 * depth (payload, workflow inputs, whatever an executor spec grows), whose name matches one of
 * http.dashboard.secretPayloadKeys. Admins see everything. `headers` and `env` are redacted
 * whatever shape they come in (job data is whatever is in Redis): an object's values, a list's
 * entries ("NAME=value" keeps its name), or a single value. A `url` keeps everything but the
 * password of its user info (`https://user:[redacted]@host/`).
 *
 * A task's result and progress are redacted the same way (an echoing handler hands its payload
 * back as its result, secrets and all).
 *
 * Bull Board's JSON API is where its UI gets job data, so the redaction is an Express layer over
 * that API (redactBoardApi): whatever Bull Board renders or a script reads passes through it.
 */
import type { NextFunction, Request, Response } from 'express';
import { roleOf } from './dashboard-auth.js';

export const REDACTED = '[redacted]';

/** Keys whose object value holds only secrets' values (header values, environment values). */
const ALL_VALUES_SECRET = new Set(['headers', 'env']);

export type SecretKeyTest = (key: string) => boolean;

/** A test of key names from http.dashboard.secretPayloadKeys (case-insensitive regular expressions). */
export function secretKeyTest(patterns: readonly string[]): SecretKeyTest {
  const res = patterns.map((p) => new RegExp(p, 'i'));
  return (key) => res.some((re) => re.test(key));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every value of a `headers` or `env` field, of any shape. */
function redactAllValues(v: unknown): unknown {
  if (isPlainObject(v)) return Object.fromEntries(Object.keys(v).map((name) => [name, REDACTED]));
  if (Array.isArray(v))
    return v.map((e) => (typeof e === 'string' && /^[A-Za-z_][A-Za-z0-9_]*=/.test(e) ? `${e.slice(0, e.indexOf('='))}=${REDACTED}` : REDACTED));
  return REDACTED;
}

/** A URL with the password of its user info replaced; anything that does not parse as a URL with a password stays. */
function redactUrlPassword(url: string): string {
  if (!url.includes('@')) return url;
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = 'redacted';
    return u.toString().replace(':redacted@', `:${REDACTED}@`);
  } catch {
    // Not one URL (a Redis Cluster's seeds, redis://user:pw@host1:1,host2:2): the user info's
    // password is still one.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]+@/i, `$1${REDACTED}@`);
  }
}

/** A copy of `value` with secrets replaced (see the module comment). */
export function redactSecrets(value: unknown, isSecret: SecretKeyTest): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, isSecret));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecret(k)) out[k] = REDACTED;
    else if (ALL_VALUES_SECRET.has(k) && v !== null && v !== undefined) out[k] = redactAllValues(v);
    else if (k === 'url' && typeof v === 'string') out[k] = redactUrlPassword(v);
    else out[k] = redactSecrets(v, isSecret);
  }
  return out;
}

/** JSON text with secrets redacted; text that is not JSON stays as it is. */
export function redactJsonText(text: string, isSecret: SecretKeyTest): string {
  if (text === '') return text;
  try {
    return JSON.stringify(redactSecrets(JSON.parse(text), isSecret));
  } catch {
    return text;
  }
}

interface BoardJob {
  data?: unknown;
}

/** What a job carries that can hold task data: its data, and what its task handed back. */
const BOARD_JOB_DATA = ['data', 'returnValue', 'progress'] as const;

/**
 * Job data, return values and progress in Bull Board's API answers: the queue list
 * (`queues[].jobs[]`), one job (`job`), and job schedulers' templates (`schedulers[].template.data`).
 */
function redactBoardBody(body: unknown, isSecret: SecretKeyTest): unknown {
  if (!isPlainObject(body)) return body;
  const job = (j: BoardJob): BoardJob => {
    if (!isPlainObject(j)) return j;
    const out: Record<string, unknown> = { ...j };
    for (const k of BOARD_JOB_DATA) if (k in j) out[k] = redactSecrets(j[k], isSecret);
    return out;
  };
  const out: Record<string, unknown> = { ...body };
  if (Array.isArray(body.queues)) {
    out.queues = body.queues.map((q: unknown) => (isPlainObject(q) && Array.isArray(q.jobs) ? { ...q, jobs: (q.jobs as BoardJob[]).map(job) } : q));
  }
  if (isPlainObject(body.job)) out.job = job(body.job);
  if (Array.isArray(body.schedulers)) {
    out.schedulers = body.schedulers.map((s: unknown) => (isPlainObject(s) && isPlainObject(s.template) ? { ...s, template: job(s.template) } : s));
  }
  return out;
}

/** Express middleware over Bull Board's /api: a read_only caller's JSON answers are redacted. */
export function redactBoardApi(isSecret: SecretKeyTest) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (roleOf(res) !== 'admin') {
      const json = res.json.bind(res);
      res.json = (body: unknown) => json(redactBoardBody(body, isSecret));
    }
    next();
  };
}
