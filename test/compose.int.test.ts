/**
 * The shipped container stack, for real: docker-compose.yml as it is, with the image our
 * Dockerfile builds (.ci/build-images makes it, and a Redis image from Debian's packages, since
 * no registry is reachable) and the credentials deploy/compose/make-secrets.sh makes. Redis, the
 * orchestrator and two pool replicas come up healthy, a task submitted over the published gRPC
 * port with the generated token runs on a pool, a call without the token is refused, the
 * orchestrator's and every pool's /metrics answer where the shipped Prometheus config looks, and
 * `docker-compose down -v` leaves no container, network or volume of the project.
 *
 * Needs the images: skipped with a message without them on a laptop, failed under CI=true
 * (.ci/run builds them before the tests).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchestratorClient, TaskState } from '../src/client/orchestrator-client.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { freePort } from './helpers/redis-server.js';
import { waitFor } from './helpers/wait.js';

const IMAGES = ['orchestrator:0.1.0', 'orchestrator-ci/redis:trixie'];
const PROJECT = `orqcompose${process.pid}`;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 180_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Whether the stack can run here; throws under CI=true when it cannot. */
function stackAvailable(): boolean {
  const missing: string[] = [];
  if (run('docker-compose', ['version']).status !== 0) missing.push('docker-compose');
  if (run('docker', ['info']).status !== 0) missing.push('a Docker engine');
  else for (const image of IMAGES) if (run('docker', ['image', 'inspect', image]).status !== 0) missing.push(`the image ${image}`);
  if (missing.length === 0) return true;
  const why = `compose stack: ${missing.join(', ')} missing (bash .ci/build-images makes the images)`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI builds them in .ci/run`);
  process.stderr.write(`SKIPPED ${why}\n`);
  return false;
}

const available = stackAvailable();
let dir: string;
let env: NodeJS.ProcessEnv;
let compose: (...args: string[]) => { status: number | null; out: string };
let grpcPort: number;
let httpPort: number;

/** Ids and states of the project's containers (of every service, running or not). */
function containers(): { name: string; service: string; state: string; health: string }[] {
  const ids = run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`])
    .out.split('\n')
    .filter(Boolean);
  if (ids.length === 0) return [];
  const fmt = '{{.Name}}|{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}';
  return run('docker', ['inspect', '--format', fmt, ...ids])
    .out.split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => {
      const [name, service, state, health] = l.split('|');
      return { name: name!, service: service!, state: state!, health: health! };
    });
}

describe.skipIf(!available)('docker-compose.yml with the built image', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orq-compose-'));
    cpSync(join(PROJECT_ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    mkdirSync(join(dir, 'deploy', 'compose'), { recursive: true });
    cpSync(join(PROJECT_ROOT, 'deploy', 'compose', 'make-secrets.sh'), join(dir, 'deploy', 'compose', 'make-secrets.sh'));
    const made = run('sh', [join(dir, 'deploy', 'compose', 'make-secrets.sh')]);
    expect(made.status, made.out).toBe(0);
    [grpcPort, httpPort] = [await freePort(), await freePort()];
    env = {
      ...process.env,
      ORCHESTRATOR_REDIS_IMAGE: 'orchestrator-ci/redis:trixie',
      ORCHESTRATOR_GRPC_PORT: String(grpcPort),
      ORCHESTRATOR_HTTP_PORT: String(httpPort),
    };
    compose = (...args) => run('docker-compose', ['-p', PROJECT, '-f', join(dir, 'docker-compose.yml'), ...args], env);
  }, 120_000);

  afterAll(async () => {
    if (!compose) return;
    const down = compose('down', '-v', '--remove-orphans', '--timeout', '20');
    // Nothing of the project is left: containers, its network, its Redis volume.
    expect(down.status, down.out).toBe(0);
    expect(containers()).toEqual([]);
    const label = `label=com.docker.compose.project=${PROJECT}`;
    expect(run('docker', ['network', 'ls', '-q', '--filter', label]).out.trim()).toBe('');
    expect(run('docker', ['volume', 'ls', '-q', '--filter', label]).out.trim()).toBe('');
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('comes up healthy, runs a task on a pool for a caller with the generated token, refuses one without', async () => {
    const up = compose('up', '-d', '--no-build', '--scale', 'pool-cpu=2');
    expect(up.status, up.out).toBe(0);

    const token = readFileSync(join(dir, 'deploy', 'compose', 'secrets', 'grpc_tokens'), 'utf8').split(/\s+/)[0]!;
    const client = new OrchestratorClient(`127.0.0.1:${grpcPort}`, { token });
    const anonymous = new OrchestratorClient(`127.0.0.1:${grpcPort}`);
    try {
      // Retried with the same id until the orchestrator answers (a retry after an accepted submit
      // finds the task there).
      const taskId = 'compose-echo';
      await waitFor(
        () =>
          client
            .submitTask({ taskId, taskClass: 'cpu_short', payload: { text: 'from compose' }, executor: { handler: 'echo' } })
            .catch((err: { code?: number }) => {
              if (err.code === GrpcStatus.ALREADY_EXISTS) return { taskId };
              throw err;
            }),
        { timeoutMs: 120_000, message: 'the orchestrator accepting a task on its published port' },
      );
      const result = await client.waitForResult(taskId, { timeoutMs: 120_000 });
      expect(result.state, result.error).toBe(TaskState.TASK_STATE_SUCCEEDED);
      // Run by a pool replica: pool ids are <container hostname>-<pid>.
      const pools = containers().filter((c) => c.service === 'pool-cpu');
      expect(pools).toHaveLength(2);
      expect(result.workerId).toMatch(/^[0-9a-f]{12}-\d+$/);

      await expect(anonymous.submitTask({ taskClass: 'cpu_short', payload: {}, executor: { handler: 'echo' } })).rejects.toMatchObject({
        code: GrpcStatus.UNAUTHENTICATED,
      });

      // Every service's own health check passes: Redis (with its password), the orchestrator's
      // gRPC port, each pool's heartbeat.
      await waitFor(
        () => {
          const all = containers();
          return all.length === 4 && all.every((c) => c.state === 'running' && c.health === 'healthy') ? all : undefined;
        },
        { timeoutMs: 120_000, message: 'every service healthy', intervalMs: 1000 },
      );

      // Prometheus's view (deploy/prometheus/prometheus.yml): from inside the project's network,
      // the orchestrator's /metrics on 9097 and each pool replica's on its declared port 9464.
      const orchestrator = containers().find((c) => c.service === 'orchestrator')!;
      const scrape = (target: string) =>
        run('docker', [
          'exec',
          orchestrator.name.replace(/^\//, ''),
          'node',
          '-e',
          `fetch('http://${target}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`,
        ]).out;
      expect(scrape('orchestrator:9097')).toMatch(/^orq_pools 2$/m);
      for (const p of pools) expect(scrape(`${p.name.replace(/^\//, '')}:9464`)).toMatch(/^orq_pool_concurrency\{class="cpu_short"\} 16$/m);

      // The dashboard answers on its published port, and only with credentials.
      const res = await fetch(`http://127.0.0.1:${httpPort}/admin/queues`, { redirect: 'manual' });
      expect([401, 302, 303]).toContain(res.status);
    } finally {
      client.close();
      anonymous.close();
    }
  });
});
