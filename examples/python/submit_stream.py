#!/usr/bin/env python3
"""Submit many tasks over one SubmitTaskStream call, a bounded number waiting at a time.

    python3 examples/python/submit_stream.py --addr 127.0.0.1:50052 --task-class cpu_short \
        --count 1000 [--in-flight 64] [--prefix batch-7] [--wait]

Each task gets its own answer: created, existing (its task_id was submitted before with the same
content: run it again with the same --prefix) or refused with its own error, while the call goes
on. With --wait, waits for every accepted task's result. Exits 0 when every task was accepted
(and, with --wait, succeeded), 1 when a task failed, 2 when a task was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from orchestrator import AsyncClient, AsyncSubmitStream, OrchestratorError, SubmitResult, Task, TaskState


async def main(args: argparse.Namespace) -> int:
    async with AsyncClient(args.addr, token=args.token or os.environ.get("ORCHESTRATOR_TOKEN")) as client:
        window = asyncio.Semaphore(args.in_flight)
        refused = 0

        async def submit_one(stream: AsyncSubmitStream, i: int) -> SubmitResult | None:
            nonlocal refused
            task = Task(args.task_class, {"i": str(i)}, task_id=f"{args.prefix}-{i}" if args.prefix else None)
            async with window:
                try:
                    return await stream.submit(task)
                except OrchestratorError as err:
                    # This task alone: e.g. INVALID_ARGUMENT naming err.field, RESOURCE_EXHAUSTED with err.retry_after.
                    refused += 1
                    print(f"refused {i}: {err}", file=sys.stderr)
                    return None

        async with client.submit_stream() as stream:
            answers = await asyncio.gather(*(submit_one(stream, i) for i in range(args.count)))
        accepted = [a for a in answers if a is not None]
        created = sum(1 for a in accepted if a.created)
        print(f"submitted {args.count}: created {created}, existing {len(accepted) - created}, refused {refused}")
        if refused:
            return 2
        if not args.wait:
            return 0
        results = await asyncio.gather(*(client.wait_for_result(a.task_id, timeout=args.timeout) for a in accepted))
        succeeded = sum(1 for r in results if r.state is TaskState.SUCCEEDED)
        print(f"results: {succeeded} succeeded, {len(results) - succeeded} not")
        return 0 if succeeded == len(results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50052")
    parser.add_argument("--token", default="", help="bearer token (default: $ORCHESTRATOR_TOKEN)")
    parser.add_argument("--task-class", default="cpu_short")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=64, help="most tasks waiting for their answers at a time")
    parser.add_argument("--prefix", default="", help="task ids <prefix>-<i> (default: ids from the server)")
    parser.add_argument("--wait", action="store_true", help="wait for every accepted task's result")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each result")
    sys.exit(asyncio.run(main(parser.parse_args())))
