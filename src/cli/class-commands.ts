/** orchctl limits, pause, resume: flow control of a task class. */
import type { Command } from 'commander';
import type { ClassLimits } from '../client/orchestrator-client.js';
import { ClassLimits as ClassLimitsMessage } from '../gen/orchestrator/v1/orchestrator.js';
import { CliError, EXIT, type CliContext } from './cli-context.js';

function printLimits(ctx: CliContext, l: ClassLimits): void {
  if (ctx.json) return ctx.jsonMessage(ClassLimitsMessage, l);
  ctx.record({
    class: l.taskClass,
    pool_concurrency: l.poolConcurrency || 'as configured',
    global_concurrency: l.globalConcurrency || 'no cap',
    rate_limit: l.rateLimitMax ? `${l.rateLimitMax} per ${l.rateLimitDurationMs} ms` : 'none',
    paused: l.paused,
  });
}

const count = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError(`${flag}: expected an integer, got "${v}"`, EXIT.usage);
  return n;
};

export function registerClassCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('limits')
    .description("show a class's limits, or change them (0 clears one); running pools apply changes at once")
    .argument('<class>')
    .option('--pool-concurrency <n>', 'tasks each pool runs at once')
    .option('--global-concurrency <n>', 'tasks all pools together run at once')
    .option('--rate <max/ms>', 'at most MAX starts per MS milliseconds, e.g. 100/1000 (0/0 clears)')
    .action(async (cls: string, f: { poolConcurrency?: string; globalConcurrency?: string; rate?: string }) => {
      const c = ctx();
      let rate: { rateLimitMax: number; rateLimitDurationMs: number } | undefined;
      if (f.rate !== undefined) {
        const m = /^(\d+)\/(\d+)$/.exec(f.rate);
        if (!m) throw new CliError(`--rate: expected MAX/MS such as 100/1000, got "${f.rate}"`, EXIT.usage);
        rate = { rateLimitMax: Number(m[1]), rateLimitDurationMs: Number(m[2]) };
      }
      const change = {
        poolConcurrency: count(f.poolConcurrency, '--pool-concurrency'),
        globalConcurrency: count(f.globalConcurrency, '--global-concurrency'),
        ...rate,
      };
      const changing = Object.values(change).some((v) => v !== undefined);
      printLimits(c, changing ? await c.client().setClassLimits(cls, change) : await c.client().getClassLimits(cls));
    });
  registerPauseResume(program, ctx);
}

/** `pause <class>` and `resume <class>`, at the top level and under `queue`. */
export function registerPauseResume(parent: Command, ctx: () => CliContext): void {
  parent
    .command('pause')
    .description('stop starting tasks of a class (queued ones wait, running ones finish)')
    .argument('<class>')
    .action(async (cls: string) => printLimits(ctx(), await ctx().client().pauseClass(cls)));
  parent
    .command('resume')
    .description('start tasks of a paused class again')
    .argument('<class>')
    .action(async (cls: string) => printLimits(ctx(), await ctx().client().resumeClass(cls)));
}
