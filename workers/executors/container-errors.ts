/**
 * What a failed Docker engine call means for a container attempt: the TaskError it ends with,
 * saying what went wrong in the pool's terms, and whether another attempt can do better.
 *
 * - 404 names something missing, and the engine's message says what: an image ("No such
 *   image", pools do not pull), a network ("network X not found": `executors.container.networkMode`
 *   does not exist on this engine; 20.10 says so at start, newer engines at create), or
 *   anything else the request names. The same request fails the same way again: no retry.
 * - 500 "could not select device driver": the container asks for a GPU (a device request for
 *   the nvidia driver) and the engine has no such driver (no NVIDIA container toolkit on the
 *   pool's host). Every retry would fail alike, so the task fails at once, saying so.
 * - Anything else is retryable (another pool, or this one a moment later, may do better) unless
 *   the engine refused the request itself (another 4xx: a bad working dir, user, ...).
 */
import { dockerMessage, dockerStatus } from '../../src/docker/docker-client.js';
import { TaskError } from '../../src/errors/errors.js';

/** What the attempt asked of the engine, for the message. */
export interface ContainerRequest {
  image: string;
  /** Whether the container joins a network (`networkMode`), rather than none. */
  network: boolean;
  /** The network it joins when `network` is set (`executors.container.networkMode`). */
  networkMode: string;
  /** The GPU it asks for, if any. */
  gpu?: string;
}

/** `req` is the attempt's request when the call was about its container (create, start). */
export function containerEngineError(what: string, err: unknown, req?: ContainerRequest): TaskError {
  const status = dockerStatus(err);
  const message = dockerMessage(err);
  if (req && status === 404) {
    if (/no such image/i.test(message)) {
      return new TaskError('task_failed', `image "${req.image}" is not on this pool's Docker engine (pools do not pull images): ${message}`, {
        retryable: false,
        cause: err,
      });
    }
    if (req.network && /\bnetwork\b.*\bnot found\b/i.test(message)) {
      return new TaskError(
        'task_failed',
        `network "${req.networkMode}" (executors.container.networkMode) does not exist on this pool's Docker engine: ${message}`,
        { retryable: false, cause: err },
      );
    }
  }
  if (req && status === 500 && /could not select device driver/i.test(message)) {
    const gpu = req.gpu === undefined ? 'a GPU' : `GPU ${req.gpu}`;
    return new TaskError(
      'task_failed',
      `this pool's Docker engine has no GPU device driver, so the container cannot be given ${gpu} (the pool's host needs the NVIDIA container toolkit): ${message}`,
      { retryable: false, cause: err },
    );
  }
  // Another 404 (something else the request names is missing) or 4xx is not retried either.
  const retryable = status === undefined || status >= 500;
  const image = req ? ` (image "${req.image}")` : '';
  return new TaskError('task_failed', `docker: ${what}${image}: ${message}`, { retryable, cause: err });
}
