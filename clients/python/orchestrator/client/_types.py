"""The client's typed values: enums, what a caller gives (tasks, executors, workflow steps) and
what calls return (results, statuses, events, runs), with their conversions to and from the
generated protobuf messages. Both clients share them.

Durations a caller gives are seconds (``float``) or ``datetime.timedelta``, as everywhere in
Python; values read from the server keep the API's milliseconds and say so in their names
(``finished_at_ms``: milliseconds since the epoch, ``duration_ms``).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping, Sequence, TypeVar, Union

from google.protobuf.message import Message

from ..errors import InvalidArgumentError
from ..v1 import orchestrator_pb2 as pb

# ---------- enums ----------

E = TypeVar("E", bound="_ProtoEnum")


class _ProtoEnum(enum.StrEnum):
    """A proto enum as lower-case strings: ``TaskState.FAILED == "failed"``.

    Values the server sends that this version does not know read as ``UNSPECIFIED``.
    """

    @classmethod
    def _prefix(cls) -> str:
        raise NotImplementedError

    @classmethod
    def _pb_enum(cls) -> Any:
        return getattr(pb, cls.__name__)

    @classmethod
    def _from_pb(cls: type[E], value: int) -> E:
        try:
            name = cls._pb_enum().Name(value)
        except ValueError:
            return cls("unspecified")
        try:
            return cls(name[len(cls._prefix()) :].lower())
        except ValueError:
            return cls("unspecified")

    @classmethod
    def _to_pb(cls, value: str | _ProtoEnum, field_name: str) -> int:
        """The proto number of a member or its name (``"failed"``, ``"FAILED"``)."""
        try:
            member = cls(str(value).lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls if m.value != "unspecified")
            raise InvalidArgumentError(f"{field_name}: {value!r} is not one of {choices}", field=field_name) from None
        return int(cls._pb_enum().Value(cls._prefix() + member.value.upper()))


class TaskState(_ProtoEnum):
    """A task's state. ``SCHEDULED``: delayed, or waiting out a retry backoff."""

    UNSPECIFIED = "unspecified"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def _prefix(cls) -> str:
        return "TASK_STATE_"

    @property
    def is_final(self) -> bool:
        """Whether the task has ended (succeeded, failed or cancelled)."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


class BackoffType(_ProtoEnum):
    """How the delay between attempts grows."""

    UNSPECIFIED = "unspecified"
    FIXED = "fixed"
    EXPONENTIAL = "exponential"

    @classmethod
    def _prefix(cls) -> str:
        return "BACKOFF_TYPE_"


class ServingStatus(_ProtoEnum):
    """Health of the orchestrator or one of its components."""

    UNSPECIFIED = "unspecified"
    SERVING = "serving"
    DEGRADED = "degraded"
    NOT_SERVING = "not_serving"

    @classmethod
    def _prefix(cls) -> str:
        return "SERVING_STATUS_"


class LogStream(_ProtoEnum):
    """Where a task's log line came from."""

    UNSPECIFIED = "unspecified"
    STDOUT = "stdout"
    STDERR = "stderr"
    LOG = "log"
    SYSTEM = "system"

    @classmethod
    def _prefix(cls) -> str:
        return "LOG_STREAM_"


class FailurePolicy(_ProtoEnum):
    """What a workflow run does when a step fails."""

    UNSPECIFIED = "unspecified"
    FAIL_FAST = "fail_fast"
    CONTINUE = "continue"

    @classmethod
    def _prefix(cls) -> str:
        return "FAILURE_POLICY_"


class WorkflowRunState(_ProtoEnum):
    """A workflow run's state."""

    UNSPECIFIED = "unspecified"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def _prefix(cls) -> str:
        return "WORKFLOW_RUN_STATE_"

    @property
    def is_final(self) -> bool:
        """Whether the run has ended."""
        return self in (WorkflowRunState.SUCCEEDED, WorkflowRunState.FAILED, WorkflowRunState.CANCELLED)


class StepState(_ProtoEnum):
    """A workflow step's state. ``SKIPPED``: never ran (a dependency failed, or the run stopped)."""

    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @classmethod
    def _prefix(cls) -> str:
        return "STEP_STATE_"


class PoolState(_ProtoEnum):
    """A worker pool's state as the orchestrator last heard of it."""

    UNSPECIFIED = "unspecified"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"
    LOST = "lost"

    @classmethod
    def _prefix(cls) -> str:
        return "POOL_STATE_"


# ---------- input checks ----------

Duration = Union[float, int, timedelta]
"""Seconds, or a ``timedelta``."""

_UINT32_MAX = 2**32 - 1


def _ms(value: Duration | None, name: str, max_ms: int = _UINT32_MAX) -> int:
    """A duration in whole milliseconds for a uint32 field, or up to `max_ms` (0 for None)."""
    if value is None:
        return 0
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidArgumentError(f"{name}: expected seconds or a timedelta, got {type(value).__name__}", field=name)
    ms = round(seconds * 1000)
    if not 0 <= ms <= max_ms:
        raise InvalidArgumentError(f"{name}: {seconds} s is out of range (0 to {max_ms // 1000} s)", field=name)
    return ms


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgumentError(f"{name}: expected an integer, got {type(value).__name__}", field=name)
    return value


def _str_map(value: Mapping[str, str] | None, name: str) -> dict[str, str]:
    """A map<string, string> field: every key and value must be a string (nothing is converted)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{name}: expected a mapping of strings, got {type(value).__name__}", field=name)
    for k, v in value.items():
        if not isinstance(k, str):
            raise InvalidArgumentError(f"{name}: key {k!r} is not a string", field=name)
        if not isinstance(v, str):
            raise InvalidArgumentError(
                f"{name}.{k}: values are strings (encode it, e.g. json.dumps), got {type(v).__name__}",
                field=f"{name}.{k}",
            )
    return dict(value)


def _str_list(value: Sequence[str] | None, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"{name}: expected a list of strings", field=name)
    return list(value)


def _json(text: str) -> Any:
    """Decoded JSON text, or None when empty (or, from a foreign writer, not JSON)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# ---------- executors ----------


@dataclass(frozen=True, slots=True)
class HandlerExecutor:
    """Runs a named JS handler of the pool (built-in ``echo``, ``sleep``, or the handler directory's)."""

    name: str

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(handler=pb.HandlerExecutor(name=self.name))


@dataclass(frozen=True, slots=True)
class CommandExecutor:
    """Runs a subprocess: a named command of the pool's config (``name``, ``args``), or a raw
    ``argv`` where the class's policy allows raw commands."""

    argv: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = ""
    name: str = ""
    args: Mapping[str, str] = field(default_factory=dict)

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(
            command=pb.CommandExecutor(
                argv=_str_list(self.argv, f"{at}.argv"),
                env=_str_map(self.env, f"{at}.env"),
                cwd=self.cwd,
                name=self.name,
                args=_str_map(self.args, f"{at}.args"),
            )
        )


@dataclass(frozen=True, slots=True)
class HttpExecutor:
    """Sends the task to an HTTP task runner (``method``: POST when empty, PUT or PATCH)."""

    url: str
    method: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(
            http=pb.HttpExecutor(url=self.url, method=self.method, headers=_str_map(self.headers, f"{at}.headers"))
        )


@dataclass(frozen=True, slots=True)
class ContainerMount:
    """A host directory bound into a container (read-only unless ``writable``)."""

    host_path: str
    container_path: str
    writable: bool = False


@dataclass(frozen=True, slots=True)
class ContainerExecutor:
    """Runs an image as a locked-down Docker container (0 and empty values: the pool's defaults)."""

    image: str
    command: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str = ""
    cpu_millis: int = 0
    memory_bytes: int = 0
    pids_limit: int = 0
    user: str = ""
    network: bool = False
    mounts: Sequence[ContainerMount] = ()

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(
            container=pb.ContainerExecutor(
                image=self.image,
                command=_str_list(self.command, f"{at}.command"),
                env=_str_map(self.env, f"{at}.env"),
                working_dir=self.working_dir,
                cpu_millis=_int(self.cpu_millis, f"{at}.cpu_millis"),
                memory_bytes=_int(self.memory_bytes, f"{at}.memory_bytes"),
                pids_limit=_int(self.pids_limit, f"{at}.pids_limit"),
                user=self.user,
                network=self.network,
                mounts=[
                    pb.ContainerMount(host_path=m.host_path, container_path=m.container_path, writable=m.writable)
                    for m in self.mounts
                ],
            )
        )


@dataclass(frozen=True, slots=True)
class SlurmExecutor:
    """Submits a Slurm batch job: exactly one of ``name`` (a script of the pool's config),
    ``script`` and ``command``."""

    script: str = ""
    command: Sequence[str] = ()
    name: str = ""
    args: Mapping[str, str] = field(default_factory=dict)
    partition: str = ""
    gres: str = ""
    cpus: int = 0
    memory_mb: int = 0
    time_limit_minutes: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    account: str = ""

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(
            slurm=pb.SlurmExecutor(
                script=self.script,
                command=_str_list(self.command, f"{at}.command"),
                name=self.name,
                args=_str_map(self.args, f"{at}.args"),
                partition=self.partition,
                gres=self.gres,
                cpus=_int(self.cpus, f"{at}.cpus"),
                memory_mb=_int(self.memory_mb, f"{at}.memory_mb"),
                time_limit_minutes=_int(self.time_limit_minutes, f"{at}.time_limit_minutes"),
                env=_str_map(self.env, f"{at}.env"),
                account=self.account,
            )
        )


@dataclass(frozen=True, slots=True)
class RunnerExecutor:
    """Hands the task to a task runner (orchestrator.runner.v1.TaskRunner) the pool's config names."""

    task: str
    runner: str = ""

    def _to_pb(self, at: str) -> pb.ExecutorSpec:
        return pb.ExecutorSpec(runner=pb.RunnerExecutor(task=self.task, runner=self.runner))


Executor = Union[HandlerExecutor, CommandExecutor, HttpExecutor, ContainerExecutor, SlurmExecutor, RunnerExecutor]
"""How a task runs; default: ``HandlerExecutor("echo")``."""


# ---------- tasks: input ----------


@dataclass(frozen=True, slots=True)
class Backoff:
    """The delay between attempts: fixed, or exponential (``delay`` doubled each attempt)."""

    delay: Duration
    type: BackoffType | str = BackoffType.FIXED

    @classmethod
    def fixed(cls, delay: Duration) -> Backoff:
        """The same delay before every retry."""
        return cls(delay, BackoffType.FIXED)

    @classmethod
    def exponential(cls, delay: Duration) -> Backoff:
        """``delay``, then twice as long before each further retry."""
        return cls(delay, BackoffType.EXPONENTIAL)


@dataclass(frozen=True, slots=True)
class Task:
    """A task to submit (``submit_many``) or a workflow step's task. Only ``task_class`` and
    ``payload`` are required; unset options take the class's defaults.

    Attributes:
        task_class: One of the configured classes (``cpu_short``, ...).
        payload: String keys and string values (encode anything else, e.g. ``json.dumps``).
        task_id: ``[A-Za-z0-9._-]``, at most 128 characters, not all digits; generated when
            ``None``. Submitting the same id with the same content again is a no-op.
        priority: 0..1000, higher runs first.
        executor: How the task runs; ``None``: the handler ``echo``.
        handler: Shorthand for ``executor=HandlerExecutor(handler)``.
        attempts: Attempts in all (``max_attempts``); ``None``: the class's.
        backoff: The delay between attempts; ``None``: the class's.
        timeout: The limit of one attempt, in seconds; ``None``: the class's.
        delay: Start no earlier than this many seconds from now.
    """

    task_class: str
    payload: Mapping[str, str]
    task_id: str | None = None
    priority: int = 0
    executor: Executor | None = None
    handler: str | None = None
    attempts: int | None = None
    backoff: Backoff | None = None
    timeout: Duration | None = None
    delay: Duration | None = None

    def _to_pb(self, at: str = "task") -> pb.TaskSpec:
        """The TaskSpec; a bad value raises InvalidArgumentError naming `at`.<field>."""
        if not isinstance(self.task_class, str) or not self.task_class:
            raise InvalidArgumentError(f"{at}.task_class: a class name is required", field=f"{at}.task_class")
        if self.executor is not None and self.handler is not None:
            raise InvalidArgumentError(f"{at}.executor: give either executor or handler, not both", field=f"{at}.executor")
        executor = HandlerExecutor(self.handler) if self.handler is not None else self.executor
        spec = pb.TaskSpec(
            task_id=self.task_id or "",
            task_class=self.task_class,
            payload=_str_map(self.payload, f"{at}.payload"),
            priority=_int(self.priority, f"{at}.priority"),
            max_attempts=0 if self.attempts is None else _int(self.attempts, f"{at}.attempts"),
            timeout_ms=_ms(self.timeout, f"{at}.timeout"),
            delay_ms=_ms(self.delay, f"{at}.delay"),
        )
        if executor is not None:
            if not hasattr(executor, "_to_pb"):
                raise InvalidArgumentError(
                    f"{at}.executor: expected one of the executor classes, got {type(executor).__name__}",
                    field=f"{at}.executor",
                )
            spec.executor.CopyFrom(executor._to_pb(f"{at}.executor"))
        if self.backoff is not None:
            spec.backoff.CopyFrom(
                pb.Backoff(
                    type=BackoffType._to_pb(self.backoff.type, f"{at}.backoff.type"),
                    delay_ms=_ms(self.backoff.delay, f"{at}.backoff.delay"),
                )
            )
        return spec


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks to list or retry; unset fields do not filter.

    ``submitted_since_ms`` / ``submitted_until_ms``: milliseconds since the epoch (0: no bound).
    """

    task_classes: Sequence[str] = ()
    states: Sequence[TaskState | str] = ()
    workflow_id: str = ""
    submitted_since_ms: int = 0
    submitted_until_ms: int = 0

    def _to_pb(self, at: str = "filter") -> pb.TaskFilter:
        return pb.TaskFilter(
            task_classes=_str_list(self.task_classes, f"{at}.task_classes"),
            states=[TaskState._to_pb(s, f"{at}.states") for s in self.states],
            workflow_id=self.workflow_id,
            submitted_since_ms=_int(self.submitted_since_ms, f"{at}.submitted_since_ms"),
            submitted_until_ms=_int(self.submitted_until_ms, f"{at}.submitted_until_ms"),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """A workflow step: its id, its task (without ``task_id``) and the steps it waits for.

    Payload values may refer to ``${inputs.NAME}``, ``${run_id}`` and
    ``${steps.STEP.result[.PATH]}`` of an upstream step.
    """

    step_id: str
    task: Task
    depends_on: Sequence[str] = ()


# ---------- results: output ----------

def _fields(cls: type[Any], msg: Message, **overrides: Any) -> dict[str, Any]:
    """The dataclass's fields read from the message's same-named fields, with overrides."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            out[f.name] = overrides[f.name]
        elif hasattr(msg, f.name):
            value = getattr(msg, f.name)
            if isinstance(value, (str, bytes, int, float, Message)):
                out[f.name] = value
            elif hasattr(value, "items"):
                out[f.name] = dict(value)  # a map field
            else:
                out[f.name] = list(value)  # a repeated field
    return out


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """A submitted task: its id, whether this call created it, and its state."""

    task_id: str
    created: bool
    state: TaskState

    @classmethod
    def _from_pb(cls, m: pb.SubmitTaskResponse) -> SubmitResult:
        return cls(m.task_id, m.created, TaskState._from_pb(m.state))


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """Why a task failed or was cancelled.

    Attributes:
        message: One line: ``"command exited with code 2"``, ``"timed out after 30 s"``.
        kind: ``task_failed``, ``timed_out``, ``cancelled``, ``policy_denied`` or ``result_too_large``.
        exit_code: The process's exit code, when it had one.
        signal: The signal that killed the process (``"SIGKILL"``), or ``""``.
        output_tail: The end of the attempt's output (stderr, then stdout).
        retryable: Whether running the task again could help.
    """

    message: str
    kind: str
    exit_code: int | None
    signal: str
    output_tail: str
    retryable: bool

    @classmethod
    def _from_pb(cls, parent: Message) -> TaskFailure | None:
        if not parent.HasField("failure"):
            return None
        f = parent.failure  # type: ignore[attr-defined]
        return cls(
            f.message, f.kind, f.exit_code.value if f.HasField("exit_code") else None, f.signal, f.output_tail, f.retryable
        )


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's final outcome.

    ``result`` is the decoded JSON of what the task returned (``result_json`` the text); on a
    failed or cancelled task ``failure`` says why and ``error`` has its message. A marker (an
    outcome the server could not deliver) has ``undeliverable`` set and ``state`` UNSPECIFIED.
    ``cursor`` is where this result leaves its stream: pass it to ``results(cursor=...)`` to
    resume after it.
    """

    task_id: str
    task_class: str
    state: TaskState
    attempt: int
    result: Any
    result_json: str
    error: str
    failure: TaskFailure | None
    workflow_id: str
    worker_id: str
    finished_at_ms: int
    duration_ms: int
    schedule_id: str
    undeliverable: str
    cursor: str

    @property
    def ok(self) -> bool:
        """Whether the task succeeded."""
        return self.state is TaskState.SUCCEEDED

    @classmethod
    def _from_pb(cls, m: pb.TaskResult) -> TaskResult:
        return cls(
            **_fields(
                cls, m, state=TaskState._from_pb(m.state), result=_json(m.result_json), failure=TaskFailure._from_pb(m)
            )
        )


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A task's state now: attempts, result or failure, progress, worker and times.

    ``attempts_made`` / ``max_attempts`` count this round (a retry starts a new one);
    ``attempt`` is the latest attempt's number, as events and results carry it.
    ``progress`` is the decoded JSON of the last progress report.
    """

    task_id: str
    task_class: str
    state: TaskState
    attempts_made: int
    max_attempts: int
    attempt: int
    result: Any
    result_json: str
    error: str
    failure: TaskFailure | None
    progress: Any
    progress_json: str
    worker_id: str
    submitted_at_ms: int
    started_at_ms: int
    finished_at_ms: int
    workflow_id: str
    priority: int
    schedule_id: str
    undeliverable: str

    @classmethod
    def _from_pb(cls, m: pb.TaskStatus) -> TaskStatus:
        return cls(
            **_fields(
                cls,
                m,
                state=TaskState._from_pb(m.state),
                result=_json(m.result_json),
                progress=_json(m.progress_json),
                failure=TaskFailure._from_pb(m),
            )
        )


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The state right after a cancel: CANCELLED (queued), RUNNING (being stopped) or the final one."""

    task_id: str
    state: TaskState


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A lifecycle event.

    ``type`` is one of ``submitted``, ``started``, ``progress``, ``retrying``, ``requeued``,
    ``succeeded``, ``failed``, ``cancelled``, ``stalled``, ``workflow_run``, ``workflow_step``.
    ``cursor`` is where this event leaves its stream: pass it to ``events(cursor=...)`` to
    resume after it.
    """

    cursor: str
    type: str
    task_id: str
    task_class: str
    attempt: int
    workflow_id: str
    at_ms: int
    worker_id: str
    detail: str
    step_id: str
    state: str
    schedule_id: str
    undeliverable: str

    @classmethod
    def _from_pb(cls, m: pb.TaskEvent) -> TaskEvent:
        return cls(**_fields(cls, m))


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """A task as listed (``list_tasks``): its status without result or progress."""

    task_id: str
    task_class: str
    state: TaskState
    attempts_made: int
    max_attempts: int
    attempt: int
    error: str
    workflow_id: str
    priority: int
    worker_id: str
    submitted_at_ms: int
    started_at_ms: int
    finished_at_ms: int

    @classmethod
    def _from_pb(cls, m: pb.TaskSummary) -> TaskSummary:
        return cls(**_fields(cls, m, state=TaskState._from_pb(m.state)))


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of ``list_tasks``, newest first; pass ``next_page_token`` back for the next
    (empty: no more). A page may be short, even empty, while more follow."""

    tasks: list[TaskSummary]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class RetryError:
    """A named task that could not be retried: ``code`` NOT_FOUND or FAILED_PRECONDITION."""

    task_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What ``retry`` did: the tasks queued again, the named ones it could not retry, and
    (by filter) whether more may match (call again)."""

    retried: list[str]
    errors: list[RetryError]
    more: bool


@dataclass(frozen=True, slots=True)
class LogLine:
    """One captured line of a task's output (``at_ms``: the pool's clock, 0 when unknown)."""

    attempt: int
    at_ms: int
    stream: LogStream
    text: str

    @classmethod
    def _from_pb(cls, m: pb.TaskLogLine) -> LogLine:
        return cls(m.attempt, m.at_ms, LogStream._from_pb(m.stream), m.text)


@dataclass(frozen=True, slots=True)
class TaskLogs:
    """A task's captured output: one attempt's lines (``attempt``), or every attempt's (0).
    ``truncated``: lines are missing (a SYSTEM line says how many); ``attempts``: those with lines."""

    task_id: str
    attempt: int
    lines: list[LogLine]
    truncated: bool
    attempts: list[int]
    state: TaskState

    @classmethod
    def _from_pb(cls, m: pb.TaskLogs) -> TaskLogs:
        return cls(
            m.task_id,
            m.attempt,
            [LogLine._from_pb(line) for line in m.lines],
            m.truncated,
            list(m.attempts),
            TaskState._from_pb(m.state),
        )


# ---------- health, metrics, limits, pools ----------


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component of the orchestrator's health (``redis``, ``queue:<class>``, ...)."""

    name: str
    status: ServingStatus
    detail: str


@dataclass(frozen=True, slots=True)
class Health:
    """The orchestrator's health: overall status, version, uptime and each component."""

    status: ServingStatus
    version: str
    uptime_ms: int
    components: list[ComponentHealth]

    @classmethod
    def _from_pb(cls, m: pb.HealthResponse) -> Health:
        return cls(
            ServingStatus._from_pb(m.status),
            m.version,
            m.uptime_ms,
            [ComponentHealth(c.name, ServingStatus._from_pb(c.status), c.detail) for c in m.components],
        )


@dataclass(frozen=True, slots=True)
class Metrics:
    """A snapshot of named figures (queue depths, pools, counts, uptime); ``metrics["name"]``."""

    metrics: dict[str, float]
    collected_at_ms: int

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """A class's limits; 0 means none (``pool_concurrency`` 0: the pool's configured one)."""

    task_class: str
    pool_concurrency: int
    global_concurrency: int
    rate_limit_max: int
    rate_limit_duration_ms: int
    paused: bool

    @classmethod
    def _from_pb(cls, m: pb.ClassLimits) -> ClassLimits:
        return cls(**_fields(cls, m))


@dataclass(frozen=True, slots=True)
class PoolClass:
    """A class a pool serves: its slots and those busy at the last heartbeat."""

    task_class: str
    concurrency: int
    busy: int


@dataclass(frozen=True, slots=True)
class Pool:
    """A worker pool the orchestrator has heard from."""

    pool_id: str
    state: PoolState
    host: str
    pid: int
    version: str
    classes: list[PoolClass]
    busy: int
    started_at_ms: int
    last_heartbeat_ms: int
    draining: bool
    exit_when_drained: bool
    metrics_addr: str
    stopped_at_ms: int

    @classmethod
    def _from_pb(cls, m: pb.Pool) -> Pool:
        return cls(
            **_fields(
                cls,
                m,
                state=PoolState._from_pb(m.state),
                classes=[PoolClass(c.task_class, c.concurrency, c.busy) for c in m.classes],
            )
        )


# ---------- schedules ----------


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule: its timing (``cron`` in ``tz``, or every ``every_ms``), the task it
    submits each tick (``task_class``, ``payload``; each tick's task id is
    ``"<schedule_id>.<tick ms>"``), and when it fires next (0: paused or past its end)."""

    schedule_id: str
    cron: str
    tz: str
    every_ms: int
    start_at_ms: int
    end_at_ms: int
    paused: bool
    task_class: str
    payload: dict[str, str]
    created_at_ms: int
    updated_at_ms: int
    next_run_at_ms: int
    last_run_at_ms: int
    last_task_id: str

    @classmethod
    def _from_pb(cls, m: pb.Schedule) -> Schedule:
        spec = m.spec
        return cls(
            **_fields(
                cls,
                spec,
                task_class=spec.task.task_class,
                payload=dict(spec.task.payload),
                created_at_ms=m.created_at_ms,
                updated_at_ms=m.updated_at_ms,
                next_run_at_ms=m.next_run_at_ms,
                last_run_at_ms=m.last_run_at_ms,
                last_task_id=m.last_task_id,
            )
        )


# ---------- workflows ----------


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """A stored workflow: its name and the version this call created."""

    name: str
    version: int


@dataclass(frozen=True, slots=True)
class WorkflowRunStarted:
    """A started run: its id, the version it runs, whether this call created it, its state."""

    run_id: str
    version: int
    created: bool
    state: WorkflowRunState


@dataclass(frozen=True, slots=True)
class StepRun:
    """One step of a run: its task (``"<run_id>.<step_id>"``), state, attempt and outcome."""

    step_id: str
    task_id: str
    task_class: str
    state: StepState
    depends_on: list[str]
    attempt: int
    result: Any
    result_json: str
    error: str
    started_at_ms: int
    finished_at_ms: int

    @classmethod
    def _from_pb(cls, m: pb.StepRun) -> StepRun:
        return cls(**_fields(cls, m, state=StepState._from_pb(m.state), result=_json(m.result_json)))


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """The whole state of a run; ``steps_by_id`` finds a step."""

    run_id: str
    workflow_name: str
    version: int
    state: WorkflowRunState
    failure_policy: FailurePolicy
    inputs: dict[str, str]
    started_at_ms: int
    finished_at_ms: int
    stop_reason: str
    steps: list[StepRun]

    @property
    def steps_by_id(self) -> dict[str, StepRun]:
        """The steps keyed by step id."""
        return {s.step_id: s for s in self.steps}

    @classmethod
    def _from_pb(cls, m: pb.WorkflowRun) -> WorkflowRun:
        return cls(
            **_fields(
                cls,
                m,
                state=WorkflowRunState._from_pb(m.state),
                failure_policy=FailurePolicy._from_pb(m.failure_policy),
                inputs=dict(m.inputs),
                steps=[StepRun._from_pb(s) for s in m.steps],
            )
        )


@dataclass(frozen=True, slots=True)
class WorkflowUpdate:
    """A change of a run (``step_id`` empty) or of one of its steps, with the run's state as of it.

    ``snapshot`` marks the updates that describe the run as it stood when the watch began.
    """

    run_id: str
    step_id: str
    run_state: WorkflowRunState
    step_state: StepState
    at_ms: int
    task_id: str
    attempt: int
    error: str
    result: Any
    result_json: str
    snapshot: bool
    cursor: str

    @classmethod
    def _from_pb(cls, m: pb.WorkflowStatusUpdate) -> WorkflowUpdate:
        return cls(
            **_fields(
                cls,
                m,
                run_state=WorkflowRunState._from_pb(m.run_state),
                step_state=StepState._from_pb(m.step_state),
                result=_json(m.result_json),
            )
        )


@dataclass(frozen=True, slots=True)
class WorkflowRunSummary:
    """A run as listed: its header and step counts (``open_steps``: not yet final)."""

    run_id: str
    workflow_name: str
    version: int
    state: WorkflowRunState
    started_at_ms: int
    finished_at_ms: int
    stop_reason: str
    steps: int
    open_steps: int

    @classmethod
    def _from_pb(cls, m: pb.WorkflowRunSummary) -> WorkflowRunSummary:
        return cls(**_fields(cls, m, state=WorkflowRunState._from_pb(m.state)))


@dataclass(frozen=True, slots=True)
class WorkflowRunPage:
    """One page of ``list_workflow_runs``, newest first; ``next_page_token`` empty: no more."""

    runs: list[WorkflowRunSummary]
    next_page_token: str
