import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory that command tasks can read: under root the suites' pools run raw commands
 * as nobody (TEST_CONFIG_TOML), and mkdtemp makes directories only their owner can enter.
 */
export function taskReadableTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}
