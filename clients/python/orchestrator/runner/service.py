"""The gRPC face of a runner (orchestrator.runner.v1.TaskRunner): checks the token, maps each
request to one call on the runner's attempt table and its outcome (or error) back to the call.
Runner errors become gRPC statuses here and nowhere else."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Mapping

import grpc

from orchestrator.runner.attempt import AttemptTable, RunnerBusy, RunnerClosing, TaskFunction, failure_event
from orchestrator.runner.context import AttemptInfo, deadline_from_ms
from orchestrator.runner.v1 import runner_pb2, runner_pb2_grpc

log = logging.getLogger("orchestrator.runner")

_OUTCOMES = ("result", "failure")


class TaskRunnerService(runner_pb2_grpc.TaskRunnerServicer):
    """Serves one runner's tasks from its attempt table."""

    def __init__(
        self,
        *,
        name: str,
        version: str,
        tasks: Mapping[str, TaskFunction],
        table: AttemptTable,
        token: str | None,
    ) -> None:
        self._name = name
        self._version = version
        self._tasks = tasks
        self._table = table
        self._authorization = f"Bearer {token}".encode() if token else None

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if self._authorization is None:
            return
        given = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), "")
        given_bytes = given.encode() if isinstance(given, str) else bytes(given)
        if not hmac.compare_digest(given_bytes, self._authorization):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization: a valid bearer token is required")

    async def Describe(
        self, request: runner_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> runner_pb2.DescribeResponse:
        await self._authorize(context)
        return runner_pb2.DescribeResponse(
            task_names=sorted(self._tasks),
            max_concurrency=self._table.max_concurrency,
            runner=f"{self._name} (orchestrator.runner for Python {self._version}, grpcio {grpc.__version__})",
        )

    async def Cancel(self, request: runner_pb2.CancelRequest, context: grpc.aio.ServicerContext) -> runner_pb2.CancelResponse:
        await self._authorize(context)
        if not request.task_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task_id: required")
        found = self._table.cancel(request.task_id, request.attempt, request.reason or "cancelled")
        return runner_pb2.CancelResponse(found=found)

    async def Execute(
        self, request: runner_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runner_pb2.ExecuteEvent]:
        await self._authorize(context)
        if not request.task_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "task_id: required")
        if request.attempt < 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "attempt: must be at least 1 (attempts are 1-based)")
        task = self._tasks.get(request.task_name)
        if task is None:
            names = sorted(self._tasks)
            served = ", ".join(names[:50]) + (f" and {len(names) - 50} more" if len(names) > 50 else "")
            yield failure_event(
                f'unknown task "{request.task_name}": runner "{self._name}" serves {served}', False, "UnknownTask", ""
            )
            return
        info = AttemptInfo(
            task_id=request.task_id,
            attempt=request.attempt,
            max_attempts=request.max_attempts,
            task_class=request.task_class,
            task_name=request.task_name,
            deadline=deadline_from_ms(request.deadline_unix_ms),
            traceparent=request.traceparent,
            tracestate=request.tracestate,
        )
        try:
            attempt = self._table.admit(info, task, dict(request.payload))
        except RunnerBusy as err:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(err))
            return
        except RunnerClosing as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
            return
        finished = False
        try:
            while True:
                event = await attempt.events.get()
                if event.WhichOneof("event") in _OUTCOMES:
                    finished = True
                yield event
                if finished:
                    return
        finally:
            if not finished:
                # The caller went away (the pool's timeout, CancelTask, a pool that stopped or
                # died, the runner's own shutdown): the work is wasted, stop it.
                attempt.cancel("caller_gone")
