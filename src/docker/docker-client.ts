/**
 * The Docker engine, as the rest of the system uses it: one dockerode client on a unix socket,
 * plus the few operations whose error handling is easy to get wrong (removal of something that
 * is already gone or going, look-ups by label). Infrastructure only: it knows nothing of tasks.
 */
import Docker from 'dockerode';

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

export class DockerClient {
  readonly api: Docker;

  constructor(readonly opts: DockerClientOptions) {
    // `host: undefined` keeps docker-modem from taking DOCKER_HOST from the environment behind
    // the config loader's back (it would win over socketPath).
    this.api = new Docker({ socketPath: opts.socketPath, host: undefined });
  }

  /** Whether the engine answers within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    try {
      // dockerode takes an abortSignal here; its type definitions do not say so yet.
      const ping = this.api.ping.bind(this.api) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping({ abortSignal: ac.signal });
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
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
    return this.api.listContainers({ all: true, filters: { label } });
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
