/**
 * Bull Board's job list takes its page size from the caller (`jobsPerPage` on GET /api/queues)
 * with a minimum and no maximum: one request with jobsPerPage=10000000, from any role, makes
 * the orchestrator load every retained job of a queue, data and all, into memory and send it
 * back. Its UI never asks for more than 300 (its settings' maximum); this Express layer over its
 * API answers 400 naming the field for anything above that (or a repeated field), before Bull
 * Board reads a job.
 */
import type { NextFunction, Request, Response } from 'express';

/** The largest page Bull Board's own settings let a user choose. */
export const MAX_JOBS_PER_PAGE = 300;

export function boardPageSize(req: Request, res: Response, next: NextFunction): void {
  const v: unknown = (req.query as Record<string, unknown>).jobsPerPage;
  if (v !== undefined && (typeof v !== 'string' || !(Number(v) <= MAX_JOBS_PER_PAGE))) {
    res.status(400).json({ error: `jobsPerPage: at most ${MAX_JOBS_PER_PAGE} jobs a page`, field: 'jobsPerPage' });
    return;
  }
  next();
}
