"""Runner: the task functions a Python process serves to Orchestrator's pools, and the gRPC
server (orchestrator.runner.v1.TaskRunner) that runs them."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar, overload

import grpc

from orchestrator.runner import output
from orchestrator.runner.attempt import AttemptTable, TaskFunction
from orchestrator.runner.service import TaskRunnerService
from orchestrator.runner.v1 import runner_pb2_grpc

log = logging.getLogger("orchestrator.runner")

F = TypeVar("F", bound=Callable[..., Any])

#: A task name: what pools accept in a task's executor (src/executors/runner.ts, RUNNER_TASK_NAME_RE).
TASK_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")

#: Default address: where the earlier stack's Python task service listened.
DEFAULT_ADDRESS = "127.0.0.1:8083"


@dataclass(frozen=True)
class RunnerTls:
    """The runner's TLS: its certificate chain and key (PEM files), and optionally the CA that
    pools' client certificates must be signed by (then a pool without one is refused)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None

    def credentials(self) -> grpc.ServerCredentials:
        """Reads the files; raises OSError naming the one that cannot be read."""
        key = _read("tls.key_file", self.key_file)
        cert = _read("tls.cert_file", self.cert_file)
        ca = _read("tls.client_ca_file", self.client_ca_file) if self.client_ca_file else None
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


def _read(field: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise OSError(f"{field}: cannot read {path}: {err.strerror}") from err


def _version() -> str:
    try:
        return metadata.version("orchestrator-client")
    except metadata.PackageNotFoundError:
        return "dev"


class Runner:
    """A set of task functions served to Orchestrator's pools.

    ::

        runner = Runner(name="models", max_concurrency=2)

        @runner.task("embed")
        async def embed(payload: dict[str, str], ctx: TaskContext) -> dict:
            await ctx.progress(50)
            return {"vector": await model.embed(payload["text"])}

        runner.serve("127.0.0.1:8083")

    Arguments:
        name: names the runner in Describe and in its logs.
        max_concurrency: most attempts run at once (default 4); one more Execute is answered
            RESOURCE_EXHAUSTED. Synchronous functions run in a pool of as many threads.
        token: when set, every call must carry ``authorization: Bearer <token>``
            (UNAUTHENTICATED otherwise).
        tls: serve TLS instead of plaintext (:class:`RunnerTls`).
        capture_output: route ``print`` and other writes to sys.stdout/sys.stderr made inside a
            task function to its attempt's log (default True).
    """

    def __init__(
        self,
        name: str = "python",
        *,
        max_concurrency: int = 4,
        token: str | None = None,
        tls: RunnerTls | None = None,
        capture_output: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("name: must be a non-empty string")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency: must be an integer of at least 1, not {max_concurrency!r}")
        if token is not None and (not isinstance(token, str) or not token or token != token.strip()):
            raise ValueError("token: must be a non-empty string without surrounding whitespace (or None)")
        self.name = name
        self.max_concurrency = max_concurrency
        self.token = token
        self.tls = tls
        self.capture_output = capture_output
        self._tasks: dict[str, TaskFunction] = {}
        self._server: grpc.aio.Server | None = None
        self._table: AttemptTable | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._port = 0
        self._stopping: asyncio.Future[None] | None = None
        self._stopped = asyncio.Event()
        self._unfinished = 0

    # Registration

    @overload
    def task(self, name: F) -> F: ...

    @overload
    def task(self, name: str | None = None) -> Callable[[F], F]: ...

    def task(self, name: str | F | None = None) -> Callable[[F], F] | F:
        """Decorator: serves the function under ``name`` (default, and with a bare
        ``@runner.task``: the function's name).

        The function takes ``(payload, ctx)`` (or just ``payload``), may be ``async`` (run on the
        runner's event loop) or not (run in a thread), and returns a JSON-serialisable result."""
        if callable(name):
            self.register(getattr(name, "__name__", ""), name)
            return name

        def decorate(fn: F) -> F:
            self.register(name if name is not None else getattr(fn, "__name__", ""), fn)
            return fn

        return decorate

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        """Serves ``fn`` under ``name``; see :meth:`task`."""
        if not isinstance(name, str) or not TASK_NAME_RE.fullmatch(name):
            raise ValueError(f"name: {name!r} is not a task name ([A-Za-z0-9_.:/-], at most 128, not starting with one of .:/-)")
        if name in self._tasks:
            raise ValueError(f'name: task "{name}" is already registered')
        if not callable(fn):
            raise TypeError(f'fn: task "{name}" is not callable')
        if self._server is not None:
            raise RuntimeError(f'task "{name}": register tasks before the runner starts')
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        self._tasks[name] = TaskFunction(name=name, fn=fn, is_async=is_async, takes_context=_takes_context(name, fn))

    @property
    def task_names(self) -> list[str]:
        """The names served, sorted."""
        return sorted(self._tasks)

    # Serving

    @property
    def port(self) -> int:
        """The port the runner listens on (the real one when started on port 0)."""
        return self._port

    @property
    def running(self) -> int:
        """Attempts whose function has not ended."""
        return len(self._table) if self._table is not None else 0

    async def start(self, address: str = DEFAULT_ADDRESS) -> int:
        """Starts serving on ``address`` (host:port; port 0 picks one) and returns the port."""
        if self._server is not None:
            raise RuntimeError("the runner is already serving")
        if not self._tasks:
            raise ValueError("tasks: the runner serves no task; register one with @runner.task")
        self._executor = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix=f"runner-{self.name}")
        self._table = AttemptTable(self.max_concurrency, self._executor, self.capture_output)
        # SO_REUSEPORT (grpc's default on Linux) would let a second runner bind a port that is
        # already taken, and share its calls without an error.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        runner_pb2_grpc.add_TaskRunnerServicer_to_server(
            TaskRunnerService(name=self.name, version=_version(), tasks=self._tasks, table=self._table, token=self.token),
            server,
        )
        try:
            if self.tls is not None:
                port = server.add_secure_port(address, self.tls.credentials())
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"address: cannot listen on {address}: {err}") from err
        if port == 0:
            raise OSError(f"address: cannot listen on {address}")
        await server.start()
        self._server = server
        self._port = port
        self._stopping = None
        self._stopped = asyncio.Event()
        if self.capture_output:
            output.install()
        log.info(
            'runner "%s" serving %s (max_concurrency %d%s%s) on %s',
            self.name,
            ", ".join(self.task_names),
            self.max_concurrency,
            ", token" if self.token else "",
            ", TLS" if self.tls else "",
            _with_port(address, port),
        )
        return port

    async def stop(self, grace_seconds: float = 25.0, force_seconds: float = 5.0) -> None:
        """Stops serving: new calls are refused at once, running attempts get ``grace_seconds``
        to finish, then are cancelled (reason "shutdown", a retryable Failure) and get
        ``force_seconds`` more to end before their calls are cut off."""
        if self._server is None and self._stopping is None:
            return
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace_seconds, force_seconds))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace_seconds: float, force_seconds: float) -> None:
        assert self._server is not None and self._table is not None and self._executor is not None
        table = self._table
        table.closing = True
        log.info('runner "%s" stopping: %d tasks running, %.1f s to finish', self.name, len(table), grace_seconds)
        server_stopped = asyncio.ensure_future(self._server.stop(grace_seconds + force_seconds))
        if not await table.wait_idle(grace_seconds):
            log.warning('runner "%s": cancelling %d tasks still running after the grace period', self.name, len(table))
            table.cancel_all("shutdown")
            await table.wait_idle(force_seconds)
        await server_stopped
        self._unfinished = len(table)
        if self._unfinished:
            log.error('runner "%s": %d synchronous tasks ignored their cancel and still run', self.name, len(table))
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.capture_output:
            output.uninstall()
        self._server = None
        self._stopped.set()

    def cancel_all(self) -> None:
        """Cancels every running attempt now (reason "shutdown"); a second signal does this."""
        if self._table is not None:
            self._table.cancel_all("shutdown")

    async def wait_stopped(self) -> None:
        """Returns once :meth:`stop` has finished."""
        await self._stopped.wait()

    async def serve_async(
        self, address: str = DEFAULT_ADDRESS, *, grace_seconds: float = 25.0, force_seconds: float = 5.0, handle_signals: bool = True
    ) -> None:
        """Serves until stopped: by :meth:`stop`, or (``handle_signals``) SIGTERM or SIGINT,
        which stop gracefully; a second signal cancels the running attempts at once."""
        await self.start(address)
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()

        def on_signal(signum: int) -> None:
            if self._stopping is None:
                log.info('runner "%s": %s, shutting down', self.name, signal.Signals(signum).name)
                self._stopping = asyncio.ensure_future(self._stop(grace_seconds, force_seconds))
            else:
                log.warning('runner "%s": %s again, cancelling running tasks', self.name, signal.Signals(signum).name)
                self.cancel_all()

        for s in signals:
            loop.add_signal_handler(s, on_signal, s)
        try:
            await self.wait_stopped()
        finally:
            for s in signals:
                loop.remove_signal_handler(s)

    def serve(
        self, address: str = DEFAULT_ADDRESS, *, grace_seconds: float = 25.0, force_seconds: float = 5.0
    ) -> None:
        """Blocking :meth:`serve_async` in a new event loop, for a process's main. If synchronous
        functions still run after the shutdown (they ignored their cancel), the process exits
        with status 1 instead of waiting for their threads."""
        asyncio.run(self.serve_async(address, grace_seconds=grace_seconds, force_seconds=force_seconds))
        if self._unfinished:
            logging.shutdown()
            os._exit(1)


def _takes_context(name: str, fn: Callable[..., Any]) -> bool:
    """Whether fn takes (payload, ctx) rather than (payload); raises TypeError for neither."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return True
    if len(positional) == 1:
        return False
    raise TypeError(f'fn: task "{name}" must take (payload, ctx) or (payload)')


def _with_port(address: str, port: int) -> str:
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return f"{host}:{port}"
