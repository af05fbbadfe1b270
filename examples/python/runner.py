"""A task runner in Python: three tasks Orchestrator's pools can run (the `runner` executor).

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index ./clients/python
    .venv/bin/python -m orchestrator.runner examples/python/runner.py --address 127.0.0.1:8083
    # or: .venv/bin/python examples/python/runner.py

Submit with executor `{ runner: { task: "count" } }` to a class whose policy allows `runner`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from orchestrator.runner import Runner, TaskContext, TaskFailure

runner = Runner(name="examples", max_concurrency=4)


@runner.task("count")
async def count(payload: dict[str, str], ctx: TaskContext) -> dict[str, int]:
    """Counts to `n`, one step every `step_ms`, reporting progress and a log line per step.
    A cancel or the deadline raises asyncio.CancelledError at the `await`."""
    n, step_s = int(payload.get("n", "5")), int(payload.get("step_ms", "100")) / 1000
    for i in range(n):
        await ctx.progress(round(100 * i / n))
        ctx.log(f"step {i + 1} of {n}")
        await asyncio.sleep(step_s)
    return {"counted": n}


@runner.task("wait")
def wait(payload: dict[str, str], ctx: TaskContext) -> dict[str, float]:
    """Blocking code in a thread: sleeps `seconds`, but wakes as soon as the attempt is cancelled."""
    seconds = float(payload.get("seconds", "1"))
    print(f"waiting {seconds} s")  # print() goes to the attempt's log (stdout)
    if ctx.cancelled.wait(seconds):
        print(f"stopped early: {ctx.cancel_reason}")
        ctx.check_cancelled()  # raises TaskCancelled: the attempt ends as cancelled
    return {"waited": seconds}


@runner.task("sha256")
def sha256(payload: dict[str, str], ctx: TaskContext) -> dict[str, str]:
    """Hashes `text` `rounds` times; a missing text fails for good (no retry)."""
    if "text" not in payload:
        raise TaskFailure("payload.text: required", retryable=False)
    digest = payload["text"].encode()
    rounds = int(payload.get("rounds", "1"))
    for i in range(rounds):
        if i % 10_000 == 0:
            ctx.check_cancelled()
        digest = hashlib.sha256(digest).digest()
    return {"sha256": digest.hex()}


if __name__ == "__main__":
    runner.serve(os.environ.get("RUNNER_ADDRESS", "127.0.0.1:8083"))
