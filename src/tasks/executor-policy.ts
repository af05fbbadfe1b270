/**
 * What the executors may do, from the config's `executors` section. Checked twice: when a task
 * is submitted, so that a task the policy forbids is refused with its field named, and again by
 * the pool that runs it, since a pool may be configured more strictly than the front end (or a
 * task may have been queued under an older policy).
 */

export interface ExecutorPolicy {
  /**
   * Normalised URL prefixes (see normaliseHttpUrl) the http executor may call. Empty: the http
   * executor calls nothing.
   */
  httpAllowedUrlPrefixes: readonly string[];
  /** Whether a container task may ask for a network. */
  containerAllowNetwork: boolean;
  /** Normalised absolute host directories under which a container may bind paths. Empty: none. */
  containerAllowedMounts?: readonly string[];
}

/** Nothing beyond what is safe without configuration: no http calls, no container network. */
export const DEFAULT_EXECUTOR_POLICY: ExecutorPolicy = Object.freeze({
  httpAllowedUrlPrefixes: Object.freeze([]) as readonly string[],
  containerAllowNetwork: false,
});

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
