/**
 * Cross-site request forgery: where a mutating dashboard request (anything but GET, HEAD and
 * OPTIONS) comes from. Browsers send Origin with every such request, and Sec-Fetch-Site too
 * (all current ones); a request carrying neither is not from a current browser, and is let
 * through only with an Authorization header (a script with a token or password), never on the
 * session cookie alone (DashboardAuth decides that).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { hostName } from './host-check.js';

export type RequestSite = 'same' | 'cross' | 'unknown';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const isMutating = (method: string): boolean => !SAFE_METHODS.has(method.toUpperCase());

/**
 * "same" when Origin is this server as the request reached it (scheme and Host) or one of
 * `publicNames` (behind a proxy the scheme and port can differ), or, without Origin, when
 * Sec-Fetch-Site is same-origin or none; "cross" otherwise; "unknown" with neither header.
 */
export function requestSite(headers: IncomingHttpHeaders, scheme: 'http' | 'https', publicNames: readonly string[]): RequestSite {
  const origin = headers.origin;
  if (origin !== undefined) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return 'cross'; // "null" (sandboxed frames, file: pages) lands here too
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'cross';
    const ownHost = (headers.host ?? '').toLowerCase().replace(scheme === 'https' ? /:443$/ : /:80$/, '');
    if (url.protocol === `${scheme}:` && url.host.toLowerCase() === ownHost) return 'same';
    return publicNames.some((p) => p.toLowerCase() === url.hostname.toLowerCase()) && hostName(headers.host) === url.hostname.toLowerCase() ? 'same' : 'cross';
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? 'same' : 'cross';
  return 'unknown';
}
