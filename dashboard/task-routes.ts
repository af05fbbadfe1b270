/**
 * The landing page's and the task page's JSON API, as plain functions returning {status, body}:
 * the system overview (health, per-class counts), search by id, one task's details and its
 * logs (one attempt's, as GetTaskLogs serves them), and, for admins, cancel and retry. The pages themselves are static files (static/index.html,
 * static/task.html) that call these.
 *
 * Counts: queued, running and delayed are BullMQ's counts now ("queued" is waiting plus
 * prioritized: every task carries a priority, so BullMQ keeps all of them in its prioritized
 * list; see the README). Succeeded, failed and cancelled are the counters hash's totals, which
 * keep a cancel apart from a failure (BullMQ files both as failed); `retained` is what BullMQ
 * still holds, which Bull Board shows.
 *
 * What a task's record in Redis holds is not trusted to be what the system wrote: the status'
 * text fields are cut at MAX_TEXT_CHARS (the result is bounded by the status reader already),
 * and a spec too large to show is left out with the reason (task-details.ts).
 *
 * Cancel and retry change state: DashboardAuth has already refused them from another site, and
 * readOnlyGuard refused them to the read_only role; the role is checked here again, so a route
 * mounted without the guard still refuses.
 */
import type { RouteResult } from '../src/monitoring/probe-routes.js';
import type { SystemStatus } from '../src/monitoring/system-status.js';
import { OrchestratorError } from '../src/errors/errors.js';
import { ERROR_CODES } from '../src/errors/error-codes.js';
import { errorAnswer, json } from './json-answer.js';
import type { TaskCanceller } from '../src/tasks/task-canceller.js';
import type { TaskDetailsReader } from '../src/tasks/task-details.js';
import type { TaskLogReader } from '../src/tasks/task-logs.js';
import type { TaskRetrier } from '../src/tasks/task-retry.js';
import type { TaskStatusReader } from '../src/tasks/task-status.js';
import type { WorkflowStatusReader } from '../src/workflows/workflow-status.js';
import type { ReplicaWait } from '../src/redis/replica-wait.js';
import type { DashboardRole } from './dashboard-auth.js';
import { redactJsonText, redactSecrets, type SecretKeyTest } from './redaction.js';

export interface TaskRoutesOptions {
  system: SystemStatus;
  status: TaskStatusReader;
  details: TaskDetailsReader;
  canceller: TaskCanceller;
  retrier: TaskRetrier;
  /** Cancel and retry answer once their writes are on redis.waitReplicas replicas, as CancelTask and RetryTasks do. */
  replicas: ReplicaWait;
  /** The task page's logs panel (GetTaskLogs' reader). */
  logs: TaskLogReader;
  workflows: WorkflowStatusReader;
  /** Payload keys whose values the read_only role sees redacted (redaction.ts). */
  isSecret: SecretKeyTest;
  /** Where Bull Board is mounted, for links to a task's job page. */
  queuesPath: string;
}

/** Task ids and run ids: what SubmitTask accepts (task-spec.ts), so anything else is not worth a Redis read. */
const ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** Why a cancel names itself in the task's error and events. */
const CANCEL_REASON = 'requested from the dashboard';

function badId(field: string, id: string): RouteResult | undefined {
  return ID_RE.test(id) ? undefined : json(400, { error: `${field}: must be 1 to 128 letters, digits, ".", "_" or "-"`, field });
}

/** Most characters of one of a status' text fields (error, progress, worker...) handed out. */
const MAX_TEXT_CHARS = 64 * 1024;

function boundedText<T extends object>(view: T): T {
  const out = { ...view } as Record<string, unknown>;
  for (const [k, v] of Object.entries(out)) {
    if (k !== 'resultJson' && typeof v === 'string' && v.length > MAX_TEXT_CHARS)
      out[k] = `${v.slice(0, MAX_TEXT_CHARS)}… (cut at ${MAX_TEXT_CHARS} characters)`;
  }
  return out as T;
}

const forbidden = (): RouteResult => json(403, { error: 'forbidden: this user may only look (read-only role)' });

export class TaskRoutes {
  constructor(private readonly opts: TaskRoutesOptions) {}

  /** The landing page's figures. */
  async overview(role: DashboardRole): Promise<RouteResult> {
    const [health, snap] = await Promise.all([this.opts.system.health(), this.opts.system.snapshot()]);
    const classes = [...snap.queues].map(([name, q]) => ({
      name,
      queued: q.waiting,
      running: q.active,
      delayed: q.delayed,
      succeeded: snap.count('succeeded', name),
      failed: snap.count('failed', name),
      cancelled: snap.count('cancelled', name),
      retained: { completed: q.completed, failed: q.failed },
    }));
    return json(200, { role, health, classes, pools: snap.pools.length, activeRuns: snap.activeRuns });
  }

  /** A task id (any class), else a workflow run id: where to go. */
  async search(q: string): Promise<RouteResult> {
    const id = q.trim();
    const bad = badId('q', id);
    if (bad) return bad;
    try {
      const { taskClass } = await this.opts.status.classOf(id);
      return json(200, { kind: 'task', id, taskClass, url: `/admin/tasks/${encodeURIComponent(id)}` });
    } catch (err) {
      if (!(err instanceof OrchestratorError && err.code === 'not_found')) return errorAnswer(err);
    }
    try {
      await this.opts.workflows.get(id);
      return json(200, { kind: 'run', id, url: `/admin/workflows/${encodeURIComponent(id)}` });
    } catch (err) {
      if (err instanceof OrchestratorError && (err.code === 'not_found' || err.code === 'invalid_argument')) {
        return json(404, { error: `no task or workflow run "${id}"` });
      }
      throw err;
    }
  }

  /** One task: status, spec (secrets redacted for read_only), events, links, what the caller may do. */
  async task(taskId: string, role: DashboardRole): Promise<RouteResult> {
    const bad = badId('task_id', taskId);
    if (bad) return bad;
    try {
      const d = await this.opts.details.get(taskId);
      const viewer = role !== 'admin';
      const spec = d.spec && viewer ? (redactSecrets(d.spec, this.opts.isSecret) as typeof d.spec) : d.spec;
      // A result or progress can hand the payload back (an echoing handler): redacted alike.
      const status = viewer
        ? {
            ...d.status,
            resultJson: redactJsonText(d.status.resultJson, this.opts.isSecret),
            progressJson: redactJsonText(d.status.progressJson, this.opts.isSecret),
          }
        : d.status;
      const { state } = d.status;
      return json(200, {
        ...boundedText(status),
        spec: spec ?? null,
        specOmitted: d.specOmitted,
        events: d.history.events,
        eventsIncomplete: d.history.incomplete,
        links: { bullBoard: `${this.opts.queuesPath}/queue/${encodeURIComponent(d.status.taskClass)}/${encodeURIComponent(taskId)}` },
        actions: {
          cancel: role === 'admin' && (state === 'queued' || state === 'scheduled' || state === 'running'),
          retry: role === 'admin' && state === 'failed',
        },
      });
    } catch (err) {
      return errorAnswer(err);
    }
  }

  /**
   * One attempt's captured output (0 or absent: the latest), bounded as GetTaskLogs bounds it.
   * Shown to viewers too, as Bull Board's Logs tab shows it: task output is not redacted by key.
   */
  async logs(taskId: string, attemptParam: string): Promise<RouteResult> {
    const bad = badId('task_id', taskId);
    if (bad) return bad;
    const attempt = attemptParam === '' ? 0 : Number(attemptParam);
    if (!/^\d{1,9}$/.test(attemptParam || '0')) return json(400, { error: 'attempt: must be 0 (the latest) or an attempt number', field: 'attempt' });
    try {
      const l = await this.opts.logs.get(taskId, attempt);
      return json(200, { attempt: l.attempt, attempts: l.attempts, truncated: l.truncated, state: l.state, lines: l.lines });
    } catch (err) {
      return errorAnswer(err);
    }
  }

  async cancel(taskId: string, role: DashboardRole): Promise<RouteResult> {
    if (role !== 'admin') return forbidden();
    const bad = badId('task_id', taskId);
    if (bad) return bad;
    try {
      const state = await this.opts.replicas.confirm((w) => this.opts.canceller.cancel(taskId, CANCEL_REASON, w));
      if (state === 'succeeded' || state === 'failed') return json(409, { error: `task "${taskId}" already ${state}`, state });
      return json(200, { taskId, state });
    } catch (err) {
      return errorAnswer(err);
    }
  }

  async retry(taskId: string, role: DashboardRole): Promise<RouteResult> {
    if (role !== 'admin') return forbidden();
    const bad = badId('task_id', taskId);
    if (bad) return bad;
    try {
      const out = await this.opts.replicas.confirm((w) => this.opts.retrier.retryIds([taskId], undefined, w));
      const e = out.errors[0];
      if (e) return json(ERROR_CODES[e.code]?.http ?? 500, { error: e.message, code: e.code });
      return json(200, { taskId, state: 'queued' });
    } catch (err) {
      return errorAnswer(err);
    }
  }
}
