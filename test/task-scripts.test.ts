/**
 * Constants the task lifecycle's scripts share with their TypeScript callers are written in both
 * (nothing is interpolated into Lua: src/store/store-script.ts); these checks keep them equal.
 */
import { describe, expect, it } from 'vitest';
import { scriptSource } from '../src/store/store-script.js';
import { SUBMIT_QUEUE_KEYS, SUBMIT_STEP_STOPPED, SUBMIT_TASK_ARGS, SUBMIT_TICK_DONE } from '../src/store/tasks/submit-tasks.js';

/** The value of `local NAME = <literal>` in a script (a number, or a single-quoted Lua string). */
function luaConstant(script: string, name: string): string | number {
  const m = new RegExp(`^local ${name} = (\\d+|'[^']*')$`, 'm').exec(scriptSource(script));
  if (!m) throw new Error(`${script}.lua has no "local ${name} = ..."`);
  const v = m[1]!;
  return v.startsWith("'") ? v.slice(1, -1).replace(/\\t/g, '\t') : Number(v);
}

describe('task scripts share their constants with TypeScript', () => {
  it('submit-tasks: values per task, sentinel answers, class key group', () => {
    expect(luaConstant('tasks/submit-tasks', 'TASK_ARGS')).toBe(SUBMIT_TASK_ARGS);
    expect(luaConstant('tasks/submit-tasks', 'TICK_DONE')).toBe(SUBMIT_TICK_DONE);
    expect(luaConstant('tasks/submit-tasks', 'STEP_STOPPED')).toBe(SUBMIT_STEP_STOPPED);
    // The header documents the class group as its task list plus the queue keys, in this order.
    expect(scriptSource('tasks/submit-tasks')).toContain(`CLASS_KEYS (${1 + SUBMIT_QUEUE_KEYS.length}) keys`);
    expect(scriptSource('tasks/submit-tasks')).toContain(`its queue's ${SUBMIT_QUEUE_KEYS.slice(0, 7).join(', ')},`);
  });
});
