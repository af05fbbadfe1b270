/**
 * The `command` executor: runs one attempt as a local subprocess.
 *
 * Why it is shaped like this:
 * - The unit of a task is a process group, not a PID. Commands are usually wrappers
 *   (`sh -c`, npm, python launchers) whose real work runs in grandchildren; killing only the
 *   direct child would leave those running and holding GPUs, ports and files. So the child is
 *   spawned `detached` (its own group) and every signal goes to the group (`kill(-pid)`).
 * - Stragglers left in the group after the leader exits are terminated too (SIGTERM, then
 *   SIGKILL after the grace), even on success: they would outlive the attempt, and because
 *   they inherit our stdout/stderr pipes, the child's 'close' would otherwise never fire.
 * - Output is kept as a bounded tail: a chatty command must not grow worker memory, and the
 *   end of the output is where the error usually is. The tail is decoded only once, at the
 *   end, so multi-byte characters split across chunks survive.
 * - Cancellation and timeouts belong to the pool and arrive through `ctx.signal`; its reason
 *   (a TaskError) is what we throw, enriched with the output tail, once the process is gone,
 *   never before: a rejected attempt must not leave a process running behind it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { TaskError } from '../../src/errors/errors.js';
import type { ExecutionContext, Executor } from './executor.js';
import { OutputTail } from './output-tail.js';
import { abortError } from './abort-error.js';
import { settlesWithin } from './settles-within.js';
import type { RunAsUser } from '../run-as.js';
import type { ProcessGroupWatch } from '../pool-guard/pool-guard.js';

export interface CommandSpec {
  /** Program and arguments; argv[0] is resolved through PATH. No shell is involved. */
  argv: string[];
  /** Environment for the child, on top of the clean base and `ctx.env`. */
  env: Record<string, string>;
  /** Working directory; '' inherits the worker's ("/" when the task runs as another user). */
  cwd: string;
}

/** Variables of the pool's environment every command task gets (when the pool has them). */
export const BASE_ENV_NAMES: readonly string[] = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
/** PATH of a task when the pool has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The clean environment of a command task: the minimal base and the class's pass-through names
 * from the pool's environment, HOME (and USER, LOGNAME) of the user it runs as. Never the rest
 * of the pool's variables: they hold Redis URLs, tokens and config paths.
 */
export function cleanEnvironment(poolEnv: NodeJS.ProcessEnv, passthrough: readonly string[], user?: RunAsUser): Record<string, string> {
  const env: Record<string, string> = { PATH: poolEnv.PATH || DEFAULT_PATH };
  for (const name of [...BASE_ENV_NAMES, ...passthrough]) {
    const v = poolEnv[name];
    if (v !== undefined && name !== 'PATH') env[name] = v;
  }
  if (user) {
    env.HOME = user.home;
    env.USER = env.LOGNAME = user.name;
  } else if (poolEnv.HOME) env.HOME = poolEnv.HOME;
  return env;
}

export interface CommandExecutorOptions {
  /** Bytes of stdout/stderr kept (the tail). @default 16384 */
  outputTailBytes?: number;
  /** Time between SIGTERM and SIGKILL when stopping. @default 2000 */
  killGraceMs?: number;
  /** The base environment of a class's tasks. @default the minimal base of this process's environment (cleanEnvironment) */
  environment?: (taskClass: string) => Record<string, string>;
  /** The user a class's tasks run as; undefined runs them as the pool's user. @default none */
  runAs?: (taskClass: string) => RunAsUser | undefined;
  /**
   * Told of every group while it runs, so that the groups of a pool killed outright are stopped
   * (the pool guard, workers/pool-guard/). @default none
   */
  guard?: ProcessGroupWatch;
}

export interface CommandResult {
  exitCode: 0;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/**
 * How long to wait for the output pipes to close once the group is dead. Only a process that
 * escaped the group (setsid) can hold them that long; then we stop reading.
 */
const PIPE_DRAIN_MS = 1000;

export class CommandExecutor implements Executor<CommandSpec> {
  readonly kind = 'command';
  private readonly outputTailBytes: number;
  private readonly killGraceMs: number;
  private readonly environment: (taskClass: string) => Record<string, string>;
  private readonly runAs: (taskClass: string) => RunAsUser | undefined;
  private readonly guard: ProcessGroupWatch | undefined;

  constructor(opts: CommandExecutorOptions = {}) {
    const base = cleanEnvironment(process.env, []);
    this.environment = opts.environment ?? (() => base);
    this.runAs = opts.runAs ?? (() => undefined);
    this.guard = opts.guard;
    this.outputTailBytes = opts.outputTailBytes ?? 16384;
    this.killGraceMs = opts.killGraceMs ?? 2000;
    if (!Number.isInteger(this.outputTailBytes) || this.outputTailBytes < 0) {
      throw new RangeError(`outputTailBytes must be a non-negative integer, got ${this.outputTailBytes}`);
    }
    if (!Number.isFinite(this.killGraceMs) || this.killGraceMs < 0) {
      throw new RangeError(`killGraceMs must be a non-negative number, got ${this.killGraceMs}`);
    }
  }

  async run(spec: CommandSpec, _payload: Record<string, string>, ctx: ExecutionContext): Promise<CommandResult> {
    const argv = spec.argv;
    if (argv.length === 0 || argv[0] === '') {
      throw new TaskError('task_failed', 'command spec has an empty argv', { retryable: false });
    }
    if (ctx.signal.aborted) throw abortError(ctx.signal.reason, 'command cancelled');

    const started = performance.now();
    const user = this.runAs(ctx.taskClass);
    const child = spawn(argv[0], argv.slice(1), {
      cwd: spec.cwd === '' ? (user ? '/' : undefined) : spec.cwd,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: {
        ...this.environment(ctx.taskClass),
        ...ctx.env,
        ...spec.env,
        ORCHESTRATOR_TASK_ID: ctx.taskId,
        ORCHESTRATOR_TASK_CLASS: ctx.taskClass,
        ORCHESTRATOR_ATTEMPT: String(ctx.attempt),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
    });

    // Listen before anything can be emitted: 'error' is emitted asynchronously on spawn failure.
    const exited = waitForExit(child);
    const pid = child.pid;
    if (pid === undefined) {
      const err = await exited.then(
        () => undefined,
        (e: unknown) => e,
      );
      const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
      const where = spec.cwd === '' ? '' : ` (cwd "${spec.cwd}")`;
      throw new TaskError('task_failed', `failed to start "${argv[0]}"${where}: ${code}`, {
        retryable: false,
        cause: err,
      });
    }

    this.guard?.track(pid, ctx.taskId);
    const closed = waitForClose(child);
    const stdout = new OutputTail(this.outputTailBytes);
    const stderr = new OutputTail(this.outputTailBytes);
    // The tails are the failure's detail; the attempt's log (ctx.output) gets every line, bounded there.
    const output = ctx.output;
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      output?.write('stdout', chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      output?.write('stderr', chunk);
    });

    const group = new ProcessGroup(pid, this.killGraceMs);
    let stoppedByUs = false;
    const onAbort = (): void => {
      // Once the leader has exited its outcome stands; stragglers are dealt with below anyway.
      if (child.exitCode !== null || child.signalCode !== null) return;
      stoppedByUs = true;
      group.stop();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    try {
      const { code, signal } = await exited;
      // Stragglers still in the group hold our pipes: stop them like the task itself.
      if (group.alive()) group.stop();
      if (!(await settlesWithin(closed, group.remainingGraceMs() + PIPE_DRAIN_MS))) {
        group.kill();
        if (!(await settlesWithin(closed, PIPE_DRAIN_MS))) {
          child.stdout?.destroy();
          child.stderr?.destroy();
          await closed;
        }
      }
      // Whatever is left has had its SIGTERM and gave up its output: kill it outright rather
      // than poll, since unreaped zombies keep `kill(-pgid, 0)` succeeding indefinitely.
      if (group.alive()) group.kill();
      const out = stdout.toString();
      const err = stderr.toString();

      if (stoppedByUs) {
        throw abortError(ctx.signal.reason, 'command cancelled', { stdout: out, stderr: err, exitCode: code, signal });
      }
      if (signal !== null) {
        throw new TaskError('task_failed', `command killed by signal ${signal}`, {
          retryable: true,
          detail: { signal, stdout: out, stderr: err },
        });
      }
      if (code !== 0) {
        throw new TaskError('task_failed', `command exited with code ${code}`, {
          retryable: true,
          detail: { exitCode: code, stdout: out, stderr: err },
        });
      }
      return { exitCode: 0, stdout: out, stderr: err, durationMs: performance.now() - started };
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      group.dispose();
      this.guard?.untrack(pid);
    }
  }
}

function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      child.off('error', onError);
      resolve({ code, signal });
    };
    // Once spawned, 'error' only reports failed kill()/send(), which we do not use; it is
    // awaited only when the spawn failed.
    const onError = (err: Error): void => {
      child.off('exit', onExit);
      reject(err);
    };
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function waitForClose(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('close', () => resolve());
  });
}

/** Signals a process group; tolerates the group being gone already. */
class ProcessGroup {
  private termSentAt: number | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killed = false;

  constructor(
    private readonly pgid: number,
    private readonly graceMs: number,
  ) {}

  /** SIGTERM the group now and SIGKILL it after the grace. Idempotent. */
  stop(): void {
    if (this.termSentAt !== undefined) return;
    this.termSentAt = performance.now();
    this.send('SIGTERM');
    this.killTimer = setTimeout(() => this.kill(), this.graceMs);
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    clearTimeout(this.killTimer);
    this.send('SIGKILL');
  }

  /** Time left until the SIGKILL of a stop in progress; 0 if not stopping or already killed. */
  remainingGraceMs(): number {
    if (this.termSentAt === undefined || this.killed) return 0;
    return Math.max(0, this.termSentAt + this.graceMs - performance.now());
  }

  /** Whether any member (zombies included) is left. */
  alive(): boolean {
    try {
      process.kill(-this.pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  dispose(): void {
    clearTimeout(this.killTimer);
  }

  private send(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pgid, signal);
    } catch (err) {
      // ESRCH: the whole group is gone. EPERM: a member we may not signal (setuid); the
      // rest of the group still got the signal, and there is nothing better to do.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ESRCH' && code !== 'EPERM') throw err;
    }
  }
}
