/**
 * The Docker engine, as the rest of the system uses it: one dockerode client on a unix socket,
 * plus the few operations whose error handling is easy to get wrong (removal of something that
 * is already gone or going, look-ups by label). Infrastructure only: it knows nothing of tasks.
 *
 * dockerode is loaded on first use of `api`: it costs a process about 0.3 s of CPU to load, and
 * every pool asks the engine at start whether containers of dead pools are left, which is two
 * plain GETs (ping, containersLabelled) made here without it.
 */
import { request } from 'node:http';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';

export interface DockerClientOptions {
  /** The engine's API socket (config `docker.socketPath`). */
  socketPath: string;
}

/** The HTTP status of a failed engine call (dockerode puts it on the error), if any. */
export function dockerStatus(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The engine's own message for a failed call, without dockerode's "(HTTP code 404) ..." prefix. */
export function dockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  const reason = (err as { reason?: unknown } | null)?.reason;
  if (typeof reason === 'string' && reason) return reason;
  return err instanceof Error ? err.message : String(err);
}

/** Most bytes an engine answer read here may have (a list of containers by label). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** An engine error as dockerode shapes it (dockerStatus and dockerMessage read it). */
class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message?: unknown } | undefined,
    path: string,
  ) {
    super(`(HTTP code ${statusCode}) GET ${path}: ${typeof json?.message === 'string' ? json.message : 'failed'}`);
  }
}

export class DockerClient {
  private loaded?: Docker;

  constructor(readonly opts: DockerClientOptions) {}

  /** dockerode on the engine's socket, loaded on first use. */
  get api(): Docker {
    if (!this.loaded) {
      const Dockerode = createRequire(import.meta.url)('dockerode') as typeof Docker;
      // `host: undefined` keeps docker-modem from taking DOCKER_HOST from the environment behind
      // the config loader's back (it would win over socketPath).
      this.loaded = new Dockerode({ socketPath: this.opts.socketPath, host: undefined });
    }
    return this.loaded;
  }

  /** GET `path` of the engine's API: its status and body (at most MAX_ANSWER_BYTES). */
  private get(path: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.opts.socketPath, path, method: 'GET', signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.length > MAX_ANSWER_BYTES) req.destroy(new Error(`GET ${path}: the engine's answer is over ${MAX_ANSWER_BYTES} bytes`));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** Whether the engine answers within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      return (await this.get('/_ping', AbortSignal.timeout(timeoutMs))).status === 200;
    } catch {
      return false;
    }
  }

  /** Whether an image is present on the engine. */
  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.api.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (dockerStatus(err) === 404) return false;
      throw err;
    }
  }

  /** Ids of the containers, running or not, that carry every one of `labels`. */
  async containersLabelled(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
    const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
    const path = `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label }))}`;
    const { status, body } = await this.get(path);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    if (status !== 200) throw new EngineError(status, json as { message?: unknown } | undefined, path);
    if (!Array.isArray(json)) throw new Error(`GET ${path}: the engine answered something other than a list`);
    return json as Docker.ContainerInfo[];
  }

  /**
   * Kill (if running) and remove a container with its anonymous volumes. A container that is
   * already gone, or whose removal is already in progress, counts as removed.
   */
  async remove(id: string): Promise<void> {
    try {
      await this.api.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = dockerStatus(err);
      if (status === 404) return;
      if (status === 409 && /already in progress/i.test(dockerMessage(err))) return;
      throw err;
    }
  }
}
