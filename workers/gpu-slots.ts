/**
 * The GPUs of a pool, each held by at most one running task. The pool's concurrency for a GPU
 * class is at most the number of GPUs, so a slot is always free when BullMQ hands over a task;
 * `acquire` returning undefined would mean that invariant broke.
 */
export class GpuSlots {
  private readonly free: string[];

  constructor(readonly devices: readonly string[]) {
    this.free = [...devices];
  }

  /** A free device, now held; undefined when every one is held. Lowest id first. */
  acquire(): string | undefined {
    return this.free.shift();
  }

  release(device: string): void {
    if (!this.devices.includes(device) || this.free.includes(device)) return;
    this.free.push(device);
    this.free.sort((a, b) => this.devices.indexOf(a) - this.devices.indexOf(b));
  }
}
