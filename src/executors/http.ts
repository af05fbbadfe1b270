/** The http executor: POST (PUT, PATCH) the task as JSON to an allowed URL (workers/executors/http.ts calls it). */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import { httpUrlAllowed, normaliseHttpUrl, type ExecutorPolicy } from './executor-policy.js';
import type { ExecutorModule } from './executor-module.js';
import type { HttpExecutorSpec } from './executor-spec.js';
import { sortedRecord } from './spec-checks.js';

export const HTTP_METHODS: readonly string[] = ['POST', 'PUT', 'PATCH'];
/** Header names the http executor sets itself, or that would break the request's framing. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function checkHttp(field: string, e: HttpExecutorSpec, policy: ExecutorPolicy): HttpExecutorSpec {
  const url = normaliseHttpUrl(e.url);
  if (url === undefined) throw invalidArgument(`${field}.http.url`, `"${e.url.slice(0, 200)}" is not an http:// or https:// URL`);
  if (!httpUrlAllowed(url, policy.httpAllowedUrlPrefixes)) {
    const allowed = policy.httpAllowedUrlPrefixes.length === 0 ? 'none is configured' : policy.httpAllowedUrlPrefixes.join(', ');
    throw permissionDenied(`${field}.http.url`, `"${url.slice(0, 200)}" does not start with an allowed prefix (executors.http.allowedUrlPrefixes: ${allowed})`);
  }
  const method = e.method === '' ? 'POST' : e.method;
  if (!HTTP_METHODS.includes(method)) throw invalidArgument(`${field}.http.method`, `must be one of ${HTTP_METHODS.join(', ')}, got "${method.slice(0, 20)}"`);
  for (const [k, v] of Object.entries(e.headers)) {
    if (!HEADER_NAME_RE.test(k)) throw invalidArgument(`${field}.http.headers`, `"${k.slice(0, 100)}" is not a header name`);
    const lower = k.toLowerCase();
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-orchestrator-')) throw invalidArgument(`${field}.http.headers`, `"${k}" is set by the executor`);
    if (/[\r\n\0]/.test(v)) throw invalidArgument(`${field}.http.headers`, `the value of "${k}" contains a line break or NUL`);
  }
  return { kind: 'http', url, method, headers: sortedRecord(e.headers) };
}

export const httpExecutor = {
  kind: 'http',
  check: (field, spec, c) => checkHttp(field, spec, c.policy),
  fromPb: (v) => ({ kind: 'http', url: v.url, method: v.method, headers: v.headers }),
  toPb: (e) => ({ url: e.url, method: e.method, headers: e.headers }),
  // Only the payload is templated for http tasks (README "Workflows"); the URL and headers are as submitted.
  mapTemplated: (e) => e,
} as const satisfies ExecutorModule<'http'>;
