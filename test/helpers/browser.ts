/**
 * Headless Chromium for the dashboard suites: Debian's `chromium` package driven by
 * playwright-core (no browser download). Missing on a laptop, the suites skip with a message;
 * under CI=true they fail, since .ci/run installs it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/paths.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go (gitignored). */
export const ARTIFACTS_DIR = join(PROJECT_ROOT, 'test', 'artifacts');

export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (Debian package "chromium"); CI must have it`);
  process.stderr.write(`${CHROMIUM} not found: skipping the browser tests (apt-get install chromium)\n`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the networking flags Chromium keeps trying to reach Google's hosts, which this
    // kind of machine refuses (see the machine notes); --no-sandbox because tests run as root.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
