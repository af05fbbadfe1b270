/**
 * CreateWorkflow's storage: every create of a name stores a new, immutable version, so a run
 * keeps the definition it started with. Versions are cached in memory once read (they never
 * change); only "which version is latest" is asked of Redis each time.
 */
import type { RedisClient } from '../redis/redis-client.js';
import type { Keys } from '../store/keys.js';
import { OrchestratorError } from '../errors/errors.js';
import { validateWorkflow, WorkflowPlan, type ValidateWorkflowOptions, type WorkflowDefinition, type WorkflowInput } from './workflow-definition.js';
import { createWorkflow } from '../store/workflows/create-workflow.js';
import type { WrittenKeys } from '../redis/replica-wait.js';

export interface WorkflowStoreOptions extends ValidateWorkflowOptions {
  redis: RedisClient;
  keys: Keys;
  /** The connection CreateWorkflow writes on (src/redis/write-connections.ts). @default redis */
  writes?: RedisClient;
}

export class WorkflowStore {
  private readonly plans = new Map<string, WorkflowPlan>();
  private readonly createCmd: ReturnType<typeof createWorkflow>;

  constructor(private readonly opts: WorkflowStoreOptions) {
    this.createCmd = createWorkflow(opts.writes ?? opts.redis, opts.keys);
  }

  /**
   * Validates, then stores the workflow as its name's next version. `written`: where a caller's
   * acknowledgement notes what was written (src/redis/replica-wait.ts).
   */
  async create(input: WorkflowInput, written?: WrittenKeys): Promise<{ name: string; version: number }> {
    validateWorkflow(input, this.opts);
    // "version" comes first so the store can fill it in without parsing JSON (DEFINITION_OPENING).
    const def: WorkflowDefinition = {
      version: 0,
      name: input.name,
      failurePolicy: input.failurePolicy ?? 'fail_fast',
      description: input.description ?? '',
      createdAtMs: Date.now(),
      steps: input.steps.map((s) => ({ stepId: s.stepId, task: s.task, dependsOn: [...new Set(s.dependsOn)] })),
    };
    written?.note(this.opts.writes ?? this.opts.redis, this.opts.keys.workflow(input.name));
    const version = await this.createCmd(input.name, JSON.stringify(def));
    return { name: input.name, version };
  }

  /** A version of a workflow (0: the latest), or not_found. */
  async get(name: string, version = 0): Promise<WorkflowPlan> {
    const key = this.opts.keys.workflow(name);
    let v = version;
    if (v === 0) {
      v = Number((await this.opts.redis.hget(key, 'latest')) ?? 0);
      if (v === 0) throw new OrchestratorError('not_found', `name: no workflow "${name}"`, { field: 'name' });
    }
    const cached = this.plans.get(`${name}@${v}`);
    if (cached) return cached;
    const json = await this.opts.redis.hget(key, String(v));
    if (!json) throw new OrchestratorError('not_found', `version: workflow "${name}" has no version ${v}`, { field: version ? 'version' : 'name' });
    const plan = new WorkflowPlan(JSON.parse(json) as WorkflowDefinition);
    this.plans.set(`${name}@${v}`, plan);
    return plan;
  }
}
