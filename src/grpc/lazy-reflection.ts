/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha, so grpcurl works unconfigured), built
 * on its first call. @grpc/reflection with the descriptors of our protos costs a process about
 * a quarter second of CPU to load and build, at every start of every front end and env-manager;
 * most never answer a reflection call. The services are registered at once, with codecs and a
 * handler that load the real ReflectionService when a call first needs them.
 */
import { createRequire } from 'node:module';
import type { MethodDefinition, Server, ServiceDefinition, UntypedHandleCall } from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type * as Reflection from '@grpc/reflection';

const VERSIONS = ['v1', 'v1alpha'] as const;
const pathOf = (version: string) => `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;

type Method = MethodDefinition<unknown, unknown>;

export class LazyReflection {
  private loaded?: Map<string, { method: Method; handler: UntypedHandleCall }>;

  /** `protoFiles`: what reflection describes, found under `includeDirs`. */
  constructor(
    private readonly protoFiles: string[],
    private readonly includeDirs: string[],
  ) {}

  /** The real service's method and handler of each version, by path: loaded on first use. */
  private real(path: string): { method: Method; handler: UntypedHandleCall } {
    if (!this.loaded) {
      const require = createRequire(import.meta.url);
      const { loadSync } = require('@grpc/proto-loader') as typeof ProtoLoader;
      const { ReflectionService } = require('@grpc/reflection') as typeof Reflection;
      const loaded = new Map<string, { method: Method; handler: UntypedHandleCall }>();
      // Its addToServer, pointed at a recorder instead of the server.
      const recorder = {
        addService(definition: ServiceDefinition, implementation: Record<string, UntypedHandleCall>) {
          for (const [name, method] of Object.entries(definition)) loaded.set(method.path, { method: method as Method, handler: implementation[name]! });
        },
      };
      new ReflectionService(loadSync(this.protoFiles, { includeDirs: this.includeDirs })).addToServer(recorder as unknown as Server);
      this.loaded = loaded;
    }
    const found = this.loaded.get(path);
    if (!found) throw new Error(`@grpc/reflection has no method ${path}`);
    return found;
  }

  addToServer(server: Server): void {
    for (const version of VERSIONS) {
      const path = pathOf(version);
      const m = () => this.real(path).method;
      const method: Method = {
        path,
        requestStream: true,
        responseStream: true,
        originalName: 'serverReflectionInfo',
        requestSerialize: (v) => m().requestSerialize(v),
        requestDeserialize: (b) => m().requestDeserialize(b),
        responseSerialize: (v) => m().responseSerialize(v),
        responseDeserialize: (b) => m().responseDeserialize(b),
      };
      const handler = ((call: unknown) => (this.real(path).handler as (c: unknown) => void)(call)) as UntypedHandleCall;
      server.addService({ ServerReflectionInfo: method }, { ServerReflectionInfo: handler });
    }
  }
}
