/**
 * What each failed engine call means for a container attempt. The errors are shaped as
 * dockerode makes them (statusCode, and the engine's JSON body), with the engine's own
 * messages; the suites against the real engine cover the cases it produces (a missing image at
 * create, a missing network at start on 20.10, a GPU request with no driver for it).
 */
import { describe, expect, it } from 'vitest';
import { containerEngineError, type ContainerRequest } from '../workers/executors/container-errors.js';

const engineError = (statusCode: number, message: string) =>
  Object.assign(new Error(`(HTTP code ${statusCode}) unexpected - ${message} `), { statusCode, json: { message } });
const req: ContainerRequest = { image: 'registry.internal/train:2', network: true, networkMode: 'jobs', gpu: '1' };

describe('container engine errors', () => {
  it('reports a missing image as such, without a retry', () => {
    const e = containerEngineError('creating the container', engineError(404, 'No such image: registry.internal/train:2'), req);
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(
      `image "registry.internal/train:2" is not on this pool's Docker engine (pools do not pull images): No such image: registry.internal/train:2`,
    );
  });

  it('reports a missing network, at create (newer engines) or at start (20.10), as the network, not the image', () => {
    for (const what of ['creating the container', 'starting the container']) {
      const e = containerEngineError(what, engineError(404, 'network jobs not found'), req);
      expect(e.retryable).toBe(false);
      expect(e.message).toBe(`network "jobs" (executors.container.networkMode) does not exist on this pool's Docker engine: network jobs not found`);
    }
  });

  it('reports any other 404 with the engine’s words for what is missing, without a retry', () => {
    const e = containerEngineError('creating the container', engineError(404, 'create x: error looking up volume plugin y: plugin "y" not found'), req);
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(
      'docker: creating the container (image "registry.internal/train:2"): create x: error looking up volume plugin y: plugin "y" not found',
    );
  });

  it('fails a GPU request the engine has no device driver for, without a retry', () => {
    const e = containerEngineError('starting the container', engineError(500, 'could not select device driver "nvidia" with capabilities: [[gpu]]'), req);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^this pool's Docker engine has no GPU device driver, so the container cannot be given GPU 1 \(/);
  });

  it('retries the engine’s other trouble, and not a request it refused', () => {
    expect(containerEngineError('starting the container', engineError(500, 'context deadline exceeded'), req).retryable).toBe(true);
    expect(containerEngineError('starting the container', new Error('connect ENOENT /var/run/docker.sock'), req).retryable).toBe(true);
    expect(containerEngineError('starting the container', engineError(400, 'invalid working directory'), req).retryable).toBe(false);
  });
});
