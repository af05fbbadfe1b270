#!/usr/bin/env python3
"""Submit a task to Orchestrator and wait for its result, with the asyncio client.

    python3 examples/python/submit_and_wait.py --addr 127.0.0.1:50052 --task-class cpu_short \
        --payload text=hello [--handler fail --payload log=hi --logs]

Prints the result; for a failed task its failure, and with --logs the task's captured output
(every attempt). Exits 0 when the task succeeded, 1 when it did not, 2 when the call was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from orchestrator import AsyncClient, OrchestratorError, TaskState


async def main(args: argparse.Namespace) -> int:
    payload = dict(p.split("=", 1) for p in args.payload) or {"from": "python"}
    async with AsyncClient(args.addr, token=args.token or os.environ.get("ORCHESTRATOR_TOKEN")) as client:
        try:
            submitted = await client.submit(args.task_class, payload, handler=args.handler)
        except OrchestratorError as err:
            # e.g. INVALID_ARGUMENT: task.task_class: unknown class "x" (err.field == "task.task_class")
            print(f"submit failed: {err}", file=sys.stderr)
            return 2
        print(f"submitted {submitted.task_id} ({submitted.state})")
        result = await client.wait_for_result(submitted.task_id, timeout=args.timeout)
        print(f"result {result.task_id} {result.state} attempt={result.attempt} {result.result_json or result.error}")
        if result.failure is not None:
            # The task's own failure: kind, exit code (a process's), whether a retry could help, output tail.
            f = result.failure
            code = f" exit_code={f.exit_code}" if f.exit_code is not None else ""
            print(f"failure kind={f.kind}{code} retryable={f.retryable}")
            for line in f.output_tail.splitlines():
                print(f"  {line}")
        if args.logs:
            logs = await client.get_logs(submitted.task_id, all_attempts=True)
            for line in logs.lines:
                print(f"log {line.attempt} {line.stream} {line.text}")
        return 0 if result.state is TaskState.SUCCEEDED else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50052")
    parser.add_argument("--token", default="", help="bearer token (default: $ORCHESTRATOR_TOKEN)")
    parser.add_argument("--task-class", default="cpu_short")
    parser.add_argument("--payload", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--handler", default="echo")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the result")
    parser.add_argument("--logs", action="store_true", help="print the task's logs (every attempt) after its result")
    sys.exit(asyncio.run(main(parser.parse_args())))
