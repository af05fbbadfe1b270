"""orchestrator.runner over real gRPC: a Runner served on 127.0.0.1:0 in the test's event loop,
called by a grpc.aio client of orchestrator.runner.v1.TaskRunner as a pool would call it.

Functions that wait for their cancel say so on their first event (a "started" log line), so a
test cancels only what is running, and record what they saw in ``Seen`` for the test to check.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from orchestrator.runner import Runner, RunnerTls, TaskCancelled, TaskContext, TaskFailure
from orchestrator.runner.v1 import runner_pb2, runner_pb2_grpc


class Seen:
    """What the test functions observed, written from the loop and from threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancelled: dict[str, str] = {}  # task id -> ctx.cancel_reason seen by the function
        self.started: list[str] = []
        self.contexts: dict[str, dict[str, Any]] = {}

    def start(self, ctx: TaskContext) -> None:
        with self.lock:
            self.started.append(ctx.task_id)

    def cancel(self, ctx: TaskContext) -> None:
        with self.lock:
            self.cancelled[ctx.task_id] = ctx.cancel_reason


def make_runner(seen: Seen, **options: Any) -> Runner:
    runner = Runner(name="test-runner", **options)

    @runner.task("echo")
    async def echo(payload: dict[str, str], ctx: TaskContext) -> dict[str, Any]:
        seen.contexts[ctx.task_id] = {
            "attempt": ctx.attempt,
            "max_attempts": ctx.max_attempts,
            "task_class": ctx.task_class,
            "task_name": ctx.task_name,
            "deadline": ctx.deadline,
            "traceparent": ctx.traceparent,
        }
        return {"payload": payload}

    @runner.task("steps")
    async def steps(payload: dict[str, str], ctx: TaskContext) -> str:
        for i in range(int(payload["n"])):
            await ctx.progress(i * 10)
            ctx.log("step", i)
            await asyncio.sleep(0)
        print("to stdout")
        print("to stderr", file=sys.stderr)
        await ctx.progress({"phase": "done"})
        return "finished"

    @runner.task("sync_steps")
    def sync_steps(payload: dict[str, str], ctx: TaskContext) -> list[int]:
        for i in range(int(payload["n"])):
            ctx.progress(i)
            ctx.stdout(f"line {i}")
        print("partial", end="")
        return list(range(int(payload["n"])))

    @runner.task("chatter")
    async def chatter(payload: dict[str, str], ctx: TaskContext) -> None:
        for i in range(20):
            print(ctx.task_id, i)
            await asyncio.sleep(0)

    @runner.task()
    def payload_only(payload: dict[str, str]) -> int:
        return len(payload)

    @runner.task("fail")
    def fail(payload: dict[str, str], ctx: TaskContext) -> None:
        raise ValueError(f"bad value {payload.get('v')}")

    @runner.task("refuse")
    async def refuse(payload: dict[str, str], ctx: TaskContext) -> None:
        raise TaskFailure("row 7 has no date", retryable=False, error_type="BadRow", detail={"row": 7})

    @runner.task("unserialisable")
    async def unserialisable(payload: dict[str, str], ctx: TaskContext) -> object:
        return object()

    @runner.task("wait_async")
    async def wait_async(payload: dict[str, str], ctx: TaskContext) -> str:
        seen.start(ctx)
        ctx.log("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.cancel(ctx)
            raise
        return "not reached"

    @runner.task("wait_sync")
    def wait_sync(payload: dict[str, str], ctx: TaskContext) -> str:
        seen.start(ctx)
        ctx.log("started")
        while True:
            try:
                ctx.check_cancelled()
            except TaskCancelled:
                seen.cancel(ctx)
                raise
            ctx.cancelled.wait(0.01)

    return runner


async def wait_until(cond: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Polls a condition with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.01)


def request(task_name: str, task_id: str, attempt: int = 1, **fields: Any) -> runner_pb2.ExecuteRequest:
    fields.setdefault("max_attempts", 3)
    fields.setdefault("task_class", "py")
    return runner_pb2.ExecuteRequest(task_name=task_name, task_id=task_id, attempt=attempt, **fields)


def kind(event: runner_pb2.ExecuteEvent) -> str:
    return event.WhichOneof("event") or ""


class RunnerCase(unittest.IsolatedAsyncioTestCase):
    """A runner and a client channel to it, per test."""

    runner_options: dict[str, Any] = {}

    async def asyncSetUp(self) -> None:
        self.seen = Seen()
        self.runner = make_runner(self.seen, **self.runner_options)
        port = await self.runner.start("127.0.0.1:0")
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = runner_pb2_grpc.TaskRunnerStub(self.channel)

    async def asyncTearDown(self) -> None:
        await self.channel.close()
        await self.runner.stop(grace_seconds=0, force_seconds=5)

    async def execute(self, req: runner_pb2.ExecuteRequest) -> list[runner_pb2.ExecuteEvent]:
        return [event async for event in self.stub.Execute(req, timeout=20)]

    async def started(self, call: Any) -> None:
        """Reads a waiting function's first event, its "started" line."""
        first = await asyncio.wait_for(call.read(), 10)
        self.assertEqual(first.log.text, "started")

    async def outcome(self, call: Any) -> runner_pb2.ExecuteEvent:
        """Reads the rest of a call; returns its outcome, checking it is the last event."""
        events = []
        while (event := await asyncio.wait_for(call.read(), 20)) is not grpc.aio.EOF:
            events.append(event)
        self.assertTrue(events, "the call ended without an outcome")
        self.assertIn(kind(events[-1]), ("result", "failure"))
        self.assertEqual(await call.code(), grpc.StatusCode.OK)
        return events[-1]


class ExecuteTest(RunnerCase):
    async def test_describe_names_the_tasks_and_the_concurrency(self) -> None:
        answer = await self.stub.Describe(runner_pb2.DescribeRequest(), timeout=10)
        self.assertEqual(
            list(answer.task_names),
            ["chatter", "echo", "fail", "payload_only", "refuse", "steps", "sync_steps", "unserialisable", "wait_async", "wait_sync"],
        )
        self.assertEqual(answer.max_concurrency, 4)
        self.assertIn("test-runner", answer.runner)

    async def test_a_result_and_the_attempt_the_function_sees(self) -> None:
        deadline_ms = int(time.time() * 1000) + 60_000
        events = await self.execute(
            request("echo", "t-echo", attempt=2, payload={"a": "1", "b": "two"}, deadline_unix_ms=deadline_ms, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
        )
        self.assertEqual([kind(e) for e in events], ["result"])
        self.assertEqual(json.loads(events[0].result.json), {"payload": {"a": "1", "b": "two"}})
        ctx = self.seen.contexts["t-echo"]
        self.assertEqual((ctx["attempt"], ctx["max_attempts"], ctx["task_class"], ctx["task_name"]), (2, 3, "py", "echo"))
        self.assertEqual(int(ctx["deadline"].timestamp() * 1000), deadline_ms)
        self.assertTrue(ctx["traceparent"].startswith("00-aaaa"))

    async def test_progress_and_log_lines_in_order_then_the_result(self) -> None:
        events = await self.execute(request("steps", "t-steps", payload={"n": "3"}))
        seen = [(kind(e), e.progress.json if kind(e) == "progress" else e.log.text if kind(e) == "log" else e.result.json) for e in events]
        self.assertEqual(
            seen,
            [
                ("progress", "0"),
                ("log", "step 0"),
                ("progress", "10"),
                ("log", "step 1"),
                ("progress", "20"),
                ("log", "step 2"),
                ("log", "to stdout"),
                ("log", "to stderr"),
                ("progress", '{"phase":"done"}'),
                ("result", '"finished"'),
            ],
        )
        streams = [e.log.stream for e in events if kind(e) == "log"]
        self.assertEqual(streams, [runner_pb2.LOG_STREAM_LOG] * 3 + [runner_pb2.LOG_STREAM_STDOUT, runner_pb2.LOG_STREAM_STDERR])

    async def test_a_sync_function_reports_from_its_thread_in_order(self) -> None:
        events = await self.execute(request("sync_steps", "t-sync", payload={"n": "3"}))
        texts = [e.progress.json if kind(e) == "progress" else e.log.text if kind(e) == "log" else e.result.json for e in events]
        self.assertEqual(texts, ["0", "line 0", "1", "line 1", "2", "line 2", "partial", "[0,1,2]"])
        self.assertEqual(kind(events[-1]), "result")

    async def test_print_in_concurrent_tasks_reaches_each_attempts_own_log(self) -> None:
        first, second = await asyncio.gather(self.execute(request("chatter", "t-one")), self.execute(request("chatter", "t-two")))
        for task_id, events in (("t-one", first), ("t-two", second)):
            lines = [e.log.text for e in events if kind(e) == "log"]
            self.assertEqual(lines, [f"{task_id} {i}" for i in range(20)])

    async def test_a_function_of_the_payload_alone(self) -> None:
        events = await self.execute(request("payload_only", "t-one", payload={"x": "1", "y": "2"}))
        self.assertEqual(events[-1].result.json, "2")

    async def test_an_exception_is_a_retryable_failure_with_its_type_and_traceback(self) -> None:
        events = await self.execute(request("fail", "t-fail", payload={"v": "42"}))
        self.assertEqual([kind(e) for e in events], ["failure"])
        failure = events[0].failure
        self.assertEqual((failure.message, failure.retryable, failure.error_type), ("bad value 42", True, "ValueError"))
        traceback_text = json.loads(failure.detail_json)["traceback"]
        self.assertIn("ValueError: bad value 42", traceback_text)
        self.assertIn("in fail", traceback_text)

    async def test_task_failure_chooses_retryable_type_and_detail(self) -> None:
        events = await self.execute(request("refuse", "t-refuse"))
        failure = events[-1].failure
        self.assertEqual((failure.message, failure.retryable, failure.error_type), ("row 7 has no date", False, "BadRow"))
        self.assertEqual(json.loads(failure.detail_json), {"row": 7})

    async def test_a_result_that_is_not_json_fails_for_good(self) -> None:
        failure = (await self.execute(request("unserialisable", "t-obj")))[-1].failure
        self.assertFalse(failure.retryable)
        self.assertIn("result: not JSON-serialisable", failure.message)

    async def test_an_unknown_task_is_a_failure_not_retryable(self) -> None:
        events = await self.execute(request("no_such_task", "t-unknown"))
        self.assertEqual([kind(e) for e in events], ["failure"])
        failure = events[0].failure
        self.assertFalse(failure.retryable)
        self.assertEqual(failure.error_type, "UnknownTask")
        self.assertIn('unknown task "no_such_task"', failure.message)
        self.assertIn("echo", failure.message)

    async def test_a_request_without_task_id_or_attempt_is_refused_naming_the_field(self) -> None:
        for req, field in ((request("echo", ""), "task_id"), (request("echo", "t-zero", attempt=0), "attempt")):
            with self.assertRaises(grpc.aio.AioRpcError) as caught:
                await self.execute(req)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(field, caught.exception.details() or "")
        self.assertEqual(self.runner.running, 0)


class CancelTest(RunnerCase):
    async def check_call_cancel(self, task: str) -> None:
        call = self.stub.Execute(request(task, f"t-{task}-call"), timeout=20)
        await self.started(call)
        call.cancel()
        await wait_until(lambda: f"t-{task}-call" in self.seen.cancelled, what="the function saw its cancel")
        self.assertEqual(self.seen.cancelled[f"t-{task}-call"], "caller_gone")
        await wait_until(lambda: self.runner.running == 0, what="the slot is free")

    async def test_cancelling_the_call_cancels_an_async_function(self) -> None:
        await self.check_call_cancel("wait_async")

    async def test_cancelling_the_call_cancels_a_sync_function(self) -> None:
        await self.check_call_cancel("wait_sync")

    async def check_cancel_rpc(self, task: str) -> None:
        task_id = f"t-{task}-rpc"
        call = self.stub.Execute(request(task, task_id, attempt=2), timeout=20)
        await self.started(call)
        answer = await self.stub.Cancel(runner_pb2.CancelRequest(task_id=task_id, attempt=2, reason="cancelled"), timeout=10)
        self.assertTrue(answer.found)
        failure = (await self.outcome(call)).failure
        self.assertEqual((failure.message, failure.retryable, failure.error_type), ("cancelled", False, "Cancelled"))
        self.assertEqual(self.seen.cancelled[task_id], "cancelled")
        self.assertEqual(self.runner.running, 0)
        again = await self.stub.Cancel(runner_pb2.CancelRequest(task_id=task_id, attempt=2, reason="cancelled"), timeout=10)
        self.assertFalse(again.found)

    async def test_cancel_rpc_stops_an_async_function_and_ends_its_call_with_a_failure(self) -> None:
        await self.check_cancel_rpc("wait_async")

    async def test_cancel_rpc_stops_a_sync_function_and_ends_its_call_with_a_failure(self) -> None:
        await self.check_cancel_rpc("wait_sync")

    async def test_cancel_of_an_attempt_not_running_here(self) -> None:
        answer = await self.stub.Cancel(runner_pb2.CancelRequest(task_id="nobody", attempt=1, reason="cancelled"), timeout=10)
        self.assertFalse(answer.found)

    async def check_deadline(self, task: str) -> None:
        task_id = f"t-{task}-deadline"
        # Long enough for the function to start on a loaded machine: the test reads its first line.
        deadline_ms = int(time.time() * 1000) + 2000
        call = self.stub.Execute(request(task, task_id, deadline_unix_ms=deadline_ms), timeout=20)
        await self.started(call)
        failure = (await self.outcome(call)).failure
        self.assertEqual((failure.retryable, failure.error_type), (True, "TimedOut"))
        self.assertIn("timed out", failure.message)
        self.assertEqual(self.seen.cancelled[task_id], "timed_out")

    async def test_the_deadline_cancels_an_async_function_with_a_timed_out_failure(self) -> None:
        await self.check_deadline("wait_async")

    async def test_the_deadline_cancels_a_sync_function_with_a_timed_out_failure(self) -> None:
        await self.check_deadline("wait_sync")

    async def test_a_deadline_already_past_fails_without_running_the_function(self) -> None:
        events = await self.execute(request("wait_async", "t-late", deadline_unix_ms=int(time.time() * 1000) - 1000))
        self.assertEqual([kind(e) for e in events], ["failure"])
        self.assertEqual(events[0].failure.error_type, "TimedOut")
        self.assertNotIn("t-late", self.seen.started)


class ConcurrencyTest(RunnerCase):
    runner_options = {"max_concurrency": 2}

    async def test_one_call_beyond_max_concurrency_is_resource_exhausted(self) -> None:
        first = self.stub.Execute(request("wait_async", "t-c1"), timeout=20)
        second = self.stub.Execute(request("wait_sync", "t-c2"), timeout=20)
        await self.started(first)
        await self.started(second)
        with self.assertRaises(grpc.aio.AioRpcError) as caught:
            await self.execute(request("echo", "t-c3"))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("max_concurrency", caught.exception.details() or "")
        self.assertNotIn("t-c3", self.seen.contexts)
        await self.stub.Cancel(runner_pb2.CancelRequest(task_id="t-c2", attempt=1, reason="cancelled"), timeout=10)
        await self.outcome(second)
        events = await self.execute(request("echo", "t-c4"))
        self.assertEqual(kind(events[-1]), "result")
        first.cancel()

    async def test_a_second_delivery_replaces_the_running_attempt_even_when_full(self) -> None:
        for task in ("wait_async", "wait_sync"):
            with self.subTest(task=task):
                task_id = f"t-{task}-again"
                other = self.stub.Execute(request("wait_async", f"t-{task}-other"), timeout=20)
                first = self.stub.Execute(request(task, task_id, attempt=1), timeout=20)
                await self.started(other)
                await self.started(first)
                second = self.stub.Execute(request(task, task_id, attempt=1), timeout=20)
                await self.started(second)
                self.assertEqual(self.seen.cancelled[task_id], "replaced")
                failure = (await self.outcome(first)).failure
                self.assertEqual((failure.retryable, failure.message), (True, "replaced by a second delivery of the same attempt"))
                self.assertEqual(self.seen.started.count(task_id), 2)
                # The same task with a higher attempt is a retry: a call like any other, refused when full.
                with self.assertRaises(grpc.aio.AioRpcError) as caught:
                    await self.execute(request(task, task_id, attempt=2))
                self.assertEqual(caught.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                await self.stub.Cancel(runner_pb2.CancelRequest(task_id=task_id, attempt=1, reason="cancelled"), timeout=10)
                self.assertEqual((await self.outcome(second)).failure.message, "cancelled")
                other.cancel()
                await wait_until(lambda: self.runner.running == 0, what="both slots free")


class TokenTest(RunnerCase):
    runner_options = {"token": "s3cret-token"}

    async def test_calls_without_the_token_are_unauthenticated(self) -> None:
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "s3cret-token"),)):
            with self.subTest(metadata=metadata):
                with self.assertRaises(grpc.aio.AioRpcError) as caught:
                    await self.stub.Describe(runner_pb2.DescribeRequest(), metadata=metadata, timeout=10)
                self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                with self.assertRaises(grpc.aio.AioRpcError) as caught:
                    [e async for e in self.stub.Execute(request("echo", "t-tok"), metadata=metadata, timeout=10)]
                self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                with self.assertRaises(grpc.aio.AioRpcError) as caught:
                    await self.stub.Cancel(runner_pb2.CancelRequest(task_id="t-tok", attempt=1), metadata=metadata, timeout=10)
                self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertNotIn("t-tok", self.seen.contexts)

    async def test_calls_with_the_token_are_served(self) -> None:
        metadata = (("authorization", "Bearer s3cret-token"),)
        answer = await self.stub.Describe(runner_pb2.DescribeRequest(), metadata=metadata, timeout=10)
        self.assertEqual(answer.max_concurrency, 4)
        events = [e async for e in self.stub.Execute(request("echo", "t-tok-ok"), metadata=metadata, timeout=10)]
        self.assertEqual(kind(events[-1]), "result")


class TlsTest(unittest.IsolatedAsyncioTestCase):
    """TLS with client certificates: a pool's certificate signed by the configured CA is served,
    a plaintext or certificate-less client is not."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.TemporaryDirectory()
        d = Path(cls.dir.name)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca")
        for name in ("server", "client"):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
            (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
        cls.files = d

    @classmethod
    def tearDownClass(cls) -> None:
        cls.dir.cleanup()

    async def asyncSetUp(self) -> None:
        d = self.files
        self.runner = make_runner(Seen(), tls=RunnerTls(str(d / "server.pem"), str(d / "server.key"), str(d / "ca.pem")))
        self.port = await self.runner.start("127.0.0.1:0")

    async def asyncTearDown(self) -> None:
        await self.runner.stop(grace_seconds=0)

    async def test_a_client_with_a_certificate_of_the_ca_is_served_others_are_not(self) -> None:
        d = self.files
        ca = (d / "ca.pem").read_bytes()
        good = grpc.ssl_channel_credentials(ca, (d / "client.key").read_bytes(), (d / "client.pem").read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{self.port}", good) as channel:
            answer = await runner_pb2_grpc.TaskRunnerStub(channel).Describe(runner_pb2.DescribeRequest(), timeout=10)
            self.assertIn("echo", answer.task_names)
        for channel in (
            grpc.aio.secure_channel(f"127.0.0.1:{self.port}", grpc.ssl_channel_credentials(ca)),
            grpc.aio.insecure_channel(f"127.0.0.1:{self.port}"),
        ):
            async with channel:
                with self.assertRaises(grpc.aio.AioRpcError) as caught:
                    await runner_pb2_grpc.TaskRunnerStub(channel).Describe(runner_pb2.DescribeRequest(), timeout=5)
                self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_a_missing_key_file_is_named(self) -> None:
        with self.assertRaises(OSError) as caught:
            RunnerTls("/nonexistent/cert.pem", "/nonexistent/key.pem").credentials()
        self.assertIn("tls.key_file: cannot read /nonexistent/key.pem", str(caught.exception))


class RegistrationTest(unittest.TestCase):
    def test_bad_options_and_registrations_are_refused_naming_the_field(self) -> None:
        cases: list[tuple[Callable[[], object], str]] = [
            (lambda: Runner(max_concurrency=0), "max_concurrency"),
            (lambda: Runner(name=""), "name"),
            (lambda: Runner(token=""), "token"),
        ]
        runner = Runner()
        runner.register("a", lambda payload: None)
        cases += [
            (lambda: runner.register("a", lambda payload: None), 'task "a" is already registered'),
            (lambda: runner.register("", lambda payload: None), "name"),
            (lambda: runner.register("../etc", lambda payload: None), "is not a task name"),
            (lambda: runner.register("a b", lambda payload: None), "is not a task name"),
            (lambda: runner.register("b", 42), "fn"),  # type: ignore[arg-type]
            (lambda: runner.register("c", lambda: None), "fn"),
        ]
        for make, text in cases:
            with self.subTest(text=text):
                with self.assertRaises((ValueError, TypeError)) as caught:
                    make()
                self.assertIn(text, str(caught.exception))
        self.assertEqual(runner.task_names, ["a"])

    def test_a_bare_decorator_names_the_task_after_the_function(self) -> None:
        runner = Runner()

        @runner.task
        def resize(payload: dict[str, str]) -> None:
            return None

        self.assertEqual(runner.task_names, ["resize"])
        self.assertTrue(callable(resize))

    def test_progress_must_be_json_of_at_most_64_kib(self) -> None:
        from orchestrator.runner.context import AttemptInfo

        sent: list[runner_pb2.ExecuteEvent] = []
        ctx = TaskContext(AttemptInfo("t", 1, 1, "c", "n", None, "", ""), sent.append)
        with self.assertRaises(TypeError):
            ctx.progress(object())
        with self.assertRaises(ValueError) as caught:
            ctx.progress("x" * 70_000)
        self.assertIn("progress", str(caught.exception))
        ctx.progress(5)
        self.assertEqual([e.progress.json for e in sent], ["5"])


if __name__ == "__main__":
    unittest.main()
