#!/usr/bin/env python3
"""Create a two-step workflow, run it and watch the run to its end, with the asyncio client.

    python3 examples/python/workflow.py --addr 127.0.0.1:50052 --task-class cpu_short --name greet

Step "fetch" echoes the run's input; step "report" runs after it with fetch's result. Exits 0
when the run succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from orchestrator import AsyncClient, Step, Task, WorkflowRunState


async def main(args: argparse.Namespace) -> int:
    async with AsyncClient(args.addr, token=args.token or os.environ.get("ORCHESTRATOR_TOKEN")) as client:
        created = await client.create_workflow(
            args.name,
            [
                Step("fetch", Task(args.task_class, {"who": "${inputs.who}"})),
                Step("report", Task(args.task_class, {"greeting": "hello ${steps.fetch.result.who}"}), depends_on=["fetch"]),
            ],
        )
        print(f"workflow {created.name} version {created.version}")
        started = await client.start_workflow_run(args.name, {"who": args.who})
        print(f"run {started.run_id}")
        async for update in client.watch_workflow_run(started.run_id):
            if update.step_id:
                print(f"step {update.step_id} {update.step_state} {update.result_json or update.error}")
            else:
                print(f"run {update.run_state}")
        run = await client.get_workflow_run(started.run_id)
        print(f"report: {run.steps_by_id['report'].result}")
        return 0 if run.state is WorkflowRunState.SUCCEEDED else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50052")
    parser.add_argument("--token", default="", help="bearer token (default: $ORCHESTRATOR_TOKEN)")
    parser.add_argument("--task-class", default="cpu_short")
    parser.add_argument("--name", default="greet")
    parser.add_argument("--who", default="world")
    sys.exit(asyncio.run(main(parser.parse_args())))
