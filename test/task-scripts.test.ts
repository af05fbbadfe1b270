/**
 * Constants the task lifecycle's scripts share with their TypeScript callers are written in both
 * (nothing is interpolated into Lua: src/store/store-script.ts); these checks keep them equal.
 */
import { describe, expect, it } from 'vitest';
import { scriptSource } from '../src/store/store-script.js';
import { FAILURE_FIELD } from '../src/errors/task-failure.js';
import { CANCEL_FIELD, STARTED_FIELD } from '../src/store/bullmq/task-backend.js';
import { bullArgCount, bullKeyCount, type BullScriptName } from '../src/store/bullmq/script-layouts.js';
import { OUTCOME_ARGS } from '../src/store/outcome-writes.js';
import {
  CLAIM_ARGS,
  SETTLE_ARGS,
  SUBMIT_EXISTING,
  SUBMIT_JOBLESS,
  SUBMIT_QUEUE_KEYS,
  SUBMIT_STEP_STOPPED,
  SUBMIT_TASK_ARGS,
  SUBMIT_TICK_DONE,
} from '../src/store/tasks/submit-tasks.js';

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
    // The header documents the class group as its task list, the queue keys in this order, then its events stream.
    expect(scriptSource('tasks/submit-tasks')).toContain(`CLASS_KEYS (${3 + SUBMIT_QUEUE_KEYS.length}) keys`);
    expect(scriptSource('tasks/submit-tasks')).toContain(`its queue's ${SUBMIT_QUEUE_KEYS.slice(0, 7).join(', ')},`);
  });

  it('the cluster submit scripts: values per task and answers', () => {
    expect(luaConstant('tasks/submit-class-tasks', 'TASK_ARGS')).toBe(SUBMIT_TASK_ARGS);
    expect(luaConstant('tasks/submit-class-tasks', 'TICK_DONE')).toBe(SUBMIT_TICK_DONE);
    expect(luaConstant('tasks/submit-class-tasks', 'EXISTING')).toBe(SUBMIT_EXISTING);
    expect(luaConstant('tasks/submit-class-tasks', 'JOBLESS')).toBe(SUBMIT_JOBLESS);
    expect(scriptSource('tasks/submit-class-tasks')).toContain(`CLASS_KEYS (${5 + SUBMIT_QUEUE_KEYS.length}) keys`);
    expect(luaConstant('tasks/claim-task-ids', 'CLAIM_ARGS')).toBe(CLAIM_ARGS);
    expect(luaConstant('tasks/settle-task-ids', 'SETTLE_ARGS')).toBe(SETTLE_ARGS);
  });
});

describe('the pool backend scripts are written for the pinned BullMQ layout', () => {
  // Ours follow BullMQ's keys and arguments at fixed positions; a layout change is refused at
  // start (startup-guard.ts), and this keeps each script's header in step with the table.
  const wrapped: [string, BullScriptName][] = [
    ['tasks/move-to-active', 'moveToActive'],
    ['tasks/move-to-finished', 'moveToFinished'],
    ['tasks/move-stalled', 'moveStalledJobsToWait'],
    ['tasks/move-to-delayed', 'moveToDelayed'],
    ['tasks/retry-job', 'retryJob'],
  ];
  it.each(wrapped)('%s.lua takes %s’s keys and arguments first, as many as script-layouts.ts has', (script, bull) => {
    const src = scriptSource(script);
    expect(src).toContain(`KEYS[1..${bullKeyCount(bull)}] ${bull}'s keys`);
    expect(src).toContain(`ARGV[1..${bullArgCount(bull)}] ${bull}'s arguments`);
    expect(src).toContain(`KEYS[${bullKeyCount(bull) + 1}] `);
    expect(src).toContain(`ARGV[${bullArgCount(bull) + 1}] `);
  });

  it('the fields a fetched job carries back and the failure field are the TypeScript side’s', () => {
    expect(luaConstant('tasks/move-to-active', 'STARTED_FIELD')).toBe(STARTED_FIELD);
    expect(luaConstant('tasks/move-to-active', 'CANCEL_FIELD')).toBe(CANCEL_FIELD);
    expect(luaConstant('tasks/move-to-finished', 'FAILURE_FIELD')).toBe(FAILURE_FIELD);
    expect(luaConstant('tasks/requeue-failed', 'FAILURE_FIELD')).toBe(FAILURE_FIELD);
  });

  it('the outcome group is as wide in Lua as outcomeArgv makes it', () => {
    expect(scriptSource('tasks/move-to-finished')).toContain(`ARGV[14..${14 + OUTCOME_ARGS - 1}] the outcome's arguments`);
    expect(scriptSource('tasks/cancel-queued')).toContain(`ARGV[6..${6 + OUTCOME_ARGS - 1}] the outcome's arguments`);
  });

  it('the task event and the attempt number are built in one place each (includes/task-event, attempt-number)', () => {
    for (const script of ['tasks/move-to-active', 'tasks/move-to-finished', 'tasks/move-stalled', 'tasks/submit-tasks']) {
      const src = scriptSource(script);
      expect(src.match(/'type', /g), `${script}: event fields built once`).toHaveLength(1);
      expect(src.match(/^local function taskEvent\(/gm), script).toHaveLength(1);
    }
    for (const script of ['tasks/move-to-active', 'tasks/move-to-finished', 'tasks/move-stalled']) {
      expect(scriptSource(script).match(/\bbefore \+ /g), `${script}: attempt computed once`).toHaveLength(1);
    }
  });
});
