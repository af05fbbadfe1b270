/**
 * The frame of every process entry point: a bad configuration ends the process with its
 * message and exit code 2 (a usage error, not a crash); anything else propagates as a crash.
 */
import { ConfigError } from '../config/config.js';

export async function runMain(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
