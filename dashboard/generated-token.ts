/**
 * The dashboard's generated admin token, for a setup with no users and no tokens configured
 * (as Jupyter does): made at the first start (32 random bytes, base64url), kept in one file of
 * mode 0600 in a folder created 0700, and reused by every later start and by every process that
 * serves the dashboard with the same file (the orchestrator and src/bin/dashboard.ts).
 *
 * The file appears whole or not at all: the token is written to a private temporary file and
 * hard-linked into place, which fails when another process got there first, and then theirs is
 * read. A file others may read (any group or other permission bit) is refused, as ssh refuses a
 * readable key: the token grants admin.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../src/config/config.js';

export interface GeneratedToken {
  token: string;
  /** Absolute path of the file it is kept in. */
  file: string;
  /** Made by this call (first start), not read from an earlier one. */
  created: boolean;
}

/** Tokens shorter than this in the file are refused as damaged. */
const MIN_TOKEN_CHARS = 32;

function readToken(file: string): string {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(
      `http.dashboard.generatedTokenFile ${file}: mode ${mode.toString(8)} lets other users read the admin token; chmod 600 it or delete it to have a new one made`,
    );
  }
  const token = readFileSync(file, 'utf8').trim();
  if (!/^\S+$/.test(token) || token.length < MIN_TOKEN_CHARS) {
    throw new ConfigError(`http.dashboard.generatedTokenFile ${file}: not a token of ${MIN_TOKEN_CHARS} or more characters; delete it to have a new one made`);
  }
  return token;
}

/** The token kept in `file`, made first when there is none. Throws ConfigError naming the file. */
export function loadOrCreateDashboardToken(path: string): GeneratedToken {
  const file = resolve(path);
  try {
    return { token: readToken(file), file, created: false };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new ConfigError(`http.dashboard.generatedTokenFile ${file}: cannot read it (${code ?? 'error'})`);
  }
  const token = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // 0700 only when we make the folder: an operator's existing folder keeps the mode they chose.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw new ConfigError(
      `http.dashboard.generatedTokenFile ${file}: cannot create it (${(err as NodeJS.ErrnoException).code ?? 'error'}); point it at a writable folder or configure http.dashboard.users or tokens`,
    );
  }
  try {
    linkSync(tmp, file);
    return { token, file, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { token: readToken(file), file, created: false };
  } finally {
    unlinkSync(tmp);
  }
}
