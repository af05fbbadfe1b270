/** Reading a gRPC server stream in the feed suites. */
import type { ServiceError } from '@grpc/grpc-js';

/** Up to `n` items of a stream (all of them when `done` says so first), then the call is cancelled. */
export async function take<T>(stream: AsyncIterable<T> & { cancel(): void }, n: number, done?: (got: T[]) => boolean): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const x of stream) {
      out.push(x);
      if (out.length === n || done?.(out)) break;
    }
  } finally {
    stream.cancel();
  }
  return out;
}

/** Reads `it` into `got` until the server ends the call; returns the error it ended with, if any. */
export async function readUntilEnded<T>(it: AsyncIterator<T>, got: T[]): Promise<ServiceError | undefined> {
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return undefined;
      got.push(r.value);
    }
  } catch (err) {
    return err as ServiceError;
  }
}
