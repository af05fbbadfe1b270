/**
 * The task index's value: the bucket hashes `{<prefix>}:ix:<n>` (keys.ts taskIndex), task_id ->
 * "<class>\t<digest>\t<list entry>". Written by the submit script (lua/tasks/submit-tasks.lua)
 * when it claims an id: TypeScript encodes the first two fields, the script appends the third,
 * the id of the task's entry in its class's task list stream (`<ms>-<seq>`, its ms the submit
 * time). Read to find a task's class (its queue), its submit time, its list entry (to delete it
 * when the task is forgotten, lua/tasks/forget-tasks.lua), and to tell a resubmission of the
 * same content from a conflicting one. The digest is src/tasks/task-spec.ts's content digest: base64url, no
 * tab, TASK_DIGEST_CHARS (12) characters. Versions before the buckets stored the whole 27-char
 * digest, of which today's is the prefix; such values are moved into the buckets unchanged
 * (src/tasks/task-index-migration.ts, which appends the list entry the migrated task-list entry
 * got), so the submit script takes a stored value that starts with the new one as the same
 * content.
 *
 * On a Redis Cluster the index is claimed in a script of its own before the task is added
 * (src/store/tasks/submit-tasks.ts submitApart): a claimed value has no list entry yet and carries
 * the claim's time (Redis's clock, ms) in a fourth field, "<class>\t<digest>\t\t<ms>", until the
 * list entry replaces both. A value still claimed after its submission returned is one whose last
 * step did not run (its front end stopped): its task may or may not have been added, and the
 * fourth field is its submit time.
 *
 * Contract: this layout is stored in every retained task's entry, so it only grows: add a
 * tab-separated field at the end, never rename, reorder or remove one. A reader takes the class
 * from the first field, the digest from the second and the list entry from the third (absent:
 * no entry), and compares a digest by prefix.
 */

/** Characters of the content digest kept in the index (9 bytes of base64url). */
export const TASK_DIGEST_CHARS = 12;

export interface TaskIndexValue {
  taskClass: string;
  digest: string;
  /** The task's entry id in its class's task list (`<ms>-<seq>`); '' when the value has none. */
  listEntry?: string;
  /** A claim's time (ms), while the value has no list entry (Redis Cluster); '' otherwise. */
  claimedMs?: string;
}

/** What the submit script is given: class and digest (it appends the list entry). */
export function encodeTaskIndex(v: TaskIndexValue): string {
  return `${v.taskClass}\t${v.digest}`;
}

/** The value's fields; a value without a tab is all class (no digest). */
export function decodeTaskIndex(value: string): Required<TaskIndexValue> {
  const [taskClass = '', digest = '', listEntry = '', claimedMs = ''] = value.split('\t', 4);
  return { taskClass, digest, listEntry, claimedMs };
}

/** A value's submit time: its list entry's ms, else its claim's (ms); undefined for neither. */
export function submittedMs(v: TaskIndexValue): number | undefined {
  return entryMs(v.listEntry ?? '') ?? (/^\d{1,15}$/.test(v.claimedMs ?? '') ? Number(v.claimedMs) : undefined);
}

/** The ms of a stream entry id (`<ms>-<seq>`): the task's submit time; undefined for none or a malformed one. */
export function entryMs(entryId: string): number | undefined {
  const m = /^(\d{1,15})-\d+$/.exec(entryId);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether stored index value `stored` says the same content as `value` (this version's): equal,
 * or a value of a previous version with the longer digest this one's is a prefix of. Written in
 * Lua too (lua/tasks/submit-tasks.lua), where the check is made.
 */
export function sameTaskIndex(stored: string, value: string): boolean {
  return stored === value || stored.startsWith(value);
}
