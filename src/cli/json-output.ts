/**
 * The one JSON shape of `orchctl --json`, for every command (README "orchctl", JSON output):
 *
 * - a command prints the API message it received, in its proto3 JSON form (the generated
 *   `toJSON`): lowerCamelCase field names, enum values by their full name (`"TASK_STATE_FAILED"`),
 *   maps as objects, a oneof as its member (`"executor": {"command": {...}}`);
 * - every field of the message is present: where proto3 JSON leaves a default out, an absent value
 *   (an empty string, an unset message or oneof, an UNSPECIFIED enum, a zero time) is `null`, and
 *   a count, flag, list or map keeps its value (`0`, `false`, `[]`, `{}`);
 * - numbers (int64 too) are JSON numbers; times are milliseconds since the epoch, in the fields
 *   named `...AtMs` (null when unset).
 *
 * Output a command builds itself (no API message) follows the same rules via `plainJson`.
 *
 *   ctx.jsonMessage(TaskStatus, await client.getTaskStatus(id));
 */

/** A generated message type (ts-proto): what `jsonOf` needs of it. */
export interface JsonMessageType<T> {
  toJSON(message: T): unknown;
}

/**
 * Fields holding a proto enum (in any message of orchestrator.v1 and envmanager.v1), so their
 * UNSPECIFIED (0), which proto3 JSON leaves out, becomes null rather than 0. A field of these names
 * holding a string (TaskEvent.state, TaskEvent.type) is unaffected: only numbers are.
 */
const ENUM_FIELDS = new Set(['state', 'states', 'status', 'type', 'failurePolicy', 'runState', 'stepState']);

type Union = { $case: string; value: unknown };
const isUnion = (v: unknown): v is Union => typeof v === 'object' && v !== null && '$case' in v && 'value' in v;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The message (`raw`, every field set: ts-proto objects carry their defaults) walked alongside its
 * proto3 JSON (`json`, defaults left out): the JSON's values where it has them, the defaults
 * mapped to null or kept where it has not.
 */
function merge(raw: unknown, json: unknown, key: string): unknown {
  if (Array.isArray(raw)) return raw.map((r, i) => merge(r, Array.isArray(json) ? json[i] : undefined, key));
  if (isObject(raw)) {
    const j = isObject(json) ? json : {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (isUnion(v)) out[v.$case] = merge(v.value, j[v.$case], v.$case);
      else out[k] = merge(v, j[k], k);
    }
    return out;
  }
  if (json !== undefined) return json;
  if (raw === undefined || raw === null || raw === '') return null;
  if (raw === 0 && (ENUM_FIELDS.has(key) || key.endsWith('AtMs'))) return null;
  return raw;
}

/** An API message in orchctl's JSON shape. */
export function jsonOf<T>(type: JsonMessageType<T>, message: T): unknown {
  return merge(message, type.toJSON(message), '');
}

/** A value a command built itself, in the same shape: empty strings and undefined become null. */
export function plainJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainJson);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJson(v)]));
  return value === undefined || value === '' ? null : value;
}
