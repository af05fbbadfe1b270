/**
 * How many bytes of Redis a task takes, queued and finished, by payload and result size: the
 * figures behind README "Sizing Redis". A throwaway redis-server (the settings we recommend,
 * REDIS_TUNING), an orchestrator and a pool in this process, one class whose `sized` handler
 * returns a result of the asked size.
 *
 *   npm run build && node dist/bench/redis-sizing.js          (SIZING_TASKS=2000 per case)
 *
 * Per case: the class paused, N tasks submitted (used_memory before and after: bytes per queued
 * task), the class resumed and every task finished (bytes per finished task: its job hash with
 * payload and result, its index and task-list entries, its place in the finished set, and its
 * entries on the events and results streams), then every task purged before the next case.
 * Streams are trimmed by count (streams.eventsMaxLen, resultsMaxLen), not by retention: their
 * share is shown apart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OrchestratorClient, type TaskInput } from '../src/client/orchestrator-client.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { Orchestrator } from '../src/orchestrator.js';
import { keysFor } from '../src/store/keys-for.js';
import { freeLoopbackPort, startRedisServerProcess } from '../src/redis/redis-server-process.js';
import { WorkerPool } from '../workers/worker-pool.js';

const N = Number(process.env.SIZING_TASKS ?? 2_000);
const CLASS = 'sizing';
const PREFIX = 'orq';
const CASES: [payloadBytes: number, resultBytes: number][] = [
  [100, 100],
  [1_024, 100],
  [10_240, 100],
  [100, 10_240],
  [1_024, 10_240],
  [10_240, 10_240],
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 300_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await fn()); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'orq-sizing-'));
const handlers = join(dir, 'handlers');
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
await import('node:fs').then((fs) => fs.mkdirSync(handlers));
writeFileSync(join(handlers, 'sized.js'), "export default (p) => ({ r: 'r'.repeat(Number(p.result_bytes)) });\n");
writeFileSync(join(handlers, 'package.json'), '{"type":"module"}');

const server = await startRedisServerProcess({ port: await freeLoopbackPort(), dir, stopTimeoutMs: 5_000 });
const config = loadConfig({
  env: {},
  overrides: {
    logLevel: 'warn',
    redis: { url: server.url, prefix: PREFIX },
    grpc: { addr: '127.0.0.1:0', submitRateLimit: { perSecond: 0 } },
    http: { addr: '127.0.0.1:0', dashboard: { enabled: false } },
    pool: { id: 'sizing-pool', classes: { [CLASS]: 16 }, handlersDir: handlers, heartbeatMs: 1_000 },
    // Nothing is removed by retention while a case is measured: it is purged after.
    classes: { [CLASS]: { concurrency: 16, attempts: 1, inProcessHandlers: true, keepCompleted: { count: 1_000_000, ageMs: 0 } } },
  },
});
const logger = createLogger('warn', { process: 'sizing' });
const orchestrator = new Orchestrator({ config, redisUrl: server.url, logger });
await orchestrator.start();
const pool = new WorkerPool({ config, redisUrl: server.url, logger });
await pool.start();
const client = new OrchestratorClient(`127.0.0.1:${orchestrator.grpcPort}`, { defaultDeadlineMs: 120_000 });
const r = new Redis(server.url);
const k = keysFor(PREFIX, server.url);
// The class's feeds: one events and one results stream on a single Redis, its own on a cluster.
const feedStreams = [...k.eventStreams([CLASS]), ...k.resultStreams([CLASS])].map((s) => s.key);

// The dataset only: used_memory also counts client buffers (a 10 MiB SubmitTasks leaves a query
// buffer behind for a while), which would blur a few hundred bytes per task.
const used = async () => Number(/^used_memory_dataset:(\d+)/m.exec(await r.info('memory'))![1]);
const usage = async (key: string) => Number((await r.memory('USAGE', key, 'SAMPLES', 0)) ?? 0);
const feedBytes = async () => {
  let sum = 0;
  for (const key of feedStreams) sum += await usage(key);
  return sum;
};
const succeeded = async () => Number((await r.hget(k.countersOf(CLASS), `succeeded:${CLASS}`)) ?? 0);

interface Row {
  payload: number;
  result: number;
  queued: number;
  finished: number;
  job: number;
  streams: number;
  bull: number;
  entries: number;
}
const rows: Row[] = [];
let done = 0;
let seq = 0;
try {
  for (const [payloadBytes, resultBytes] of CASES) {
    await client.pauseClass(CLASS);
    const bullEvents = `${k.job(CLASS, 'events')}`;
    const streams0 = await feedBytes();
    const bull0 = await usage(bullEvents);
    const before = await used();
    const resultKey = 'result_bytes';
    const pad = 'p'.repeat(Math.max(0, payloadBytes - resultKey.length - String(resultBytes).length - 3));
    const ids: string[] = [];
    for (let from = 0; from < N; from += 1_000) {
      const batch: TaskInput[] = Array.from({ length: Math.min(1_000, N - from) }, () => {
        const taskId = `size-${payloadBytes}-${resultBytes}-${++seq}`;
        ids.push(taskId);
        return { taskId, taskClass: CLASS, payload: { [resultKey]: String(resultBytes), pad }, executor: { handler: 'sized' } };
      });
      await client.submitTasks(batch);
    }
    const queued = await used();
    await client.resumeClass(CLASS);
    done += N;
    await until('every task finished', async () => (await succeeded()) >= done);
    const finished = await used();
    let job = 0;
    for (const id of ids.slice(0, 20)) job += await usage(k.job(CLASS, id));
    job /= 20;
    const streams = ((await feedBytes()) - streams0) / N;
    const bull = ((await usage(bullEvents)) - bull0) / N;
    const perFinished = (finished - before) / N;
    rows.push({
      payload: payloadBytes,
      result: resultBytes,
      queued: (queued - before) / N,
      finished: perFinished,
      job,
      streams,
      bull,
      entries: perFinished - job - streams - bull,
    });
    await client.purgeTasks({ olderThanMs: 0 });
  }
} finally {
  client.close();
  await pool.close(1_000);
  await orchestrator.close(1_000);
  r.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const GIB = 1 << 30;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`Redis bytes per task (${N} tasks per case; hash-max-listpack-value 512)\n`);
console.log('| payload | result | queued | finished (all) | of which job hash | events + results | BullMQ events | index and sets | finished tasks per GiB |');
console.log('| ------- | ------ | ------ | -------------- | ----------------- | ---------------- | ------------- | -------------- | ---------------------- |');
for (const row of rows) {
  console.log(
    `| ${fmt(row.payload)} B | ${fmt(row.result)} B | ${fmt(row.queued)} B | ${fmt(row.finished)} B | ${fmt(row.job)} B | ${fmt(row.streams)} B | ${fmt(row.bull)} B | ${fmt(row.entries)} B | ${fmt(GIB / row.finished)} |`,
  );
}
process.exit(0);
