/**
 * A workflow engine's submitter held at its submit: a suite that drives a run with its own
 * WorkflowRuns gives it `held`, learns when a release reaches the submit (`atSubmit`), does what
 * must happen meanwhile (a run's cancel, a fail_fast stop), then lets it go on (`open`).
 */
import type { ResolvedTask } from '../../src/tasks/task-spec.js';
import type { SubmitOutcome, TaskSubmitter } from '../../src/tasks/submitter.js';

export interface HeldSubmitter {
  held: TaskSubmitter;
  /** Resolves when a submission reaches the gate. */
  atSubmit: Promise<void>;
  /** Lets every held submission (and later ones) through. */
  open(): void;
}

/** `after`: awaited after each submission went through, before the engine hears of it. */
export function holdSubmitter(submitter: TaskSubmitter, after?: (tasks: ResolvedTask[]) => Promise<void>): HeldSubmitter {
  let reached!: () => void;
  const atSubmit = new Promise<void>((resolve) => (reached = resolve));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held = Object.create(submitter) as TaskSubmitter;
  held.submitPrepared = async (tasks): Promise<SubmitOutcome[]> => {
    reached();
    await gate;
    const out = await submitter.submitPrepared(tasks);
    await after?.(tasks);
    return out;
  };
  return { held, atSubmit, open };
}
