/**
 * One service's container: what it is created with, how it is found again, and the hash of its
 * definition that tells an unchanged service (left alone) from a changed one (recreated).
 *
 * Labels: orchestrator.env.project, orchestrator.env.service, orchestrator.env.hash.
 * Restarts are the env-manager's (with backoff and events), so Docker's own policy stays "no".
 */
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import type { DockerClient } from '../docker/docker-client.js';
import type { ServiceDefinition } from './service-file.js';

export const LABEL_PROJECT = 'orchestrator.env.project';
export const LABEL_SERVICE = 'orchestrator.env.service';
export const LABEL_HASH = 'orchestrator.env.hash';

/** Hash of everything a container is created from: a change means recreate. */
export function definitionHash(s: ServiceDefinition): string {
  const { image, command, env, ports, volumes, network, memory, cpus, pids } = s;
  const sortedEnv = Object.keys(env)
    .sort()
    .map((k) => [k, env[k]]);
  return createHash('sha1')
    .update(JSON.stringify([image, command, sortedEnv, ports, volumes, network, memory ?? 0, cpus ?? 0, pids ?? 0]))
    .digest('hex')
    .slice(0, 16);
}

export function containerName(project: string, service: string): string {
  return `${project}-${service}`;
}

function portBindings(ports: string[]): { exposed: Record<string, object>; bindings: Record<string, { HostIp: string; HostPort: string }[]> } {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports) {
    const [spec, proto = 'tcp'] = p.split('/') as [string, string?];
    const parts = spec.split(':');
    const [hostIp, hostPort, containerPort] = parts.length === 3 ? parts : ['', parts[0]!, parts[1]!];
    const key = `${containerPort}/${proto}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp!, HostPort: hostPort! });
  }
  return { exposed, bindings };
}

export function createOptions(project: string, s: ServiceDefinition): Docker.ContainerCreateOptions {
  const { exposed, bindings } = portBindings(s.ports);
  return {
    name: containerName(project, s.name),
    Image: s.image,
    ...(s.command.length ? { Cmd: s.command } : {}),
    Env: Object.entries(s.env).map(([k, v]) => `${k}=${v}`),
    Labels: { [LABEL_PROJECT]: project, [LABEL_SERVICE]: s.name, [LABEL_HASH]: definitionHash(s) },
    ExposedPorts: exposed,
    HostConfig: {
      PortBindings: bindings,
      Binds: s.volumes,
      NetworkMode: s.network,
      RestartPolicy: { Name: 'no' },
      ...(s.memory ? { Memory: s.memory } : {}),
      ...(s.cpus ? { NanoCpus: Math.round(s.cpus * 1e9) } : {}),
      ...(s.pids ? { PidsLimit: s.pids } : {}),
    },
  };
}

/** The service's container, if one exists. */
export async function findContainer(docker: DockerClient, project: string, service: string): Promise<Docker.ContainerInfo | undefined> {
  const found = await docker.containersLabelled({ [LABEL_PROJECT]: project, [LABEL_SERVICE]: service });
  return found[0];
}

/** The last `lines` lines of a container's output (both streams). */
export async function logTail(docker: DockerClient, id: string, lines = 20): Promise<string> {
  try {
    const buf = (await docker.api.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demux(buf).trim();
  } catch {
    return '';
  }
}

/** Docker's multiplexed stream format (8-byte frame headers) to text; plain text passes through. */
export function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : out;
}
