/**
 * `npm start`: the whole system in one command. Starts a local redis-server when no REDIS_URL
 * is given, the orchestrator, and one worker pool, saying what it does and how long each step
 * took, then where everything is (gRPC, the dashboard and how to log in, /metrics, /health).
 * With --demo it then submits a few tasks of every kind through the gRPC API and prints their
 * results as they arrive (the ones that fail on purpose say so), then runs a small workflow (a
 * diamond passing results along) and prints its steps.
 *
 *   npm start -- [--demo] [--exit] [--config FILE]
 */
import '../process/v8-tuning.js'; // first: V8 settings before any other module is compiled
import { Command } from 'commander';
import { OrchestratorClient, TaskState, WorkflowRunState, type TaskInput } from '../client/orchestrator-client.js';
import { GRPC_ROLES, type GrpcRole } from '../auth/roles.js';
import { configuredTokens, type TokenEntry } from '../auth/token-set.js';
import { loadConfig, type ConfigInput } from '../config/config.js';
import { createLogger } from '../logging/logger.js';
import { Orchestrator } from '../orchestrator.js';
import { onShutdown } from '../process/shutdown.js';
import { runMain } from '../process/run-main.js';
import { resolveRedis } from '../process/redis-url.js';
import { redactRedisUrl } from '../redis/connection-check.js';
import { WorkerPool } from '../../workers/worker-pool.js';

const program = new Command()
  .name('orchestrator-start')
  .description('Run Redis (embedded unless REDIS_URL), the orchestrator and one worker pool')
  .option('--config <file>', 'TOML config file')
  .option('--demo', 'submit demo tasks and print their results')
  .option('--exit', 'stop after the demo instead of serving on')
  .option('--log-level <level>', 'log level (default: info; warn with --demo)')
  .parse();
const flags = program.opts<{ config?: string; demo?: boolean; exit?: boolean; logLevel?: string }>();

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Seconds since `t0`, for the step lines. */
const took = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/**
 * Demo tasks that fail on purpose, and how: without the label a red "failed" in the first minute
 * reads as a broken install.
 */
const ON_PURPOSE: Record<string, string> = {
  'demo-timeout': 'this one fails on purpose: a 5 s sleep with a 300 ms timeout, to show a timeout',
  'demo-retry': 'its attempt 1 fails on purpose (exit 1), to show a retry',
};

const DEMO_TASKS: TaskInput[] = [
  { taskId: 'demo-echo-low', taskClass: 'cpu_short', payload: { text: 'low priority' }, priority: 1 },
  { taskId: 'demo-echo-high', taskClass: 'cpu_short', payload: { text: 'high priority' }, priority: 900 },
  { taskId: 'demo-command', taskClass: 'cpu_short', payload: { note: 'a subprocess' }, executor: { command: { name: 'uname' } } },
  { taskId: 'demo-sleep', taskClass: 'cpu_long', payload: { ms: '300' }, executor: { handler: 'sleep' } },
  {
    taskId: 'demo-retry',
    taskClass: 'cpu_short',
    payload: { note: 'first attempt fails' },
    executor: { command: { name: 'flaky' } },
    maxAttempts: 3,
    backoff: { type: 'fixed', delayMs: 200 },
  },
  { taskId: 'demo-timeout', taskClass: 'cpu_short', payload: { ms: '5000' }, executor: { handler: 'sleep' }, timeoutMs: 300, maxAttempts: 1 },
];

/**
 * What the demo adds to the configuration: two named commands (a command task names one; it
 * cannot choose its own program) and the class policy that lets cpu_short run them. Without
 * --demo nothing is opened: classes run handler tasks only.
 */
const DEMO_CONFIG: ConfigInput = {
  executors: {
    command: {
      commands: {
        uname: { argv: ['uname', '-sr'] },
        flaky: {
          argv: [
            'sh',
            '-c',
            'if [ "$ORCHESTRATOR_ATTEMPT" -lt 2 ]; then echo "attempt $ORCHESTRATOR_ATTEMPT fails on purpose" >&2; exit 1; fi; echo "ok on attempt $ORCHESTRATOR_ATTEMPT"',
          ],
        },
      },
    },
  },
  classes: { cpu_short: { policy: { executors: ['handler', 'command'], command: { names: ['uname', 'flaky'] } } } },
};

async function demo(addr: string, token: string | undefined): Promise<void> {
  const client = new OrchestratorClient(addr, { token });
  try {
    // Unique ids per run so a second demo on the same Redis runs again.
    const run = Date.now().toString(36);
    const tasks = DEMO_TASKS.map((t) => ({ ...t, taskId: `${t.taskId}-${run}` }));
    const accepted = await client.submitTasks(tasks);
    out(`submitted ${accepted.length} tasks over gRPC (${addr}); results as they finish:`);
    out(`${'task'.padEnd(24)} ${'state'.padEnd(10)} ${'attempt'.padEnd(7)} result / error`);
    const stream = client.streamTaskResults({ taskIds: accepted.map((a) => a.taskId), closeWhenDone: true });
    const unexpected: string[] = [];
    for await (const r of stream) {
      const name = r.taskId.replace(`-${run}`, '');
      const expected = name === 'demo-timeout' ? TaskState.TASK_STATE_FAILED : TaskState.TASK_STATE_SUCCEEDED;
      if (r.state !== expected) unexpected.push(name);
      const state = TaskState[r.state].replace('TASK_STATE_', '').toLowerCase();
      const detail = r.resultJson || r.error;
      out(`${name.padEnd(24)} ${state.padEnd(10)} ${String(r.attempt).padEnd(7)} ${detail.length > 80 ? `${detail.slice(0, 77)}...` : detail}`);
      if (ON_PURPOSE[name]) out(`${''.padEnd(43)} ^ ${ON_PURPOSE[name]}`);
    }
    await client.createWorkflow({
      name: 'demo-diamond',
      steps: [
        { stepId: 'fetch', task: { taskClass: 'cpu_short', payload: { x: '${inputs.x}' } } },
        { stepId: 'left', dependsOn: ['fetch'], task: { taskClass: 'cpu_short', payload: { l: 'L${steps.fetch.result.x}' } } },
        { stepId: 'right', dependsOn: ['fetch'], task: { taskClass: 'cpu_short', payload: { r: 'R${steps.fetch.result.x}' } } },
        { stepId: 'join', dependsOn: ['left', 'right'], task: { taskClass: 'cpu_short', payload: { both: '${steps.left.result.l}+${steps.right.result.r}' } } },
      ],
    });
    const { runId } = await client.startWorkflowRun({ name: 'demo-diamond', inputs: { x: '21' }, runId: `demo-${run}` });
    const wf = await client.waitForRun(runId, { timeoutMs: 60_000 });
    out(`workflow demo-diamond, run ${runId}: ${WorkflowRunState[wf.state].replace('WORKFLOW_RUN_STATE_', '').toLowerCase()}`);
    for (const s of wf.steps) out(`  ${s.stepId.padEnd(8)} after [${s.dependsOn.join(', ')}]`.padEnd(34) + ` ${s.resultJson}`);
    const m = (await client.getMetrics()).metrics;
    out(`metrics: submitted ${m.tasks_submitted_total}, finished ${m.tasks_finished_total}, pools ${m.pools}, events stream ${m.events_stream_length} entries`);
    out(
      unexpected.length
        ? `demo done, but not as planned: ${unexpected.join(', ')} ended otherwise (see orchctl status <task> and the log)`
        : 'demo done: every task ended as planned (demo-timeout failed on purpose)',
    );
  } finally {
    client.close();
  }
}

/** The configured token of the highest role, those not limited to classes first. */
function demoToken(tokens: TokenEntry<GrpcRole>[]): string | undefined {
  const rank = (t: TokenEntry<GrpcRole>) => GRPC_ROLES.indexOf(t.role) + (t.classes ? 0 : GRPC_ROLES.length);
  return [...tokens].sort((a, b) => rank(b) - rank(a))[0]?.token;
}

await runMain('orchestrator', async () => {
  const t0 = performance.now();
  const logLevel = flags.logLevel ?? (flags.demo ? 'warn' : undefined);
  const config = loadConfig({
    file: flags.config,
    overrides: { ...(flags.demo ? DEMO_CONFIG : {}), ...(logLevel ? { logLevel: logLevel as ConfigInput['logLevel'] } : {}) },
  });
  const log = createLogger(config.logLevel, { process: 'start' });

  let step = performance.now();
  const { embedded } = config.redis;
  if (config.redis.url) out(`redis: using ${redactRedisUrl(config.redis.url)} (REDIS_URL or redis.url)`);
  else out(`redis: no REDIS_URL, starting the embedded redis-server on 127.0.0.1:${embedded.port} (data in ${embedded.dataDir}) ...`);
  const redis = await resolveRedis(config, log, { startEmbedded: true, what: 'npm start' });
  if (!config.redis.url) out(`redis: ${redis.reusedEmbedded ? 'reusing the one already running' : 'started'} (${took(step)})`);

  const orchestrator = new Orchestrator({ config, redisUrl: redis.url, logger: log });
  const pool = new WorkerPool({ config, redisUrl: redis.url, logger: log, env: process.env });
  const stop = async () => {
    await pool.close();
    await orchestrator.close();
    await redis.stop();
  };
  onShutdown(log, stop);
  step = performance.now();
  out(`orchestrator: starting (gRPC ${config.grpc.addr}, HTTP ${config.http.addr}) ...`);
  await orchestrator.start();
  out(`orchestrator: started (${took(step)})`);
  step = performance.now();
  const classes = Object.entries(config.pool.classes).map(([name, n]) => `${name} (${n || config.classes.get(name)?.concurrency} at once)`);
  out(`pool: starting one worker pool for ${classes.join(', ')} ...`);
  await pool.start();
  out(`pool: started (${took(step)})`);

  const host = config.grpc.addr.replace(/:\d+$/, '');
  const addr = `${host}:${orchestrator.grpcPort}`;
  const login = orchestrator.dashboardLogin;
  const httpBase = login ? new URL(login.url).origin : `http://${config.http.addr.replace(/:\d+$/, '')}:${orchestrator.httpPort}`;
  const grpcTokens = configuredTokens(config.grpc.auth, { roles: GRPC_ROLES, classes: true });
  out(`ready in ${took(t0)}:`);
  // orchctl is the package's bin; in the checkout npm start runs in, it is this path.
  const orchctl = `node dist/src/cli/orchctl.js --addr ${addr}`;
  const tryIt = grpcTokens.length
    ? `a bearer token of grpc.auth; try: ORCHESTRATOR_TOKEN=<token> ${orchctl} health`
    : `no token needed; try: ${orchctl} health`;
  out(`  gRPC       ${addr}  (${tryIt})`);
  if (login?.generated?.created)
    out(`  dashboard  ${login.generated.loginUrl}  (open it once to log in; the admin token is kept in ${login.generated.tokenFile})`);
  else if (login?.generated) out(`  dashboard  ${login.url}  (log in once with ?token=<the token in ${login.generated.tokenFile}>)`);
  else if (login) out(`  dashboard  ${login.url}  (log in as one of http.dashboard.users, or with a token of http.dashboard.tokens)`);
  else out('  dashboard  off (http.dashboard.enabled = false)');
  out(`  metrics    ${httpBase}/metrics`);
  out(`  health     ${httpBase}/health  and  ${httpBase}/ready`);
  // The demo is a client like any other: it needs a token when the server asks for one, and one
  // that may create a workflow (operate or admin) and reach every class.
  if (flags.demo) await demo(addr, demoToken(grpcTokens));
  if (flags.exit) {
    await stop();
    process.exit(0);
  }
  out(`serving: orchestrator on ${addr}, one pool for ${Object.keys(config.pool.classes).join(', ')}; Ctrl-C to stop`);
});
