/**
 * A set of bearer tokens, checked in constant time: each token is kept only as its SHA-256
 * digest, a presented token is hashed the same way, and the digests (always 32 bytes, so
 * timingSafeEqual applies) are compared against every entry without stopping at a match. How
 * long a check takes says nothing about how much of a token was right, nor which entry matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class TokenSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenSetError';
  }
}

export class TokenSet<Tag = true> {
  private readonly entries: { digest: Buffer; tag: Tag }[];

  constructor(tokens: Iterable<[token: string, tag: Tag]>) {
    this.entries = [...tokens].map(([token, tag]) => ({ digest: digest(token), tag }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The tag of the matching token, or undefined. */
  match(presented: string): Tag | undefined {
    const d = digest(presented);
    let found: Tag | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, d) && found === undefined) found = e.tag;
    }
    return found;
  }
}

/** One configured token: its role and, optionally, the only task classes it may act on and its own submit rate. */
export interface TokenEntry<R extends string = string> {
  token: string;
  role: R;
  classes?: readonly string[];
  /** Its grpc.submitRateLimit (the orchestrator's tokens only). */
  submitRateLimit?: { perSecond: number; burst: number };
}

const TOKEN = /^\S{16,}$/;
const CLASS_NAME = /^[a-z0-9_]+$/;

export interface ReadTokensFileOptions<R extends string> {
  /** The roles a line may name. */
  roles: readonly R[];
  /** Whether a line may end with `classes=a,b` and `submitRateLimit=PER_SECOND/BURST` (the orchestrator's tokens, not the env-manager's). */
  classes: boolean;
}

/**
 * Tokens from a file, one per line: `<token> <role> [classes=cpu_short,gpu] [submitRateLimit=500/5000]`; blank lines and
 * lines starting with # are skipped. A line without a role is refused, never given one: a file
 * of bare tokens from before roles existed must be edited, not read as more (or less) than the
 * operator meant. Messages name the file and line, never a token. Read once, at start.
 */
export function readTokensFile<R extends string>(file: string, opts: ReadTokensFileOptions<R>): TokenEntry<R>[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // The message names the file, never its contents.
    throw new TokenSetError(`tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const entries: TokenEntry<R>[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fail = (why: string) => new TokenSetError(`tokens file ${file} line ${i + 1}: ${why}`);
    const [token, role, ...rest] = line.split(/\s+/) as [string, string | undefined, ...string[]];
    if (!TOKEN.test(token)) throw fail('a token is at least 16 characters without spaces');
    if (role === undefined) throw fail(`no role: expected "<token> <role>", the role one of ${opts.roles.join(', ')}`);
    if (!(opts.roles as readonly string[]).includes(role)) throw fail(`role "${role}" is not one of ${opts.roles.join(', ')}`);
    const entry: TokenEntry<R> = { token, role: role as R };
    for (const field of rest) {
      const rate = /^submitRateLimit=(.*)$/.exec(field);
      if (rate && opts.classes && !entry.submitRateLimit) {
        const parts = /^(\d+(?:\.\d+)?)\/([1-9]\d*)$/.exec(rate[1]!);
        if (!parts) throw fail('submitRateLimit= takes PER_SECOND/BURST, e.g. submitRateLimit=500/5000');
        entry.submitRateLimit = { perSecond: Number(parts[1]), burst: Number(parts[2]) };
        continue;
      }
      const m = /^classes=(.*)$/.exec(field);
      if (!m || !opts.classes || entry.classes)
        throw fail(`unexpected "${field}" after the role${opts.classes ? ' (only classes=a,b and submitRateLimit=PER_SECOND/BURST may follow)' : ''}`);
      const classes = m[1]!.split(',').filter(Boolean);
      const bad = classes.find((c) => !CLASS_NAME.test(c));
      if (!classes.length || bad !== undefined) throw fail(`classes= takes task class names separated by commas${bad ? `, not "${bad}"` : ''}`);
      entry.classes = classes;
    }
    entries.push(entry);
  });
  return entries;
}

/** The value of an `authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** The tokens listed in config plus those of its tokens file (when set). */
export function configuredTokens<R extends string>(
  auth: { tokens: readonly TokenEntry<R>[]; tokensFile: string },
  opts: ReadTokensFileOptions<R>,
): TokenEntry<R>[] {
  return [...auth.tokens, ...(auth.tokensFile ? readTokensFile(auth.tokensFile, opts) : [])];
}
