"""Orchestrator's task runner for Python: serve Python functions to Orchestrator's pools
(the ``runner`` executor, protocol orchestrator.runner.v1.TaskRunner).

::

    from orchestrator.runner import Runner, TaskContext, TaskFailure

    runner = Runner(name="models", max_concurrency=2)

    @runner.task("embed")
    async def embed(payload: dict[str, str], ctx: TaskContext) -> dict:
        await ctx.progress(10)
        ctx.log("loading", payload["doc"])
        return {"ok": True}

    @runner.task("resize")
    def resize(payload: dict[str, str], ctx: TaskContext) -> dict:
        for step in range(10):
            ctx.check_cancelled()          # raises TaskCancelled once the attempt is cancelled
            ctx.progress(step * 10)
        if payload.get("bad"):
            raise TaskFailure("bad input", retryable=False)
        return {"done": True}

    if __name__ == "__main__":
        runner.serve("127.0.0.1:8083")   # or: python -m orchestrator.runner models:runner
"""

from orchestrator.runner.context import TaskContext
from orchestrator.runner.errors import TaskCancelled, TaskFailure
from orchestrator.runner.runner import DEFAULT_ADDRESS, Runner, RunnerTls

__all__ = ["DEFAULT_ADDRESS", "Runner", "RunnerTls", "TaskCancelled", "TaskContext", "TaskFailure"]
