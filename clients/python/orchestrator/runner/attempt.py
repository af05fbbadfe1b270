"""One attempt in progress: runs the function, turns what it reports and how it ends into
ExecuteEvents, and stops it on cancel or at its deadline. The table of attempts admits new ones
within the runner's concurrency and replaces a second delivery of the same attempt.

Slot accounting: an attempt holds a slot from admission until its function has really ended (a
synchronous function that ignores its cancel keeps its thread, and its slot, until it returns),
so the runner never runs more than max_concurrency functions. A second delivery of a running
(task_id, attempt) is admitted even when the runner is full: it cancels the first and waits for
it to end before it starts, so the same attempt never runs twice at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from orchestrator.runner.context import AttemptInfo, TaskContext
from orchestrator.runner.errors import TaskCancelled, TaskFailure
from orchestrator.runner.output import LineSink, current_sinks
from orchestrator.runner.v1 import runner_pb2

log = logging.getLogger("orchestrator.runner")

#: Longest Failure.message sent; the rest is cut (a message is for a person).
MAX_MESSAGE_CHARS = 8 * 1024
#: Longest traceback kept in a Failure's detail (its last characters: the innermost frames).
MAX_TRACEBACK_CHARS = 32 * 1024

# How a cancel's reason reads in the attempt's Failure: message, retryable, error_type.
_CANCEL_FAILURES: dict[str, tuple[str, bool, str]] = {
    "cancelled": ("cancelled", False, "Cancelled"),
    "timed_out": ("timed out: the attempt's deadline passed", True, "TimedOut"),
    "replaced": ("replaced by a second delivery of the same attempt", True, "Cancelled"),
    "shutdown": ("a shutdown stopped the task before it finished", True, "Shutdown"),
    "caller_gone": ("the call ended before the task finished", True, "Cancelled"),
    "abandoned": ("abandoned by its pool", True, "Cancelled"),
}


@dataclass(frozen=True)
class TaskFunction:
    """A registered task: its function, whether it is a coroutine function, and whether it
    takes the context as its second argument."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    takes_context: bool


class RunnerBusy(Exception):
    """The runner already runs max_concurrency attempts (RESOURCE_EXHAUSTED)."""


class RunnerClosing(Exception):
    """The runner is shutting down and takes no new attempt (UNAVAILABLE)."""


class Attempt:
    """One Execute call's attempt. Created and driven on the runner's event loop."""

    def __init__(
        self,
        info: AttemptInfo,
        task: TaskFunction,
        payload: dict[str, str],
        *,
        executor: Executor,
        capture_output: bool,
        predecessor: Attempt | None,
        on_end: Callable[[Attempt], None],
    ) -> None:
        self.info = info
        self.key = (info.task_id, info.attempt)
        self.task = task
        self.payload = payload
        self.events: asyncio.Queue[runner_pb2.ExecuteEvent] = asyncio.Queue()
        self.ctx = TaskContext(info, self._emit)
        #: Set once the function has ended (or will never start): the slot is free.
        self.ended = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._executor = executor
        self._capture_output = capture_output
        self._predecessor = predecessor
        self._on_end = on_end
        self._cancel_requested = asyncio.Event()
        self._work: asyncio.Future[Any] | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._driver: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the attempt (after its predecessor ends) and its deadline timer."""
        left = self.ctx.time_left()
        if left is not None:
            self._deadline_timer = self._loop.call_later(max(left, 0.0), self.cancel, "timed_out")
        self._driver = self._loop.create_task(self._drive(), name=f"attempt {self.key[0]}#{self.key[1]}")

    def cancel(self, reason: str) -> None:
        """Asks the function to stop: sets ctx.cancelled and cancels an async function's task.
        The first reason wins; a cancel of an ended attempt does nothing."""
        if self.ended.is_set() or not self.ctx._cancel(reason):
            return
        log.info("cancelling task %s attempt %d (%s): %s", self.key[0], self.key[1], self.task.name, reason)
        self._cancel_requested.set()
        if self.task.is_async and self._work is not None:
            self._work.cancel()

    def _emit(self, event: runner_pb2.ExecuteEvent) -> None:
        """Queues an event for the call, from the loop or from a function's thread."""
        if threading.get_ident() == self._loop_thread:
            self.events.put_nowait(event)
            return
        try:
            self._loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:
            pass  # the loop has closed: the runner has stopped and nobody reads the events

    async def _drive(self) -> None:
        outcome: runner_pb2.ExecuteEvent
        try:
            if self._predecessor is not None and not self._predecessor.ended.is_set():
                await _first_of(self._predecessor.ended.wait(), self._cancel_requested.wait())
            if self.ctx.cancelled.is_set():
                outcome = self._cancelled(None)
            else:
                outcome = await self._run()
        finally:
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
            self.ended.set()
            self._on_end(self)
        self.events.put_nowait(outcome)

    async def _run(self) -> runner_pb2.ExecuteEvent:
        sinks: tuple[LineSink, LineSink] | None = None
        if self._capture_output:
            sinks = (
                LineSink(lambda line: self.ctx.stdout(line)),
                LineSink(lambda line: self.ctx.stderr(line)),
            )
        args: tuple[Any, ...] = (self.payload, self.ctx) if self.task.takes_context else (self.payload,)
        fn = self.task.fn
        log.debug("running task %s attempt %d (%s)", self.key[0], self.key[1], self.task.name)
        if self.task.is_async:

            async def call_async() -> Any:
                current_sinks.set(sinks)
                return await fn(*args)

            self._work = self._loop.create_task(call_async())
        else:

            def call_sync() -> Any:
                current_sinks.set(sinks)
                return fn(*args)

            self._work = self._loop.run_in_executor(self._executor, contextvars.copy_context().run, call_sync)
        try:
            try:
                value = await self._work
            finally:
                if sinks is not None:
                    for sink in sinks:
                        sink.flush()
        except asyncio.CancelledError:
            if not self._work.cancelled():
                raise  # the loop itself is going away
            return self._cancelled(None)
        except TaskCancelled as err:
            return self._cancelled(None if self.ctx.cancelled.is_set() else err)
        except TaskFailure as err:
            if self.ctx.cancelled.is_set():
                return self._cancelled(err)
            return failure_event(err.message, err.retryable, err.error_type or "TaskFailure", _json_object(err.detail))
        except (Exception, SystemExit) as err:
            if self.ctx.cancelled.is_set():
                return self._cancelled(err)
            tb = "".join(traceback.format_exception(err))[-MAX_TRACEBACK_CHARS:]
            return failure_event(str(err) or type(err).__name__, True, type(err).__qualname__, json.dumps({"traceback": tb}))
        if self.ctx.cancelled.is_set():
            return self._cancelled(None)
        try:
            text = json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError) as err:
            return failure_event(f"result: not JSON-serialisable: {err}", False, type(err).__qualname__, "")
        return runner_pb2.ExecuteEvent(result=runner_pb2.Result(json=text))

    def _cancelled(self, err: BaseException | None) -> runner_pb2.ExecuteEvent:
        """The Failure of a cancelled attempt, whatever the function did after the cancel."""
        reason = self.ctx.cancel_reason or "cancelled"
        message, retryable, error_type = _CANCEL_FAILURES.get(reason, (f"cancelled ({reason})", False, "Cancelled"))
        if reason == "timed_out" and self.info.deadline is not None:
            message = f"timed out: the attempt's deadline {self.info.deadline.isoformat(timespec='milliseconds')} passed"
        detail: dict[str, Any] = {"reason": reason}
        if err is not None and not isinstance(err, TaskCancelled):
            detail["error_type"] = type(err).__qualname__
            detail["error"] = str(err)[:MAX_MESSAGE_CHARS]
        return failure_event(message, retryable, error_type, json.dumps(detail))


class AttemptTable:
    """The attempts a runner is running, by (task_id, attempt), within its concurrency."""

    def __init__(self, max_concurrency: int, executor: Executor, capture_output: bool) -> None:
        self.max_concurrency = max_concurrency
        self._executor = executor
        self._capture_output = capture_output
        self._by_key: dict[tuple[str, int], Attempt] = {}
        #: Attempts whose function has not ended, replaced ones included.
        self._live: set[Attempt] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    def __len__(self) -> int:
        return len(self._live)

    def admit(self, info: AttemptInfo, task: TaskFunction, payload: dict[str, str]) -> Attempt:
        """Starts an attempt; raises RunnerClosing or RunnerBusy instead when it cannot."""
        if self.closing:
            raise RunnerClosing("the runner is shutting down")
        key = (info.task_id, info.attempt)
        predecessor = self._by_key.get(key)
        if predecessor is None and len(self._live) >= self.max_concurrency:
            raise RunnerBusy(f"the runner runs {len(self._live)} tasks, its max_concurrency")
        attempt = Attempt(
            info,
            task,
            payload,
            executor=self._executor,
            capture_output=self._capture_output,
            predecessor=predecessor,
            on_end=self._ended,
        )
        self._by_key[key] = attempt
        self._live.add(attempt)
        self._idle.clear()
        if predecessor is not None:
            log.info("task %s attempt %d delivered again: replacing the running one", key[0], key[1])
            predecessor.cancel("replaced")
        attempt.start()
        return attempt

    def cancel(self, task_id: str, attempt: int, reason: str) -> bool:
        """Cancels a running attempt; whether it was running here."""
        running = self._by_key.get((task_id, attempt))
        if running is None:
            return False
        running.cancel(reason)
        return True

    def cancel_all(self, reason: str) -> None:
        """Cancels every attempt (shutdown)."""
        for attempt in list(self._live):
            attempt.cancel(reason)

    async def wait_idle(self, timeout_s: float | None) -> bool:
        """Waits until no function runs; whether that happened within the timeout."""
        if not self._live:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    def _ended(self, attempt: Attempt) -> None:
        self._live.discard(attempt)
        if self._by_key.get(attempt.key) is attempt:
            del self._by_key[attempt.key]
        if not self._live:
            self._idle.set()


async def _first_of(*aws: Awaitable[Any]) -> None:
    """Waits for the first of several awaitables and cancels the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def failure_event(message: str, retryable: bool, error_type: str, detail_json: str) -> runner_pb2.ExecuteEvent:
    return runner_pb2.ExecuteEvent(
        failure=runner_pb2.Failure(
            message=message[:MAX_MESSAGE_CHARS], retryable=retryable, error_type=error_type, detail_json=detail_json
        )
    )


def _json_object(detail: dict[str, Any]) -> str:
    """A TaskFailure's detail as JSON; one that is not serialisable is kept as its repr."""
    if not detail:
        return ""
    try:
        return json.dumps(detail)
    except (TypeError, ValueError):
        return json.dumps({"detail": repr(detail)[:MAX_MESSAGE_CHARS]})
