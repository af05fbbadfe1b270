/**
 * Headers on every response of the operator app. The content security policy lets pages run
 * only scripts, styles, workers and requests from this origin: Bull Board's UI is prebuilt
 * scripts and stylesheets under its own path plus inline style attributes (React), so styles
 * need 'unsafe-inline'; nothing else does. Bull Board's page also links Google Fonts, which the
 * policy blocks on purpose (the dashboard makes no requests to third parties; the UI falls back
 * to local fonts). Framing is refused both ways (frame-ancestors and X-Frame-Options for older
 * browsers), so no other site can overlay the buttons (clickjacking).
 */
import type { NextFunction, Request, Response } from 'express';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
  });
  next();
}
