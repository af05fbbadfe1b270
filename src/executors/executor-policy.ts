/**
 * What the executors may do, from the config's `executors` section; each class's own rules are
 * its ClassPolicy (queues/task-classes.ts). Checked twice: when a task is submitted, so that a
 * task the policy forbids is refused with its field named, and again by the pool that runs it,
 * against the pool's own config, since a pool may be configured more strictly than the front
 * end, and a job can reach Redis by other ways (written directly, added through Bull Board, or
 * queued under an older policy).
 */
import type { CommandTemplate } from './command-template.js';

export interface ExecutorPolicy {
  /**
   * Normalised URL prefixes (see normaliseHttpUrl) the http executor may call. Empty: the http
   * executor calls nothing.
   */
  httpAllowedUrlPrefixes: readonly string[];
  /** Whether a container task may ask for a network. */
  containerAllowNetwork: boolean;
  /** Normalised absolute host directories under which a container may bind paths. Empty: none. */
  containerAllowedMounts: readonly string[];
  /** Whether the built-in test handlers (fail, crash, spin) may run. */
  testHandlers: boolean;
  /** Named commands of the command executor. */
  commands: ReadonlyMap<string, CommandTemplate>;
  /** Named scripts of the slurm executor. */
  slurmScripts: ReadonlyMap<string, CommandTemplate>;
  /** Names of the task runners configured (executors.runner.runners). */
  runners: ReadonlySet<string>;
  /** What a container task that sets no limit gets (before the class's ceilings). */
  containerDefaults: { memoryBytes: number; cpuMillis: number; pidsLimit: number };
}

/** Nothing beyond what is safe without configuration: no http calls, no container network, no named commands. */
export const DEFAULT_EXECUTOR_POLICY: ExecutorPolicy = Object.freeze({
  httpAllowedUrlPrefixes: Object.freeze([]) as readonly string[],
  containerAllowNetwork: false,
  containerAllowedMounts: Object.freeze([]) as readonly string[],
  testHandlers: false,
  commands: new Map(),
  slurmScripts: new Map(),
  runners: new Set<string>(),
  containerDefaults: Object.freeze({ memoryBytes: 1 << 30, cpuMillis: 1000, pidsLimit: 256 }),
});

/**
 * Whether an image reference matches one of the patterns: exact, or `*` standing for any run
 * of characters (so "registry.local/team/*" allows every image of that namespace, with any
 * tag, and "busybox:*" any tag of busybox).
 */
export function imageAllowed(image: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.includes('*') ? globRegExp(p).test(image) : p === image));
}

const globCache = new Map<string, RegExp>();
function globRegExp(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp(
      `^${pattern
        .split('*')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    globCache.set(pattern, re);
  }
  return re;
}

/**
 * The WHATWG form of an http(s) URL (lower-case scheme and host, default port dropped, `..` and
 * `%2e%2e` segments resolved), or undefined when `text` is not one. The http executor calls
 * exactly this form, so the allow-list check and the request see the same URL.
 */
export function normaliseHttpUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.href;
}

/**
 * Whether a normalised URL starts with one of the normalised prefixes. Both carry at least
 * `scheme://host[:port]/`, so a prefix never matches another host (`http://a/` does not match
 * `http://a.evil/`) or port; within the path the match is textual, so a prefix meant as a
 * directory should end with `/`.
 */
export function httpUrlAllowed(normalisedUrl: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => normalisedUrl.startsWith(p));
}

/**
 * Whether a normalised absolute path is one of the directories or lies below one. The match is
 * by path components: `/srv/data` allows `/srv/data/x`, not `/srv/database`. Symbolic links are
 * not resolved here (the submitter cannot see the pool's filesystem); the pool resolves them
 * before it checks again.
 */
export function pathAllowed(normalisedPath: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => normalisedPath === d || normalisedPath.startsWith(d === '/' ? '/' : `${d}/`));
}

/** The normalised form of an absolute path (no `.`, `..`, `//` or trailing `/`), or undefined when it is not absolute. */
export function normaliseAbsolutePath(p: string): string | undefined {
  if (!p.startsWith('/') || p.includes('\0')) return undefined;
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** The part of a URL that is safe to show in errors and logs: no credentials, query or fragment. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}
