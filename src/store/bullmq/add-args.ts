/**
 * The packed argument list BullMQ's add scripts (addStandardJob, addPrioritizedJob, addDelayedJob) take as their
 * ARGV[1], by position as Queue.add builds it (its Redis backend's addJob), for a job without
 * parent, repeat or deduplication. Positions are BullMQ's internals, so they live only here;
 * test/submit.int.test.ts checks a job added this way against one Queue.add wrote.
 */
import { Packr } from 'msgpackr';

/** The packer BullMQ's Redis backend uses (redis-queue-backend.js). */
const packer = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

export interface AddJobArgs {
  /** The queue's key prefix (`queue.keys['']`). */
  keyPrefix: string;
  jobId: string;
  jobName: string;
  /** The job's creation time (ms), as BullMQ's Job set it. */
  timestamp: number;
}

/** ARGV[1] of BullMQ's add scripts: [prefix, id, name, timestamp, parentKey, parentDependenciesKey, parent, repeatJobKey, deduplicationKey, ...]. */
export function packAddArgs(a: AddJobArgs): Buffer {
  return packer.pack([a.keyPrefix, a.jobId, a.jobName, a.timestamp, null, null, undefined, undefined, null, null]) as Buffer;
}
