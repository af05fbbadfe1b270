"""The asyncio client (grpc.aio): every call of orchestrator.v1.OrchestratorService as a
coroutine, and its server streams as async iterators that resume from their cursor.

The blocking :class:`~orchestrator.Client` runs this same client on an event loop thread of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable, Generic, Iterable, Mapping, Sequence, TypeVar

import grpc
import grpc.aio

from ..errors import DeadlineExceededError, InvalidArgumentError, OrchestratorError, TaskFailedError, error_for, from_rpc_error
from ..v1 import orchestrator_pb2 as pb
from ..v1 import orchestrator_pb2_grpc as pb_grpc
from ._connection import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_S,
    TlsConfig,
    call_metadata as _call_metadata,
    channel_options as _channel_options,
)
from ._types import (
    Backoff,
    CancelResult,
    ClassLimits,
    Duration,
    Executor,
    FailurePolicy,
    Health,
    LogLine,
    Metrics,
    Pool,
    RetryError,
    RetryResult,
    Schedule,
    Step,
    SubmitResult,
    Task,
    TaskEvent,
    TaskFilter,
    TaskLogs,
    TaskPage,
    TaskResult,
    TaskState,
    TaskStatus,
    TaskSummary,
    WorkflowRun,
    WorkflowRunPage,
    WorkflowRunStarted,
    WorkflowRunState,
    WorkflowRunSummary,
    WorkflowUpdate,
    WorkflowVersion,
    _int,
    _ms,
    _str_list,
    _str_map,
)

__all__ = ["AsyncClient", "AsyncStream", "AsyncSubmitStream"]

T = TypeVar("T")

#: Statuses after which a stream is opened again from its cursor: the server or the connection
#: went away (UNAVAILABLE: a front end stopping says "resume from your last cursor"), or the
#: stream fell behind and was ended (RESOURCE_EXHAUSTED, README "Streams").
_RESUMABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0
#: How long a broken stream keeps trying to reopen (failed attempts in a row) before it raises.
DEFAULT_RECONNECT_TIMEOUT_S = 60.0
#: A call that stayed open this long before it broke counts as a new break, not one more failed
#: attempt of the last: a quiet stream (no message for an hour) that breaks twice gets its full
#: reconnect_timeout each time.
_ESTABLISHED_S = 5.0


class AsyncSubmitStream:
    """Tasks submitted over one long-lived SubmitTaskStream call instead of a call each (README
    "Submitting over one stream"): for a client that submits continuously.

    ``await submit(task)`` gives the task's own :class:`SubmitResult`, or raises its own
    refusal (the :class:`OrchestratorError` SubmitTask would have raised), and the call goes on;
    any number of submits may wait at once. The call opens with the first submit, and again
    with the first after it ended. When it ends before a task is answered (the server went away,
    the call was refused), that submit raises the call's error: the task's outcome is unknown,
    and submitting it again with the same ``task_id`` is answered as existing if it was accepted.
    So does a task with no answer within the client's ``timeout`` (or the submit's
    ``rpc_timeout``): DeadlineExceededError, as a unary call past its deadline.
    ``await close()`` (or leaving ``async with``) half-closes the call and waits for the answers
    still due.
    """

    def __init__(self, open_call: Callable[[], Any], timeout: float | None = None) -> None:
        self._open = open_call
        self._timeout = timeout
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[SubmitResult]] = {}
        self._next_id = 1
        # grpc.aio takes one write of a call at a time.
        self._writing = asyncio.Lock()

    @property
    def unanswered(self) -> int:
        """Tasks sent and not yet answered."""
        return len(self._waiting)

    async def submit(self, task: Task, *, rpc_timeout: float | None = None) -> SubmitResult:
        """Submits one task on the stream; its answer, or its refusal raised."""
        if not isinstance(task, Task):
            raise InvalidArgumentError(f"task: expected a Task, got {type(task).__name__}", field="task")
        request = pb.SubmitTaskStreamRequest(request_id=self._next_id, task=task._to_pb("task"))
        self._next_id += 1
        call = self._call if self._call is not None else self._start()
        answer: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()
        self._waiting[request.request_id] = answer
        try:
            async with self._writing:
                await call.write(request)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as err:
            # The call ended meanwhile: its reader answers every waiting task, this one too unless it is done already.
            if self._waiting.pop(request.request_id, None) is not None and not answer.done():
                raise (from_rpc_error(err) if isinstance(err, grpc.aio.AioRpcError) else _ended()) from err
        timeout = self._timeout if rpc_timeout is None else rpc_timeout
        if timeout is None:
            return await answer
        try:
            return await asyncio.wait_for(asyncio.shield(answer), timeout)
        except TimeoutError:
            if self._waiting.pop(request.request_id, None) is None and answer.done():
                return answer.result()
            raise error_for(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no answer within {timeout} s: the task's outcome is unknown "
                "(submitted again with the same task_id, it is answered as existing if it was accepted)",
            ) from None

    async def close(self) -> None:
        """Half-closes the call and waits until every task sent has its answer (or the call ended)."""
        call, reader = self._call, self._reader
        if call is None:
            return
        self._call = None
        try:
            async with self._writing:
                await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        if reader is not None:
            await reader

    async def cancel(self) -> None:
        """Ends the call at once: tasks not yet answered raise CancelledError (their outcome unknown)."""
        call, reader = self._call, self._reader
        self._call = None
        if call is not None:
            call.cancel()
        if reader is not None:
            await reader

    async def __aenter__(self) -> AsyncSubmitStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(self) -> Any:
        call = self._open()
        self._call = call
        self._reader = asyncio.ensure_future(self._read(call))
        return call

    async def _read(self, call: Any) -> None:
        """Answers each waiting task as its response comes; when the call ends, every task still waiting."""
        error: OrchestratorError = _ended()
        try:
            async for r in call:
                answer = self._waiting.pop(r.request_id, None)
                if answer is None or answer.done():
                    continue
                if r.WhichOneof("outcome") == "result":
                    answer.set_result(SubmitResult._from_pb(r.result))
                else:
                    e = r.error
                    answer.set_exception(error_for(e.code, e.message, field=e.field, retry_after_ms=e.retry_after_ms))
        except grpc.aio.AioRpcError as err:
            error = from_rpc_error(err)
        except asyncio.CancelledError:
            error = error_for(grpc.StatusCode.CANCELLED, "the submit stream was cancelled")
        finally:
            if self._call is call:
                self._call = None
            waiting = list(self._waiting.values())
            self._waiting.clear()
            for answer in waiting:
                if not answer.done():
                    answer.set_exception(error)


def _ended() -> OrchestratorError:
    return error_for(grpc.StatusCode.UNAVAILABLE, "the submit stream ended before answering")


class AsyncStream(Generic[T], AsyncIterator[T]):
    """A server stream as an async iterator that survives breaks.

    When the stream ends UNAVAILABLE (the server stopped, the connection broke) or
    RESOURCE_EXHAUSTED (it fell behind), it is opened again after the last message received
    (its ``cursor``), with a backoff from 0.1 s to 2 s (or the server's ``retry-after-ms``),
    for up to the client's ``reconnect_timeout`` of failed attempts in a row (an attempt that
    delivers a message, or stays open 5 s, ends the row); then the error is raised.
    Any other status raises at once. Nothing is missed and nothing repeated as long as the
    server still retains the entries after the cursor.

    ``cursor`` is the position after the last message received: keep it to resume in another
    process with ``events(cursor=...)`` / ``results(cursor=...)``. Leaving the ``async for``
    early does not end the call by itself: use ``async with`` or ``await stream.aclose()``.
    """

    def __init__(
        self,
        open_call: Callable[[str], Any],
        decode: Callable[[Any], T],
        *,
        cursor: str = "",
        resume: bool = True,
        reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT_S,
    ) -> None:
        self._open = open_call
        self._decode = decode
        self._cursor = cursor
        self._resume = resume
        self._reconnect_timeout = reconnect_timeout
        self._call: Any = None
        self._cancelled = False
        self._gen = self._run()
        #: How many times the stream was opened again after a break.
        self.reconnects = 0

    @property
    def cursor(self) -> str:
        """Where the stream stands: after the last message received (as given, before any)."""
        return self._cursor

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    def cancel(self) -> None:
        """Ends the call; the iteration stops (StopAsyncIteration) rather than raising."""
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    async def aclose(self) -> None:
        """Ends the call and the iteration."""
        self.cancel()
        try:
            await self._gen.aclose()
        except RuntimeError:
            pass  # being iterated right now by another task: the cancel ends that iteration

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncIterator[T]:
        backoff = _FIRST_BACKOFF_S
        broken_since: float | None = None
        loop = asyncio.get_running_loop()
        while not self._cancelled:
            call = self._open(self._cursor)
            self._call = call
            opened_at = loop.time()
            try:
                async for msg in call:
                    broken_since, backoff = None, _FIRST_BACKOFF_S
                    if getattr(msg, "cursor", ""):
                        self._cursor = msg.cursor
                    yield self._decode(msg)
                return
            except asyncio.CancelledError:
                if self._cancelled:
                    return
                raise
            except grpc.aio.AioRpcError as rpc_err:
                if self._cancelled:
                    return
                err = from_rpc_error(rpc_err)
                now = loop.time()
                if broken_since is None or now - opened_at >= _ESTABLISHED_S:
                    broken_since, backoff = now, _FIRST_BACKOFF_S
                if not self._resume or err.code not in _RESUMABLE or now - broken_since >= self._reconnect_timeout:
                    raise err from rpc_err
                await asyncio.sleep(max(backoff, err.retry_after or 0.0))
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                self.reconnects += 1
            finally:
                call.cancel()


class AsyncClient:
    """An asyncio client of one orchestrator.

    ::

        async with AsyncClient("127.0.0.1:50052", token=os.environ.get("ORCHESTRATOR_TOKEN")) as client:
            submitted = await client.submit("cpu_short", {"text": "hello"})
            result = await client.wait_for_result(submitted.task_id, timeout=60)
            print(result.state, result.result)

    Make it inside a coroutine, on the loop that will use it: grpc.aio binds a channel to the
    event loop running when it is made (outside any loop, ``Client`` is the one to use).

    Args:
        address: ``host:port`` of the orchestrator's gRPC server.
        token: Bearer token sent with every call (``authorization: Bearer <token>``).
        tls: ``True`` for TLS with the system's roots, or a :class:`TlsConfig` (CA, client
            certificate for mutual TLS, server name override); ``None``: plain TCP.
        timeout: Deadline of unary calls in seconds, when a call gives none (``rpc_timeout``);
            ``None``: no deadline. Default 30.
        max_message_bytes: Largest message sent or received; default 64 MiB, the server's.
        metadata: Extra metadata every call carries.
        call_metadata: Extra metadata asked for at each call: e.g. the W3C ``traceparent`` of
            the caller's active span, which submissions continue (README "Tracing").
        reconnect_timeout: How long a broken stream keeps trying to reopen, in seconds.
        channel_options: Extra gRPC channel arguments, after the client's own.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls: TlsConfig | bool | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        metadata: Mapping[str, str] | None = None,
        call_metadata: Callable[[], Mapping[str, str]] | None = None,
        reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT_S,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        if not isinstance(address, str) or not address:
            raise InvalidArgumentError("address: host:port is required", field="address")
        tls_config = TlsConfig() if tls is True else tls or None
        options = _channel_options(tls_config, max_message_bytes, channel_options)
        if tls_config is None:
            self._channel = grpc.aio.insecure_channel(address, options=options)
        else:
            self._channel = grpc.aio.secure_channel(address, tls_config._credentials(), options=options)
        self._stub = pb_grpc.OrchestratorServiceStub(self._channel)
        self._metadata = _call_metadata(token, metadata)
        self._per_call = call_metadata
        self._timeout = timeout
        self._reconnect_timeout = reconnect_timeout
        self.address = address

    async def close(self) -> None:
        """Closes the channel; calls still running end CANCELLED."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------- plumbing ----------

    def _md(self) -> tuple[tuple[str, str], ...]:
        """The metadata of one call: the client's, then call_metadata's (never an authorization)."""
        if self._per_call is None:
            return self._metadata
        return self._metadata + _call_metadata(None, self._per_call())

    async def _unary(self, method: Callable[..., Awaitable[Any]], request: Any, rpc_timeout: float | None) -> Any:
        try:
            return await method(
                request, metadata=self._md(), timeout=self._timeout if rpc_timeout is None else rpc_timeout
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from err

    def _stream(
        self, method: Callable[..., Any], request: Any, decode: Callable[[Any], T], *, resume: bool = True
    ) -> AsyncStream[T]:
        def open_call(cursor: str) -> Any:
            if cursor and hasattr(request, "cursor"):
                request.cursor = cursor
            return method(request, metadata=self._md())

        return AsyncStream(
            open_call, decode, cursor=getattr(request, "cursor", ""), resume=resume, reconnect_timeout=self._reconnect_timeout
        )

    # ---------- health and metrics ----------

    async def health(self, *, rpc_timeout: float | None = None) -> Health:
        """The orchestrator's status (SERVING, DEGRADED, NOT_SERVING) with each component's."""
        return Health._from_pb(await self._unary(self._stub.Health, pb.HealthRequest(), rpc_timeout))

    async def metrics(self, *, rpc_timeout: float | None = None) -> Metrics:
        """A snapshot of named figures: queue depths, pools, counts per class, stream lengths, uptime."""
        m = await self._unary(self._stub.GetMetrics, pb.GetMetricsRequest(), rpc_timeout)
        return Metrics(dict(m.metrics), m.collected_at_ms)

    # ---------- tasks ----------

    async def submit(
        self,
        task_class: str,
        payload: Mapping[str, str],
        *,
        task_id: str | None = None,
        priority: int = 0,
        executor: Executor | None = None,
        handler: str | None = None,
        attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout: Duration | None = None,
        delay: Duration | None = None,
        rpc_timeout: float | None = None,
    ) -> SubmitResult:
        """Enqueues one task; idempotent on ``task_id`` (the same content again is a no-op,
        ``created`` False; other content under the id: AlreadyExistsError).

        ``timeout`` is the task's per-attempt limit and ``delay`` its start delay, in seconds;
        ``rpc_timeout`` the call's deadline. See :class:`~orchestrator.Task` for the rest.
        """
        task = Task(task_class, payload, task_id, priority, executor, handler, attempts, backoff, timeout, delay)
        req = pb.SubmitTaskRequest(task=task._to_pb("task"))
        return SubmitResult._from_pb(await self._unary(self._stub.SubmitTask, req, rpc_timeout))

    async def submit_many(self, tasks: Iterable[Task], *, rpc_timeout: float | None = None) -> list[SubmitResult]:
        """Enqueues many tasks in one call (the fast path; up to the server's ``grpc.maxBatchSize``).
        Validated all or nothing: one bad task refuses the batch, naming ``tasks[i].<field>``."""
        specs = []
        for i, t in enumerate(tasks):
            if not isinstance(t, Task):
                raise InvalidArgumentError(f"tasks[{i}]: expected a Task, got {type(t).__name__}", field=f"tasks[{i}]")
            specs.append(t._to_pb(f"tasks[{i}]"))
        res = await self._unary(self._stub.SubmitTasks, pb.SubmitTasksRequest(tasks=specs), rpc_timeout)
        return [SubmitResult._from_pb(r) for r in res.results]

    def submit_stream(self) -> AsyncSubmitStream:
        """A stream to submit tasks over one long-lived call instead of a call each (SubmitTaskStream)::

            async with client.submit_stream() as stream:
                results = await asyncio.gather(*(stream.submit(t) for t in tasks))

        Each submit gets the task's own answer or raises its own refusal; see :class:`AsyncSubmitStream`.
        """
        return AsyncSubmitStream(lambda: self._stub.SubmitTaskStream(metadata=self._md()), self._timeout)

    async def get_status(self, task_id: str, *, rpc_timeout: float | None = None) -> TaskStatus:
        """The task's state, attempts, result or failure, progress and times. NotFoundError when unknown."""
        return TaskStatus._from_pb(
            await self._unary(self._stub.GetTaskStatus, pb.GetTaskStatusRequest(task_id=task_id), rpc_timeout)
        )

    async def cancel(self, task_id: str, reason: str = "", *, rpc_timeout: float | None = None) -> CancelResult:
        """Takes a queued task out of its queue or stops a running one; it ends cancelled, not retried."""
        res = await self._unary(self._stub.CancelTask, pb.CancelTaskRequest(task_id=task_id, reason=reason), rpc_timeout)
        return CancelResult(res.task_id, TaskState._from_pb(res.state))

    async def retry(
        self,
        task_ids: Sequence[str] | None = None,
        *,
        matching: TaskFilter | None = None,
        attempts: int | None = None,
        rpc_timeout: float | None = None,
    ) -> RetryResult:
        """Runs failed tasks again, each with a new round of ``attempts`` (default: as submitted):
        the named ones (those that cannot be are in ``errors``), or every failed task ``matching``."""
        if (task_ids is None) == (matching is None):
            raise InvalidArgumentError("task_ids: give either task_ids or matching", field="task_ids")
        req = pb.RetryTasksRequest(task_ids=_str_list(task_ids, "task_ids"))
        if matching is not None:
            req.filter.CopyFrom(matching._to_pb("matching"))
        if attempts is not None:
            req.attempts.value = _int(attempts, "attempts")
        res = await self._unary(self._stub.RetryTasks, req, rpc_timeout)
        return RetryResult(list(res.retried), [RetryError(e.task_id, e.code, e.message) for e in res.errors], res.more)

    async def list_tasks(
        self,
        matching: TaskFilter | None = None,
        *,
        page_size: int = 0,
        page_token: str = "",
        rpc_timeout: float | None = None,
    ) -> TaskPage:
        """One page of tasks, newest first (``page_size`` 0: 100, at most 1000)."""
        req = pb.ListTasksRequest(
            filter=(matching or TaskFilter())._to_pb("matching"), page_size=_int(page_size, "page_size"), page_token=page_token
        )
        res = await self._unary(self._stub.ListTasks, req, rpc_timeout)
        return TaskPage([TaskSummary._from_pb(t) for t in res.tasks], res.next_page_token)

    async def iter_tasks(self, matching: TaskFilter | None = None, *, page_size: int = 1000) -> AsyncIterator[TaskSummary]:
        """Every task ``matching``, newest first, page by page."""
        token = ""
        while True:
            page = await self.list_tasks(matching, page_size=page_size, page_token=token)
            for t in page.tasks:
                yield t
            token = page.next_page_token
            if not token:
                return

    async def purge_tasks(
        self,
        older_than: Duration,
        *,
        task_classes: Sequence[str] = (),
        states: Sequence[TaskState | str] = (),
        rpc_timeout: float | None = None,
    ) -> int:
        """Removes finished tasks that ended at least ``older_than`` seconds ago; returns how many."""
        req = pb.PurgeTasksRequest(
            older_than_ms=_ms(older_than, "older_than"),
            task_classes=_str_list(task_classes, "task_classes"),
            states=[TaskState._to_pb(s, "states") for s in states],
        )
        return int((await self._unary(self._stub.PurgeTasks, req, rpc_timeout)).removed)

    async def get_logs(
        self, task_id: str, *, attempt: int = 0, all_attempts: bool = False, rpc_timeout: float | None = None
    ) -> TaskLogs:
        """A task's captured output: one attempt's lines (0: the latest), or every attempt's.
        NotFoundError when the task is unknown or no longer retained."""
        req = pb.GetTaskLogsRequest(task_id=task_id, attempt=_int(attempt, "attempt"), all_attempts=all_attempts)
        return TaskLogs._from_pb(await self._unary(self._stub.GetTaskLogs, req, rpc_timeout))

    def follow_logs(self, task_id: str, *, attempt: int = 0) -> AsyncStream[LogLine]:
        """A task's lines so far, then each new one, until the task ends (a named attempt: until
        it is over). Not resumed after a break: opening it again replays the lines."""
        req = pb.StreamTaskLogsRequest(task_id=task_id, attempt=_int(attempt, "attempt"))
        return self._stream(self._stub.StreamTaskLogs, req, LogLine._from_pb, resume=False)

    # ---------- feeds ----------

    def results(
        self,
        *,
        task_ids: Sequence[str] = (),
        task_class: str = "",
        workflow_id: str = "",
        schedule_id: str = "",
        cursor: str = "",
        close_when_done: bool = False,
    ) -> AsyncStream[TaskResult]:
        """Final results of the selected tasks, as an async iterator that resumes after breaks.

        Without ``cursor`` it starts at the oldest retained result (given ``task_ids``: with
        those already finished); with one, after it. ``close_when_done`` (with ``task_ids``)
        ends it once each named task has a result; otherwise it runs until closed.
        """
        req = pb.StreamTaskResultsRequest(
            task_ids=_str_list(task_ids, "task_ids"),
            task_class=task_class,
            workflow_id=workflow_id,
            schedule_id=schedule_id,
            cursor=cursor,
            close_when_done=close_when_done,
        )
        delivered: set[str] = set()

        def decode(m: Any) -> TaskResult:
            delivered.add(m.task_id)
            return TaskResult._from_pb(m)

        def open_call(at: str) -> Any:
            # Resumed after some of the named tasks were delivered: ask for the others only, or
            # close_when_done would wait for results that already came.
            if at:
                req.cursor = at
            if req.task_ids and delivered:
                del req.task_ids[:]
                req.task_ids.extend(t for t in task_ids if t not in delivered)
                if not req.task_ids:
                    return _EmptyCall()
            return self._stub.StreamTaskResults(req, metadata=self._md())

        return AsyncStream(open_call, decode, cursor=cursor, reconnect_timeout=self._reconnect_timeout)

    def events(
        self,
        *,
        types: Sequence[str] = (),
        task_classes: Sequence[str] = (),
        task_ids: Sequence[str] = (),
        workflow_id: str = "",
        schedule_id: str = "",
        cursor: str = "",
    ) -> AsyncStream[TaskEvent]:
        """Lifecycle events, filtered, as an async iterator that resumes after breaks.

        Without ``cursor`` it starts at new events (``"0"``: every retained one); with one, after it.
        """
        req = pb.StreamEventsRequest(
            types=_str_list(types, "types"),
            task_classes=_str_list(task_classes, "task_classes"),
            task_ids=_str_list(task_ids, "task_ids"),
            workflow_id=workflow_id,
            schedule_id=schedule_id,
            cursor=cursor,
        )
        return self._stream(self._stub.StreamEvents, req, TaskEvent._from_pb)

    async def wait_for_result(self, task_id: str, timeout: float | None = None, *, raise_on_failure: bool = False) -> TaskResult:
        """The task's final result, once it has one (at once when it has already finished).

        A failed or cancelled task is an outcome, not an error of the wait: its result comes
        back with ``state`` and ``failure`` set, unless ``raise_on_failure`` asks for a
        :class:`~orchestrator.TaskFailedError` instead. An unknown task raises NotFoundError;
        no result within ``timeout`` seconds raises DeadlineExceededError (a ``TimeoutError``).
        The wait survives a server restart (it asks again, README "Streams").
        """
        result: TaskResult | None = None
        try:
            async with asyncio.timeout(timeout) as scope:
                await self.get_status(task_id)  # NOT_FOUND now, rather than waiting for a task that never comes
                # Read on to the end the server gives the stream (close_when_done): cancelling it
                # instead resets the stream, and a client resetting hundreds a second has its
                # connection closed by the server's HTTP/2 rapid-reset protection.
                async for r in self.results(task_ids=[task_id], close_when_done=True):
                    result = result or r
        except TimeoutError:
            if not scope.expired():
                raise  # a call's own deadline (DeadlineExceededError), not the wait's
            raise DeadlineExceededError(f"no result for task {task_id} within {timeout} s") from None
        if result is None:
            raise OrchestratorError(f"the result stream of task {task_id} ended without a result")
        if raise_on_failure and result.state in (TaskState.FAILED, TaskState.CANCELLED):
            raise TaskFailedError(result)
        return result

    # ---------- schedules ----------

    @staticmethod
    def _schedule_spec(
        schedule_id: str,
        task: Task,
        cron: str | None,
        tz: str,
        every: Duration | None,
        start_at_ms: int,
        end_at_ms: int,
        paused: bool,
    ) -> pb.ScheduleSpec:
        if not isinstance(task, Task):
            raise InvalidArgumentError(f"task: expected a Task, got {type(task).__name__}", field="task")
        return pb.ScheduleSpec(
            schedule_id=schedule_id,
            cron=cron or "",
            tz=tz,
            every_ms=_ms(every, "every", 2**53 - 1),
            start_at_ms=_int(start_at_ms, "start_at_ms"),
            end_at_ms=_int(end_at_ms, "end_at_ms"),
            task=task._to_pb("task"),
            paused=paused,
        )

    async def create_schedule(
        self,
        schedule_id: str,
        task: Task,
        *,
        cron: str | None = None,
        tz: str = "",
        every: Duration | None = None,
        start_at_ms: int = 0,
        end_at_ms: int = 0,
        paused: bool = False,
        rpc_timeout: float | None = None,
    ) -> Schedule:
        """Stores a recurring submission of ``task`` (without ``task_id``): exactly one of
        ``cron`` (5 fields, or 6 with seconds first; read in ``tz``, default UTC) and ``every``
        (seconds, at least 0.1; the first tick at once or at ``start_at_ms``). Idempotent with
        the same spec; AlreadyExistsError with another."""
        spec = self._schedule_spec(schedule_id, task, cron, tz, every, start_at_ms, end_at_ms, paused)
        res = await self._unary(self._stub.CreateSchedule, pb.CreateScheduleRequest(schedule=spec), rpc_timeout)
        return Schedule._from_pb(res)

    async def update_schedule(
        self,
        schedule_id: str,
        task: Task,
        *,
        cron: str | None = None,
        tz: str = "",
        every: Duration | None = None,
        start_at_ms: int = 0,
        end_at_ms: int = 0,
        paused: bool = False,
        rpc_timeout: float | None = None,
    ) -> Schedule:
        """Replaces a schedule's whole spec (what is left out takes its default); NotFoundError when unknown."""
        spec = self._schedule_spec(schedule_id, task, cron, tz, every, start_at_ms, end_at_ms, paused)
        res = await self._unary(self._stub.UpdateSchedule, pb.UpdateScheduleRequest(schedule=spec), rpc_timeout)
        return Schedule._from_pb(res)

    async def get_schedule(self, schedule_id: str, *, rpc_timeout: float | None = None) -> Schedule:
        """One schedule with its next and last tick; NotFoundError when unknown."""
        req = pb.GetScheduleRequest(schedule_id=schedule_id)
        return Schedule._from_pb(await self._unary(self._stub.GetSchedule, req, rpc_timeout))

    async def list_schedules(self, *, rpc_timeout: float | None = None) -> list[Schedule]:
        """Every schedule, by id."""
        res = await self._unary(self._stub.ListSchedules, pb.ListSchedulesRequest(), rpc_timeout)
        return [Schedule._from_pb(s) for s in res.schedules]

    async def delete_schedule(self, schedule_id: str, *, rpc_timeout: float | None = None) -> None:
        """Removes a schedule: it fires no more (the tasks it submitted stay); NotFoundError when unknown."""
        await self._unary(self._stub.DeleteSchedule, pb.DeleteScheduleRequest(schedule_id=schedule_id), rpc_timeout)

    # ---------- workflows ----------

    async def create_workflow(
        self,
        name: str,
        steps: Sequence[Step],
        *,
        failure_policy: FailurePolicy | str = FailurePolicy.FAIL_FAST,
        description: str = "",
        rpc_timeout: float | None = None,
    ) -> WorkflowVersion:
        """Stores a DAG of steps as a new version of ``name`` (validated first; nothing stored when invalid)."""
        pb_steps = []
        for i, s in enumerate(steps):
            if not isinstance(s, Step):
                raise InvalidArgumentError(f"steps[{i}]: expected a Step, got {type(s).__name__}", field=f"steps[{i}]")
            pb_steps.append(
                pb.WorkflowStep(
                    step_id=s.step_id,
                    task=s.task._to_pb(f"steps[{i}].task"),
                    depends_on=_str_list(s.depends_on, f"steps[{i}].depends_on"),
                )
            )
        req = pb.CreateWorkflowRequest(
            name=name,
            steps=pb_steps,
            failure_policy=FailurePolicy._to_pb(failure_policy, "failure_policy"),
            description=description,
        )
        res = await self._unary(self._stub.CreateWorkflow, req, rpc_timeout)
        return WorkflowVersion(res.name, res.version)

    async def start_workflow_run(
        self,
        name: str,
        inputs: Mapping[str, str] | None = None,
        *,
        run_id: str | None = None,
        version: int = 0,
        rpc_timeout: float | None = None,
    ) -> WorkflowRunStarted:
        """Starts a run of ``name`` (``version`` 0: the latest) with ``inputs``; idempotent on ``run_id``."""
        req = pb.StartWorkflowRunRequest(
            name=name, inputs=_str_map(inputs, "inputs"), run_id=run_id or "", version=_int(version, "version")
        )
        res = await self._unary(self._stub.StartWorkflowRun, req, rpc_timeout)
        return WorkflowRunStarted(res.run_id, res.version, res.created, WorkflowRunState._from_pb(res.state))

    async def get_workflow_run(self, run_id: str, *, rpc_timeout: float | None = None) -> WorkflowRun:
        """The whole run: state, inputs, times, every step. NotFoundError when unknown."""
        res = await self._unary(self._stub.GetWorkflowRun, pb.GetWorkflowRunRequest(run_id=run_id), rpc_timeout)
        return WorkflowRun._from_pb(res)

    async def cancel_workflow_run(
        self, run_id: str, reason: str = "", *, rpc_timeout: float | None = None
    ) -> WorkflowRunState:
        """Cancels a run's pending and running steps; returns the run's state right after."""
        req = pb.CancelWorkflowRunRequest(run_id=run_id, reason=reason)
        return WorkflowRunState._from_pb((await self._unary(self._stub.CancelWorkflowRun, req, rpc_timeout)).state)

    def watch_workflow_run(self, run_id: str, *, run_only: bool = False) -> AsyncStream[WorkflowUpdate]:
        """The run and its steps as they stand (``snapshot`` updates), then each change, ending
        when the run ends. After a break it opens again and starts with a new snapshot.
        ``run_only``: the run's own updates alone (its state, then each change of it), no step's."""
        req = pb.StreamWorkflowStatusRequest(run_id=run_id, run_only=run_only)
        return self._stream(self._stub.StreamWorkflowStatus, req, WorkflowUpdate._from_pb)

    async def wait_for_workflow_run(self, run_id: str, timeout: float | None = None) -> WorkflowRun:
        """The whole run once it has ended (at once when it has); DeadlineExceededError after
        ``timeout`` seconds. Steps that failed do not raise: look at ``state`` and the steps."""
        ended = False
        try:
            async with asyncio.timeout(timeout) as scope:
                async for update in self.watch_workflow_run(run_id, run_only=True):
                    ended = ended or update.run_state.is_final
        except TimeoutError:
            if not scope.expired():
                raise
            raise DeadlineExceededError(f"run {run_id} did not end within {timeout} s") from None
        if not ended:
            raise OrchestratorError(f"the status stream of run {run_id} ended before the run did")
        return await self.get_workflow_run(run_id)

    async def list_workflow_runs(
        self,
        *,
        workflow_name: str = "",
        states: Sequence[WorkflowRunState | str] = (),
        started_since_ms: int = 0,
        started_until_ms: int = 0,
        page_size: int = 0,
        page_token: str = "",
        rpc_timeout: float | None = None,
    ) -> WorkflowRunPage:
        """One page of runs, newest first (``page_size`` 0: 50, at most 500)."""
        req = pb.ListWorkflowRunsRequest(
            workflow_name=workflow_name,
            states=[WorkflowRunState._to_pb(s, "states") for s in states],
            started_since_ms=_int(started_since_ms, "started_since_ms"),
            started_until_ms=_int(started_until_ms, "started_until_ms"),
            page_size=_int(page_size, "page_size"),
            page_token=page_token,
        )
        res = await self._unary(self._stub.ListWorkflowRuns, req, rpc_timeout)
        return WorkflowRunPage([WorkflowRunSummary._from_pb(r) for r in res.runs], res.next_page_token)

    # ---------- flow control and pools ----------

    async def get_class_limits(self, task_class: str, *, rpc_timeout: float | None = None) -> ClassLimits:
        """A class's per-pool concurrency, cluster-wide cap, rate limit and whether it is paused."""
        req = pb.GetClassLimitsRequest(task_class=task_class)
        return ClassLimits._from_pb(await self._unary(self._stub.GetClassLimits, req, rpc_timeout))

    async def set_class_limits(
        self,
        task_class: str,
        *,
        pool_concurrency: int | None = None,
        global_concurrency: int | None = None,
        rate_limit_max: int | None = None,
        rate_limit_duration_ms: int | None = None,
        rpc_timeout: float | None = None,
    ) -> ClassLimits:
        """Changes the given limits (``None``: left as is; 0 clears one); running pools apply them at once."""
        req = pb.SetClassLimitsRequest(task_class=task_class)
        for name, value in (
            ("pool_concurrency", pool_concurrency),
            ("global_concurrency", global_concurrency),
            ("rate_limit_max", rate_limit_max),
            ("rate_limit_duration_ms", rate_limit_duration_ms),
        ):
            if value is not None:
                getattr(req, name).value = _int(value, name)
        return ClassLimits._from_pb(await self._unary(self._stub.SetClassLimits, req, rpc_timeout))

    async def pause_class(self, task_class: str, *, rpc_timeout: float | None = None) -> ClassLimits:
        """Stops starting the class's tasks (queued ones wait, running ones finish)."""
        req = pb.PauseClassRequest(task_class=task_class)
        return ClassLimits._from_pb(await self._unary(self._stub.PauseClass, req, rpc_timeout))

    async def resume_class(self, task_class: str, *, rpc_timeout: float | None = None) -> ClassLimits:
        """Starts the class's tasks again."""
        req = pb.ResumeClassRequest(task_class=task_class)
        return ClassLimits._from_pb(await self._unary(self._stub.ResumeClass, req, rpc_timeout))

    async def list_pools(self, *, rpc_timeout: float | None = None) -> list[Pool]:
        """Live pools, then those stopped or lost recently."""
        res = await self._unary(self._stub.ListPools, pb.ListPoolsRequest(), rpc_timeout)
        return [Pool._from_pb(p) for p in res.pools]

    async def drain_pool(self, pool_id: str, *, exit_when_drained: bool = False, rpc_timeout: float | None = None) -> bool:
        """Asks a pool to take no new tasks (and exit once idle, with ``exit_when_drained``); whether it changed."""
        req = pb.DrainPoolRequest(pool_id=pool_id, exit_when_drained=exit_when_drained)
        return bool((await self._unary(self._stub.DrainPool, req, rpc_timeout)).changed)

    async def resume_pool(self, pool_id: str, *, rpc_timeout: float | None = None) -> bool:
        """Undoes a drain (not one to exit); whether it changed anything."""
        req = pb.ResumePoolRequest(pool_id=pool_id)
        return bool((await self._unary(self._stub.ResumePool, req, rpc_timeout)).changed)


class _EmptyCall:
    """A finished call with no messages: a resumed stream with nothing left to ask for."""

    def __aiter__(self) -> _EmptyCall:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration

    def cancel(self) -> bool:
        return False

