/**
 * The task index's value: the bucket hashes `{<prefix>}:ix:<n>` (keys.ts taskIndex), task_id ->
 * "<class>\t<digest>". Written by the submit script (lua/tasks/submit-tasks.lua) when it claims
 * an id; read to find a task's class (its queue) and to tell a resubmission of the same content
 * from a conflicting one. The digest is src/tasks/task-spec.ts's content digest: base64url, no
 * tab, TASK_DIGEST_CHARS (12) characters. Versions before the buckets stored the whole 27-char
 * digest, of which today's is the prefix; such values are moved into the buckets unchanged
 * (src/tasks/task-index-migration.ts), so the submit script takes a stored value that starts
 * with the new one as the same content.
 *
 * Contract: this layout is stored in every retained task's entry, so it only grows: add a
 * tab-separated field at the end, never rename, reorder or remove one. A reader takes the class
 * from the first field and the digest from the second, and compares a digest by prefix.
 */

/** Characters of the content digest kept in the index (9 bytes of base64url). */
export const TASK_DIGEST_CHARS = 12;

export interface TaskIndexValue {
  taskClass: string;
  digest: string;
}

export function encodeTaskIndex(v: TaskIndexValue): string {
  return `${v.taskClass}\t${v.digest}`;
}

/** The value's fields; a value without a tab is all class (no digest). */
export function decodeTaskIndex(value: string): TaskIndexValue {
  const tab = value.indexOf('\t');
  if (tab < 0) return { taskClass: value, digest: '' };
  const end = value.indexOf('\t', tab + 1);
  return { taskClass: value.slice(0, tab), digest: value.slice(tab + 1, end < 0 ? undefined : end) };
}

/**
 * Whether stored index value `stored` says the same content as `value` (this version's): equal,
 * or a value of a previous version with the longer digest this one's is a prefix of. Written in
 * Lua too (lua/tasks/submit-tasks.lua), where the check is made.
 */
export function sameTaskIndex(stored: string, value: string): boolean {
  return stored === value || stored.startsWith(value);
}
