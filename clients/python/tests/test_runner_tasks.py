"""Tasks that real pools call in test/python-runner.int.test.ts, served by
``python -m orchestrator.runner test_runner_tasks.py:runner``. No test cases here.

Environment: RUNNER_NAME names the runner (each result says which one ran it); RUNNER_MARKS is a
folder where the functions leave a file per event (``<task id>.<attempt>.started``,
``<task id>.<attempt>.cancelled`` holding the cancel's reason) for the suite to wait on.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from orchestrator.runner import Runner, TaskContext, TaskFailure

NAME = os.environ.get("RUNNER_NAME", "pool-suite")
runner = Runner(name=NAME, max_concurrency=2)


def mark(ctx: TaskContext, event: str, text: str = "") -> None:
    marks = os.environ.get("RUNNER_MARKS")
    if marks:
        Path(marks, f"{ctx.task_id}.{ctx.attempt}.{event}").write_text(text)


@runner.task("report")
async def report(payload: dict[str, str], ctx: TaskContext) -> dict[str, Any]:
    ctx.log("starting")
    print("to stdout")
    print("to stderr", file=sys.stderr)
    for p in (10, 50, 100):
        await ctx.progress(p)
    return {
        "got": payload,
        "runner": NAME,
        "attempt": ctx.attempt,
        "max_attempts": ctx.max_attempts,
        "task_class": ctx.task_class,
        "deadline_ms": int(ctx.deadline.timestamp() * 1000) if ctx.deadline else 0,
    }


@runner.task("refuse")
def refuse(payload: dict[str, str], ctx: TaskContext) -> None:
    raise TaskFailure("row 7 is malformed", retryable=False, detail={"row": 7})


@runner.task("flaky")
def flaky(payload: dict[str, str], ctx: TaskContext) -> dict[str, int]:
    if ctx.attempt == 1:
        raise ConnectionError("the database went away")
    return {"attempt": ctx.attempt}


@runner.task("wait")
def wait(payload: dict[str, str], ctx: TaskContext) -> str:
    """Blocks in its thread until cancelled."""
    mark(ctx, "started")
    ctx.cancelled.wait(float(payload.get("seconds", "120")))
    if ctx.cancelled.is_set():
        mark(ctx, "cancelled", ctx.cancel_reason)
    ctx.check_cancelled()
    return "not cancelled"


@runner.task("wait_async")
async def wait_async(payload: dict[str, str], ctx: TaskContext) -> str:
    mark(ctx, "started")
    try:
        await asyncio.sleep(float(payload.get("seconds", "120")))
    except asyncio.CancelledError:
        mark(ctx, "cancelled", ctx.cancel_reason)
        raise
    return "not cancelled"


@runner.task("slow")
async def slow(payload: dict[str, str], ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `seconds` on the first attempt and `later_seconds` (default 0) on the others."""
    mark(ctx, "started", NAME)
    seconds = payload.get("seconds", "1") if ctx.attempt == 1 else payload.get("later_seconds", "0")
    await asyncio.sleep(float(seconds))
    return {"runner": NAME, "attempt": ctx.attempt}
