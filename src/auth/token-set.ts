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

/**
 * Tokens from a file: one per line; blank lines and lines starting with # are skipped, spaces
 * around a token are not part of it. The file is read once, at start.
 */
export function readTokensFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // The message names the file, never its contents.
    throw new TokenSetError(`tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** The value of an `authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** The tokens listed in config plus those of its tokens file (when set). */
export function configuredTokens(auth: { tokens: readonly string[]; tokensFile: string }): string[] {
  return [...auth.tokens, ...(auth.tokensFile ? readTokensFile(auth.tokensFile) : [])];
}
