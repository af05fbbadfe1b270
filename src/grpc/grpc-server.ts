/**
 * The orchestrator's gRPC server: OrchestratorService on a GrpcHost (grpc-host.ts: health,
 * reflection, limits, tokens and their roles, TLS, start and close).
 */
import { GRPC_ROLES } from '../auth/roles.js';
import { OrchestratorServiceService } from '../gen/orchestrator/v1/orchestrator.js';
import { OrchestratorError } from '../errors/errors.js';
import { orchestratorClassReach, unlessNotFound, type ClassLookups } from './class-reach.js';
import { GrpcHost, type GrpcHostOptions } from './grpc-host.js';
import { ORCHESTRATOR_PATH_ROLES } from './method-roles.js';
import { orchestratorHandlers, type OrchestratorServices } from './orchestrator-service.js';

export const SERVICE_NAME = 'orchestrator.v1.OrchestratorService';

export interface GrpcServerOptions extends Omit<GrpcHostOptions, 'service'> {
  services: OrchestratorServices;
  /** Every configured task class: what an unfiltered call reaches, for class-limited tokens. */
  taskClasses: readonly string[];
}

/** The classes behind task, run, workflow and schedule ids, from the domain services. */
function classLookups(s: OrchestratorServices, allClasses: readonly string[]): ClassLookups {
  return {
    allClasses,
    taskClass: async (id) => (id ? (await unlessNotFound(s.status.classOf(id)))?.taskClass : undefined),
    runClasses: async (id) => (id ? (await unlessNotFound(s.workflows.status.get(id)))?.steps.map((step) => step.taskClass) : undefined),
    workflowClasses: async (name, version) => {
      const plan = name ? await unlessNotFound(s.workflows.store.get(name, version)) : undefined;
      return plan && [...plan.steps.values()].map((step) => step.task.taskClass);
    },
    scheduleClass: async (id) => (id ? (await unlessNotFound(s.schedules.get(id)))?.spec.task.taskClass : undefined),
    scheduleClasses: async () => (await s.schedules.list()).map((v) => v.spec.task.taskClass),
  };
}

export class GrpcServer extends GrpcHost {
  private readonly streams: OrchestratorServices['streams'];

  constructor({ services, taskClasses, ...opts }: GrpcServerOptions) {
    super({
      ...opts,
      service: {
        name: SERVICE_NAME,
        protoFile: 'orchestrator/v1/orchestrator.proto',
        definition: OrchestratorServiceService,
        handlers: orchestratorHandlers(services),
        policy: { ladder: GRPC_ROLES, roles: ORCHESTRATOR_PATH_ROLES, classReach: orchestratorClassReach(classLookups(services, taskClasses)) },
      },
    });
    this.streams = services.streams;
  }

  /**
   * Open streams end first, UNAVAILABLE with their resume hint (a stream cut by the forced
   * shutdown would end CANCELLED, which clients do not resume); unary calls get the grace.
   */
  override async close(graceMs: number): Promise<void> {
    this.streams.endAll(new OrchestratorError('unavailable', 'this server is shutting down: resume from your last cursor on another one'));
    await super.close(graceMs);
  }
}
