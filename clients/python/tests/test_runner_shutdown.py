"""The runner's command line and its shutdown, in a child process: ``python -m orchestrator.runner
THIS_FILE:runner`` serves the Runner below; SIGTERM lets running tasks finish within the grace,
then cancels them; a synchronous function that ignores its cancel does not hold the process.

The held tasks wait for a release file the test creates, so a test decides when they end.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import grpc

from orchestrator.runner import Runner, TaskContext
from orchestrator.runner.v1 import runner_pb2, runner_pb2_grpc

runner = Runner(name="shutdown-test", max_concurrency=3)


@runner.task("hold_async")
async def hold_async(payload: dict[str, str], ctx: TaskContext) -> str:
    ctx.log("started")
    while not os.path.exists(payload["release"]):
        await asyncio.sleep(0.02)
    return "released"


@runner.task("hold_sync")
def hold_sync(payload: dict[str, str], ctx: TaskContext) -> str:
    ctx.log("started")
    while not os.path.exists(payload["release"]):
        ctx.check_cancelled()
        time.sleep(0.02)
    return "released"


@runner.task("stubborn")
def stubborn(payload: dict[str, str], ctx: TaskContext) -> str:
    """Ignores its cancel: blocks until released (never, in the test)."""
    ctx.log("started")
    threading.Event().wait(3600)
    return "never"


async def wait_until(cond, timeout_s: float = 20.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.01)


class RunnerProcess:
    """A `python -m orchestrator.runner` child and its log lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @classmethod
    async def start(cls, *args: str) -> RunnerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator.runner", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        return cls(proc)

    def logged(self, pattern: str) -> re.Match[str] | None:
        for line in self.lines:
            if m := re.search(pattern, line):
                return m
        return None

    async def port(self) -> int:
        await wait_until(lambda: self.logged(r" on 127\.0\.0\.1:(\d+)$") or self.proc.returncode is not None, what="serving")
        m = self.logged(r" on 127\.0\.0\.1:(\d+)$")
        assert m, "\n".join(self.lines)
        return int(m.group(1))

    async def exit_code(self) -> int:
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await self._reader
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.exit_code()


class ShutdownTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.release = str(Path(self.dir.name) / "release")
        self.children: list[RunnerProcess] = []
        self.channels: list[grpc.aio.Channel] = []

    async def asyncTearDown(self) -> None:
        for channel in self.channels:
            await channel.close()
        for child in self.children:
            await child.kill()
        self.dir.cleanup()

    async def serve(self, *flags: str) -> tuple[RunnerProcess, runner_pb2_grpc.TaskRunnerStub]:
        child = await RunnerProcess.start(f"{__file__}:runner", "--address", "127.0.0.1:0", *flags)
        self.children.append(child)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{await child.port()}")
        self.channels.append(channel)
        return child, runner_pb2_grpc.TaskRunnerStub(channel)

    def execute(self, stub: runner_pb2_grpc.TaskRunnerStub, task: str, task_id: str):  # type: ignore[no-untyped-def]
        req = runner_pb2.ExecuteRequest(task_name=task, task_id=task_id, attempt=1, max_attempts=1, payload={"release": self.release})
        return stub.Execute(req, timeout=30)

    async def started(self, call) -> None:  # type: ignore[no-untyped-def]
        self.assertEqual((await asyncio.wait_for(call.read(), 20)).log.text, "started")

    async def rest(self, call) -> list[runner_pb2.ExecuteEvent]:  # type: ignore[no-untyped-def]
        events = []
        while (event := await asyncio.wait_for(call.read(), 30)) is not grpc.aio.EOF:
            events.append(event)
        return events

    async def test_sigterm_refuses_new_calls_and_lets_running_tasks_finish(self) -> None:
        child, stub = await self.serve("--grace-seconds", "60")
        calls = [self.execute(stub, "hold_async", "t-a"), self.execute(stub, "hold_sync", "t-s")]
        for call in calls:
            await self.started(call)
        child.proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: child.logged("stopping: 2 tasks running"), what="the runner logged its shutdown")
        with self.assertRaises(grpc.aio.AioRpcError) as caught:
            await self.rest(self.execute(stub, "hold_async", "t-new"))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIsNone(child.proc.returncode)
        Path(self.release).touch()
        for call in calls:
            events = await self.rest(call)
            self.assertEqual(events[-1].result.json, '"released"')
        self.assertEqual(await child.exit_code(), 0, "\n".join(child.lines))

    async def test_sigterm_cancels_tasks_still_running_after_the_grace(self) -> None:
        child, stub = await self.serve("--grace-seconds", "0.2")
        calls = [self.execute(stub, "hold_async", "t-a"), self.execute(stub, "hold_sync", "t-s")]
        for call in calls:
            await self.started(call)
        child.proc.send_signal(signal.SIGTERM)
        for call in calls:
            failure = (await self.rest(call))[-1].failure
            self.assertEqual((failure.error_type, failure.retryable), ("Shutdown", True))
            self.assertEqual(failure.message, "a shutdown stopped the task before it finished")
        self.assertEqual(await child.exit_code(), 0, "\n".join(child.lines))

    async def test_a_sync_function_ignoring_its_cancel_does_not_hold_the_process(self) -> None:
        child, stub = await self.serve("--grace-seconds", "0.1", "--force-seconds", "0.3")
        call = self.execute(stub, "stubborn", "t-stubborn")
        await self.started(call)
        child.proc.send_signal(signal.SIGTERM)
        with self.assertRaises(grpc.aio.AioRpcError):
            await self.rest(call)
        self.assertEqual(await child.exit_code(), 1)
        self.assertTrue(child.logged("1 synchronous tasks ignored their cancel"), "\n".join(child.lines))

    async def test_a_second_sigint_cancels_at_once(self) -> None:
        child, stub = await self.serve("--grace-seconds", "60")
        call = self.execute(stub, "hold_async", "t-a")
        await self.started(call)
        child.proc.send_signal(signal.SIGINT)
        await wait_until(lambda: child.logged("stopping: 1 tasks running"), what="the runner logged its shutdown")
        child.proc.send_signal(signal.SIGINT)
        self.assertEqual((await self.rest(call))[-1].failure.error_type, "Shutdown")
        self.assertEqual(await child.exit_code(), 0, "\n".join(child.lines))

    async def test_the_token_comes_from_the_environment_or_a_file(self) -> None:
        token_file = Path(self.dir.name) / "token"
        token_file.write_text("tok-from-file\n")
        child, stub = await self.serve("--token-file", str(token_file))
        with self.assertRaises(grpc.aio.AioRpcError) as caught:
            await stub.Describe(runner_pb2.DescribeRequest(), timeout=10)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        answer = await stub.Describe(runner_pb2.DescribeRequest(), metadata=(("authorization", "Bearer tok-from-file"),), timeout=10)
        self.assertEqual(list(answer.task_names), ["hold_async", "hold_sync", "stubborn"])
        self.assertEqual(answer.max_concurrency, 3)
        self.assertTrue(all("tok-from-file" not in line for line in child.lines))

    async def test_bad_command_lines_name_what_is_wrong(self) -> None:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            cases = [
                (["no_such_module:runner"], 2, "target: no module named 'no_such_module'"),
                ([f"{__file__}:nothing"], 2, "test_runner_shutdown.py:nothing is NoneType, not an orchestrator.runner.Runner"),
                ([f"{__file__}:runner", "--tls-cert", "x.pem"], 2, "--tls-cert and --tls-key: give both"),
                ([f"{__file__}:runner", "--token-file", "/nonexistent/token"], 2, "--token-file: cannot read /nonexistent/token"),
                ([f"{__file__}:runner", "--address", f"127.0.0.1:{taken.getsockname()[1]}"], 1, "address: cannot listen on 127.0.0.1:"),
            ]
            for args, code, text in cases:
                with self.subTest(args=args):
                    child = await RunnerProcess.start(*args)
                    self.children.append(child)
                    self.assertEqual(await child.exit_code(), code, "\n".join(child.lines))
                    self.assertTrue(any(text in line for line in child.lines), "\n".join(child.lines))
        finally:
            taken.close()


if __name__ == "__main__":
    unittest.main()
