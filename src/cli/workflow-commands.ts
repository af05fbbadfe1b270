/** orchctl workflow create | run | status | watch | cancel | runs. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseToml } from 'smol-toml';
import { StepState, WorkflowRunState, type WorkflowInput, type WorkflowRun } from '../client/orchestrator-client.js';
import {
  CancelWorkflowRunResponse,
  CreateWorkflowResponse,
  StartWorkflowRunResponse,
  WorkflowRun as WorkflowRunMessage,
  WorkflowStatusUpdate,
} from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, enumName, type CliContext } from './cli-context.js';
import { workflowFromFile } from './input-files.js';

const runState = (s: WorkflowRunState) => enumName(WorkflowRunState, s, 'WORKFLOW_RUN_STATE_');
const stepState = (s: StepState) => enumName(StepState, s, 'STEP_STATE_');
const FINAL_STEP = new Set([StepState.STEP_STATE_SUCCEEDED, StepState.STEP_STATE_FAILED, StepState.STEP_STATE_CANCELLED, StepState.STEP_STATE_SKIPPED]);

/** A workflow definition file: JSON, or TOML ([[steps]] tables) by extension (README "File formats"). */
function definitionFile(file: string): WorkflowInput {
  const text = readFileSync(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = file.endsWith('.toml') ? parseToml(text) : JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`, EXIT.usage);
  }
  return workflowFromFile(parsed, file);
}

function printRun(ctx: CliContext, run: WorkflowRun): void {
  if (ctx.json) return ctx.jsonMessage(WorkflowRunMessage, run);
  ctx.record({
    run: run.runId,
    workflow: `${run.workflowName} v${run.version}`,
    state: runState(run.state),
    stopped: run.stopReason,
    inputs: run.inputs,
    started: run.startedAtMs ? new Date(run.startedAtMs).toISOString() : '',
    finished: run.finishedAtMs ? new Date(run.finishedAtMs).toISOString() : '',
  });
  ctx.line();
  ctx.table(
    run.steps.map((s) => ({
      step: s.stepId,
      state: stepState(s.state),
      attempt: s.attempt,
      after: s.dependsOn.join(','),
      // The latest attempt's run time: started_at_ms to finished_at_ms.
      took: s.startedAtMs && s.finishedAtMs >= s.startedAtMs ? `${((s.finishedAtMs - s.startedAtMs) / 1000).toFixed(1)}s` : '',
      result: s.resultJson || s.error,
    })),
    ['step', 'state', 'attempt', 'after', 'took', 'result'],
  );
}

/** Streams a run's changes with a progress line; resolves with the final run. */
async function watch(ctx: CliContext, runId: string): Promise<WorkflowRun> {
  const states = new Map<string, StepState>();
  let total = 0;
  for await (const u of ctx.client().streamWorkflowStatus(runId)) {
    if (ctx.json) {
      ctx.jsonMessage(WorkflowStatusUpdate, u);
      continue;
    }
    if (!u.stepId) {
      if (!u.snapshot || total === 0) ctx.line(`run ${runId}: ${runState(u.runState)}${u.error ? ` (${u.error})` : ''}`);
      continue;
    }
    if (!states.has(u.stepId)) total += 1;
    states.set(u.stepId, u.stepState);
    if (u.snapshot && u.stepState === StepState.STEP_STATE_PENDING) continue;
    const done = [...states.values()].filter((s) => FINAL_STEP.has(s)).length;
    ctx.line(`[${done}/${total}] ${u.stepId}: ${stepState(u.stepState)}${u.attempt ? ` (attempt ${u.attempt})` : ''}${u.error ? ` ${u.error}` : ''}`);
  }
  return ctx.client().getWorkflowRun(runId);
}

/** An ISO time or ms since the epoch. */
function timeFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CliError(`${flag}: expected an ISO time or ms since the epoch, got "${v}"`, EXIT.usage);
  return t;
}

const setExit = (run: WorkflowRun) => {
  if (run.state !== WorkflowRunState.WORKFLOW_RUN_STATE_SUCCEEDED) process.exitCode = EXIT.failed;
};

export function registerWorkflowCommands(program: Command, ctx: () => CliContext): void {
  const wf = program.command('workflow').description('workflows: create, run, status, watch, cancel');

  wf.command('create')
    .description('store a workflow from a JSON or TOML file ({name, failurePolicy, steps: [{stepId, dependsOn, task}]})')
    .argument('<file>')
    .action(async (file: string) => {
      const c = ctx();
      const r = await c.client().createWorkflow(definitionFile(file));
      c.show(CreateWorkflowResponse, r, () => ({ workflow: r.name, version: r.version }));
    });

  wf.command('run')
    .description('start a run; --watch follows it to the end')
    .argument('<name>')
    .option('-i, --input <k=v>', 'run input (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--run-id <id>', 'run id (default: generated); the same id again returns the existing run')
    .option('--version <n>', 'version (default: latest)')
    .option('-w, --watch', 'follow the run until it ends (exit 1 unless it succeeds)')
    .action(async (name: string, f: { input: string[]; runId?: string; version?: string; watch?: boolean }) => {
      const c = ctx();
      const inputs: Record<string, string> = {};
      for (const p of f.input) {
        const i = p.indexOf('=');
        if (i <= 0) throw new CliError(`--input: expected key=value, got "${p}"`, EXIT.usage);
        inputs[p.slice(0, i)] = p.slice(i + 1);
      }
      const r = await c.client().startWorkflowRun({ name, inputs, runId: f.runId, version: f.version ? Number(f.version) : 0 });
      if (!f.watch) return c.show(StartWorkflowRunResponse, r, () => ({ run: r.runId, version: r.version, created: r.created, state: runState(r.state) }));
      if (!c.json) c.line(`run ${r.runId} (v${r.version})${r.created ? '' : ' already existed'}`);
      const run = await watch(c, r.runId);
      if (!c.json) printRun(c, run);
      setExit(run);
    });

  wf.command('status')
    .description("a run's state and every step's")
    .argument('<run_id>')
    .action(async (runId: string) => {
      const c = ctx();
      printRun(c, await c.client().getWorkflowRun(runId));
    });

  wf.command('watch')
    .description('follow a run live until it ends (exit 1 unless it succeeds)')
    .argument('<run_id>')
    .action(async (runId: string) => {
      const c = ctx();
      const run = await watch(c, runId);
      if (!c.json) printRun(c, run);
      setExit(run);
    });

  wf.command('runs')
    .description('workflow runs newest first; one page unless --all')
    .option('--workflow <name>', 'runs of this workflow')
    .option(
      '-s, --state <state>',
      'running, succeeded, failed, cancelled (repeatable, or comma-separated)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--since <time>', 'started at or after: ISO time or ms since the epoch')
    .option('--until <time>', 'started before: ISO time or ms since the epoch')
    .option('--limit <n>', 'runs per page (1..500)', '50')
    .option('--page-token <token>', 'go on from the token a previous page printed')
    .option('--all', 'every matching run, page after page')
    .action(async (f: { workflow?: string; state: string[]; since?: string; until?: string; limit: string; pageToken?: string; all?: boolean }) => {
      const c = ctx();
      const pageSize = Number(f.limit);
      if (!Number.isInteger(pageSize) || pageSize < 1) throw new CliError(`--limit: expected a positive integer, got "${f.limit}"`, EXIT.usage);
      const states = f.state
        .flatMap((s) => s.split(','))
        .filter(Boolean)
        .map((s) => {
          const v = (WorkflowRunState as unknown as Record<string, number>)[`WORKFLOW_RUN_STATE_${s.trim().toUpperCase()}`];
          if (v === undefined || v === 0) throw new CliError(`--state: unknown run state "${s}" (running, succeeded, failed, cancelled)`, EXIT.usage);
          return v as WorkflowRunState;
        });
      const filter = { workflowName: f.workflow, states, startedSinceMs: timeFlag(f.since, '--since'), startedUntilMs: timeFlag(f.until, '--until') };
      const rows: Record<string, unknown>[] = [];
      let token = f.pageToken ?? '';
      do {
        const page = await c.client().listWorkflowRuns(filter, { pageSize, pageToken: token });
        rows.push(
          ...page.runs.map((r) => ({
            run: r.runId,
            workflow: r.workflowName,
            version: r.version,
            state: runState(r.state),
            steps: r.steps,
            open_steps: r.openSteps,
            started: r.startedAtMs ? new Date(r.startedAtMs).toISOString() : null,
            finished: r.finishedAtMs ? new Date(r.finishedAtMs).toISOString() : null,
            stop_reason: r.stopReason,
          })),
        );
        token = page.nextPageToken;
      } while (f.all && token);
      if (c.json) return c.jsonLine({ runs: rows, next_page_token: token || null });
      c.table(
        rows.map((r) => ({
          ...r,
          steps: `${Number(r.steps) - Number(r.open_steps)}/${String(r.steps)}`,
          finished: r.finished ?? '',
          started: r.started ?? '',
        })),
        ['run', 'workflow', 'version', 'state', 'steps', 'started', 'finished', 'stop_reason'],
      );
      if (token) c.note(`more: --page-token ${token}`);
    });

  wf.command('cancel')
    .description("cancel a run's pending and running steps")
    .argument('<run_id>')
    .option('--reason <text>', 'why', '')
    .action(async (runId: string, f: { reason: string }) => {
      const c = ctx();
      const r = await c.client().cancelWorkflowRun(runId, f.reason);
      c.show(CancelWorkflowRunResponse, r, () => ({ run: r.runId, state: runState(r.state) }));
    });
}
