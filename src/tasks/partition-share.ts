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
