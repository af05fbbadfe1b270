"""The blocking client: the asyncio client run on a private event loop thread.

Every method of :class:`Client` is the :class:`~orchestrator.AsyncClient` method of the same
name, run to completion on the package's own loop; streams become plain iterators. There is one
implementation of requests, results, errors and stream resumption, and the blocking client is
safe to share between threads (each call is handed to the loop).

All blocking clients of a process share one loop thread: grpc.aio has one completion queue per
process and wakes every event loop bound to it, so each extra loop costs a wake-up per event
and prints a spurious ``BlockingIOError`` from ``PollerCompletionQueue._handle_events``
(https://github.com/grpc/grpc/issues/25364).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from typing import Any, AsyncIterator, Callable, Concatenate, Coroutine, Generic, Iterator, ParamSpec, TypeVar

from ._aio import AsyncClient, AsyncSubmitStream
from ._types import SubmitResult, Task

__all__ = ["Client", "Stream", "SubmitStream"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _ignore_poller_wakeups(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: drops grpc.aio's harmless lost wake-up race (see above)."""
    if isinstance(context.get("exception"), BlockingIOError) and "PollerCompletionQueue" in repr(context.get("handle")):
        return
    loop.default_exception_handler(context)


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The event loop of the blocking clients, on a daemon thread started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_ignore_poller_wakeups)
            threading.Thread(target=loop.run_forever, name="orchestrator-client", daemon=True).start()
            _loop = loop
        return _loop


class Stream(Generic[T], Iterator[T]):
    """A server stream (or any of the client's async iterators) as a blocking iterator.

    ``cursor`` is the position after the last message received, as on
    :class:`~orchestrator.AsyncStream`; ``close()`` ends the call (also on leaving a ``with`` block).
    """

    def __init__(self, client: Client, source: AsyncIterator[T]) -> None:
        self._client = client
        self._source = source

    @property
    def cursor(self) -> str:
        """Where the stream stands: after the last message received."""
        return str(getattr(self._source, "cursor", ""))

    @property
    def reconnects(self) -> int:
        """How many times the stream was opened again after a break."""
        return int(getattr(self._source, "reconnects", 0))

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._client._run(self._source.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Ends the call and the iteration."""
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None and not self._client._closed:
            self._client._run(aclose())

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SubmitStream:
    """The blocking twin of :class:`~orchestrator.AsyncSubmitStream`: tasks over one long-lived
    SubmitTaskStream call. ``submit(task)`` sends the task and returns at once a
    ``concurrent.futures.Future`` of its answer (``.result()`` waits for it, raising the task's
    own refusal), so one thread keeps many tasks in flight::

        with client.submit_stream() as stream:
            answers = [stream.submit(t) for t in tasks]
            results = [a.result() for a in answers]

    ``close()`` (also on leaving a ``with`` block) half-closes the call and waits for the answers
    still due.
    """

    def __init__(self, client: Client, stream: AsyncSubmitStream) -> None:
        self._client = client
        self._stream = stream

    @property
    def unanswered(self) -> int:
        """Tasks sent and not yet answered."""
        return self._stream.unanswered

    def submit(self, task: Task, *, rpc_timeout: float | None = None) -> concurrent.futures.Future[SubmitResult]:
        """Sends one task; the future of its answer (DeadlineExceededError past the client's timeout or ``rpc_timeout``)."""
        if self._client._closed:
            raise RuntimeError("the client is closed")
        return asyncio.run_coroutine_threadsafe(self._stream.submit(task, rpc_timeout=rpc_timeout), self._client._loop)

    def close(self) -> None:
        """Half-closes the call and waits until every task sent has its answer (or the call ended)."""
        if not self._client._closed:
            self._client._run(self._stream.close())

    def cancel(self) -> None:
        """Ends the call at once: tasks not yet answered raise CancelledError (their outcome unknown)."""
        if not self._client._closed:
            self._client._run(self._stream.cancel())

    def __enter__(self) -> SubmitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _blocking(method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, R]]) -> Callable[Concatenate[Client, P], R]:
    """The blocking twin of an AsyncClient coroutine method, with its signature and docstring."""

    @functools.wraps(method)
    def call(self: Client, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(method(self._aio, *args, **kwargs))

    return call


def _blocking_iter(method: Callable[Concatenate[AsyncClient, P], AsyncIterator[T]]) -> Callable[Concatenate[Client, P], Stream[T]]:
    """The blocking twin of an AsyncClient method returning an async iterator."""

    @functools.wraps(method)
    def call(self: Client, *args: P.args, **kwargs: P.kwargs) -> Stream[T]:
        async def make() -> AsyncIterator[T]:
            return method(self._aio, *args, **kwargs)

        return Stream(self, self._run(make()))

    return call


class Client:
    """A blocking client of one orchestrator: the same methods and arguments as
    :class:`~orchestrator.AsyncClient`, returning values instead of coroutines and iterators
    instead of async iterators.

    ::

        with Client("127.0.0.1:50052") as client:
            submitted = client.submit("cpu_short", {"text": "hello"})
            print(client.wait_for_result(submitted.task_id, timeout=60).result)
            for event in client.events(task_classes=["cpu_short"]):
                print(event.type, event.task_id)

    Takes :class:`~orchestrator.AsyncClient`'s arguments. Calls run on an event loop thread
    that all blocking clients share (a daemon thread, started with the first client).
    """

    def __init__(self, address: str, **options: Any) -> None:
        self._closed = False
        self._loop = _shared_loop()

        async def make() -> AsyncClient:
            # grpc.aio binds a channel to the loop it is made on: make it on the shared one.
            return AsyncClient(address, **options)

        self._aio = self._run(make())
        self.address = address

    def _run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Runs a coroutine on the client's loop and waits for it; Ctrl-C cancels it."""
        if self._closed:
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise asyncio.CancelledError() from None
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Closes the channel; calls still running end CANCELLED. Further calls raise RuntimeError."""
        if self._closed:
            return
        try:
            self._run(self._aio.close())
        finally:
            self._closed = True

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    health = _blocking(AsyncClient.health)
    metrics = _blocking(AsyncClient.metrics)

    submit = _blocking(AsyncClient.submit)
    submit_many = _blocking(AsyncClient.submit_many)

    def submit_stream(self) -> SubmitStream:
        """A stream to submit tasks over one long-lived call instead of a call each
        (SubmitTaskStream); see :class:`SubmitStream`."""
        return SubmitStream(self, self._aio.submit_stream())

    get_status = _blocking(AsyncClient.get_status)
    cancel = _blocking(AsyncClient.cancel)
    retry = _blocking(AsyncClient.retry)
    list_tasks = _blocking(AsyncClient.list_tasks)
    iter_tasks = _blocking_iter(AsyncClient.iter_tasks)
    purge_tasks = _blocking(AsyncClient.purge_tasks)
    get_logs = _blocking(AsyncClient.get_logs)
    follow_logs = _blocking_iter(AsyncClient.follow_logs)
    wait_for_result = _blocking(AsyncClient.wait_for_result)

    results = _blocking_iter(AsyncClient.results)
    events = _blocking_iter(AsyncClient.events)

    create_schedule = _blocking(AsyncClient.create_schedule)
    update_schedule = _blocking(AsyncClient.update_schedule)
    get_schedule = _blocking(AsyncClient.get_schedule)
    list_schedules = _blocking(AsyncClient.list_schedules)
    delete_schedule = _blocking(AsyncClient.delete_schedule)

    create_workflow = _blocking(AsyncClient.create_workflow)
    start_workflow_run = _blocking(AsyncClient.start_workflow_run)
    get_workflow_run = _blocking(AsyncClient.get_workflow_run)
    cancel_workflow_run = _blocking(AsyncClient.cancel_workflow_run)
    watch_workflow_run = _blocking_iter(AsyncClient.watch_workflow_run)
    wait_for_workflow_run = _blocking(AsyncClient.wait_for_workflow_run)
    list_workflow_runs = _blocking(AsyncClient.list_workflow_runs)

    get_class_limits = _blocking(AsyncClient.get_class_limits)
    set_class_limits = _blocking(AsyncClient.set_class_limits)
    pause_class = _blocking(AsyncClient.pause_class)
    resume_class = _blocking(AsyncClient.resume_class)
    list_pools = _blocking(AsyncClient.list_pools)
    drain_pool = _blocking(AsyncClient.drain_pool)
    resume_pool = _blocking(AsyncClient.resume_pool)
