/** The handler executor: a named handler of the pool's handlers directory (workers/executors/handler.ts runs it). */
import { invalidArgument, permissionDenied } from '../errors/errors.js';
import type { ExecutorModule } from './executor-module.js';

/** The built-in handlers that fail, crash or burn a CPU on purpose: off unless executors.handler.testHandlers. */
export const TEST_HANDLERS: ReadonlySet<string> = new Set(['fail', 'crash', 'spin']);

const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

export const handlerExecutor = {
  kind: 'handler',
  check(field, spec, c) {
    if (!NAME_RE.test(spec.name))
      throw invalidArgument(`${field}.handler.name`, `"${spec.name}" is not a handler name ([A-Za-z0-9_.-], not starting with ".")`);
    if (TEST_HANDLERS.has(spec.name) && !c.policy.testHandlers)
      throw permissionDenied(`${field}.handler.name`, `"${spec.name}" is a test handler, off here (executors.handler.testHandlers)`);
    return { kind: 'handler', name: spec.name };
  },
  fromPb: (v) => ({ kind: 'handler', name: v.name }),
  toPb: (e) => ({ name: e.name }),
  // A handler reads its payload, which the workflow engine templates for every kind.
  mapTemplated: (e) => e,
} as const satisfies ExecutorModule<'handler'>;
