/**
 * The GPUs of a pool, each held by at most one running task. A pool's concurrency for one GPU
 * class is at most its number of GPUs, so a task of a pool serving a single GPU class never
 * waits here; with several GPU classes sharing the GPUs, a task waits for one to be released.
 */
export class GpuSlots {
  private readonly free: string[];
  private readonly waiters: ((device: string) => void)[] = [];

  constructor(readonly devices: readonly string[]) {
    this.free = [...devices];
  }

  /** A free device, now held (lowest id first); waits for one while all are held. Rejects with the signal's reason when it aborts first. */
  acquire(signal: AbortSignal): Promise<string> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const device = this.free.shift();
    if (device !== undefined) return Promise.resolve(device);
    return new Promise((resolve, reject) => {
      const waiter = (d: string): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(d);
      };
      const onAbort = (): void => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(device: string): void {
    if (!this.devices.includes(device) || this.free.includes(device)) return;
    const next = this.waiters.shift();
    if (next) return next(device);
    this.free.push(device);
    this.free.sort((a, b) => this.devices.indexOf(a) - this.devices.indexOf(b));
  }
}
