/**
 * The operator app's last word on an error a route did not turn into an answer (a job in Redis
 * whose JSON does not parse, a Redis reply of the wrong type, a bug). Express's own handler
 * answers with the error's stack as an HTML page unless NODE_ENV is "production": that shows
 * the server's paths and code to whoever sent the request and, for a route fed by Redis
 * contents, lets anyone who can write to Redis choose what an operator's browser is sent. This
 * one logs the error (with its stack, for the operator's log only) and answers a short JSON
 * body that says where to look, never the stack or the message.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../src/logging/logger.js';

export function errorHandler(log?: Logger) {
  // Express tells an error handler by its four parameters: `_next` must stay.
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    // Errors Express raises itself (a bad URL encoding, a body too large) carry a 4xx status of their own.
    const own = (err as { status?: unknown } | null)?.status;
    const status = typeof own === 'number' && own >= 400 && own < 500 ? own : 500;
    if (status === 500) log?.error({ err, method: req.method, path: req.path }, 'dashboard request failed');
    else log?.debug({ err, method: req.method, path: req.path }, 'dashboard request refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json({
      error:
        status === 500
          ? 'internal error: the request could not be answered (the orchestrator log has the cause)'
          : status === 404
            ? 'not found'
            : 'bad request',
    });
  };
}
