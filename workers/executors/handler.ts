/**
 * The `handler` executor: runs a named JS module. Built-ins (workers/handlers/) come first,
 * then the configured handler directory (NAME.js or NAME.mjs). Sandboxed by default; a class
 * with `inProcessHandlers` runs them in the pool process instead.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { TaskError } from '../../src/errors/errors.js';
import { TEST_HANDLERS } from '../../src/tasks/task-spec.js';
import type { Handler } from '../handlers/handler.js';
import type { SandboxRunner } from '../sandbox/sandbox-runner.js';
import type { ExecutionContext, Executor } from './executor.js';

const BUILTIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'handlers');
const NOT_HANDLERS = new Set(['handler']);

export interface HandlerSpec {
  name: string;
}

export interface HandlerExecutorOptions {
  /** User handler directory; '' for built-ins only. */
  handlersDir: string;
  /** Whether the built-in test handlers (fail, crash, spin) are found. @default false */
  testHandlers?: boolean;
  /** Runs sandboxed calls; undefined means every call runs in-process. */
  sandbox?: SandboxRunner;
  /** Classes whose handlers run in-process even when a sandbox exists. */
  inProcessClasses: ReadonlySet<string>;
}

export class HandlerExecutor implements Executor<HandlerSpec> {
  readonly kind = 'handler';
  private readonly paths = new Map<string, string>();
  private readonly loaded = new Map<string, Handler>();

  constructor(private readonly opts: HandlerExecutorOptions) {}

  /** Absolute path of a handler module; non-retryable task_failed when there is none. */
  resolve(name: string): string {
    const cached = this.paths.get(name);
    if (cached) return cached;
    const builtin = !NOT_HANDLERS.has(name) && (this.opts.testHandlers || !TEST_HANDLERS.has(name));
    const candidates = builtin ? [join(BUILTIN_DIR, `${name}.js`)] : [];
    if (this.opts.handlersDir) {
      const dir = resolve(this.opts.handlersDir);
      candidates.push(join(dir, `${name}.js`), join(dir, `${name}.mjs`));
    }
    const found = candidates.find((p) => existsSync(p));
    if (!found) throw new TaskError('task_failed', `unknown handler "${name}"`, { retryable: false });
    this.paths.set(name, found);
    return found;
  }

  async run(spec: HandlerSpec, payload: Record<string, string>, ctx: ExecutionContext): Promise<unknown> {
    const module = this.resolve(spec.name);
    if (this.opts.sandbox && !this.opts.inProcessClasses.has(ctx.taskClass)) {
      return this.opts.sandbox.run({
        data: { module, payload, taskId: ctx.taskId, taskClass: ctx.taskClass, attempt: ctx.attempt, env: ctx.env },
        signal: ctx.signal,
        progress: ctx.progress,
        output: ctx.output,
      });
    }
    let fn = this.loaded.get(module);
    if (!fn) {
      fn = ((await import(pathToFileURL(module).href)) as { default: Handler }).default;
      this.loaded.set(module, fn);
    }
    // In-process handlers share the pool's process.env, so they get the task's env only here.
    const output = ctx.output;
    return fn(payload, {
      taskId: ctx.taskId,
      taskClass: ctx.taskClass,
      attempt: ctx.attempt,
      env: ctx.env,
      signal: ctx.signal,
      progress: ctx.progress,
      log: (...args: unknown[]) => output?.line('log', format(...args)),
    });
  }

  async close(): Promise<void> {
    await this.opts.sandbox?.close();
  }
}
