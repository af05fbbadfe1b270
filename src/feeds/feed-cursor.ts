/**
 * The cursor of a feed read from several streams (a Redis Cluster: one events and one results
 * stream per class, src/store/keys.ts), as one opaque string: where each stream was read up to.
 *
 *   "c1." + base64url("<name>=<ms>-<seq>,<name>=<ms>-<seq>,...")
 *
 * `name` is the stream's name in the feed (its class, `<class>.<p>` for partition p > 0 of a
 * partitioned class; "" for the workflow events stream), the id
 * the last entry of that stream the holder has seen. "c1" is the version: a later encoding gets
 * another prefix, and this one stays readable. Clients treat the whole string as opaque.
 *
 * On a single Redis a feed is one stream and its cursor stays the plain entry id
 * ("1712345678901-0"), as it always was. Both forms are taken everywhere a cursor is: a plain id
 * on a cluster applies to every stream (so a cursor kept from before a move to a cluster goes
 * on working: every stream from that time), and a composite cursor on a single Redis resumes
 * from its earliest position (never a gap; entries after it may be seen again, which their
 * task_id and attempt let a client drop). A stream a composite cursor does not name (a class
 * added since, or one left out by the filter the cursor came from) is read from its start.
 *
 * A cursor is caller input: its length is bounded by what the feed's streams can need, and one
 * that does not parse, names a stream the feed does not have, or is too long is refused with
 * INVALID_ARGUMENT naming the field.
 */
import { invalidArgument } from '../errors/errors.js';

export const CURSOR_VERSION = 'c1.';

const PLAIN_RE = /^(\d{1,20})(-\d{1,20})?$/;
// A name is a class, `<class>.<p>` for partition p > 0 of a partitioned class, or "".
const ENTRY_RE = /^((?:[a-z0-9_]+(?:\.\d{1,2})?)?)=(\d{1,20})-(\d{1,20})$/;
const ID_RE = /^(\d{1,20})-(\d{1,20})$/;
const U64_MAX = 2n ** 64n - 1n;

/** Where a subscription starts: the same id on every stream, or one per stream. */
export type FeedStart = { kind: 'each'; id: string } | { kind: 'per-stream'; ids: ReadonlyMap<string, string> };

/** The composite cursor of `positions` (stream name -> last entry id seen), in the map's order. */
export function encodeFeedCursor(positions: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  for (const [name, id] of positions) parts.push(`${name}=${id}`);
  return CURSOR_VERSION + Buffer.from(parts.join(','), 'utf8').toString('base64url');
}

/** The longest cursor a feed of these stream names can hand out, with room to spare. */
export function maxCursorLength(names: Iterable<string>): number {
  let text = 0;
  // name, "=", two 20-digit numbers and "-", ","
  for (const n of names) text += n.length + 43;
  return CURSOR_VERSION.length + Math.ceil((text * 4) / 3) + 64;
}

const fits = (n: string) => BigInt(n) <= U64_MAX;

/**
 * Reads a cursor given by a caller (`field` names it in the error). `names` are the streams the
 * feed has; "$" means "from now" on every stream.
 */
export function parseFeedCursor(field: string, cursor: string, names: ReadonlySet<string>): FeedStart {
  if (cursor === '$') return { kind: 'each', id: '$' };
  const max = maxCursorLength(names);
  if (cursor.length > max) throw invalidArgument(field, `is ${cursor.length} characters long; a cursor of this feed is at most ${max}`);
  const plain = PLAIN_RE.exec(cursor);
  if (plain) {
    if (!fits(plain[1]!) || (plain[2] && !fits(plain[2].slice(1)))) throw invalidArgument(field, 'is not a stream cursor (an entry id out of range)');
    return { kind: 'each', id: plain[2] ? cursor : `${cursor}-0` };
  }
  if (!cursor.startsWith(CURSOR_VERSION)) throw notCursor(field);
  const body = cursor.slice(CURSOR_VERSION.length);
  if (!/^[A-Za-z0-9_-]*$/.test(body)) throw notCursor(field);
  const text = Buffer.from(body, 'base64url').toString('utf8');
  const ids = new Map<string, string>();
  if (text !== '') {
    for (const part of text.split(',')) {
      const m = ENTRY_RE.exec(part);
      if (!m || !fits(m[2]!) || !fits(m[3]!)) throw notCursor(field);
      const name = m[1]!;
      if (!names.has(name))
        throw invalidArgument(field, name ? `names class "${name}", which this feed does not have` : 'names a stream this feed does not have');
      if (ids.has(name)) throw notCursor(field);
      ids.set(name, `${m[2]}-${m[3]}`);
    }
  }
  if (ids.size === 0) throw notCursor(field);
  return { kind: 'per-stream', ids };
}

function notCursor(field: string) {
  return invalidArgument(field, 'is not a cursor of this feed (pass back a cursor exactly as it was received, or an entry id such as 1712345678901-0, or 0)');
}

/** Whether `id` is a full stream entry id ("<ms>-<seq>"). */
export function isEntryId(id: string): boolean {
  return ID_RE.test(id);
}
