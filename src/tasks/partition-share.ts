/**
 * How a class-wide figure is split over a partitioned class's partitions (`classes.<name>.partitions`
 * on a Redis Cluster): a cluster-wide cap or rate limit, and the finished tasks retention keeps.
 * Partition p of n gets floor(total/n), plus one for p < total mod n, so the shares add up to
 * `total` exactly and never differ by more than one. 0 (none, or keep none) stays 0 on all.
 */
export function partitionShare(total: number, n: number, p: number): number {
  if (total === 0 || n <= 1) return total;
  return Math.floor(total / n) + (p < total % n ? 1 : 0);
}

/**
 * The concurrency of partition `p`'s Worker when a pool runs `total` tasks of a class of `n`
 * partitions: the total split as evenly as it goes (floor(total/n), one more for p < total mod n),
 * never below one, so that every partition is served. A pool thus runs at most max(total, n) of
 * the class's tasks at once (README "Redis Cluster": partitions).
 */
export function workerConcurrency(total: number, n: number, p: number): number {
  return Math.max(1, Math.floor(total / n) + (p < total % n ? 1 : 0));
}
