/**
 * The env-manager's service file: TOML describing the Docker services Orchestrator depends on.
 * Loaded once, validated (strict keys, durations, sizes, dependencies, volumes) and frozen; an
 * error names the key and the line it is on. Environment variables override a service's image
 * (ORCHESTRATOR_ENV_<SERVICE>_IMAGE, the name upper-cased with "-" as "_").
 *
 *   [settings]
 *   project = "orq"                      # container names "<project>-<service>", labels
 *   stopGrace = "10s"
 *   onStartFailure = "keep"              # or "rollback": remove what this start created
 *   allowedVolumeRoots = ["/srv/orq"]    # host paths a volume may bind
 *
 *   [services.redis]
 *   image = "redis:7"
 *   command = ["redis-server", "--appendonly", "yes"]
 *   ports = ["127.0.0.1:6379:6379"]
 *   volumes = ["/srv/orq/redis:/data"]
 *   restart = "always"
 *   [services.redis.healthcheck]
 *   kind = "tcp"                         # tcp | http | command | image | none
 *   port = 6379
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { normaliseAbsolutePath, pathAllowed } from '../executors/executor-policy.js';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };

/** "250ms", "5s", "2m", "1h", or a number of milliseconds. */
const duration = z.union([z.number().int().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (e.g. 500ms, 5s, 2m, 1h)` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
});

/** "512m", "1g", or a number of bytes. */
const size = z.union([z.number().int().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)([bkmg])$/i.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (e.g. 512m, 1g)` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
});

const healthcheck = z.strictObject({
  /** none: running counts as healthy; image: the image's own HEALTHCHECK. @default "none" */
  kind: z.enum(['none', 'tcp', 'http', 'command', 'image']).default('none'),
  /** tcp, http: where to connect from the env-manager. @default "127.0.0.1" */
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65_535).optional(),
  /** http: the path to GET; any 2xx is healthy. @default "/" */
  path: z.string().default('/'),
  /** command: run inside the container; exit 0 is healthy. */
  command: z.array(z.string()).default([]),
  interval: duration.default(5_000),
  timeout: duration.default(3_000),
  /** Failures in a row before a running service counts as unhealthy. @default 3 */
  retries: z.number().int().min(1).default(3),
  /** Failures during this time after a start do not count. @default 0 */
  startPeriod: duration.default(0),
});

const serviceSchema = z.strictObject({
  image: z.string().min(1),
  command: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  /** "[host_ip:]host_port:container_port[/tcp|udp]" */
  ports: z.array(z.string().regex(/^(?:[\d.]+:)?\d{1,5}:\d{1,5}(?:\/(?:tcp|udp))?$/, 'expected [host_ip:]host_port:container_port')).default([]),
  /** "host_path:container_path[:ro]" (host path under settings.allowedVolumeRoots) or "name:container_path[:ro]". */
  volumes: z.array(z.string()).default([]),
  /** bridge | host | none, or a network name. @default "bridge" */
  network: z.string().min(1).default('bridge'),
  memory: size.optional(),
  cpus: z.number().positive().optional(),
  pids: z.number().int().min(1).optional(),
  depends_on: z.array(z.string()).default([]),
  /** What the watcher does when the service exits or turns unhealthy. @default "on-failure" */
  restart: z.enum(['no', 'on-failure', 'always']).default('on-failure'),
  /** Restarts by the watcher before it gives up on the service. @default 10 */
  maxRestarts: z.number().int().min(0).default(10),
  /** How long a start waits for the service to be healthy. @default 60s */
  startTimeout: duration.default(60_000),
  healthcheck: healthcheck.prefault({}),
});

const fileSchema = z.strictObject({
  settings: z
    .strictObject({
      project: z
        .string()
        .regex(/^[a-z0-9][a-z0-9_-]*$/)
        .default('orq'),
      stopGrace: duration.default(10_000),
      onStartFailure: z.enum(['keep', 'rollback']).default('keep'),
      allowedVolumeRoots: z.array(z.string()).default([]),
    })
    .prefault({}),
  services: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'service names are [a-z0-9_-]'), serviceSchema),
});

export type ServiceDefinition = z.output<typeof serviceSchema> & { name: string };
export type HealthCheckDefinition = z.output<typeof healthcheck>;

export interface ServiceFile {
  settings: z.output<typeof fileSchema>['settings'];
  /** In dependency order: every service after the ones it depends on. */
  services: ServiceDefinition[];
  file: string;
}

export class ServiceFileError extends Error {
  constructor(
    message: string,
    readonly key: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'ServiceFileError';
  }
}

/** The line (1-based) a key is on: its own "key =" line in its table, else the table's header. */
export function lineOf(text: string, path: (string | number)[]): number {
  const lines = text.split('\n');
  const keys = path.filter((p): p is string => typeof p === 'string');
  for (let depth = keys.length; depth > 0; depth--) {
    const table = keys.slice(0, depth - 1).join('.');
    const key = keys[depth - 1]!;
    let current = '';
    for (let i = 0; i < lines.length; i++) {
      const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(lines[i]!);
      if (header) {
        current = header[1]!.replace(/\s+/g, '').replace(/"/g, '');
        if (current === [table, key].filter(Boolean).join('.')) return i + 1;
        continue;
      }
      if (current === table && new RegExp(`^\\s*"?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*=`).test(lines[i]!)) return i + 1;
    }
  }
  return 1;
}

function fail(text: string, file: string, path: (string | number)[], message: string): never {
  const key = path.join('.') || '(root)';
  const line = lineOf(text, path);
  throw new ServiceFileError(`${file}:${line}: ${key}: ${message}`, key, line);
}

/** Services ordered so each comes after its dependencies; a cycle or unknown one is an error. */
function dependencyOrder(text: string, file: string, services: Record<string, z.output<typeof serviceSchema>>): string[] {
  const names = Object.keys(services);
  for (const n of names) {
    for (const d of services[n]!.depends_on) {
      if (!services[d]) fail(text, file, ['services', n, 'depends_on'], `depends on unknown service "${d}"`);
    }
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(n)), n];
      fail(text, file, ['services', cycle[0]!, 'depends_on'], `dependency cycle: ${cycle.join(' -> ')}`);
    }
    state.set(n, 'visiting');
    for (const d of services[n]!.depends_on) visit(d, [...path, n]);
    state.set(n, 'done');
    order.push(n);
  };
  for (const n of names) visit(n, []);
  return order;
}

function checkVolumes(text: string, file: string, name: string, volumes: string[], roots: string[]): void {
  volumes.forEach((v, i) => {
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'ro' && parts[2] !== 'rw') || !parts[1]!.startsWith('/')) {
      fail(text, file, ['services', name, 'volumes', i], `"${v}" is not host_path:container_path[:ro] or name:container_path[:ro]`);
    }
    if (!parts[0]!.startsWith('/')) return; // a named volume: Docker keeps it, nothing of the host
    const host = normaliseAbsolutePath(parts[0]!);
    if (!host || !pathAllowed(host, roots)) {
      fail(text, file, ['services', name, 'volumes', i], `host path ${parts[0]} is not under settings.allowedVolumeRoots (${roots.join(', ') || 'none'})`);
    }
  });
}

/** Parses and validates service-file text. Throws ServiceFileError naming the key and line. */
export function parseServiceFile(text: string, file: string, env: NodeJS.ProcessEnv = {}): ServiceFile {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const line = (err as { line?: number }).line ?? 1;
    throw new ServiceFileError(`${file}:${line}: ${(err as Error).message.split('\n')[0]}`, '(syntax)', line);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    fail(text, file, path as (string | number)[], issue.code === 'unrecognized_keys' ? `unknown key` : issue.message);
  }
  const { settings, services } = parsed.data;
  if (Object.keys(services).length === 0) fail(text, file, ['services'], 'the file defines no service');
  const roots = settings.allowedVolumeRoots.map(
    (r, i) => normaliseAbsolutePath(r) ?? fail(text, file, ['settings', 'allowedVolumeRoots', i], `"${r}" is not an absolute path`),
  );
  for (const [name, s] of Object.entries(services)) {
    checkVolumes(text, file, name, s.volumes, roots);
    const hc = s.healthcheck;
    if ((hc.kind === 'tcp' || hc.kind === 'http') && hc.port === undefined)
      fail(text, file, ['services', name, 'healthcheck', 'kind'], `a ${hc.kind} check needs a port`);
    if (hc.kind === 'command' && hc.command.length === 0) fail(text, file, ['services', name, 'healthcheck', 'kind'], 'a command check needs a command');
    const override = env[`ORCHESTRATOR_ENV_${name.toUpperCase().replace(/-/g, '_')}_IMAGE`];
    if (override) s.image = override;
  }
  const order = dependencyOrder(text, file, services);
  return Object.freeze({
    settings: { ...settings, allowedVolumeRoots: roots },
    services: order.map((name) => Object.freeze({ ...services[name]!, name })),
    file,
  });
}

/** Reads and validates a service file. */
export function loadServiceFile(file: string, env: NodeJS.ProcessEnv = {}): ServiceFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ServiceFileError(`${file}: ${(err as Error).message}`, '(file)', 0);
  }
  return parseServiceFile(text, file, env);
}
