"""What a task function is given besides its payload: the attempt's identity, progress and log
calls, and how it learns that it should stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from orchestrator.runner.errors import TaskCancelled
from orchestrator.runner.v1 import runner_pb2

#: The largest progress value the pool accepts (runner.proto, Progress.json).
MAX_PROGRESS_BYTES = 64 * 1024


class Sent:
    """The return value of ``ctx.progress`` and ``ctx.log``: the event is already queued when the
    call returns, so synchronous code ignores it. Awaiting it (in async code) lets the event loop
    run once, so the call can send the event even while the function computes in a loop. It is
    not a coroutine, so an un-awaited call warns about nothing."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield  # one turn of the event loop, as asyncio.sleep(0)


_SENT = Sent()


@dataclass(frozen=True)
class AttemptInfo:
    """The attempt a function runs, as the pool sent it (ExecuteRequest)."""

    task_id: str
    attempt: int
    max_attempts: int
    task_class: str
    task_name: str
    deadline: datetime | None
    traceparent: str
    tracestate: str


class TaskContext:
    """The second argument of a task function.

    Attributes: ``task_id``, ``attempt`` (1-based), ``max_attempts`` (so the last attempt knows
    it is the last), ``task_class``, ``task_name``, ``deadline`` (an aware UTC ``datetime``, or
    None without a limit), ``traceparent`` and ``tracestate`` (W3C trace context, empty when the
    pool does not trace), and ``cancelled``, a ``threading.Event`` set when the attempt is
    cancelled (by CancelTask, its deadline, a second delivery, or the runner shutting down).

    An ``async`` function is also cancelled the asyncio way (``asyncio.CancelledError`` at its
    next ``await``); a synchronous one runs in a thread and must look: ``ctx.cancelled.is_set()``
    or ``ctx.check_cancelled()``, which raises :class:`TaskCancelled`.
    """

    def __init__(self, info: AttemptInfo, emit: Callable[[runner_pb2.ExecuteEvent], None]) -> None:
        self._info = info
        self._emit = emit
        self.cancelled = threading.Event()
        self._cancel_reason = ""

    @property
    def task_id(self) -> str:
        """The task's id; work should be idempotent on it (a task may run more than once)."""
        return self._info.task_id

    @property
    def attempt(self) -> int:
        """1-based number of this attempt."""
        return self._info.attempt

    @property
    def max_attempts(self) -> int:
        """Attempts allowed in all (1: no retry)."""
        return self._info.max_attempts

    @property
    def task_class(self) -> str:
        """The task's class."""
        return self._info.task_class

    @property
    def task_name(self) -> str:
        """The name the function is registered under."""
        return self._info.task_name

    @property
    def deadline(self) -> datetime | None:
        """When the pool gives up on this attempt (UTC), or None."""
        return self._info.deadline

    @property
    def traceparent(self) -> str:
        """W3C traceparent of the attempt's span, or empty."""
        return self._info.traceparent

    @property
    def tracestate(self) -> str:
        """W3C tracestate, or empty."""
        return self._info.tracestate

    @property
    def cancel_reason(self) -> str:
        """Why the attempt was cancelled, or empty while it was not: "cancelled" (CancelTask),
        "timed_out", "replaced" (a second delivery), "shutdown" (the runner's or the pool's),
        "caller_gone" (the call ended: a pool that died), "abandoned", or a pool's own word."""
        return self._cancel_reason

    def time_left(self) -> float | None:
        """Seconds until the deadline (negative past it), or None without a deadline."""
        if self._info.deadline is None:
            return None
        return self._info.deadline.timestamp() - time.time()

    def check_cancelled(self) -> None:
        """Raises :class:`TaskCancelled` if the attempt was cancelled; for synchronous code."""
        if self.cancelled.is_set():
            raise TaskCancelled(self._cancel_reason or "cancelled")

    def progress(self, value: Any) -> Sent:
        """Reports progress: a number (0-100) or any JSON value of at most 64 KiB, published on
        the task's feed. Callable from a thread or awaited from async code.

        Raises TypeError (not JSON-serialisable) or ValueError (too large) in the caller."""
        text = json.dumps(value, separators=(",", ":"))
        if len(text.encode()) > MAX_PROGRESS_BYTES:
            raise ValueError(f"progress: {len(text.encode())} bytes of JSON, more than {MAX_PROGRESS_BYTES}")
        self._emit(runner_pb2.ExecuteEvent(progress=runner_pb2.Progress(json=text)))
        return _SENT

    def log(self, *parts: Any) -> Sent:
        """Adds a line to the attempt's log (GetTaskLogs, stream LOG); parts are joined by spaces
        like ``print``'s."""
        return self._line(runner_pb2.LOG_STREAM_LOG, " ".join(str(p) for p in parts))

    def stdout(self, text: str) -> Sent:
        """Adds text to the attempt's log as standard output."""
        return self._line(runner_pb2.LOG_STREAM_STDOUT, text)

    def stderr(self, text: str) -> Sent:
        """Adds text to the attempt's log as standard error."""
        return self._line(runner_pb2.LOG_STREAM_STDERR, text)

    def _line(self, stream: int, text: str) -> Sent:
        self._emit(runner_pb2.ExecuteEvent(log=runner_pb2.LogLine(stream=stream, text=text)))
        return _SENT

    def _cancel(self, reason: str) -> bool:
        """Marks the attempt cancelled; False if it already was (the first reason stays)."""
        if self.cancelled.is_set():
            return False
        self._cancel_reason = reason
        self.cancelled.set()
        return True


def deadline_from_ms(deadline_unix_ms: int) -> datetime | None:
    """ExecuteRequest.deadline_unix_ms as an aware datetime (0: no deadline)."""
    if deadline_unix_ms <= 0:
        return None
    return datetime.fromtimestamp(deadline_unix_ms / 1000, tz=timezone.utc)
