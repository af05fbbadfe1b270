/** Task logs (src/tasks/task-logs.ts) as orchestrator.v1 messages. */
import * as pb from '../gen/orchestrator/v1/orchestrator.js';
import type { LogStream, TaskLogLine } from '../tasks/task-log-format.js';
import type { TaskLogsView } from '../tasks/task-logs.js';
import { toPbState } from './mapping.js';

const STREAM: Record<LogStream, pb.LogStream> = {
  stdout: pb.LogStream.LOG_STREAM_STDOUT,
  stderr: pb.LogStream.LOG_STREAM_STDERR,
  log: pb.LogStream.LOG_STREAM_LOG,
  system: pb.LogStream.LOG_STREAM_SYSTEM,
};

export function toPbLine(l: TaskLogLine): pb.TaskLogLine {
  return { attempt: l.attempt, atMs: l.atMs, stream: STREAM[l.stream], text: l.text };
}

/** For serverStream: the cursor (the line's index in the list) is not part of the message. */
export const toPbLogLine = (_cursor: string, l: TaskLogLine): pb.TaskLogLine => toPbLine(l);

export function toPbLogs(v: TaskLogsView): pb.TaskLogs {
  return { taskId: v.taskId, attempt: v.attempt, lines: v.lines.map(toPbLine), truncated: v.truncated, attempts: v.attempts, state: toPbState(v.state) };
}
