/**
 * What the read_only role sees of task data: every value of an executor's `headers` (http) and
 * `env` (command, container, slurm) replaced by REDACTED, and so is the value of any key, at any
 * depth (payload, workflow inputs, whatever an executor spec grows), whose name matches one of
 * http.dashboard.secretPayloadKeys. Admins see everything. `headers` and `env` are redacted
 * whatever shape they come in (job data is whatever is in Redis): an object's values, a list's
 * entries ("NAME=value" keeps its name), or a single value. A `url` keeps everything but the
 * password of its user info (`https://user:[redacted]@host/`).
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
    return url;
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

interface BoardJob {
  data?: unknown;
}

/**
 * Job data in Bull Board's API answers: the queue list (`queues[].jobs[]`), one job (`job`),
 * and job schedulers' templates (`schedulers[].template.data`).
 */
function redactBoardBody(body: unknown, isSecret: SecretKeyTest): unknown {
  if (!isPlainObject(body)) return body;
  const job = (j: BoardJob): BoardJob => (isPlainObject(j) && 'data' in j ? { ...j, data: redactSecrets(j.data, isSecret) } : j);
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
