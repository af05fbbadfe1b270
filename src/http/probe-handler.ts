/** A bare node:http handler over ProbeRoutes, for processes without the dashboard (pools). */
import type { RequestListener } from 'node:http';
import type { ProbeRoutes } from '../monitoring/probe-routes.js';

export function probeHandler(routes: ProbeRoutes): RequestListener {
  return (req, res) => {
    const route = req.method === 'GET' || req.method === 'HEAD' ? routes.route(new URL(req.url ?? '/', 'http://x').pathname) : undefined;
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void Promise.resolve(route()).then(
      (r) => res.writeHead(r.status, { 'content-type': r.contentType }).end(req.method === 'HEAD' ? undefined : r.body),
      () => res.writeHead(500).end(),
    );
  };
}
