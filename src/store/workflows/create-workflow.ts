import type { RedisClient } from '../../redis/redis-client.js';
import type { Keys } from '../keys.js';
import { storeScript } from '../store-script.js';

type Command = (workflow: string, workflows: string, definition: string, name: string) => Promise<number>;

/**
 * How a definition's JSON must open: the script fills in the version by replacing the first
 * `"version":0`, without parsing JSON, so it must be the first field.
 */
export const DEFINITION_OPENING = '{"version":0,';

/**
 * lua/workflows/create-workflow.lua: stores `definitionJson` as workflow `name`'s next version;
 * returns the version number. The JSON must open with DEFINITION_OPENING.
 */
export function createWorkflow(redis: RedisClient, keys: Keys): (name: string, definitionJson: string) => Promise<number> {
  const run = storeScript<Command>(redis, 'workflows/create-workflow', { numberOfKeys: 2 });
  return async (name, definitionJson) => {
    if (!definitionJson.startsWith(DEFINITION_OPENING)) throw new Error(`createWorkflow: the definition of "${name}" must open with ${DEFINITION_OPENING}`);
    return Number(await run(keys.workflow(name), keys.workflows, definitionJson, name));
  };
}
