"""Errors of the Orchestrator client: one base class, one subclass per gRPC status.

Every failed call raises an :class:`OrchestratorError` subclass chosen by the call's gRPC status
(``InvalidArgumentError`` for INVALID_ARGUMENT, ``NotFoundError`` for NOT_FOUND, ...). Each
carries the status (``code``), the server's message, the request field at fault (``field``,
from the ``field`` trailer the server sends with INVALID_ARGUMENT and PERMISSION_DENIED) and,
where the server asks for a pause before a retry (RESOURCE_EXHAUSTED), ``retry_after_ms``::

    try:
        await client.submit("no_such_class", {"a": "1"})
    except InvalidArgumentError as err:
        print(err.field)    # "task.task_class"
        print(err.message)  # 'task.task_class: unknown class "no_such_class"'

Bad input the client refuses itself (a payload value that is not a string) raises
``InvalidArgumentError`` too, naming the argument, before anything is sent.
``InvalidArgumentError`` is also a ``ValueError`` and ``DeadlineExceededError`` a
``TimeoutError``, so code that catches the built-in kinds keeps working.
"""

from __future__ import annotations

from typing import Any, Iterable

import grpc

__all__ = [
    "OrchestratorError",
    "CancelledError",
    "UnknownError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "AbortedError",
    "OutOfRangeError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "DataLossError",
    "UnauthenticatedError",
    "TaskFailedError",
    "from_rpc_error",
]


class OrchestratorError(Exception):
    """The base of every error the client raises.

    Attributes:
        code: The gRPC status of the failed call (``None`` for errors that are not a call's,
            such as :class:`TaskFailedError`).
        message: The server's message (the status details), or the client's own.
        field: The request field at fault (``tasks[3].priority``), when the server named one.
        retry_after_ms: How long the server asks to wait before trying again, when it said.
    """

    #: The status this class stands for; subclasses set it.
    status: grpc.StatusCode | None = None

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        field: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code: grpc.StatusCode | None = code if code is not None else self.status
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms

    @property
    def retry_after(self) -> float | None:
        """``retry_after_ms`` in seconds (for ``asyncio.sleep``), or ``None``."""
        return None if self.retry_after_ms is None else self.retry_after_ms / 1000

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.code is not None else self.message

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}" for k, v in (("field", self.field), ("retry_after_ms", self.retry_after_ms)) if v is not None
        )
        return f"{type(self).__name__}({self.message!r}{extra})"


class CancelledError(OrchestratorError):
    """CANCELLED: the call was cancelled (by the client, or a server shutting down)."""

    status = grpc.StatusCode.CANCELLED


class UnknownError(OrchestratorError):
    """UNKNOWN."""

    status = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(OrchestratorError, ValueError):
    """INVALID_ARGUMENT: the request is wrong; ``field`` names the field. Nothing was changed."""

    status = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(OrchestratorError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's deadline passed, or a wait's ``timeout`` did."""

    status = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(OrchestratorError, LookupError):
    """NOT_FOUND: no task, run, workflow, schedule or pool with that id (or no longer retained)."""

    status = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(OrchestratorError):
    """ALREADY_EXISTS: the id is taken by something with other content."""

    status = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(OrchestratorError):
    """PERMISSION_DENIED: the token's role or classes, or a class's execution policy, forbid it."""

    status = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(OrchestratorError):
    """RESOURCE_EXHAUSTED: a limit was reached; wait ``retry_after`` seconds when given."""

    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(OrchestratorError):
    """FAILED_PRECONDITION: the thing is not in a state that allows the call."""

    status = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(OrchestratorError):
    """ABORTED."""

    status = grpc.StatusCode.ABORTED


class OutOfRangeError(OrchestratorError):
    """OUT_OF_RANGE."""

    status = grpc.StatusCode.OUT_OF_RANGE


class UnimplementedError(OrchestratorError):
    """UNIMPLEMENTED: the server does not have this method (an older version)."""

    status = grpc.StatusCode.UNIMPLEMENTED


class InternalError(OrchestratorError):
    """INTERNAL: the server failed inside the request; it serves on."""

    status = grpc.StatusCode.INTERNAL


class UnavailableError(OrchestratorError):
    """UNAVAILABLE: the server cannot be reached, is stopping, or its Redis is away.

    The outcome of the call is unknown: a submission may be retried with the same ``task_id``
    (submissions are idempotent on it).
    """

    status = grpc.StatusCode.UNAVAILABLE


class DataLossError(OrchestratorError):
    """DATA_LOSS."""

    status = grpc.StatusCode.DATA_LOSS


class UnauthenticatedError(OrchestratorError):
    """UNAUTHENTICATED: the server needs a bearer token and got none, or a wrong one."""

    status = grpc.StatusCode.UNAUTHENTICATED


class TaskFailedError(OrchestratorError):
    """A task ended failed or cancelled, raised by ``wait_for_result(..., raise_on_failure=True)``.

    ``result`` is the task's whole :class:`~orchestrator.TaskResult` (its ``failure`` says why).
    """

    def __init__(self, result: Any) -> None:
        why = result.failure.message if result.failure is not None else result.error
        super().__init__(f"task {result.task_id} {result.state.value}: {why}")
        self.result = result


_BY_CODE: dict[grpc.StatusCode, type[OrchestratorError]] = {
    cls.status: cls
    for cls in (
        CancelledError,
        UnknownError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        DataLossError,
        UnauthenticatedError,
    )
    if cls.status is not None
}


def _metadata_value(metadata: Iterable[Any] | None, key: str) -> str | None:
    """The value of `key` in trailing metadata (grpc's sync tuples or grpc.aio's Metadata)."""
    for item in metadata or ():
        k, v = item
        if k == key:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def from_rpc_error(err: grpc.RpcError) -> OrchestratorError:
    """The :class:`OrchestratorError` subclass for a failed gRPC call (sync or asyncio).

    Reads the status, its details, and the ``field`` and ``retry-after-ms`` trailers.
    """
    code: grpc.StatusCode = err.code()  # type: ignore[attr-defined]
    trailers = err.trailing_metadata()  # type: ignore[attr-defined]
    retry_after = _metadata_value(trailers, "retry-after-ms")
    return error_for(
        code,
        err.details() or code.name,  # type: ignore[attr-defined]
        field=_metadata_value(trailers, "field"),
        retry_after_ms=int(retry_after) if retry_after and retry_after.isdigit() else None,
    )


_STATUS_BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


def error_for(code: grpc.StatusCode | int, details: str, *, field: str | None = None, retry_after_ms: int | None = None) -> OrchestratorError:
    """The :class:`OrchestratorError` subclass for a status: a call's, or one task's refusal on a
    submit stream (its code as a number, as the proto carries it)."""
    status = code if isinstance(code, grpc.StatusCode) else _STATUS_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(status, OrchestratorError)
    return cls(details or status.name, code=status, field=field or None, retry_after_ms=retry_after_ms or None)
