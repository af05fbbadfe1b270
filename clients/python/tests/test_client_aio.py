"""orchestrator.AsyncClient against a live orchestrator and pool (test_client_support)."""

from __future__ import annotations

import asyncio
import time
import unittest
from typing import Awaitable, Callable, TypeVar

from orchestrator import (
    AlreadyExistsError,
    AsyncClient,
    DeadlineExceededError,
    HandlerExecutor,
    InvalidArgumentError,
    LogStream,
    NotFoundError,
    PermissionDeniedError,
    PoolState,
    ResourceExhaustedError,
    ServingStatus,
    Step,
    StepState,
    Task,
    TaskFailedError,
    TaskFilter,
    TaskState,
    TlsConfig,
    UnauthenticatedError,
    UnavailableError,
    WorkflowRunState,
)

from orchestrator.client._sync import _ignore_poller_wakeups
from test_client_support import (
    ADDR,
    CLASS,
    READ_TOKEN,
    SLOW_TOKEN,
    TLS_ADDR,
    TLS_CA,
    TLS_CERT,
    TLS_KEY,
    TOKEN,
    CuttingProxy,
    require_system,
    unique,
)

require_system()

T = TypeVar("T")


async def eventually(fn: Callable[[], Awaitable[T]], timeout: float = 20.0, message: str = "condition") -> T:
    """Awaits `fn` until it returns something truthy, or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        await asyncio.sleep(0.05)


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    """Each test gets a client of its own (grpc.aio channels belong to one event loop)."""

    async def asyncSetUp(self) -> None:
        # Each test's loop binds to grpc.aio's one completion queue as the ones before did, and
        # a lost wake-up race prints a harmless BlockingIOError (grpc/grpc#25364): dropped, as
        # the blocking client's loop drops it.
        asyncio.get_running_loop().set_exception_handler(_ignore_poller_wakeups)
        self.client = AsyncClient(ADDR, token=TOKEN, timeout=20)

    async def asyncTearDown(self) -> None:
        await self.client.close()

    async def test_health_and_metrics(self) -> None:
        health = await self.client.health()
        self.assertIn(health.status, (ServingStatus.SERVING, ServingStatus.DEGRADED))
        self.assertNotEqual(health.version, "")
        self.assertEqual({c.name: c.status for c in health.components}["redis"], ServingStatus.SERVING)
        await self.client.submit(CLASS, {"for": "metrics"})
        metrics = await self.client.metrics()
        self.assertGreater(metrics.collected_at_ms, 0)
        self.assertTrue(any(name.startswith(CLASS) or CLASS in name for name in metrics.metrics), metrics.metrics)

    async def test_submit_and_wait_for_result(self) -> None:
        submitted = await self.client.submit(CLASS, {"text": "from python"}, priority=5, attempts=2, timeout=30)
        self.assertTrue(submitted.created)
        self.assertIn(submitted.state, (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED))
        result = await self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual(result.state, TaskState.SUCCEEDED)
        self.assertTrue(result.ok)
        self.assertEqual(result.state, "succeeded")  # the enums are strings too
        self.assertEqual(result.result, {"text": "from python"})
        self.assertEqual(result.attempt, 1)
        self.assertIsNone(result.failure)
        self.assertNotEqual(result.cursor, "")
        status = await self.client.get_status(submitted.task_id)
        self.assertEqual(status.state, TaskState.SUCCEEDED)
        self.assertTrue(status.state.is_final)
        self.assertEqual(status.result, {"text": "from python"})
        self.assertEqual((status.priority, status.max_attempts), (5, 2))
        self.assertGreaterEqual(status.finished_at_ms, status.started_at_ms)
        # A finished task's wait answers at once, from its record.
        again = await self.client.wait_for_result(submitted.task_id, timeout=10)
        self.assertEqual(again.result, {"text": "from python"})

    async def test_submit_is_idempotent_on_task_id(self) -> None:
        task_id = unique("py-idem")
        first = await self.client.submit(CLASS, {"a": "1"}, task_id=task_id)
        second = await self.client.submit(CLASS, {"a": "1"}, task_id=task_id)
        self.assertEqual((first.task_id, first.created), (task_id, True))
        self.assertEqual((second.task_id, second.created), (task_id, False))

    async def test_submit_many(self) -> None:
        ids = [unique("py-many") for _ in range(3)]
        submitted = await self.client.submit_many(
            [Task(CLASS, {"i": str(i)}, task_id=task_id, executor=HandlerExecutor("echo")) for i, task_id in enumerate(ids)]
        )
        self.assertEqual([s.task_id for s in submitted], ids)
        self.assertTrue(all(s.created for s in submitted))
        results = await asyncio.gather(*(self.client.wait_for_result(t, timeout=30) for t in ids))
        self.assertEqual([r.result for r in results], [{"i": "0"}, {"i": "1"}, {"i": "2"}])

    async def test_submit_stream(self) -> None:
        ids = [unique("py-stream") for _ in range(20)]
        async with self.client.submit_stream() as stream:
            submitted = await asyncio.gather(*(stream.submit(Task(CLASS, {"i": str(i)}, task_id=t)) for i, t in enumerate(ids)))
            self.assertEqual([s.task_id for s in submitted], ids)
            self.assertTrue(all(s.created for s in submitted))
            # A refused task raises its own error, naming the field; the stream goes on.
            with self.assertRaises(InvalidArgumentError) as raised:
                await stream.submit(Task("no_such_class", {"a": "1"}))
            self.assertEqual(raised.exception.field, "task.task_class")
            with self.assertRaises(AlreadyExistsError):
                await stream.submit(Task(CLASS, {"i": "other"}, task_id=ids[0]))
            again = await stream.submit(Task(CLASS, {"i": "0"}, task_id=ids[0]))
            self.assertEqual((again.task_id, again.created), (ids[0], False))
            self.assertEqual(stream.unanswered, 0)
        results = await asyncio.gather(*(self.client.wait_for_result(t, timeout=30) for t in ids))
        self.assertEqual([r.result for r in results], [{"i": str(i)} for i in range(20)])

    async def test_submit_stream_gives_up_past_the_deadline(self) -> None:
        task_id = unique("py-stream-late")
        async with self.client.submit_stream() as stream:
            # No answer can come within a microsecond: the task's outcome is unknown.
            with self.assertRaises(DeadlineExceededError) as raised:
                await stream.submit(Task(CLASS, {"a": "1"}, task_id=task_id), rpc_timeout=1e-6)
            self.assertIn("outcome is unknown", str(raised.exception))
            self.assertEqual(stream.unanswered, 0)
            # Sent again with its id, it is answered: created, or existing if the first was accepted.
            again = await stream.submit(Task(CLASS, {"a": "1"}, task_id=task_id))
            self.assertEqual(again.task_id, task_id)

    async def test_submit_stream_needs_the_submit_role(self) -> None:
        if not READ_TOKEN:
            self.skipTest("no read-only token given")
        async with AsyncClient(ADDR, token=READ_TOKEN) as reader:
            with self.assertRaises(PermissionDeniedError):
                await reader.submit_stream().submit(Task(CLASS, {"a": "1"}))

    async def test_failed_task_gives_its_failure_or_raises(self) -> None:
        submitted = await self.client.submit(CLASS, {"message": "bad row 7", "retryable": "false"}, handler="fail")
        result = await self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual(result.state, TaskState.FAILED)
        self.assertFalse(result.ok)
        self.assertIsNone(result.result)
        assert result.failure is not None
        self.assertEqual(result.failure.kind, "task_failed")
        self.assertIn("bad row 7", result.failure.message)
        self.assertFalse(result.failure.retryable)
        self.assertIsNone(result.failure.exit_code)
        self.assertIn("bad row 7", result.error)
        with self.assertRaises(TaskFailedError) as raised:
            await self.client.wait_for_result(submitted.task_id, timeout=30, raise_on_failure=True)
        self.assertEqual(raised.exception.result.task_id, submitted.task_id)
        self.assertIn("bad row 7", str(raised.exception))
        status = await self.client.get_status(submitted.task_id)
        assert status.failure is not None
        self.assertEqual(status.failure.kind, "task_failed")

    async def test_logs_of_a_failed_task(self) -> None:
        submitted = await self.client.submit(CLASS, {"log": "hello from python"}, handler="fail", attempts=1)
        await self.client.wait_for_result(submitted.task_id, timeout=30)
        logs = await self.client.get_logs(submitted.task_id, all_attempts=True)
        self.assertEqual(logs.state, TaskState.FAILED)
        self.assertEqual(logs.attempts, [1])
        lines = [(line.attempt, line.stream, line.text) for line in logs.lines]
        self.assertIn((1, LogStream.LOG, "hello from python"), lines)
        self.assertIn((1, LogStream.STDOUT, "console: hello from python"), lines)
        # Following a finished task's log gives its lines, then ends.
        async with self.client.follow_logs(submitted.task_id) as followed:
            texts = [line.text async for line in followed]
        self.assertIn("hello from python", texts)

    async def test_bad_input_raises_invalid_argument_naming_the_field(self) -> None:
        task_id = unique("py-bad")
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.submit("no_such_class", {"a": "1"}, task_id=task_id)
        self.assertEqual(raised.exception.field, "task.task_class")
        self.assertIn("no_such_class", raised.exception.message)
        self.assertIsInstance(raised.exception, ValueError)
        self.assertTrue(str(raised.exception).startswith("INVALID_ARGUMENT: "))
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.submit(CLASS, {"a": "1"}, task_id=task_id, priority=5000)
        self.assertEqual(raised.exception.field, "task.priority")
        # All or nothing: the batch's good first task was not stored either.
        good = unique("py-bad-batch")
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.submit_many([Task(CLASS, {"a": "1"}, task_id=good), Task(CLASS, {"a": "1"}, priority=-1)])
        self.assertEqual(raised.exception.field, "tasks[1].priority")
        for unknown in (task_id, good):
            with self.assertRaises(NotFoundError):
                await self.client.get_status(unknown)

    async def test_bad_input_refused_by_the_client_names_the_field(self) -> None:
        task_id = unique("py-local")
        cases = [
            ({"payload": {"n": 1}}, "task.payload.n"),
            ({"timeout": -1}, "task.timeout"),
            ({"priority": "high"}, "task.priority"),
            ({"handler": "echo", "executor": HandlerExecutor("echo")}, "task.executor"),
        ]
        for change, where in cases:
            args = {"payload": {"a": "1"}, **change}
            with self.subTest(where=where), self.assertRaises(InvalidArgumentError) as raised:
                await self.client.submit(CLASS, task_id=task_id, **args)  # type: ignore[arg-type]
            self.assertEqual(raised.exception.field, where)
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.list_tasks(TaskFilter(states=["finished"]))
        self.assertEqual(raised.exception.field, "matching.states")
        with self.assertRaises(NotFoundError):
            await self.client.get_status(task_id)

    async def test_unknown_ids_raise_not_found(self) -> None:
        for call in (
            lambda: self.client.get_status("py-no-such-task"),
            lambda: self.client.get_logs("py-no-such-task"),
            lambda: self.client.wait_for_result("py-no-such-task", timeout=10),
            lambda: self.client.get_workflow_run("py-no-such-run"),
        ):
            with self.assertRaises(NotFoundError) as raised:
                await call()
            self.assertIsInstance(raised.exception, LookupError)
            self.assertEqual(raised.exception.code.name, "NOT_FOUND")  # type: ignore[union-attr]

    async def test_cancel_a_running_task(self) -> None:
        submitted = await self.client.submit(CLASS, {"ms": "60000"}, handler="sleep")

        async def running() -> bool:
            return (await self.client.get_status(submitted.task_id)).state is TaskState.RUNNING

        await eventually(running, message="the task running")
        cancelled = await self.client.cancel(submitted.task_id, "enough")
        self.assertIn(cancelled.state, (TaskState.RUNNING, TaskState.CANCELLED))
        result = await self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual(result.state, TaskState.CANCELLED)
        assert result.failure is not None
        self.assertEqual(result.failure.kind, "cancelled")
        with self.assertRaises(TaskFailedError):
            await self.client.wait_for_result(submitted.task_id, timeout=30, raise_on_failure=True)

    async def test_retry_a_failed_task(self) -> None:
        submitted = await self.client.submit(CLASS, {"succeed_on_attempt": "2"}, handler="fail", attempts=1)
        first = await self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual(first.state, TaskState.FAILED)
        retried = await self.client.retry([submitted.task_id, "py-no-such-task"])
        self.assertEqual(retried.retried, [submitted.task_id])
        self.assertEqual([(e.task_id, e.code) for e in retried.errors], [("py-no-such-task", "NOT_FOUND")])

        async def succeeded() -> bool:
            return (await self.client.get_status(submitted.task_id)).state is TaskState.SUCCEEDED

        await eventually(succeeded, timeout=30, message="the retried task succeeding")
        result = await self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual((result.state, result.attempt, result.result), (TaskState.SUCCEEDED, 2, {"attempt": 2}))
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.retry([submitted.task_id], attempts=0)
        self.assertEqual(raised.exception.field, "attempts")

    async def test_list_tasks_by_filter(self) -> None:
        failed = [await self.client.submit(CLASS, {"retryable": "false"}, handler="fail") for _ in range(3)]
        for f in failed:
            await self.client.wait_for_result(f.task_id, timeout=30)
        since = (await self.client.get_status(failed[0].task_id)).submitted_at_ms
        matching = TaskFilter(task_classes=[CLASS], states=[TaskState.FAILED], submitted_since_ms=since)
        page = await self.client.list_tasks(matching, page_size=1000)
        self.assertTrue(all(t.state is TaskState.FAILED for t in page.tasks))
        # A page may be short while more follow (each looks at a bounded number of tasks): read
        # them all, in big pages and in small ones, newest first.
        every = [t async for t in self.client.iter_tasks(matching, page_size=1000)]
        in_twos = [t.task_id async for t in self.client.iter_tasks(matching, page_size=2)]
        self.assertEqual(in_twos, [t.task_id for t in every])
        ids = [f.task_id for f in failed]
        self.assertEqual([t.task_id for t in every if t.task_id in ids], ids[::-1])
        self.assertTrue(all(t.state is TaskState.FAILED and t.task_class == CLASS for t in every))

    async def test_events_resume_from_a_cursor(self) -> None:
        submitted = await self.client.submit(CLASS, {"a": "1"})
        await self.client.wait_for_result(submitted.task_id, timeout=30)
        # From the start of the retained events ("0"), this task's only.
        async with self.client.events(task_ids=[submitted.task_id], cursor="0") as stream:
            first = await anext(stream)
            self.assertEqual((first.type, first.task_id, first.task_class), ("submitted", submitted.task_id, CLASS))
            self.assertEqual(stream.cursor, first.cursor)
            rest = []
            async for ev in stream:
                rest.append(ev)
                if ev.type == "succeeded":
                    break
        self.assertEqual([e.type for e in rest], ["started", "succeeded"])
        # Another subscription from the first event's cursor goes on after it.
        async with self.client.events(task_ids=[submitted.task_id], cursor=first.cursor) as resumed:
            self.assertEqual((await anext(resumed)).cursor, rest[0].cursor)

    async def test_events_stream_resumes_after_the_connection_breaks(self) -> None:
        proxy = CuttingProxy(ADDR)
        self.addCleanup(proxy.close)
        through = AsyncClient(proxy.address, token=TOKEN, timeout=20)
        self.addAsyncCleanup(through.close)
        ids = [unique("py-break"), unique("py-break")]
        async with through.events(task_ids=ids, types=["succeeded"], cursor="0") as stream:
            await self.client.submit(CLASS, {"n": "0"}, task_id=ids[0])
            before = await asyncio.wait_for(anext(stream), 30)
            self.assertEqual(before.task_id, ids[0])
            proxy.cut()
            await self.client.submit(CLASS, {"n": "1"}, task_id=ids[1])
            await self.client.wait_for_result(ids[1], timeout=30)
            after = await asyncio.wait_for(anext(stream), 30)
            # The next event is the second task's: the first one is not delivered again.
            self.assertEqual(after.task_id, ids[1])
            self.assertGreaterEqual(stream.reconnects, 1)
        self.assertGreaterEqual(proxy.connections, 2)

    async def test_workflow_run_watched_to_its_end(self) -> None:
        name = unique("py-wf")
        created = await self.client.create_workflow(
            name,
            [
                Step("fetch", Task(CLASS, {"x": "${inputs.x}"})),
                Step("report", Task(CLASS, {"y": "${steps.fetch.result.x}"}), depends_on=["fetch"]),
            ],
            description="two echo steps",
        )
        self.assertEqual((created.name, created.version), (name, 1))
        started = await self.client.start_workflow_run(name, {"x": "42"})
        self.assertTrue(started.created)
        updates = [u async for u in self.client.watch_workflow_run(started.run_id)]
        self.assertEqual(updates[-1].run_state, WorkflowRunState.SUCCEEDED)
        done = {u.step_id for u in updates if u.step_state is StepState.SUCCEEDED}
        self.assertEqual(done, {"fetch", "report"})
        run = await self.client.get_workflow_run(started.run_id)
        self.assertEqual((run.state, run.workflow_name, run.inputs), (WorkflowRunState.SUCCEEDED, name, {"x": "42"}))
        self.assertEqual(run.steps_by_id["report"].result, {"y": "42"})
        self.assertEqual(run.steps_by_id["report"].task_id, f"{started.run_id}.report")
        waited = await self.client.wait_for_workflow_run(started.run_id, timeout=10)
        self.assertEqual(waited.state, WorkflowRunState.SUCCEEDED)
        listed = await self.client.list_workflow_runs(workflow_name=name)
        self.assertEqual([r.run_id for r in listed.runs], [started.run_id])
        self.assertEqual((listed.runs[0].steps, listed.runs[0].open_steps), (2, 0))

    async def test_invalid_workflow_names_the_field(self) -> None:
        name = unique("py-wf-bad")
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.create_workflow(name, [Step("a", Task(CLASS, {"a": "1"}), depends_on=["nowhere"])])
        self.assertEqual(raised.exception.field, "steps[0].depends_on")
        with self.assertRaises(NotFoundError):
            await self.client.start_workflow_run(name)

    async def test_schedules(self) -> None:
        schedule_id = unique("py-every")
        task = Task(CLASS, {"from": "schedule"})
        created = await self.client.create_schedule(schedule_id, task, every=3600)
        self.assertEqual((created.schedule_id, created.every_ms, created.task_class), (schedule_id, 3_600_000, CLASS))
        self.assertEqual(created.payload, {"from": "schedule"})
        # The first tick comes at once.

        async def fired() -> str:
            return (await self.client.get_schedule(schedule_id)).last_task_id

        task_id = await eventually(fired, message="the first tick")
        self.assertTrue(task_id.startswith(f"{schedule_id}."))
        self.assertEqual((await self.client.wait_for_result(task_id, timeout=30)).result, {"from": "schedule"})
        self.assertEqual((await self.client.create_schedule(schedule_id, task, every=3600)).schedule_id, schedule_id)
        with self.assertRaises(AlreadyExistsError):
            await self.client.create_schedule(schedule_id, task, every=60)
        paused = await self.client.update_schedule(schedule_id, task, every=3600, paused=True)
        self.assertEqual((paused.paused, paused.next_run_at_ms), (True, 0))
        self.assertIn(schedule_id, [s.schedule_id for s in await self.client.list_schedules()])
        with self.assertRaises(InvalidArgumentError) as raised:
            await self.client.create_schedule(unique("py-cron"), task, cron="not a cron")
        self.assertIn("cron", raised.exception.field or "")
        await self.client.delete_schedule(schedule_id)
        with self.assertRaises(NotFoundError):
            await self.client.get_schedule(schedule_id)

    async def test_deadlines(self) -> None:
        with self.assertRaises(DeadlineExceededError) as raised:
            await self.client.health(rpc_timeout=0.000001)
        self.assertIsInstance(raised.exception, TimeoutError)
        submitted = await self.client.submit(CLASS, {"ms": "60000"}, handler="sleep")
        with self.assertRaises(DeadlineExceededError):
            await self.client.wait_for_result(submitted.task_id, timeout=0.5)
        await self.client.cancel(submitted.task_id)

    async def test_tokens(self) -> None:
        async with AsyncClient(ADDR) as anonymous:
            with self.assertRaises(UnauthenticatedError):
                await anonymous.health()
        async with AsyncClient(ADDR, token="py-wrong-token-0123456789abcdef") as wrong:
            with self.assertRaises(UnauthenticatedError):
                await wrong.health()
        async with AsyncClient(ADDR, token=READ_TOKEN) as reader:
            self.assertNotEqual((await reader.health()).version, "")
            with self.assertRaises(PermissionDeniedError) as raised:
                await reader.submit(CLASS, {"a": "1"})
            self.assertIn("submit", raised.exception.message)

    async def test_call_metadata_is_asked_for_each_call(self) -> None:
        asked: list[str] = []

        def traceparent() -> dict[str, str]:
            asked.append("traceparent")
            return {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

        async with AsyncClient(ADDR, token=TOKEN, call_metadata=traceparent) as traced:
            await traced.health()
            submitted = await traced.submit(CLASS, {"traced": "yes"})
            self.assertEqual((await traced.wait_for_result(submitted.task_id, timeout=30)).result, {"traced": "yes"})
        # health, submit, and the wait's status call and result stream.
        self.assertEqual(len(asked), 4)

    async def test_resource_exhausted_carries_retry_after(self) -> None:
        if not SLOW_TOKEN:
            self.skipTest("no rate-limited token given")
        async with AsyncClient(ADDR, token=SLOW_TOKEN) as slow:
            # The token's bucket holds one task; the next is refused until it refills.
            with self.assertRaises(ResourceExhaustedError) as raised:
                for i in range(2):
                    await slow.submit(CLASS, {"i": str(i)})
        self.assertIsNotNone(raised.exception.retry_after_ms)
        assert raised.exception.retry_after_ms is not None and raised.exception.retry_after is not None
        self.assertGreater(raised.exception.retry_after_ms, 0)
        self.assertAlmostEqual(raised.exception.retry_after, raised.exception.retry_after_ms / 1000)

    async def test_mutual_tls(self) -> None:
        if not TLS_ADDR:
            self.skipTest("no TLS front end given")
        tls = TlsConfig(ca=TLS_CA, cert_chain=TLS_CERT, private_key=TLS_KEY)
        async with AsyncClient(TLS_ADDR, token=TOKEN, tls=tls) as client:
            submitted = await client.submit(CLASS, {"over": "tls"})
            self.assertEqual((await client.wait_for_result(submitted.task_id, timeout=30)).result, {"over": "tls"})
        # The certificate names 127.0.0.1 and localhost: checked against "localhost" by override.
        with open(TLS_CA, "rb") as f:
            ca = f.read()
        named = TlsConfig(ca=ca, cert_chain=TLS_CERT, private_key=TLS_KEY, server_name="localhost")
        async with AsyncClient(TLS_ADDR, token=TOKEN, tls=named) as client:
            self.assertNotEqual((await client.health()).version, "")
        # Without a client certificate the server refuses the handshake.
        async with AsyncClient(TLS_ADDR, token=TOKEN, tls=TlsConfig(ca=ca), timeout=3) as client:
            with self.assertRaises(UnavailableError):
                await client.health()

    async def test_class_limits_and_pools(self) -> None:
        limits = await self.client.get_class_limits(CLASS)
        self.assertEqual(limits.task_class, CLASS)
        self.assertFalse(limits.paused)
        pools = await self.client.list_pools()
        serving = [p for p in pools if p.state is PoolState.RUNNING and CLASS in {c.task_class for c in p.classes}]
        self.assertEqual(len(serving), 1)
        self.assertGreater(serving[0].pid, 0)
        with self.assertRaises(InvalidArgumentError):
            await self.client.get_class_limits("no_such_class")


if __name__ == "__main__":
    unittest.main()
