"""Routes ``print`` and other writes to ``sys.stdout``/``sys.stderr`` made inside a task function
to that attempt's log, line by line; writes made anywhere else go to the process's own streams.

The attempt a write belongs to is a context variable, set in the asyncio task that runs an async
function and in the copied context a synchronous function runs in, so concurrent attempts keep
their lines apart.
"""

from __future__ import annotations

import contextvars
import io
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

#: Where the current task's writes go: one sink per stream, or None outside a task.
current_sinks: contextvars.ContextVar[tuple[LineSink, LineSink] | None] = contextvars.ContextVar(
    "orchestrator_runner_output", default=None
)


class LineSink:
    """Collects text written to one stream of one attempt and hands it on in whole lines."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self._send = send
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Buffers text; sends each completed line (without its newline)."""
        with self._lock:
            self._partial += text
            *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._send(line)

    def flush(self) -> None:
        """Sends a last line that has no newline yet."""
        with self._lock:
            rest, self._partial = self._partial, ""
        if rest:
            self._send(rest)


class _RoutedStream(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr while a runner serves."""

    def __init__(self, original: TextIO, index: int) -> None:
        super().__init__()
        self.original = original
        self._index = index

    def write(self, text: str) -> int:
        sinks = current_sinks.get()
        if sinks is None:
            return self.original.write(text)
        sinks[self._index].write(text)
        return len(text)

    def flush(self) -> None:
        if current_sinks.get() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        # What the stand-in does not route (`buffer`, `errors`, ...) is the original stream's.
        return getattr(self.original, name)


_lock = threading.Lock()
_installs = 0


def install() -> None:
    """Puts the routing streams in place (counted: each runner that serves installs once)."""
    global _installs
    with _lock:
        if _installs == 0:
            sys.stdout = _RoutedStream(sys.stdout, 0)
            sys.stderr = _RoutedStream(sys.stderr, 1)
        _installs += 1


def uninstall() -> None:
    """Restores the process's streams once the last serving runner stops."""
    global _installs
    with _lock:
        if _installs == 0:
            return
        _installs -= 1
        if _installs == 0:
            if isinstance(sys.stdout, _RoutedStream):
                sys.stdout = sys.stdout.original
            if isinstance(sys.stderr, _RoutedStream):
                sys.stderr = sys.stderr.original
