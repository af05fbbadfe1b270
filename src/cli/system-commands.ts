/** orchctl health, metrics, and env up | down | restart | status | logs (the env-manager). */
import type { Command } from 'commander';
import { ServingStatus } from '../client/orchestrator-client.js';
import * as envpb from '../gen/envmanager/v1/envmanager.js';
import { GetMetricsResponse, HealthResponse } from '../gen/orchestrator/v1/orchestrator.js';
import { EXIT, enumName, type CliContext } from './cli-context.js';

const serving = (s: ServingStatus) => enumName(ServingStatus, s, 'SERVING_STATUS_');
const serviceState = (s: envpb.ServiceState) => enumName(envpb.ServiceState, s, 'SERVICE_STATE_');

function printServices(ctx: CliContext, services: envpb.ServiceStatus[]): void {
  if (ctx.json) return ctx.jsonMessage(envpb.ListServicesResponse, { services });
  ctx.table(
    services.map((s) => ({
      service: s.name,
      state: serviceState(s.state),
      image: s.image,
      container: s.containerId.slice(0, 12),
      restarts: s.restarts,
      health: s.healthOutput,
    })),
    ['service', 'state', 'image', 'container', 'restarts', 'health'],
  );
}

export function registerSystemCommands(program: Command, ctx: () => CliContext): void {
  program
    .command('health')
    .description('overall and per-component health (exit 1 unless serving)')
    .action(async () => {
      const c = ctx();
      const h = await c.client().health();
      if (c.json) c.jsonMessage(HealthResponse, h);
      else {
        c.line(`${serving(h.status)}  version ${h.version}  up ${Math.round(h.uptimeMs / 1000)} s`);
        c.table(h.components.map((x) => ({ component: x.name, status: serving(x.status), detail: x.detail })));
      }
      if (h.status !== ServingStatus.SERVING_STATUS_SERVING) process.exitCode = EXIT.failed;
    });

  program
    .command('metrics')
    .description('named figures: queue depths, pools, counts, stream lengths')
    .action(async () => {
      const c = ctx();
      const m = await c.client().getMetrics();
      if (c.json) return c.jsonMessage(GetMetricsResponse, m);
      c.table(
        Object.keys(m.metrics)
          .sort()
          .map((k) => ({ metric: k, value: m.metrics[k] })),
      );
    });

  const env = program.command('env').description('the env-manager: up, down, restart, status, logs');
  const names = (list: string[]) => ({ names: list });
  env
    .command('up')
    .description('start services (all when none named) and what they depend on; waits until healthy')
    .argument('[services...]')
    .action(async (list: string[]) => {
      const c = ctx();
      const r = await c.envCall<envpb.StartServicesRequest, envpb.StartServicesResponse>('startServices', names(list), Math.max(c.deadlineMs, 300_000));
      printServices(c, r.services);
    });
  env
    .command('down')
    .description('stop and remove services (all when none named) and what depends on them')
    .argument('[services...]')
    .action(async (list: string[]) => {
      const c = ctx();
      const r = await c.envCall<envpb.StopServicesRequest, envpb.StopServicesResponse>('stopServices', names(list), Math.max(c.deadlineMs, 300_000));
      printServices(c, r.services);
    });
  env
    .command('restart')
    .description('recreate one service and wait until it is healthy')
    .argument('<service>')
    .action(async (name: string) => {
      const c = ctx();
      printServices(c, [await c.envCall<envpb.RestartServiceRequest, envpb.ServiceStatus>('restartService', { name }, Math.max(c.deadlineMs, 300_000))]);
    });
  env
    .command('status')
    .description('every service with its state')
    .action(async () => {
      const c = ctx();
      printServices(c, (await c.envCall<envpb.ListServicesRequest, envpb.ListServicesResponse>('listServices', {})).services);
    });
  env
    .command('logs')
    .description("the last lines of a service's output")
    .argument('<service>')
    .option('-n, --tail <lines>', 'lines', '100')
    .action(async (name: string, f: { tail: string }) => {
      const c = ctx();
      const r = await c.envCall<envpb.GetServiceLogsRequest, envpb.GetServiceLogsResponse>('getServiceLogs', { name, tail: Number(f.tail) || 100 });
      if (c.json) c.jsonMessage(envpb.GetServiceLogsResponse, r);
      else c.line(r.text);
    });
}
