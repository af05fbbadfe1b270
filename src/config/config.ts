/**
 * The one config loader: a TOML file (path from ORCHESTRATOR_CONFIG or the caller) plus
 * environment overrides, validated once and frozen. Nothing else reads process.env.
 *
 * Environment variables keep the older stack's names where it had them:
 *   REDIS_URL, ORCHESTRATOR_GRPC_ADDR, ORCHESTRATOR_HTTP_ADDR
 * and add: ORCHESTRATOR_CONFIG, ORCHESTRATOR_PREFIX, ORCHESTRATOR_REDIS_PASSWORD_FILE, ORCHESTRATOR_REDIS_CA_FILE, ORCHESTRATOR_LOG_LEVEL,
 * ORCHESTRATOR_POOL_ID, ORCHESTRATOR_POOL_CLASSES (cpu_short:8,cpu_long), ORCHESTRATOR_POOL_METRICS_ADDR, ORCHESTRATOR_POOL_RUN_DIR,
 * ORCHESTRATOR_HANDLERS_DIR, ORCHESTRATOR_SANDBOX (process|thread), ORCHESTRATOR_POOL_GPUS (0,1),
 * ORCHESTRATOR_GRPC_TOKENS_FILE, ORCHESTRATOR_ENV_FILE, ORCHESTRATOR_ENV_GRPC_ADDR,
 * ORCHESTRATOR_ENV_HTTP_ADDR, ORCHESTRATOR_ENV_TOKENS_FILE, ORCHESTRATOR_DASHBOARD_TOKEN_FILE, ORCHESTRATOR_TOKEN (orchctl's); Docker's own
 * DOCKER_HOST (unix:// sockets only); OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
 * OTEL_SDK_DISABLED; and TRACEPARENT, TRACESTATE (orchctl's calls join that trace).
 */
import { readFileSync } from 'node:fs';
import { hostname, totalmem } from 'node:os';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { isLoopback, splitHostPort } from './listen-address.js';
import { clusterUrl, parseRedisAddress } from './redis-address.js';
import { EXECUTOR_KINDS, MAX_PARTITIONS, resolveTaskClasses, type ExecutorKind, type TaskClassOptions } from '../../queues/task-classes.js';
import { ENV_MANAGER_ROLES, GRPC_ROLES } from '../auth/roles.js';
import { normaliseAbsolutePath, normaliseHttpUrl, type ExecutorPolicy } from '../executors/executor-policy.js';
import { parseCommandTemplate, type CommandTemplate } from '../executors/command-template.js';
import { CONTAINER_USER_RE, IMAGE_PATTERN_RE } from '../executors/container.js';
import { RUNNER_NAME_RE, RUNNER_TASK_NAME_RE } from '../executors/runner.js';
import { SLURM_NAME_RE } from '../executors/slurm.js';

const keep = z.strictObject({ count: z.number().int().min(0), ageMs: z.number().int().min(0) });

const commandName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'a command name is [A-Za-z0-9_.-], not starting with "." or "-"');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name');

/** `[classes.NAME.policy]`: what the class's tasks may run (queues/task-classes.ts ClassPolicy). */
const classPolicy = z.strictObject({
  executors: z.array(z.enum(EXECUTOR_KINDS)).optional(),
  command: z
    .strictObject({
      names: z.array(commandName).optional(),
      raw: z.boolean().optional(),
      runAs: z
        .string()
        .regex(/^$|^[A-Za-z_][A-Za-z0-9_.-]{0,31}$|^\d+(:\d+)?$/, 'expected a user name, uid or uid:gid')
        .optional(),
    })
    .optional(),
  envPassthrough: z.array(envName).optional(),
  container: z
    .strictObject({
      images: z.array(z.string().regex(IMAGE_PATTERN_RE, 'expected an image reference, * for any run of characters')).optional(),
      maxMemoryBytes: z
        .number()
        .int()
        .min(6 << 20)
        .optional(),
      maxCpuMillis: z.number().int().min(1).optional(),
      maxPidsLimit: z.number().int().min(1).optional(),
      maxTimeoutMs: z.number().int().min(1).optional(),
      user: z.string().regex(CONTAINER_USER_RE, 'expected a user, uid or uid:gid').optional(),
      allowRootUser: z.boolean().optional(),
    })
    .optional(),
  slurm: z
    .strictObject({
      names: z.array(commandName).optional(),
      raw: z.boolean().optional(),
      partitions: z.array(z.string().regex(SLURM_NAME_RE)).optional(),
      accounts: z.array(z.string().regex(SLURM_NAME_RE)).optional(),
    })
    .optional(),
  runner: z
    .strictObject({
      runners: z.array(z.string().regex(RUNNER_NAME_RE, 'expected a runner name of executors.runner.runners')).optional(),
      tasks: z.array(z.string().regex(RUNNER_TASK_NAME_RE, 'expected a task name')).optional(),
    })
    .optional(),
});

/** A named command or Slurm script: an argv template (src/executors/command-template.ts). */
const commandTemplate = z
  .strictObject({
    /** Program and argument templates: `{name}` placeholders, argv[0] literal. */
    argv: z.array(z.string()).min(1),
    /** Environment the command always gets. @default {} */
    env: z.record(envName, z.string()).default({}),
    /** Working directory; "" for the pool's. @default "" */
    cwd: z.string().default(''),
  })
  .superRefine((t, ctx) => {
    try {
      parseCommandTemplate(t);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['argv'], message: (err as Error).message });
    }
    if (t.cwd !== '' && !t.cwd.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['cwd'], message: 'must be an absolute path' });
  });

const classOverrides = z.strictObject({
  concurrency: z.number().int().min(1).max(10_000).optional(),
  attempts: z.number().int().min(1).max(1_000).optional(),
  backoff: z.strictObject({ type: z.enum(['fixed', 'exponential']), delayMs: z.number().int().min(0) }).optional(),
  timeoutMs: z.number().int().min(1).optional(),
  lockDurationMs: z.number().int().min(1_000).optional(),
  stalledIntervalMs: z.number().int().min(500).optional(),
  maxStalledCount: z.number().int().min(0).optional(),
  inProcessHandlers: z.boolean().optional(),
  usesGpu: z.boolean().optional(),
  keepCompleted: keep.optional(),
  keepFailed: keep.optional(),
  /** Largest result an attempt may store, in bytes of JSON (queues/task-classes.ts). @default 1048576 (1 MiB) */
  maxResultBytes: z.number().int().min(1024).optional(),
  /** What the class's tasks may run. @default handler tasks only (gpu_slurm: and named Slurm scripts) */
  policy: classPolicy.optional(),
  /**
   * On a Redis Cluster, partitions of the class, each its own hash tag and BullMQ queue, tasks
   * placed by a hash of their id (queues/task-classes.ts, src/store/keys.ts). Ignored on a single
   * Redis (logged at start). @default 1
   */
  partitions: z.number().int().min(1).max(MAX_PARTITIONS).optional(),
});

/** The embedded redis-server's default maxmemory: 1 GiB, or half the machine's memory when that is less. */
export function defaultEmbeddedMaxMemoryBytes(): number {
  const mib = 1 << 20;
  return Math.min(1 << 30, Math.floor(totalmem() / 2 / mib) * mib);
}

/** A token bucket of submitted tasks (grpc.submitRateLimit, and a token's own). */
const rateLimit = z.strictObject({
  /** Tasks per second the bucket refills with; 0 turns the limit off. @default 10000 */
  perSecond: z.number().min(0).default(10_000),
  /** Tasks the bucket holds: the most one caller submits at once; a batch larger never passes. @default 50000 */
  burst: z.number().int().min(1).default(50_000),
});

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port');

/** An absolute host directory, stored normalised. */
const absoluteDir = z.string().transform((text, ctx) => {
  const dir = normaliseAbsolutePath(text);
  if (dir === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an absolute path` });
    return z.NEVER;
  }
  return dir;
});

/** An http(s) URL prefix, stored in its normalised form (see src/executors/executor-policy.ts). */
const httpUrlPrefix = z.string().transform((text, ctx) => {
  const url = normaliseHttpUrl(text);
  if (url === undefined || /[?#]/.test(url)) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an http:// or https:// URL prefix without query or fragment` });
    return z.NEVER;
  }
  return url;
});

const TOKEN_TEXT = /^\S{16,}$/;
const TOKEN_MESSAGE = 'a token is at least 16 characters without spaces';

/**
 * Bearer tokens of a gRPC server (grpc.auth, envManager.auth), each with a role. With none in
 * `tokens` nor in `tokensFile`, calls need no token (allowed on loopback only, see
 * allowUnauthenticated). A plain string, the form before roles, is refused naming the key: it is
 * never silently given a role.
 */
function grpcAuth<R extends readonly [string, ...string[]]>(section: string, roles: R, withClasses: boolean) {
  const example = `[[${section}.auth.tokens]] token = "..." role = "${roles.join('|')}"${withClasses ? ' (classes = [...] optional)' : ''}`;
  const entry = z.preprocess(
    (v, ctx) => {
      if (typeof v !== 'string') return v;
      ctx.addIssue({ code: 'custom', message: `a token needs a role: write it as a table, ${example}` });
      return z.NEVER;
    },
    z.strictObject({
      /** The token (metadata `authorization: Bearer <token>`). */
      token: z.string().regex(TOKEN_TEXT, TOKEN_MESSAGE),
      /** What the token may call (README, "Roles"); required. */
      role: z.enum(roles),
      /** The only task classes the token may act on (grpc.auth only). @default every class */
      classes: withClasses
        ? z
            .array(z.string().regex(/^[a-z0-9_]+$/, 'expected a task class name'))
            .min(1, 'list at least one class, or leave classes out for every class')
            .optional()
        : z.never({ error: 'the env-manager has no task classes' }).optional(),
      /** This token's own grpc.submitRateLimit (grpc.auth only). @default grpc.submitRateLimit */
      submitRateLimit: withClasses ? rateLimit.optional() : z.never({ error: 'the env-manager takes no submissions' }).optional(),
    }),
  );
  return z
    .strictObject({
      /**
       * Tokens accepted, each `{token, role}` (plus `classes` on grpc.auth); with none here nor
       * in tokensFile, calls need no token. grpc.health.v1.Health is always open. @default []
       */
      tokens: z.array(entry).default([]),
      /**
       * A file of tokens, one per line: `<token> <role> [classes=a,b] [submitRateLimit=N/B]` (# comments), read at
       * start. Env ORCHESTRATOR_GRPC_TOKENS_FILE (grpc.auth), ORCHESTRATOR_ENV_TOKENS_FILE
       * (envManager.auth). @default ""
       */
      tokensFile: z.string().default(''),
    })
    .prefault({});
}

/** TLS of a gRPC server (grpc.tls, envManager.tls). */
const grpcTls = z
  .strictObject({
    /** PEM certificate chain; set with keyFile to serve TLS. @default "" (plain TCP) */
    certFile: z.string().default(''),
    /** PEM private key of certFile. @default "" */
    keyFile: z.string().default(''),
    /** PEM CA certificates of client certificates (mutual TLS). @default "" */
    clientCaFile: z.string().default(''),
    /** Refuse clients without a certificate signed by clientCaFile. @default false */
    requireClientCert: z.boolean().default(false),
  })
  .prefault({})
  .superRefine((tls, ctx) => {
    if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
      ctx.addIssue({ code: 'custom', path: [tls.certFile ? 'keyFile' : 'certFile'], message: 'certFile and keyFile go together' });
    if (tls.clientCaFile && !tls.certFile) ctx.addIssue({ code: 'custom', path: ['clientCaFile'], message: 'needs certFile and keyFile (mutual TLS is TLS)' });
    if (tls.requireClientCert && !tls.clientCaFile) ctx.addIssue({ code: 'custom', path: ['requireClientCert'], message: 'needs clientCaFile' });
  });

/**
 * Probe and metrics listeners (a pool's, the env-manager's) have no credentials: beyond loopback
 * only where the operator says the network is trusted.
 */
function refuseOpenProbes(ctx: z.RefinementCtx, addrKey: string, addr: string, openKey: string, open: boolean, path: string): void {
  if (open || isLoopback(splitHostPort(addr).host)) return;
  ctx.addIssue({
    code: 'custom',
    path: [path],
    message: `${addrKey} ${addr} is not a loopback address, and /metrics, /health and /ready have no credentials: bind it to loopback, or set ${openKey} = true for a trusted network`,
  });
}

/**
 * The `executors` section, one entry per executor kind: keyed by kind so that a kind added to
 * EXECUTOR_KINDS (src/executors/executor-kind.ts) is a compile error here until it has its
 * section (README "Adding an executor kind").
 */
/** One task runner of `[executors.runner.runners.NAME]` (workers/executors/runner-targets.ts). */
const runnerTarget = z.strictObject({
  /** host:port the runner serves orchestrator.runner.v1.TaskRunner on, e.g. "127.0.0.1:8083". */
  address: hostPort,
  /** Sent as "authorization: Bearer <token>" on every call; "" for none. @default "" */
  token: z.string().default(''),
  /** A file holding the token (read at start; wins over `token`). @default "" */
  tokenFile: z.string().default(''),
  /**
   * TLS to the runner: true for the system's CAs, or the PEM files of a private CA and a client
   * certificate, and the name the runner's certificate is checked against. @default false (plaintext)
   */
  tls: z
    .union([
      z.boolean(),
      z.strictObject({
        ca: z.string().default(''),
        cert: z.string().default(''),
        key: z.string().default(''),
        serverName: z.string().default(''),
      }),
    ])
    .default(false),
  /** Most calls in flight from one pool; 0 for what the runner announces (Describe), else the lower of both. @default 0 */
  maxConcurrency: z.number().int().min(0).max(100_000).default(0),
});

const executorSections = {
  handler: z
    .strictObject({
      /**
       * Whether the built-in test handlers (fail, crash, spin) may run: they fail, kill
       * their process or burn a CPU on purpose. @default false
       */
      testHandlers: z.boolean().default(false),
    })
    .prefault({}),
  command: z
    .strictObject({
      /** Named commands: `[executors.command.commands.NAME] argv = [...]` (see README "Execution policy"). @default {} */
      commands: z.record(commandName, commandTemplate).default({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      /**
       * URL prefixes the http executor may call, e.g. "https://runner.internal:8443/tasks/".
       * A task's URL must start with one (after normalisation), at submission and on the pool.
       * @default [] (the http executor calls nothing until this is set)
       */
      allowedUrlPrefixes: z.array(httpUrlPrefix).default([]),
      /** Largest response body taken as a result; a larger one fails the attempt. @default 1 MiB */
      maxResponseBytes: z
        .number()
        .int()
        .min(1)
        .default(1 << 20),
    })
    .prefault({}),
  container: z
    .strictObject({
      /** Whether a task may ask for a network (`network = true`). @default false */
      allowNetwork: z.boolean().default(false),
      /** The Docker network a container joins when it asks for one and may. @default "bridge" */
      networkMode: z.string().min(1).default('bridge'),
      /** Memory limit of a task that sets none, in bytes (no swap on top). @default 1 GiB */
      defaultMemoryBytes: z
        .number()
        .int()
        .min(6 << 20)
        .default(1 << 30),
      /** CPU limit of a task that sets none, in thousandths of a CPU. @default 1000 */
      defaultCpuMillis: z.number().int().min(1).default(1000),
      /** Process limit of a task that sets none. @default 256 */
      defaultPidsLimit: z.number().int().min(1).default(256),
      /** Size of the writable tmpfs at /tmp. @default 64 MiB */
      tmpfsBytes: z
        .number()
        .int()
        .min(1 << 20)
        .default(64 << 20),
      /**
       * Host directories under which a container task may bind paths (`mounts`), after
       * symbolic links are resolved on the pool. @default [] (no host mounts)
       */
      allowedMounts: z.array(absoluteDir).default([]),
      /** Time between SIGTERM and SIGKILL when a container is stopped (rounded up to seconds). @default 2000 */
      killGraceMs: z.number().int().min(0).default(2000),
    })
    .prefault({}),
  slurm: z
    .strictObject({
      /**
       * Directory for batch scripts and job output (`<job id>.out`). On a cluster it must be
       * a filesystem the pools and the compute nodes share. @default ".orchestrator/slurm"
       */
      spoolDir: z.string().min(1).default('.orchestrator/slurm'),
      /** How often a running job's state is read (scontrol). @default 2000 */
      pollIntervalMs: z.number().int().min(50).default(2_000),
      /** Partition of a task that names none; '' for Slurm's default partition. @default "" */
      defaultPartition: z.string().default(''),
      /** The Slurm commands (through PATH unless absolute). */
      sbatchPath: z.string().min(1).default('sbatch'),
      scontrolPath: z.string().min(1).default('scontrol'),
      squeuePath: z.string().min(1).default('squeue'),
      scancelPath: z.string().min(1).default('scancel'),
      /** Longest one Slurm command may take. @default 30000 */
      commandTimeoutMs: z.number().int().min(100).default(30_000),
      /** Bytes of the job's output kept in the result (the tail). @default 16384 */
      outputTailBytes: z.number().int().min(0).default(16_384),
      /** Named scripts: `[executors.slurm.scripts.NAME] argv = [...]`, run by a generated batch script. @default {} */
      scripts: z.record(commandName, commandTemplate).default({}),
    })
    .prefault({}),
  runner: z
    .strictObject({
      /** Task runners by name: `[executors.runner.runners.NAME] address = "host:port"` (README "Task runners"). @default {} */
      runners: z.record(z.string().regex(RUNNER_NAME_RE, 'a runner name is [A-Za-z0-9_.-], not starting with "." or "-"'), runnerTarget).default({}),
      /** After a Cancel, how long a runner has to end the attempt's call before it is cut off. @default 5000 */
      cancelGraceMs: z.number().int().min(0).default(5_000),
      /** Longest a pool waits for a runner to answer Describe (connecting included). @default 5000 */
      connectTimeoutMs: z.number().int().min(100).default(5_000),
      /** How often a runner that is down is asked again (Describe). @default 1000 */
      reconnectMs: z.number().int().min(50).default(1_000),
      /** Largest result (its JSON) or failure detail a runner may send, in bytes. @default 1048576 */
      maxMessageBytes: z
        .number()
        .int()
        .min(1024)
        .default(1 << 20),
    })
    .prefault({}),
} satisfies Record<ExecutorKind, z.ZodType>;

const schema = z.strictObject({
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  redis: z
    .strictObject({
      /**
       * The Redis to use: `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS
       * (see `tls`); several comma-separated hosts (`redis://host1:port1,host2:port2`) are the
       * seed nodes of a Redis Cluster (README "Redis Cluster"). Env REDIS_URL. @default "" (the
       * embedded redis-server, see `embedded`: npm start starts it; any other process only
       * reuses one running, or exits naming REDIS_URL)
       */
      url: z.string().default(''),
      /**
       * The seed nodes of a Redis Cluster, one URL each (`redis://host:port`; the first one's
       * credentials apply to every node), instead of `url`. A few reachable masters are enough:
       * the cluster tells the rest. @default [] (not a cluster)
       */
      cluster: z.array(z.string()).max(64).default([]),
      /**
       * A file holding the password for `url` when the URL carries none, e.g. a Docker or
       * Kubernetes secret, so the password is in no environment variable or command line;
       * trailing newlines are ignored. Env ORCHESTRATOR_REDIS_PASSWORD_FILE. @default ""
       */
      passwordFile: z.string().default(''),
      /** TLS to a `rediss://` url; used for every connection a process makes (orchestrator, pools, BullMQ, dashboard). */
      tls: z
        .strictObject({
          /**
           * PEM CA certificates the server's certificate must chain to, instead of Node's
           * built-in roots (no NODE_EXTRA_CA_CERTS needed). Env ORCHESTRATOR_REDIS_CA_FILE. @default "" (Node's roots)
           */
          caFile: z.string().default(''),
          /** PEM client certificate, for a Redis that asks for one (tls-auth-clients). @default "" */
          certFile: z.string().default(''),
          /** PEM private key of certFile. @default "" */
          keyFile: z.string().default(''),
          /** The name the server's certificate must carry, when it is not the URL's host. @default "" (the URL's host) */
          servername: z.string().default(''),
        })
        .prefault({})
        .superRefine((tls, ctx) => {
          if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
            ctx.addIssue({ code: 'custom', path: [tls.certFile ? 'keyFile' : 'certFile'], message: 'certFile and keyFile go together' });
        }),
      /** Prefix of every key (each key starts with the hash tag `{<prefix>}`, README "Redis Cluster"). @default "orq" */
      prefix: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/)
        .default('orq'),
      /**
       * Above this fraction of Redis's `maxmemory`, SubmitTask, SubmitTasks, StartWorkflowRun and
       * CreateSchedule end RESOURCE_EXHAUSTED with a `retry-after-ms` hint, while pools keep
       * draining; they are accepted again below 95 % of the mark. 0: no fraction (only
       * memoryHighWaterMarkBytes, if set). Without a maxmemory the fraction has nothing to apply
       * to. @default 0.8
       */
      memoryHighWaterMark: z.number().min(0).max(1).default(0.8),
      /**
       * The high-water mark in bytes of Redis's `used_memory`, instead of the fraction: works on
       * a Redis without maxmemory too. @default 0 (use memoryHighWaterMark)
       */
      memoryHighWaterMarkBytes: z.number().int().min(0).default(0),
      /** How often each orchestrator reads Redis's INFO memory (one timer, not one read per call). @default 1000 */
      memoryCheckIntervalMs: z.number().int().min(50).max(60_000).default(1_000),
      /**
       * Replicas an acknowledged write must reach before its caller hears OK: after the writes of
       * every RPC that changes Redis (README "Redis Cluster" lists them) the orchestrator sends
       * Redis's `WAIT <waitReplicas> <waitTimeoutMs>` on the connection (on a Redis Cluster: to
       * the master) that ran them, once per call and master, and answers UNAVAILABLE when fewer
       * replicas confirmed within the timeout. Above 0 those writes and WAITs get two connections
       * of their own, so reads never queue behind a blocked WAIT (src/redis/write-connections.ts).
       * 0: no WAIT, an acknowledgement means "on the master" (asynchronous replication).
       * @default 0
       */
      waitReplicas: z.number().int().min(0).max(16).default(0),
      /**
       * How long the WAIT of waitReplicas may block before the call answers UNAVAILABLE. Never 0:
       * Redis's WAIT with 0 blocks until the replicas answer, however long. @default 1000
       */
      waitTimeoutMs: z.number().int().min(1).max(60_000).default(1_000),
      embedded: z
        .strictObject({
          /**
           * Where the embedded server keeps its AOF, its log (redis.log) and its generated
           * password (`password`, mode 0600); relative to the working directory. @default ".orchestrator/redis"
           */
          dataDir: z.string().default('.orchestrator/redis'),
          /** Its port on 127.0.0.1. @default 6390 */
          port: z.number().int().min(1).max(65_535).default(6390),
          /**
           * Its `maxmemory` (with `maxmemory-policy noeviction`: a full Redis refuses writes,
           * never evicts a job), set at its start and on a reused server; 0 for no limit. Without
           * one, a flood of submissions grows Redis until the machine swaps or the kernel kills it.
           * 1 GiB holds about a million small queued tasks (README "Sizing").
           * @default 1073741824 (1 GiB), or half the machine's memory when that is less
           */
          maxMemoryBytes: z
            .number()
            .int()
            .min(0)
            .refine((v) => v === 0 || v >= 1 << 20, 'at least 1048576 (1 MiB), or 0 for no limit')
            .default(defaultEmbeddedMaxMemoryBytes),
        })
        .prefault({}),
    })
    .prefault({})
    .superRefine((redis, ctx) => {
      if (redis.url && redis.cluster.length > 0)
        ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'set either redis.url (REDIS_URL) or redis.cluster, not both' });
      if (redis.url) {
        try {
          parseRedisAddress(redis.url);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['url'], message: (err as Error).message });
        }
      }
      let url = redis.url;
      try {
        if (redis.cluster.length > 0) url = clusterUrl(redis.cluster);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['cluster'], message: (err as Error).message });
      }
      // TLS settings on a plain URL would be ignored, and the operator would believe the link encrypted.
      const tlsKeys = (['caFile', 'certFile', 'keyFile', 'servername'] as const).filter((k) => redis.tls[k]);
      for (const k of tlsKeys) {
        if (!url.startsWith('rediss://'))
          ctx.addIssue({
            code: 'custom',
            path: ['tls', k],
            message: `needs a rediss:// url (redis.url is ${url ? 'not rediss://' : 'empty: the embedded server has no TLS'})`,
          });
      }
      if (redis.passwordFile && !url)
        ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'needs redis.url (the embedded server generates its own password)' });
    }),
  grpc: z
    .strictObject({
      addr: hostPort.default('127.0.0.1:50052'),
      /** Largest payload one task may carry, in bytes of keys plus values. @default 1 MiB */
      maxPayloadBytes: z
        .number()
        .int()
        .min(1)
        .default(1 << 20),
      /** Largest number of tasks in one SubmitTasks call. @default 10000 */
      maxBatchSize: z.number().int().min(1).default(10_000),
      /** Largest gRPC message accepted. @default 64 MiB */
      maxMessageBytes: z
        .number()
        .int()
        .min(1024)
        .default(64 << 20),
      /**
       * Most bytes of unary requests (SubmitTasks batches and the rest) the front end works on at
       * once; a request that would go over ends RESOURCE_EXHAUSTED with a `retry-after-ms` hint.
       * One request is always let in while nothing else is in flight. @default 256 MiB
       */
      maxInFlightBytes: z
        .number()
        .int()
        .min(1024)
        .default(256 << 20),
      /** Most server streams (StreamEvents, StreamTaskResults, StreamWorkflowStatus) open at once; RESOURCE_EXHAUSTED beyond. @default 10000 */
      maxStreams: z.number().int().min(1).default(10_000),
      /**
       * Most server streams one caller may hold open at once (a caller is its bearer token when
       * grpc.auth has tokens, else its address without port); RESOURCE_EXHAUSTED beyond. @default 1000
       */
      maxStreamsPerCaller: z.number().int().min(1).default(1_000),
      /**
       * Feed entries one stream may have waiting to be sent (its client reads too slowly) before
       * the stream is ended with RESOURCE_EXHAUSTED, telling the client to resume from its last
       * cursor. @default 1000
       */
      streamBufferEntries: z.number().int().min(1).default(1_000),
      /** Bytes of feed entries one stream may have waiting to be sent, as streamBufferEntries. @default 4 MiB */
      streamBufferBytes: z
        .number()
        .int()
        .min(1024)
        .default(4 << 20),
      /**
       * Tasks one caller may submit per second, as a token bucket per front end: SubmitTasks takes
       * one per task, SubmitTask, StartWorkflowRun and CreateSchedule one each. A caller is its
       * bearer token when grpc.auth has tokens (a token may carry its own submitRateLimit), else
       * its address without port. Beyond it: RESOURCE_EXHAUSTED with a `retry-after-ms` hint.
       */
      submitRateLimit: rateLimit.prefault({}),
      /** Bearer tokens of the orchestrator's gRPC API, roles read, submit, operate, admin. */
      auth: grpcAuth('grpc', GRPC_ROLES, true),
      /** TLS of the orchestrator's gRPC API. */
      tls: grpcTls,
      /**
       * Serve gRPC on a non-loopback address without credentials (no token, no mutual TLS): for
       * a trusted network only; warned about at every start. Without it such a start is
       * refused. @default false
       */
      allowUnauthenticated: z.boolean().default(false),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Where the orchestrator serves /metrics, /health, /ready and the dashboard. @default "127.0.0.1:9097" */
      addr: hostPort.default('127.0.0.1:9097'),
      /**
       * Serve on a non-loopback http.addr without configured dashboard users or tokens: for a
       * trusted network only, warned about at every start. /metrics, /health and /ready are then
       * open to that network, and the dashboard (when enabled) still needs the generated token
       * (http.dashboard.generatedTokenFile). @default false
       */
      allowUnauthenticated: z.boolean().default(false),
      /**
       * Host names (without port) the dashboard answers to besides loopback names and IP
       * addresses, e.g. ["orq.example.com"]; any other Host header is refused (DNS rebinding).
       * @default []
       */
      publicNames: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'a host name, without port or scheme')).default([]),
      /** Serve HTTPS on http.addr with this PEM certificate chain and key. @default plain HTTP */
      tls: z
        .strictObject({
          /** PEM certificate chain; set with keyFile to serve HTTPS. @default "" */
          certFile: z.string().default(''),
          /** PEM private key of certFile. @default "" */
          keyFile: z.string().default(''),
        })
        .prefault({})
        .superRefine((tls, ctx) => {
          if (Boolean(tls.certFile) !== Boolean(tls.keyFile))
            ctx.addIssue({ code: 'custom', path: [tls.certFile ? 'keyFile' : 'certFile'], message: 'certFile and keyFile go together' });
        }),
      dashboard: z
        .strictObject({
          /** Serve Bull Board and the workflow pages under /admin in the orchestrator. @default true */
          enabled: z.boolean().default(true),
          /** Users of HTTP basic auth, each with a role. @default [] */
          users: z
            .array(
              z.strictObject({
                name: z.string().regex(/^[^:\s]+$/, 'a user name has no colon or space'),
                password: z.string().min(8, 'a password is at least 8 characters'),
                /** "admin" may retry, clean, promote and add jobs; "read_only" may look. @default "read_only" */
                role: z.enum(['admin', 'read_only']).default('read_only'),
              }),
            )
            .default([]),
          /** Bearer tokens (Authorization: Bearer <token>), each with a role. @default [] */
          tokens: z
            .array(
              z.strictObject({
                token: z.string().regex(/^\S{16,}$/, 'a token is at least 16 characters without spaces'),
                role: z.enum(['admin', 'read_only']).default('read_only'),
              }),
            )
            .default([]),
          /**
           * With no users and no tokens, the admin token generated at the first start is kept
           * here (mode 0600, its folder created 0700) and reused. Env
           * ORCHESTRATOR_DASHBOARD_TOKEN_FILE. @default ".orchestrator/dashboard-token"
           */
          generatedTokenFile: z.string().min(1).default('.orchestrator/dashboard-token'),
          /**
           * Payload (and workflow input) keys whose values the read_only role sees redacted:
           * case-insensitive regular expressions, a key matching any is secret. Executor
           * `headers` and `env` values are always redacted for read_only.
           * @default ["token", "secret", "passw", "key", "credential", "auth", "cookie"]
           */
          secretPayloadKeys: z
            .array(
              z.string().refine((src) => {
                try {
                  new RegExp(src, 'i');
                  return true;
                } catch {
                  return false;
                }
              }, 'not a valid regular expression'),
            )
            .default(['token', 'secret', 'passw', 'key', 'credential', 'auth', 'cookie']),
          /** How long a `?token=` login (its session cookie) lasts. @default 43200000 (12 hours) */
          sessionMaxAgeMs: z
            .number()
            .int()
            .min(60_000)
            .default(12 * 3_600_000),
          loginThrottle: z
            .strictObject({
              /** Failed logins one client address may make per window before it is answered 429. @default 10 */
              maxFailures: z.number().int().min(1).default(10),
              /** The window, from the client's first failure in it. @default 60000 */
              windowMs: z.number().int().min(1_000).default(60_000),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({})
    .superRefine((http, ctx) => {
      // Nothing listens beyond loopback without credentials unless the operator says the network
      // is trusted. The generated token does not count: it exists to keep loopback safe, and an
      // address others can reach deserves credentials an operator chose and can hand out.
      const { users, tokens, enabled } = http.dashboard;
      if (http.allowUnauthenticated || users.length > 0 || tokens.length > 0 || isLoopback(splitHostPort(http.addr).host)) return;
      if (!enabled) {
        ctx.addIssue({
          code: 'custom',
          path: ['allowUnauthenticated'],
          message: `http.addr ${http.addr} is not a loopback address and, with the dashboard off and no http.dashboard users or tokens, /metrics, /health and /ready would be served there with no credentials anywhere: bind http.addr to loopback, or set http.allowUnauthenticated = true for a trusted network`,
        });
      } else {
        ctx.addIssue({
          code: 'custom',
          path: ['dashboard', 'users'],
          message: `the dashboard on ${http.addr}, not a loopback address, needs http.dashboard.users or http.dashboard.tokens (or http.allowUnauthenticated = true for a trusted network, which keeps the generated token)`,
        });
      }
    }),
  streams: z
    .strictObject({
      /** Approximate MAXLEN of the events stream. @default 1000000 */
      eventsMaxLen: z.number().int().min(100).default(1_000_000),
      /** Approximate MAXLEN of the results stream. @default 1000000 */
      resultsMaxLen: z.number().int().min(100).default(1_000_000),
    })
    .prefault({}),
  pool: z
    .strictObject({
      /** Unique per pool process; default host-pid. */
      id: z.string().default(''),
      /** Classes served and the concurrency of each (0 = the class default). */
      classes: z.record(z.string(), z.number().int().min(0)).default({ cpu_short: 0, cpu_long: 0 }),
      /** Directory of user handler modules (NAME.js exporting a default function). */
      handlersDir: z.string().default(''),
      /** How sandboxed handlers run: child processes or worker threads. */
      sandbox: z.enum(['process', 'thread']).default('process'),
      /**
       * A directory, shared by the pools of one host, where each pool's command guard records
       * the process groups of its running command tasks, so that a pool starting later reaps
       * those a killed pool (and guard) left behind. Env ORCHESTRATOR_POOL_RUN_DIR; relative to
       * the pool's working directory. @default ".orchestrator/pools"
       */
      runDir: z.string().min(1).default('.orchestrator/pools'),
      /** On SIGTERM, time running tasks get to finish before they are handed back. @default 30000 */
      shutdownGraceMs: z.number().int().min(0).default(30_000),
      /**
       * After the grace: how long Redis has to take the running tasks handed back before the pool
       * stops without them (their locks expire and they run again elsewhere, as after a crash).
       * Bounds a stop while Redis is down. @default 10000
       */
      handBackTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
      /** How often a pool announces itself. @default 5000 */
      heartbeatMs: z.number().int().min(100).default(5_000),
      /**
       * Bytes of a failed attempt's output (stderr, then stdout; an HTTP runner's response body)
       * kept with its error as the output tail that GetTaskStatus, results, orchctl and Bull
       * Board show. 0 keeps none. @default 4096
       */
      failureTailBytes: z.number().int().min(0).max(65_536).default(4096),
      /**
       * How long a pool that stopped (or went silent: killed, cut off) stays listed by ListPools,
       * `orchctl pools` and /admin/pools, marked stopped or lost; its facts are kept in Redis as
       * long. Read by pools and orchestrators alike. @default 600000 (10 minutes)
       */
      goneListedMs: z
        .number()
        .int()
        .min(1_000)
        .max(7 * 24 * 3_600_000)
        .default(600_000),
      /**
       * The GPUs (device ids as CUDA_VISIBLE_DEVICES takes them) this pool hands to tasks of
       * GPU classes. Env ORCHESTRATOR_POOL_GPUS=0,1. Set, it wins over detection; unset, the
       * pool asks `nvidia-smi` when a class it serves uses GPUs. @default unset (detect)
       */
      gpus: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a GPU index or UUID')).optional(),
      /**
       * Where a pool serves /metrics, /health and /ready. Port 0 picks a free one, announced in
       * the "pool started" log line and the pool's heartbeat (field `metrics`); give each pool
       * a fixed port for Prometheus to scrape. @default "127.0.0.1:0"
       */
      metricsAddr: hostPort.default('127.0.0.1:0'),
      /**
       * Serve the pool's /metrics, /health and /ready on a non-loopback metricsAddr, where they
       * have no credentials (for Prometheus on a trusted network); warned about at every start.
       * Env ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED=true. @default false
       */
      metricsAllowUnauthenticated: z.boolean().default(false),
    })
    .prefault({})
    .superRefine((pool, ctx) =>
      refuseOpenProbes(ctx, 'pool.metricsAddr', pool.metricsAddr, 'pool.metricsAllowUnauthenticated', pool.metricsAllowUnauthenticated, 'metricsAddr'),
    ),
  /** How finished tasks are removed (per-class counts and ages: keepCompleted / keepFailed in queues/). */
  retention: z
    .strictObject({
      /** Pause between retention sweeps (one orchestrator sweeps at a time). @default 1000 */
      sweepIntervalMs: z.number().int().min(50).default(1_000),
      /**
       * Age after which a task whose job is gone (removed by hand, or cancelled while queued by an
       * older version) is forgotten; on a Redis Cluster also after which a claim whose task was never
       * added (its front end stopped between a submission's steps) is released. @default 300000
       */
      orphanGraceMs: z.number().int().min(1_000).default(300_000),
      /**
       * Most bytes of Redis memory finished tasks (all classes) may take, estimated from sampled
       * MEMORY USAGE of their jobs; beyond it the oldest finished go first, whatever their class's
       * keepCompleted / keepFailed. @default 0 (use maxFinishedFraction)
       */
      maxFinishedBytes: z.number().int().min(0).default(0),
      /**
       * The same bound as a fraction of Redis's maxmemory, when maxFinishedBytes is 0 and Redis has
       * a maxmemory; 0: no byte bound. Below redis.memoryHighWaterMark, so finished tasks alone never
       * hold submissions back. @default 0.5
       */
      maxFinishedFraction: z.number().min(0).max(1).default(0.5),
    })
    .prefault({}),
  /**
   * OpenTelemetry tracing (src/tracing/): spans of submission, queue wait, attempts, executors and
   * workflow steps, exported over OTLP/HTTP (JSON). Off unless an endpoint is set.
   */
  tracing: z
    .strictObject({
      /**
       * Base URL of the OTLP/HTTP receiver (a collector, Jaeger, Tempo); spans go to
       * `<endpoint>/v1/traces`. "" turns tracing off. Env OTEL_EXPORTER_OTLP_ENDPOINT
       * (OTEL_SDK_DISABLED=true turns it off). @default "" (off)
       */
      endpoint: z
        .string()
        .regex(/^$|^https?:\/\/[^\s]+$/, 'expected an http:// or https:// URL, or "" for off')
        .default(''),
      /**
       * Headers of every export request, e.g. an API key: secret, never logged. Env
       * OTEL_EXPORTER_OTLP_HEADERS ("name=value,name=value", values URL-encoded). @default {}
       */
      headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a header name'), z.string().regex(/^[^\r\n\0]*$/)).default({}),
      /**
       * service.name of the spans; "" for the process kind's own ("orchestrator",
       * "orchestrator-pool"). Env OTEL_SERVICE_NAME. @default ""
       */
      serviceName: z.string().max(200).default(''),
      /** Off whatever the endpoint says. Env OTEL_SDK_DISABLED=true. @default false */
      disabled: z.boolean().default(false),
      /**
       * Share of new traces recorded (a trace started here); a caller's traceparent decides for
       * its own trace (its sampled flag). @default 1
       */
      sampleRatio: z.number().min(0).max(1).default(1),
      /** How long spans wait to be sent in one batch. @default 1000 */
      exportIntervalMs: z.number().int().min(10).max(60_000).default(1_000),
      /** Most spans waiting to be sent; more are dropped (and counted by the SDK), never blocking a task. @default 8192 */
      maxQueuedSpans: z.number().int().min(16).max(1_000_000).default(8_192),
      /** Longest one export request may take. @default 10000 */
      exportTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    })
    .prefault({}),
  /** Task logs: each attempt's output, kept with its task (README "Task logs"). */
  logs: z
    .strictObject({
      /**
       * Most lines one attempt keeps: the first half as they come, the last half at the end, a
       * note of how many were dropped in between. @default 1000
       */
      maxLinesPerAttempt: z.number().int().min(2).max(1_000_000).default(1_000),
      /** Most bytes one attempt keeps, counted as stored (each line with its ~45-byte marker); halved like the lines. @default 131072 (128 KiB) */
      maxBytesPerAttempt: z
        .number()
        .int()
        .min(4_096)
        .max(64 << 20)
        .default(128 << 10),
      /** Longest line kept, in bytes; a longer one is cut and marked " [cut]". @default 4096 */
      maxLineBytes: z
        .number()
        .int()
        .min(80)
        .max(1 << 20)
        .default(4_096),
      /** Longest time a captured line waits before the pool writes it (lines are written in batches). @default 200 */
      flushIntervalMs: z.number().int().min(10).max(60_000).default(200),
      /** How often StreamTaskLogs looks for new lines of a running task. @default 250 */
      followPollMs: z.number().int().min(20).max(60_000).default(250),
    })
    .prefault({}),
  workflows: z
    .strictObject({
      /** Most steps one workflow may have. @default 10000 */
      maxSteps: z.number().int().min(1).max(100_000).default(10_000),
      /** How long a finished run's state is kept. @default 7 days */
      runRetentionMs: z
        .number()
        .int()
        .min(1_000)
        .default(7 * 24 * 3_600_000),
      /** Time after which another orchestrator takes over work a stopped one left unfinished. @default 30000 */
      recoverAfterMs: z.number().int().min(100).default(30_000),
      /** How often each orchestrator looks for such work. @default 5000 */
      sweepIntervalMs: z.number().int().min(50).default(5_000),
      /**
       * Tries an outcome on the workflow inbox gets (the first read, then one per take-over)
       * before it is moved to the dead-letter stream and its step counted as failed. @default 5
       */
      inboxMaxDeliveries: z.number().int().min(1).max(1_000).default(5),
    })
    .prefault({}),
  executors: z.strictObject(executorSections).prefault({}),
  client: z
    .strictObject({
      /**
       * The bearer token orchctl sends when neither --token nor --token-file is given. Meant for
       * the environment (a shell, a CI secret) rather than a file. Env ORCHESTRATOR_TOKEN.
       * @default "" (no token)
       */
      token: z.string().default(''),
      /**
       * A W3C trace context orchctl's calls carry (the `traceparent` metadata), so a submit from
       * a traced script or CI job joins its trace (README "Tracing"). Env TRACEPARENT (and
       * TRACESTATE), as OpenTelemetry passes context to child processes; a malformed value is
       * not sent. @default "" (none)
       */
      traceparent: z.string().default(''),
      /** The trace state sent with `traceparent`. Env TRACESTATE. @default "" */
      tracestate: z.string().default(''),
    })
    .prefault({}),
  docker: z
    .strictObject({
      /** The Docker engine's API socket. Env DOCKER_HOST (unix:// only). @default "/var/run/docker.sock" */
      socketPath: z.string().min(1).default('/var/run/docker.sock'),
    })
    .prefault({}),
  envManager: z
    .strictObject({
      /** The service file (TOML) of the services to manage. Env ORCHESTRATOR_ENV_FILE. */
      servicesFile: z.string().default(''),
      /** gRPC address of envmanager.v1.EnvManagerService. Env ORCHESTRATOR_ENV_GRPC_ADDR. */
      grpcAddr: hostPort.default('127.0.0.1:50100'),
      /** HTTP address of /metrics, /health and /ready. Env ORCHESTRATOR_ENV_HTTP_ADDR. */
      httpAddr: hostPort.default('127.0.0.1:50101'),
      /**
       * Serve the env-manager's /metrics, /health and /ready on a non-loopback httpAddr, where they
       * have no credentials; warned about at every start. @default false
       */
      httpAllowUnauthenticated: z.boolean().default(false),
      /**
       * Bearer tokens of the env-manager's gRPC API, same keys as grpc.auth, roles read and
       * control, no classes. Not inherited from grpc.auth. @default none
       */
      auth: grpcAuth('envManager', ENV_MANAGER_ROLES, false),
      /** TLS of the env-manager's gRPC API, same keys as grpc.tls. @default plain TCP */
      tls: grpcTls,
      /** As grpc.allowUnauthenticated, for the env-manager's gRPC server. @default false */
      allowUnauthenticated: z.boolean().default(false),
      /** Largest gRPC message the env-manager accepts or sends. @default 16 MiB */
      maxMessageBytes: z
        .number()
        .int()
        .min(1024)
        .default(16 << 20),
      /** Bring every service up when the env-manager starts. @default true */
      startOnBoot: z.boolean().default(true),
      /** On SIGTERM, stop and remove the managed services too. @default false */
      stopServicesOnExit: z.boolean().default(false),
    })
    .prefault({})
    .superRefine((e, ctx) =>
      refuseOpenProbes(ctx, 'envManager.httpAddr', e.httpAddr, 'envManager.httpAllowUnauthenticated', e.httpAllowUnauthenticated, 'httpAddr'),
    ),
  classes: z.record(z.string().regex(/^[a-z0-9_]+$/), classOverrides).default({}),
});

export type ConfigInput = z.input<typeof schema>;
type Parsed = z.output<typeof schema>;

export interface Config extends Omit<Parsed, 'classes'> {
  readonly classes: ReadonlyMap<string, TaskClassOptions>;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** TOML file; default: env ORCHESTRATOR_CONFIG, else none. */
  file?: string;
  /** Values applied over the file and the environment (tests, CLI flags). */
  overrides?: ConfigInput;
  /** The environment to read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A list of classes a pool serves, `cpu_short:8,cpu_long` (no count: the class's default). */
export function parsePoolClasses(text: string, source = 'ORCHESTRATOR_POOL_CLASSES'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, conc] = part.split(':');
    const n = conc === undefined ? 0 : Number(conc);
    if (!name || !Number.isInteger(n) || n < 0) {
      throw new ConfigError(`${source}: bad entry "${part}" (expected class or class:concurrency)`);
    }
    out[name] = n;
  }
  return out;
}

/** A boolean from the environment: true or false, nothing else (a typo must not open anything). */
function envFlag(name: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(`${name}: expected true or false, got "${value}"`);
}

/** OTEL_EXPORTER_OTLP_HEADERS as the OpenTelemetry spec writes it: "name=value,name=value", values URL-encoded. */
export function parseOtlpHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    // The value is a secret: the message names the entry by its position only.
    if (eq <= 0) throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: entry ${Object.keys(out).length + 1} is not name=value`);
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: the value of "${part.slice(0, eq).trim()}" is not URL-encoded`);
    }
    out[part.slice(0, eq).trim()] = value;
  }
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = {};
  const set = (section: string, key: string, value: unknown) => {
    (out[section] ??= {})[key] = value;
  };
  if (env.REDIS_URL) set('redis', 'url', env.REDIS_URL);
  if (env.ORCHESTRATOR_PREFIX) set('redis', 'prefix', env.ORCHESTRATOR_PREFIX);
  if (env.ORCHESTRATOR_REDIS_PASSWORD_FILE) set('redis', 'passwordFile', env.ORCHESTRATOR_REDIS_PASSWORD_FILE);
  if (env.ORCHESTRATOR_REDIS_CA_FILE) set('redis', 'tls', { caFile: env.ORCHESTRATOR_REDIS_CA_FILE });
  if (env.ORCHESTRATOR_GRPC_ADDR) set('grpc', 'addr', env.ORCHESTRATOR_GRPC_ADDR);
  if (env.ORCHESTRATOR_GRPC_TOKENS_FILE) set('grpc', 'auth', { tokensFile: env.ORCHESTRATOR_GRPC_TOKENS_FILE });
  if (env.ORCHESTRATOR_HTTP_ADDR) set('http', 'addr', env.ORCHESTRATOR_HTTP_ADDR);
  if (env.ORCHESTRATOR_TOKEN) set('client', 'token', env.ORCHESTRATOR_TOKEN);
  if (env.TRACEPARENT) set('client', 'traceparent', env.TRACEPARENT);
  if (env.TRACESTATE) set('client', 'tracestate', env.TRACESTATE);
  if (env.ORCHESTRATOR_DASHBOARD_TOKEN_FILE) set('http', 'dashboard', { generatedTokenFile: env.ORCHESTRATOR_DASHBOARD_TOKEN_FILE });
  if (env.ORCHESTRATOR_POOL_ID) set('pool', 'id', env.ORCHESTRATOR_POOL_ID);
  if (env.ORCHESTRATOR_POOL_METRICS_ADDR) set('pool', 'metricsAddr', env.ORCHESTRATOR_POOL_METRICS_ADDR);
  if (env.ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED !== undefined) {
    set('pool', 'metricsAllowUnauthenticated', envFlag('ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED', env.ORCHESTRATOR_POOL_METRICS_ALLOW_UNAUTHENTICATED));
  }
  if (env.ORCHESTRATOR_POOL_RUN_DIR) set('pool', 'runDir', env.ORCHESTRATOR_POOL_RUN_DIR);
  if (env.ORCHESTRATOR_POOL_CLASSES) set('pool', 'classes', parsePoolClasses(env.ORCHESTRATOR_POOL_CLASSES));
  if (env.ORCHESTRATOR_HANDLERS_DIR) set('pool', 'handlersDir', env.ORCHESTRATOR_HANDLERS_DIR);
  if (env.ORCHESTRATOR_SANDBOX) set('pool', 'sandbox', env.ORCHESTRATOR_SANDBOX);
  if (env.ORCHESTRATOR_ENV_FILE) set('envManager', 'servicesFile', env.ORCHESTRATOR_ENV_FILE);
  if (env.ORCHESTRATOR_ENV_GRPC_ADDR) set('envManager', 'grpcAddr', env.ORCHESTRATOR_ENV_GRPC_ADDR);
  if (env.ORCHESTRATOR_ENV_HTTP_ADDR) set('envManager', 'httpAddr', env.ORCHESTRATOR_ENV_HTTP_ADDR);
  if (env.ORCHESTRATOR_ENV_TOKENS_FILE) set('envManager', 'auth', { tokensFile: env.ORCHESTRATOR_ENV_TOKENS_FILE });
  // Set but empty means "no GPUs", which is different from unset ("detect").
  if (env.ORCHESTRATOR_POOL_GPUS !== undefined) {
    set(
      'pool',
      'gpus',
      env.ORCHESTRATOR_POOL_GPUS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  }
  if (env.DOCKER_HOST) {
    if (!env.DOCKER_HOST.startsWith('unix://')) throw new ConfigError(`DOCKER_HOST: only unix:// sockets are supported, got "${env.DOCKER_HOST}"`);
    set('docker', 'socketPath', env.DOCKER_HOST.slice('unix://'.length));
  }
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) set('tracing', 'endpoint', env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, ''));
  if (env.OTEL_EXPORTER_OTLP_HEADERS) set('tracing', 'headers', parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS));
  if (env.OTEL_SERVICE_NAME) set('tracing', 'serviceName', env.OTEL_SERVICE_NAME);
  // The SDK's own switch: wins over an endpoint from anywhere.
  if (env.OTEL_SDK_DISABLED !== undefined && envFlag('OTEL_SDK_DISABLED', env.OTEL_SDK_DISABLED)) set('tracing', 'disabled', true);
  const result: Record<string, unknown> = { ...out };
  if (env.ORCHESTRATOR_LOG_LEVEL) result.logLevel = env.ORCHESTRATOR_LOG_LEVEL;
  return result;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects that a later source replaces whole: the classes a pool serves (ORCHESTRATOR_POOL_CLASSES, --classes). */
const REPLACED = new Set(['pool.classes']);

/** Deep merge of plain objects; later sources win; arrays and the REPLACED records replace. */
function merge(sources: Record<string, unknown>[], path = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of sources) {
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined) continue;
      const at = path ? `${path}.${k}` : k;
      out[k] = isPlainObject(v) && isPlainObject(out[k]) && !REPLACED.has(at) ? merge([out[k] as Record<string, unknown>, v], at) : v;
    }
  }
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const templates = (defs: Readonly<Record<string, { argv: string[]; env: Record<string, string>; cwd: string }>>): ReadonlyMap<string, CommandTemplate> =>
  new Map(Object.entries(defs).map(([name, t]) => [name, parseCommandTemplate(t)]));

/** What the executors may do under this configuration (each class's own policy is on its class). */
export function executorPolicyOf(config: Config): ExecutorPolicy {
  const c = config.executors.container;
  return {
    httpAllowedUrlPrefixes: config.executors.http.allowedUrlPrefixes,
    containerAllowNetwork: c.allowNetwork,
    containerAllowedMounts: c.allowedMounts,
    testHandlers: config.executors.handler.testHandlers,
    commands: templates(config.executors.command.commands),
    slurmScripts: templates(config.executors.slurm.scripts),
    runners: new Set(Object.keys(config.executors.runner.runners)),
    containerDefaults: { memoryBytes: c.defaultMemoryBytes, cpuMillis: c.defaultCpuMillis, pidsLimit: c.defaultPidsLimit },
  };
}

/** Policy rules that span sections: names a class allows must be defined. */
function checkPolicies(rest: Omit<Parsed, 'classes'>, classes: ReadonlyMap<string, TaskClassOptions>): void {
  for (const cls of classes.values()) {
    const p = cls.policy;
    for (const [section, names, defined, where] of [
      ['command', p.command.names, rest.executors.command.commands, 'executors.command.commands'],
      ['slurm', p.slurm.names, rest.executors.slurm.scripts, 'executors.slurm.scripts'],
    ] as const) {
      for (const n of names ?? []) {
        if (!Object.hasOwn(defined, n)) throw new ConfigError(`config key classes.${cls.name}.policy.${section}.names: "${n}" is not defined in ${where}`);
      }
    }
    for (const n of p.runner.runners) {
      if (!Object.hasOwn(rest.executors.runner.runners, n))
        throw new ConfigError(`config key classes.${cls.name}.policy.runner.runners: "${n}" is not defined in executors.runner.runners`);
    }
    if (/^(root|0+)(:|$)/.test(p.container.user) && !p.container.allowRootUser)
      throw new ConfigError(`config key classes.${cls.name}.policy.container.user: "${p.container.user}" is root; set allowRootUser = true to mean it`);
  }
}

/**
 * Finished tasks kept up to the submission high-water mark would hold submissions refused for
 * ever (retention never removes below its own bound): the retention bound must sit below it.
 */
function checkMemoryBounds(rest: Omit<Parsed, 'classes'>): void {
  const { memoryHighWaterMark: mark, memoryHighWaterMarkBytes: markBytes } = rest.redis;
  const { maxFinishedFraction: kept, maxFinishedBytes: keptBytes } = rest.retention;
  if (keptBytes === 0 && markBytes === 0 && kept > 0 && mark > 0 && kept >= mark)
    throw new ConfigError(`config key retention.maxFinishedFraction: ${kept} must be below redis.memoryHighWaterMark (${mark})`);
  if (keptBytes > 0 && markBytes > 0 && keptBytes >= markBytes)
    throw new ConfigError(`config key retention.maxFinishedBytes: ${keptBytes} must be below redis.memoryHighWaterMarkBytes (${markBytes})`);
}

/** Load, validate and freeze the configuration. Throws ConfigError naming the bad key. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.ORCHESTRATOR_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    try {
      fromFile = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
  }
  const input = merge([fromFile, fromEnv(env), (opts.overrides ?? {}) as Record<string, unknown>]);
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    const extra = issue.code === 'unrecognized_keys' ? ` ${issue.keys.join(', ')}` : '';
    throw new ConfigError(`config key ${key}: ${issue.message}${extra}${file ? ` (in ${file} or the environment)` : ''}`);
  }
  const { classes: classOverrides, ...rest } = parsed.data;
  const classes = resolveTaskClasses(classOverrides);
  for (const name of Object.keys(rest.pool.classes)) {
    if (!classes.has(name)) throw new ConfigError(`config key pool.classes.${name}: unknown task class (known: ${[...classes.keys()].join(', ')})`);
  }
  checkPolicies(rest, classes);
  rest.grpc.auth.tokens.forEach((t, i) => {
    const unknown = t.classes?.find((c) => !classes.has(c));
    if (unknown !== undefined) throw new ConfigError(`config key grpc.auth.tokens.${i}.classes: unknown task class "${unknown}"`);
  });
  checkMemoryBounds(rest);
  // One URL from here on: every process opens its connections from redis.url.
  if (rest.redis.cluster.length > 0) rest.redis.url = clusterUrl(rest.redis.cluster);
  if (!rest.pool.id) rest.pool.id = `${hostname()}-${process.pid}`;
  return deepFreeze({ ...rest, classes }) as Config;
}
