/**
 * The task index's value: hash `<prefix>:tasks`, task_id -> "<class>\t<digest>". Written by the
 * submit script (lua/tasks/submit-tasks.lua) when it claims an id; read to find a task's class
 * (its queue) and to tell a resubmission of the same content (same value) from a conflicting
 * one. The digest is src/tasks/task-spec.ts's content digest (base64url, no tab).
 *
 * Contract: this layout is stored in every retained task's entry, so it only grows: add a
 * tab-separated field at the end, never rename, reorder or remove one. A reader takes the class
 * from the first field.
 */

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
