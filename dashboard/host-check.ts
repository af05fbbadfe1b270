/**
 * DNS rebinding: a web page on a name its owner controls can point that name at 127.0.0.1 and
 * then talk to the dashboard as "same origin". The browser still sends the page's name in the
 * Host header, so the dashboard answers only Host headers naming loopback (`localhost`), an IP
 * address (a rebinding page cannot make the browser send one: its URL has a name), or one of
 * http.publicNames; anything else, or no Host at all, is refused with 421.
 */
import type { NextFunction, Request, Response } from 'express';
import { isIP } from 'node:net';

/** The host name of a Host header ("name:port", "[v6]:port", "name"), lower-cased, or undefined. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const m = /^\[([0-9A-Fa-f:.]+)\](?::\d+)?$/.exec(host) ?? /^([^:[\]]+)(?::\d+)?$/.exec(host);
  return m ? m[1]!.toLowerCase().replace(/\.$/, '') : undefined;
}

/** Whether the dashboard answers requests for this Host header. */
export function allowedHost(host: string | undefined, publicNames: readonly string[]): boolean {
  const name = hostName(host);
  if (name === undefined) return false;
  return name === 'localhost' || isIP(name) !== 0 || publicNames.some((p) => p.toLowerCase() === name);
}

/** Express middleware: 421 for a Host that is not ours. */
export function hostGuard(publicNames: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (allowedHost(req.headers.host, publicNames)) {
      next();
      return;
    }
    res.status(421).type('text/plain').send('this server does not answer to that Host name (add it to http.publicNames if it is yours)\n');
  };
}
