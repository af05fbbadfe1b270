import { getEventListeners } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { TaskError } from '../src/errors/errors.js';
import type { ExecutionContext } from '../workers/executors/executor.js';
import { CommandExecutor, type CommandSpec } from '../workers/executors/command.js';

function makeCtx(opts: { env?: Record<string, string>; signal?: AbortSignal } = {}): {
  ctx: ExecutionContext;
  abort: AbortController;
} {
  const abort = new AbortController();
  const ctx: ExecutionContext = {
    taskId: 'task-123',
    taskClass: 'gpu-small',
    attempt: 2,
    signal: opts.signal ?? abort.signal,
    env: opts.env ?? {},
    progress: async () => {},
  };
  return { ctx, abort };
}

function spec(argv: string[], extra: Partial<CommandSpec> = {}): CommandSpec {
  return { argv, env: {}, cwd: '', ...extra };
}

/** Resolves once `cond` is true; fails after `timeoutMs`. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A process is gone once signalling it fails (or it is a zombie nobody has reaped yet). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function rejection(p: Promise<unknown>): Promise<TaskError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TaskError);
  return err as TaskError;
}

describe('CommandExecutor', () => {
  let dir: string;
  const stray: number[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'command-executor-'));
  });

  afterEach(() => {
    // Never leave a sleep 30 behind if an assertion failed half-way.
    for (const pid of stray.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('has kind "command"', () => {
    expect(new CommandExecutor().kind).toBe('command');
  });

  it('captures stdout and stderr of a successful command', async () => {
    const { ctx } = makeCtx();
    const res = await new CommandExecutor().run(spec(['sh', '-c', 'echo hello; echo oops >&2']), {}, ctx);
    expect(res).toMatchObject({ exitCode: 0, stdout: 'hello\n', stderr: 'oops\n' });
    expect(res.durationMs).toBeGreaterThanOrEqual(0);
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });

  it('passes spec env, ctx env and the task identity to the child; spec env wins over ctx env', async () => {
    const { ctx } = makeCtx({ env: { BAR: 'from-ctx', BOTH: 'ctx' } });
    const res = await new CommandExecutor().run(
      spec(['sh', '-c', 'echo "$FOO|$BAR|$BOTH|$ORCHESTRATOR_TASK_ID|$ORCHESTRATOR_TASK_CLASS|$ORCHESTRATOR_ATTEMPT|${PATH:+has-path}"'], {
        env: { FOO: 'from-spec', BOTH: 'spec' },
      }),
      {},
      ctx,
    );
    expect(res.stdout).toBe('from-spec|from-ctx|spec|task-123|gpu-small|2|has-path\n');
  });

  it('runs in spec.cwd', async () => {
    const { ctx } = makeCtx();
    const res = await new CommandExecutor().run(spec(['pwd'], { cwd: dir }), {}, ctx);
    expect(res.stdout.trim()).toBe(realpathSync(dir));
  });

  it('turns a non-zero exit into a retryable task_failed with exit code and output tail', async () => {
    const { ctx } = makeCtx();
    const err = await rejection(new CommandExecutor().run(spec(['sh', '-c', 'echo partial; echo "it broke" >&2; exit 3']), {}, ctx));
    expect(err.code).toBe('task_failed');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('command exited with code 3');
    expect(err.detail).toMatchObject({ exitCode: 3, stdout: 'partial\n', stderr: 'it broke\n' });
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });

  it('reports a child killed by a signal it did not get from us', async () => {
    const { ctx } = makeCtx();
    const err = await rejection(new CommandExecutor().run(spec(['sh', '-c', 'kill -KILL $$']), {}, ctx));
    expect(err.code).toBe('task_failed');
    expect(err.message).toContain('SIGKILL');
    expect(err.detail).toMatchObject({ signal: 'SIGKILL' });
  });

  it('keeps only the last outputTailBytes of a large output', async () => {
    const script = "let s = ''; for (let i = 0; i < 100000; i++) s += 'line ' + i + '\\n'; process.stdout.write(s); process.stderr.write(s);";
    let full = '';
    for (let i = 0; i < 100000; i++) full += 'line ' + i + '\n';
    expect(full.length).toBeGreaterThan(1_000_000);

    const { ctx } = makeCtx();
    const res = await new CommandExecutor({ outputTailBytes: 1000 }).run(spec([process.execPath, '-e', script]), {}, ctx);
    expect(Buffer.byteLength(res.stdout)).toBeLessThanOrEqual(1000);
    expect(res.stdout).toBe(full.slice(-1000));
    expect(res.stderr).toBe(full.slice(-1000));
  });

  it('does not produce a broken character when the tail cuts a UTF-8 sequence', async () => {
    const { ctx } = makeCtx();
    const res = await new CommandExecutor({ outputTailBytes: 1001 }).run(spec([process.execPath, '-e', "process.stdout.write('é'.repeat(5000))"]), {}, ctx);
    expect(res.stdout).toBe('é'.repeat(500));
  });

  it('fails non-retryably when the binary does not exist, naming it', async () => {
    const { ctx } = makeCtx();
    const err = await rejection(new CommandExecutor().run(spec(['no-such-binary-5f3a9c', '--flag']), {}, ctx));
    expect(err.code).toBe('task_failed');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('no-such-binary-5f3a9c');
    expect(err.message).toContain('ENOENT');
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });

  it('fails non-retryably when the file is not executable', async () => {
    const file = join(dir, 'not-executable.sh');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    const { ctx } = makeCtx();
    const err = await rejection(new CommandExecutor().run(spec([file]), {}, ctx));
    expect(err.code).toBe('task_failed');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(file);
    expect(err.message).toContain('EACCES');
  });

  it('fails non-retryably on an empty argv', async () => {
    const { ctx } = makeCtx();
    const err = await rejection(new CommandExecutor().run(spec([]), {}, ctx));
    expect(err.code).toBe('task_failed');
    expect(err.retryable).toBe(false);
  });

  it('does not spawn when the signal is already aborted', async () => {
    const marker = join(dir, 'spawned');
    const { ctx, abort } = makeCtx();
    const reason = new TaskError('cancelled', 'cancelled by user');
    abort.abort(reason);
    const err = await rejection(new CommandExecutor().run(spec(['touch', marker]), {}, ctx));
    expect(err).toBe(reason);
    expect(existsSync(marker)).toBe(false);
  });

  it('kills the command on abort and rejects with the abort reason', async () => {
    const { ctx, abort } = makeCtx();
    const started = performance.now();
    const run = new CommandExecutor().run(spec(['sleep', '30']), {}, ctx);
    abort.abort(new TaskError('timed_out', 'attempt exceeded 10ms'));
    const err = await rejection(run);
    expect(err.code).toBe('timed_out');
    expect(err.message).toBe('attempt exceeded 10ms');
    expect(err.retryable).toBe(true);
    expect(err.detail).toMatchObject({ signal: 'SIGTERM', stdout: '', stderr: '' });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(getEventListeners(ctx.signal, 'abort')).toHaveLength(0);
  });

  it('kills the whole process group on abort, grandchildren included', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const { ctx, abort } = makeCtx();
    const run = new CommandExecutor().run(spec(['sh', '-c', 'echo started; sleep 30 & echo $! > "$PID_FILE"; wait'], { env: { PID_FILE: pidFile } }), {}, ctx);
    await waitFor(() => readPid(pidFile) !== undefined, 'the grandchild pid');
    const grandchild = readPid(pidFile)!;
    stray.push(grandchild);
    expect(isGone(grandchild)).toBe(false);

    abort.abort(new TaskError('timed_out', 'too slow'));
    const err = await rejection(run);
    expect(err.code).toBe('timed_out');
    expect(err.detail).toMatchObject({ stdout: 'started\n' });
    await waitFor(() => isGone(grandchild), 'the grandchild to die');
  });

  it('SIGKILLs a command that ignores SIGTERM after killGraceMs', async () => {
    const pidFile = join(dir, 'ready.pid');
    const { ctx, abort } = makeCtx();
    const run = new CommandExecutor({ killGraceMs: 200 }).run(
      spec(['sh', '-c', 'trap "" TERM; echo $$ > "$PID_FILE"; sleep 30'], { env: { PID_FILE: pidFile } }),
      {},
      ctx,
    );
    // Abort only once the trap is installed, otherwise SIGTERM would simply work.
    await waitFor(() => readPid(pidFile) !== undefined, 'the trap to be installed');
    stray.push(readPid(pidFile)!);

    const aborted = performance.now();
    abort.abort(new TaskError('timed_out', 'too slow'));
    const err = await rejection(run);
    const elapsed = performance.now() - aborted;
    expect(err.code).toBe('timed_out');
    expect(err.detail).toMatchObject({ signal: 'SIGKILL' });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(5000);
  });

  it('turns a non-Error abort reason into a cancelled TaskError', async () => {
    const { ctx, abort } = makeCtx();
    const run = new CommandExecutor().run(spec(['sleep', '30']), {}, ctx);
    abort.abort('user pressed stop');
    const err = await rejection(run);
    expect(err.code).toBe('cancelled');
    expect(err.retryable).toBe(false);
  });

  it('does not wait for, or leave behind, background processes of a finished command', async () => {
    const pidFile = join(dir, 'bg.pid');
    const { ctx } = makeCtx();
    const started = performance.now();
    const res = await new CommandExecutor({ killGraceMs: 200 }).run(
      spec(['sh', '-c', 'sleep 30 & echo $! > "$PID_FILE"; echo done'], { env: { PID_FILE: pidFile } }),
      {},
      ctx,
    );
    expect(res.stdout).toBe('done\n');
    expect(performance.now() - started).toBeLessThan(5000);
    const bg = readPid(pidFile)!;
    stray.push(bg);
    await waitFor(() => isGone(bg), 'the background process to die');
  });
});
