/**
 * A chain of steps advanced by the pools' finishes (staged releases, src/store/workflows/
 * staged-steps.ts) with the pool killed with SIGKILL mid-chain, again and again. The finish
 * script is atomic: a pool killed before it leaves its task to run again (after the stall
 * interval, 1 s in the test config) with the step unapplied; killed after it, the outcome, the
 * next step's task and its queued state are all in Redis, and the next task, handed to the dead
 * pool with the finish, stalls and runs elsewhere. Either way each step's task is submitted once,
 * ends with one result, and the run completes with nothing left behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StepState, WorkflowRunState, type TaskInput, type WorkflowInput } from '../src/client/orchestrator-client.js';
import { parseResult } from '../src/store/codecs/feed-format.js';
import { startBareSystem, type BareSystem } from './helpers/system.js';
import { waitFor } from './helpers/wait.js';

let sys: BareSystem | undefined;
afterEach(async () => {
  await sys?.stop();
  sys = undefined;
});

const STEPS = 40;
const sleepTask = (ms: number): TaskInput => ({ taskClass: 'inproc', payload: { ms: String(ms), run: '${run_id}' }, executor: { handler: 'sleep' } });

/** s1 -> s2 -> ... -> sN, each step's task needing no step's result (so every step is staged). */
function chain(name: string): WorkflowInput {
  return {
    name,
    steps: Array.from({ length: STEPS }, (_, i) => ({ stepId: `s${i + 1}`, task: sleepTask(30), ...(i > 0 ? { dependsOn: [`s${i}`] } : {}) })),
  };
}

// Pools killed and started again, each kill waiting out a stall interval: a minute on a loaded 2-core machine.
describe('a pool killed mid-chain', { timeout: 180_000 }, () => {
  it('leaves every step submitted once with one result, and the run completes with nothing left behind', async () => {
    const s = (sys = await startBareSystem());
    let pool = await s.startPool({ classes: 'inproc:1' });
    const o = await s.startOrchestrator();
    await o.client.createWorkflow(chain('chain'));
    const { runId } = await o.client.startWorkflowRun({ name: 'chain', runId: 'chain-1' });
    // Every step but the last (no dependents) was staged at the start.
    expect(await s.r.hlen(s.keys.runStaged(runId))).toBe(STEPS - 1);

    const succeeded = async () => (await o.client.getWorkflowRun(runId)).steps.filter((x) => x.state === StepState.STEP_STATE_SUCCEEDED).length;
    for (const atLeast of [5, 15, 25]) {
      await waitFor(async () => (await succeeded()) >= atLeast, { timeoutMs: 60_000, message: `fewer than ${atLeast} steps ever succeeded` });
      pool.kill('SIGKILL');
      await pool.exited;
      pool = await s.startPool({ classes: 'inproc:1' });
    }
    const run = await o.client.waitForRun(runId, { timeoutMs: 90_000 });
    expect(run.state).toBe(WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED);
    expect(run.steps.filter((x) => x.state === StepState.STEP_STATE_SUCCEEDED)).toHaveLength(STEPS);

    // Each task submitted once; a killed pool's task (or the one its last finish handed it) ran again after a stall.
    const submitted = new Map<string, number>();
    const started = new Map<string, number>();
    const stalled = new Map<string, number>();
    for (const [, f] of await s.r.xrange(s.keys.events, '-', '+')) {
      const [type, taskId] = [f[1]!, f[3]!];
      if (!taskId.startsWith(`${runId}.`)) continue;
      const m = type === 'submitted' ? submitted : type === 'started' ? started : type === 'stalled' ? stalled : undefined;
      m?.set(taskId, (m.get(taskId) ?? 0) + 1);
    }
    expect(submitted.size).toBe(STEPS);
    // Each kill caught a task in hand (running, or handed over by a finish): it stalled and ran again.
    expect(stalled.size).toBeGreaterThan(0);
    for (const [taskId, n] of submitted) expect({ taskId, n }).toEqual({ taskId, n: 1 });
    for (const [taskId, n] of started) expect({ taskId, n }).toEqual({ taskId, n: 1 + (stalled.get(taskId) ?? 0) });
    // One final result per task.
    const results = (await s.r.xrange(s.keys.results, '-', '+')).map(([, f]) => parseResult(f)).filter((r) => r.workflowId === runId);
    expect(results.map((r) => r.taskId).sort()).toEqual([...submitted.keys()].sort());
    expect(results.every((r) => r.state === 'succeeded')).toBe(true);

    // Nothing left behind: no step releasing, no inbox entry unacknowledged, no staged release.
    expect((await s.r.zrange(s.keys.releasing, 0, -1)).filter((m) => m.startsWith(`${runId}\t`))).toEqual([]);
    await waitFor(async () => ((await s.r.xpending(s.keys.workflowInbox, 'engine')) as [number])[0] === 0, { message: 'inbox entries left pending' });
    expect(await s.r.exists(s.keys.runStaged(runId))).toBe(0);
    expect(await s.r.zscore(s.keys.activeRuns, runId)).toBeNull();
  });
});
