/** The baseline's sandboxed processor: plain BullMQ, doing nothing, as `echo` does for us. */
export default async function noop(job: { data: unknown }): Promise<unknown> {
  return job.data;
}
