/**
 * CreateWorkflow's storage: every create of a name stores a new, immutable version, so a run
 * keeps the definition it started with. Versions are cached in memory once read (they never
 * change); only "which version is latest" is asked of Redis each time.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { OrchestratorError } from '../errors/errors.js';
import { validateWorkflow, WorkflowPlan, type ValidateWorkflowOptions, type WorkflowDefinition, type WorkflowInput } from './workflow-definition.js';
import { luaCommand } from '../store/lua-command.js';

/**
 * Stores a new version of a workflow.
 * KEYS[1] the workflow's hash, KEYS[2] the workflows zset
 * ARGV[1] the definition JSON with "version":0, rewritten here with the version it gets
 * Returns the new version number.
 */
const CREATE_SCRIPT = `
local v = redis.call('HINCRBY', KEYS[1], 'latest', 1)
local def = string.gsub(ARGV[1], '"version":0', '"version":' .. v, 1)
redis.call('HSET', KEYS[1], tostring(v), def)
redis.call('ZADD', KEYS[2], v, ARGV[2])
return v
`;

export interface WorkflowStoreOptions extends ValidateWorkflowOptions {
  redis: Redis;
  keys: Keys;
}

type CreateCommand = (k1: string, k2: string, def: string, name: string) => Promise<number>;

export class WorkflowStore {
  private readonly plans = new Map<string, WorkflowPlan>();
  private readonly createCmd: CreateCommand;

  constructor(private readonly opts: WorkflowStoreOptions) {
    this.createCmd = luaCommand<CreateCommand>(opts.redis, CREATE_SCRIPT, 2);
  }

  /** Validates, then stores the workflow as its name's next version. */
  async create(input: WorkflowInput): Promise<{ name: string; version: number }> {
    validateWorkflow(input, this.opts);
    // "version" comes first so the script can fill it in without parsing JSON.
    const def: WorkflowDefinition = {
      version: 0,
      name: input.name,
      failurePolicy: input.failurePolicy ?? 'fail_fast',
      description: input.description ?? '',
      createdAtMs: Date.now(),
      steps: input.steps.map((s) => ({ stepId: s.stepId, task: s.task, dependsOn: [...new Set(s.dependsOn)] })),
    };
    const version = await this.createCmd(this.opts.keys.workflow(input.name), this.opts.keys.workflows, JSON.stringify(def), input.name);
    return { name: input.name, version: Number(version) };
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
