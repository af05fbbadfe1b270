/**
 * Checks that several executor kinds share (argv, environment, named commands and scripts),
 * and what a kind's check is given besides its spec.
 */
import type { ClassPolicy } from './class-policy.js';
import { fillCommandTemplate } from './command-template.js';
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import type { ExecutorPolicy } from './executor-policy.js';
import type { TemplateMapper } from './executor-module.js';

/** What one executor check needs besides the spec. */
export interface ExecutorCheckContext {
  policy: ExecutorPolicy;
  /** The task's class: its name (for messages) and its policy (queues/task-classes.ts). */
  cls: { readonly name: string; readonly policy: ClassPolicy };
  payload: Record<string, string>;
  /** The attempt timeout the task will run under (its own or the class default). */
  timeoutMs: number;
  /** Field of the task's timeout, for the container ceiling's message. */
  timeoutField: string;
}

export function checkInt(field: string, v: number | undefined, min: number, max: number): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < min || n > max) throw invalidArgument(field, `must be an integer from ${min} to ${max}, got ${v}`);
  return n;
}

/** A copy with its keys sorted, so that maps given in another order digest the same. */
export function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(r)
      .sort()
      .map((k) => [k, r[k]!]),
  );
}

export function checkEnv(field: string, env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalidArgument(field, `"${k.slice(0, 100).replace(/\0/g, '\\0')}" is not an environment variable name`);
    // The environment is handed to execve as NUL-terminated strings: a NUL would cut the value.
    if (typeof v !== 'string' || v.includes('\0')) throw invalidArgument(`${field}.${k}`, 'must be a string without NUL');
  }
}

export function checkArgv(field: string, argv: readonly string[]): void {
  const i = argv.findIndex((a) => a.includes('\0'));
  if (i >= 0) throw invalidArgument(`${field}[${i}]`, 'must not contain NUL');
}

export const listed = (items: readonly string[]): string => (items.length === 0 ? 'none' : items.join(', '));

/** Checks a named command or script: defined, allowed for the class, its values safe. */
export function checkNamed(
  f: string,
  name: string,
  args: Record<string, string>,
  payload: Record<string, string>,
  defined: ExecutorPolicy['commands'],
  allowed: readonly string[] | undefined,
  allowedKey: string,
  definedKey: string,
): void {
  const template = defined.get(name);
  if (!template) throw invalidArgument(`${f}.name`, `"${name.slice(0, 100)}" is not defined here (${definedKey}: ${listed([...defined.keys()])})`);
  if (allowed && !allowed.includes(name)) throw permissionDenied(`${f}.name`, `"${name}" is not allowed for this class (${allowedKey}: ${listed(allowed)})`);
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'string') throw invalidArgument(`${f}.args.${k}`, 'must be a string');
  }
  fillCommandTemplate(template, args, payload, f, name);
}

/** A string map with each value replaced by `fn`, the field named `${prefix}.KEY` (templated env and args). */
export const mapEnv = (prefix: string, env: Record<string, string>, fn: TemplateMapper): Record<string, string> =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fn(`${prefix}.${k}`, v)]));
