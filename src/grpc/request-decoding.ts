/**
 * Requests that do not decode end with INVALID_ARGUMENT naming the field, not grpc-js's INTERNAL.
 *
 * Our generated code decodes 64-bit integers as JavaScript numbers (ts-proto forceLong=number)
 * and throws for a value beyond 2^53-1, which it cannot represent exactly. grpc-js answers any
 * throw of a deserializer with INTERNAL "Error deserializing request", blaming the server for a
 * client's value. So the deserializer here catches the throw and hands the handler an
 * UndecodableRequest instead; the handler wrapper (wrapHandlers) answers it with
 * INVALID_ARGUMENT. To name the field, the request is decoded a second time, only then, by
 * protobufjs (through @grpc/proto-loader) with 64-bit integers as strings.
 */
import { createRequire } from 'node:module';
import { type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type { MethodDefinition, PackageDefinition } from '@grpc/proto-loader';
import { PROTO_DIR } from '../paths.js';
import { invalidArgument } from '../errors/errors.js';
import { toServiceError } from './status.js';

/** What a handler receives in place of a request that did not decode. */
export class UndecodableRequest {
  constructor(readonly error: Error) {}
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The first integer field of `value` (decoded with longs as strings) outside ±(2^53-1), as a path. */
function unsafeIntegerField(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') {
    if (!/^-?\d{16,}$/.test(value)) return undefined;
    const n = BigInt(value);
    return n > MAX_SAFE || n < -MAX_SAFE ? path : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const f = unsafeIntegerField(value[i], `${path}[${i}]`);
      if (f) return f;
    }
  } else if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const [k, v] of Object.entries(value)) {
      const f = unsafeIntegerField(v, path ? `${path}.${k}` : k);
      if (f) return f;
    }
  }
  return undefined;
}

/** The request decoding error as the domain's invalid_argument, naming the field when it can. */
function describe(method: MethodDefinition<unknown, unknown> | undefined, bytes: Buffer, err: Error): Error {
  try {
    const field = method && unsafeIntegerField(method.requestDeserialize(bytes), '');
    if (field) return invalidArgument(field, 'is outside -(2^53-1)..2^53-1, the integers this server represents exactly');
  } catch {
    // Undecodable even loosely: a malformed message, said below.
  }
  return invalidArgument('request', `does not decode: ${err.message}`);
}

/**
 * `definition` (of `serviceName`) whose request deserializers never throw, and `handlers` that answer an
 * UndecodableRequest with INVALID_ARGUMENT. `protoFile` (under proto/) describes the service.
 */
export function tolerantService(
  definition: ServiceDefinition,
  handlers: UntypedServiceImplementation,
  serviceName: string,
  protoFile: string,
): { definition: ServiceDefinition; handlers: UntypedServiceImplementation } {
  let loaded: PackageDefinition | undefined;
  const loose = (path: string) => {
    if (!loaded) {
      // Loaded only here, for a request that did not decode: most processes never need it.
      const { loadSync } = createRequire(import.meta.url)('@grpc/proto-loader') as typeof ProtoLoader;
      loaded = loadSync(protoFile, { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String });
    }
    const methods = (loaded[serviceName] ?? {}) as Record<string, MethodDefinition<unknown, unknown>>;
    return Object.values(methods).find((m) => m.path === path);
  };
  const def: Record<string, ServiceDefinition[string]> = {};
  const wrapped: UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(definition)) {
    def[name] = {
      ...m,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return m.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(describe(loose(m.path), bytes, err instanceof Error ? err : new Error(String(err))));
        }
      },
    };
    const handler = handlers[name];
    if (!handler) continue;
    wrapped[name] = ((call: { request?: unknown; emit(e: string, v: unknown): void }, callback?: (err: unknown) => void) => {
      if (call.request instanceof UndecodableRequest) {
        const e = toServiceError(call.request.error);
        if (callback) callback(e);
        else call.emit('error', e);
        return;
      }
      return (handler as (c: unknown, cb?: unknown) => void)(call, callback);
    }) as UntypedServiceImplementation[string];
  }
  return { definition: def as ServiceDefinition, handlers: wrapped };
}
