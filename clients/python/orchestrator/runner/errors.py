"""The exceptions a task function raises to choose how its attempt fails."""

from __future__ import annotations

from typing import Any


class TaskFailure(Exception):
    """Fails the attempt with a message of the function's choosing.

    Any other exception fails the attempt too, retryably, with the exception's class name as
    ``error_type`` and its traceback in the detail; raise this one to say whether another attempt
    may succeed and what the pool should keep::

        raise TaskFailure("row 7 has no date", retryable=False, detail={"row": 7})

    ``detail`` must be a JSON-serialisable mapping; it reaches the pool as the Failure's
    ``detail_json``.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        error_type: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.error_type = error_type
        self.detail = dict(detail) if detail else {}


class TaskCancelled(Exception):
    """Raised by ``ctx.check_cancelled()`` in a function whose attempt was cancelled.

    A plain ``Exception`` (not ``asyncio.CancelledError``) so that synchronous code's
    ``try/finally`` and ``except Exception`` clean-up both see it. Whatever the function raises
    or returns after a cancel, the attempt ends with a Failure naming the cancel's reason.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"task cancelled ({reason})")
        self.reason = reason
