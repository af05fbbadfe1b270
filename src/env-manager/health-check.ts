/**
 * One run of a service's health check. Kinds:
 * - none:    the container is running
 * - tcp:     a TCP connection to host:port opens
 * - http:    GET http://host:port/path answers 2xx
 * - command: the command, run inside the container, exits 0
 * - image:   the image's own HEALTHCHECK reports healthy
 * Every check ends within its timeout and says what it saw (`output`), for events and errors.
 */
import { connect } from 'node:net';
import type { DockerClient } from '../docker/docker-client.js';
import type { HealthCheckDefinition } from './service-file.js';
import { demux } from './service-container.js';

export interface HealthResult {
  ok: boolean;
  output: string;
  latencyMs: number;
}

function tcp(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`tcp ${host}:${port}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(`tcp ${host}:${port}: connected`);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`tcp ${host}:${port}: ${err.message}`));
    });
  });
}

async function http(hc: HealthCheckDefinition, timeoutMs: number): Promise<string> {
  const url = `http://${hc.host}:${hc.port}${hc.path.startsWith('/') ? hc.path : `/${hc.path}`}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  const body = (await res.text()).slice(0, 500);
  if (res.status < 200 || res.status > 299) throw new Error(`GET ${url}: ${res.status} ${body}`);
  return `GET ${url}: ${res.status}`;
}

async function command(docker: DockerClient, containerId: string, argv: string[], timeoutMs: number): Promise<string> {
  const exec = await docker.api.getContainer(containerId).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`${argv.join(' ')}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const output = demux(Buffer.concat(chunks)).trim().slice(-1000);
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`${argv.join(' ')}: exit ${ExitCode}${output ? `: ${output}` : ''}`);
  return output || `${argv.join(' ')}: exit 0`;
}

async function image(docker: DockerClient, containerId: string): Promise<string> {
  const info = await docker.api.getContainer(containerId).inspect();
  const health = info.State.Health;
  if (!health) throw new Error('the image has no HEALTHCHECK');
  const last = health.Log?.at(-1)?.Output?.trim() ?? '';
  if (health.Status !== 'healthy') throw new Error(`image health check: ${health.Status}${last ? `: ${last}` : ''}`);
  return last || 'healthy';
}

/** Runs the check once against a running container. */
export async function runHealthCheck(docker: DockerClient, containerId: string, hc: HealthCheckDefinition): Promise<HealthResult> {
  const t0 = performance.now();
  try {
    let output: string;
    switch (hc.kind) {
      case 'tcp':
        output = await tcp(hc.host, hc.port!, hc.timeout);
        break;
      case 'http':
        output = await http(hc, hc.timeout);
        break;
      case 'command':
        output = await command(docker, containerId, hc.command, hc.timeout);
        break;
      case 'image':
        output = await image(docker, containerId);
        break;
      default:
        output = 'running';
    }
    return { ok: true, output, latencyMs: performance.now() - t0 };
  } catch (err) {
    return { ok: false, output: (err as Error).message, latencyMs: performance.now() - t0 };
  }
}
