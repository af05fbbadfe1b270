/** orchctl pools | pools drain: the worker pools and draining one. */
import type { Command } from 'commander';
import { PoolState, type Pool } from '../client/orchestrator-client.js';
import { enumName, type CliContext } from './cli-context.js';

const poolState = (s: PoolState) => enumName(PoolState, s, 'POOL_STATE_');
const iso = (ms: number) => (ms ? new Date(ms).toISOString() : null);

/** A pool as printed: a table row, or the --json record (enum names, numbers, null for no time). */
function poolRecord(p: Pool): Record<string, unknown> {
  return {
    pool: p.poolId,
    state: poolState(p.state),
    host: p.host,
    pid: p.pid,
    version: p.version,
    classes: p.classes.map((c) => ({ class: c.taskClass, concurrency: c.concurrency, busy: c.busy })),
    busy: p.busy,
    slots: p.classes.reduce((n, c) => n + c.concurrency, 0),
    started: iso(p.startedAtMs),
    last_heartbeat: iso(p.lastHeartbeatMs),
    draining: p.draining,
    exit_when_drained: p.exitWhenDrained,
    metrics: p.metricsAddr,
    stopped: iso(p.stoppedAtMs),
  };
}

/** "3s ago", "2m ago": how long since a heartbeat, for the table. */
function ago(ms: number): string {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

export function registerPoolCommands(program: Command, ctx: () => CliContext): void {
  const pools = program
    .command('pools')
    .description('worker pools: live ones, then those stopped or lost recently (host, classes, busy slots, heartbeat, draining)')
    .action(async () => {
      const c = ctx();
      const list = await c.client().listPools();
      if (c.json) return c.jsonLine({ pools: list.map(poolRecord) });
      c.table(
        list.map((p) => ({
          pool: p.poolId,
          state: poolState(p.state),
          host: `${p.host}:${p.pid}`,
          version: p.version,
          classes: p.classes.map((k) => `${k.taskClass}:${k.busy}/${k.concurrency}`).join(' '),
          busy: `${p.busy}/${p.classes.reduce((n, k) => n + k.concurrency, 0)}`,
          heartbeat: ago(p.lastHeartbeatMs),
          started: p.startedAtMs ? new Date(p.startedAtMs).toISOString() : '',
        })),
        ['pool', 'state', 'host', 'version', 'classes', 'busy', 'heartbeat', 'started'],
      );
      if (list.length === 0) c.note('no pools heard from');
    });

  pools
    .command('drain')
    .description('stop a pool taking tasks; its running tasks finish (no time limit), then it stays up idle, or exits with --exit')
    .argument('<pool_id>')
    .option('--exit', 'exit once the running tasks are done')
    .action(async (poolId: string, f: { exit?: boolean }) => {
      const c = ctx();
      const r = await c.client().drainPool(poolId, Boolean(f.exit));
      c.record({ pool: r.poolId, draining: true, exit_when_drained: Boolean(f.exit), changed: r.changed });
    });

  pools
    .command('resume')
    .description('undo a drain (not one with --exit): the pool takes tasks again')
    .argument('<pool_id>')
    .action(async (poolId: string) => {
      const c = ctx();
      const r = await c.client().resumePool(poolId);
      c.record({ pool: r.poolId, draining: false, changed: r.changed });
    });
}
