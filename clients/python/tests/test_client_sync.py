"""orchestrator.Client (blocking) against a live orchestrator and pool (test_client_support)."""

from __future__ import annotations

import threading
import unittest

from orchestrator import (
    Client,
    InvalidArgumentError,
    NotFoundError,
    Step,
    StepState,
    Task,
    TaskFailedError,
    TaskFilter,
    TaskState,
    WorkflowRunState,
)

from test_client_support import ADDR, CLASS, TOKEN, CuttingProxy, require_system, unique

require_system()


class BlockingClientTest(unittest.TestCase):
    """One blocking client for the class: it is made to be shared."""

    client: Client

    @classmethod
    def setUpClass(cls) -> None:
        cls.client = Client(ADDR, token=TOKEN, timeout=20)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def test_submit_stream(self) -> None:
        ids = [unique("py-sync-stream") for _ in range(5)]
        with self.client.submit_stream() as stream:
            answers = [stream.submit(Task(CLASS, {"i": str(i)}, task_id=t)) for i, t in enumerate(ids)]
            refused = stream.submit(Task("no_such_class", {"a": "1"}))
            self.assertEqual([a.result(timeout=30).task_id for a in answers], ids)
            with self.assertRaises(InvalidArgumentError):
                refused.result(timeout=30)
        self.assertEqual(self.client.wait_for_result(ids[-1], timeout=30).result, {"i": "4"})

    def test_submit_and_wait_for_result(self) -> None:
        submitted = self.client.submit(CLASS, {"text": "blocking"})
        result = self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual((result.state, result.result), (TaskState.SUCCEEDED, {"text": "blocking"}))
        self.assertEqual(self.client.get_status(submitted.task_id).state, TaskState.SUCCEEDED)
        self.assertIn(self.client.health().status, ("serving", "degraded"))

    def test_failed_task_and_errors(self) -> None:
        submitted = self.client.submit(CLASS, {"message": "no input", "retryable": "false"}, handler="fail")
        result = self.client.wait_for_result(submitted.task_id, timeout=30)
        self.assertEqual(result.state, TaskState.FAILED)
        assert result.failure is not None
        self.assertEqual((result.failure.kind, result.failure.retryable), ("task_failed", False))
        with self.assertRaises(TaskFailedError):
            self.client.wait_for_result(submitted.task_id, timeout=30, raise_on_failure=True)
        with self.assertRaises(NotFoundError):
            self.client.get_status("py-no-such-task")
        with self.assertRaises(InvalidArgumentError) as raised:
            self.client.submit(CLASS, {"a": "1"}, priority=1001)
        self.assertEqual(raised.exception.field, "task.priority")
        with self.assertRaises(InvalidArgumentError) as raised:
            self.client.submit(CLASS, {"n": 1})  # type: ignore[dict-item]
        self.assertEqual(raised.exception.field, "task.payload.n")

    def test_results_stream_resumes_after_the_connection_breaks(self) -> None:
        proxy = CuttingProxy(ADDR)
        self.addCleanup(proxy.close)
        through = Client(proxy.address, token=TOKEN, timeout=20)
        self.addCleanup(through.close)
        ids = [unique("py-sync-break"), unique("py-sync-break")]
        with through.results(task_ids=ids, task_class=CLASS, close_when_done=True) as stream:
            self.client.submit(CLASS, {"n": "0"}, task_id=ids[0])
            first = next(stream)
            self.assertEqual(first.task_id, ids[0])
            self.assertEqual(stream.cursor, first.cursor)
            proxy.cut()
            self.client.submit(CLASS, {"n": "1"}, task_id=ids[1])
            # The rest of the stream: the second result only, then the end (close_when_done).
            rest = list(stream)
        self.assertEqual([(r.task_id, r.result) for r in rest], [(ids[1], {"n": "1"})])
        self.assertGreaterEqual(stream.reconnects, 1)

    def test_events_iterator_and_cursor(self) -> None:
        submitted = self.client.submit(CLASS, {"a": "1"})
        self.client.wait_for_result(submitted.task_id, timeout=30)
        with self.client.events(task_ids=[submitted.task_id], cursor="0") as events:
            seen = []
            for ev in events:
                seen.append(ev)
                if ev.type == "succeeded":
                    break
            cursor = events.cursor
        self.assertEqual([e.type for e in seen], ["submitted", "started", "succeeded"])
        self.assertEqual(cursor, seen[-1].cursor)
        # From a saved cursor: the events after it.
        with self.client.events(task_ids=[submitted.task_id], cursor=seen[0].cursor) as events:
            self.assertEqual(next(events).type, "started")

    def test_workflow_run_watched_to_its_end(self) -> None:
        name = unique("py-sync-wf")
        self.client.create_workflow(
            name,
            [
                Step("ok", Task(CLASS, {"v": "${inputs.v}"})),
                Step("bad", Task(CLASS, {"retryable": "false"}, handler="fail"), depends_on=["ok"]),
                Step("after", Task(CLASS, {"a": "1"}), depends_on=["bad"]),
            ],
        )
        started = self.client.start_workflow_run(name, {"v": "1"}, run_id=unique("run"))
        updates = list(self.client.watch_workflow_run(started.run_id))
        self.assertTrue(updates[0].snapshot)
        self.assertEqual(updates[-1].run_state, WorkflowRunState.FAILED)
        run = self.client.get_workflow_run(started.run_id)
        states = {s.step_id: s.state for s in run.steps}
        self.assertEqual(states, {"ok": StepState.SUCCEEDED, "bad": StepState.FAILED, "after": StepState.SKIPPED})
        self.assertIn("bad", run.stop_reason)
        # Run-only, as wait_for_workflow_run watches: the ended run's state alone, no step.
        only = list(self.client.watch_workflow_run(started.run_id, run_only=True))
        self.assertEqual([(u.step_id, u.run_state, u.snapshot) for u in only], [("", WorkflowRunState.FAILED, True)])
        # The same run id again with the same inputs: the existing run.
        again = self.client.start_workflow_run(name, {"v": "1"}, run_id=started.run_id)
        self.assertEqual((again.run_id, again.created, again.state), (started.run_id, False, WorkflowRunState.FAILED))

    def test_list_tasks_pages(self) -> None:
        workflow_run = unique("py-sync-list")
        name = unique("py-sync-list-wf")
        self.client.create_workflow(name, [Step(f"s{i}", Task(CLASS, {"i": str(i)})) for i in range(3)])
        self.client.start_workflow_run(name, run_id=workflow_run)
        self.client.wait_for_workflow_run(workflow_run, timeout=30)
        first = self.client.list_tasks(TaskFilter(workflow_id=workflow_run), page_size=2)
        self.assertLessEqual(len(first.tasks), 2)
        self.assertNotEqual(first.next_page_token, "")  # a third task at least
        listed = sorted(t.task_id for t in self.client.iter_tasks(TaskFilter(workflow_id=workflow_run), page_size=2))
        self.assertEqual(listed, [f"{workflow_run}.s{i}" for i in range(3)])

    def test_closed_client_refuses_calls(self) -> None:
        client = Client(ADDR, token=TOKEN)
        self.assertIn(client.health().status, ("serving", "degraded"))
        client.close()
        client.close()  # twice is fine
        with self.assertRaises(RuntimeError):
            client.health()

    def test_client_used_from_threads(self) -> None:
        results: dict[int, str] = {}
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                submitted = self.client.submit(CLASS, {"thread": str(i)})
                results[i] = self.client.wait_for_result(submitted.task_id, timeout=30).result["thread"]
            except BaseException as err:  # reported below, in the test's thread
                errors.append(err)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        self.assertEqual(results, {i: str(i) for i in range(4)})


if __name__ == "__main__":
    unittest.main()
