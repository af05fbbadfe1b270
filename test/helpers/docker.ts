/**
 * The Docker engine for container suites: whether one answers, and a tiny test image built
 * locally (no registry is reachable in CI) from Debian's static busybox.
 *
 * Without an engine a suite skips with a message on a laptop, but fails under CI=true: CI starts
 * one (.ci/run), so a missing engine there is a broken run, not a reason to skip.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerClient, dockerMessage } from '../../src/docker/docker-client.js';
import { CONTAINER_LABELS } from '../../workers/executors/container.js';
import { TEST_CONFIG_TOML, type TestSystem } from './system.js';

export const TEST_IMAGE = 'orchestrator-test/busybox:1';
const SOCKET = '/var/run/docker.sock';
const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];
const APPLETS = ['sh', 'echo', 'cat', 'sleep', 'ls', 'touch', 'dd', 'head', 'tail', 'true', 'false', 'id', 'mkdir', 'rm', 'wget', 'nc', 'ip'];

/**
 * A client for the local engine, or undefined (with the reason printed) when none answers and
 * skipping is allowed. Throws under CI=true when none answers.
 */
export async function dockerForTests(suite: string): Promise<DockerClient | undefined> {
  const docker = new DockerClient({ socketPath: SOCKET });
  if (await docker.ping(5000)) return docker;
  const why = `${suite}: no Docker engine answers on ${SOCKET}`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI must start one (.ci/run starts dockerd)`);
  process.stderr.write(`SKIPPED ${why} (start dockerd to run it; see SERVICES.md)\n`);
  return undefined;
}

/**
 * Makes TEST_IMAGE if the engine lacks it: busybox with a few applet links, nothing else.
 * Idempotent; two suites importing at once end with the same image.
 */
export async function ensureTestImage(docker: DockerClient): Promise<string> {
  if (await docker.hasImage(TEST_IMAGE)) return TEST_IMAGE;
  const busybox = BUSYBOX_PATHS.find((p) => existsSync(p));
  if (!busybox) throw new Error(`no static busybox found (${BUSYBOX_PATHS.join(', ')}): apt-get install busybox-static`);
  const root = mkdtempSync(join(tmpdir(), 'orq-rootfs-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync(busybox, join(root, 'bin', 'busybox'));
    for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [repo, tag] = TEST_IMAGE.split(':');
    const progress = await docker.api.importImage(tar.stdout, { repo, tag });
    await new Promise<void>((resolve, reject) => docker.api.modem.followProgress(progress, (err) => (err ? reject(err) : resolve())));
    if (!(await docker.hasImage(TEST_IMAGE))) throw new Error(`importing ${TEST_IMAGE} did not produce the image`);
    return TEST_IMAGE;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Whether the engine can start a container with an NVIDIA device request, as a gpu task's
 * container has: it registers its "nvidia" device driver at start only when it finds
 * `nvidia-container-runtime-hook` on its PATH (.ci/run installs a no-op one on a machine without
 * GPUs). Without the driver the start fails with 500 "could not select device driver". Throws
 * under CI=true when it cannot.
 */
export async function gpuDriverForTests(docker: DockerClient, suite: string): Promise<boolean> {
  const image = await ensureTestImage(docker);
  const container = await docker.api.createContainer({
    Image: image,
    Cmd: ['true'],
    HostConfig: { NetworkMode: 'none', DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['0'], Capabilities: [['gpu']] }] },
  });
  let why = '';
  try {
    await container.start();
  } catch (err) {
    why = dockerMessage(err);
  } finally {
    await docker.remove(container.id);
  }
  if (!why) return true;
  const hint = 'dockerd registers it at start when nvidia-container-runtime-hook is on its PATH (.ci/run installs a no-op one)';
  if (process.env.CI === 'true') throw new Error(`${suite}: the Docker engine cannot start a container with a GPU (${why}); ${hint}`);
  process.stderr.write(`SKIPPED ${suite}: the Docker engine cannot start a container with a GPU (${why}); ${hint}\n`);
  return false;
}

/**
 * Test config for a container suite: its own key prefix, so that the containers' labels match no
 * other suite's (a pool removes the containers of its deployment's dead pools), and a short kill grace.
 */
export function containerSuiteToml(name: string, executorsContainer = ''): string {
  return `${TEST_CONFIG_TOML}\n[redis]\nprefix = "${name}${process.pid}"\n[executors.container]\nkillGraceMs = 1000\n${executorsContainer}\n`;
}

/** The containers, running or not, of a task in a test system's deployment. */
export function taskContainers(docker: DockerClient, sys: TestSystem, taskId: string) {
  return docker.containersLabelled({ [CONTAINER_LABELS.prefix]: sys.config.redis.prefix, [CONTAINER_LABELS.taskId]: taskId });
}
