"""Every transition path of the task state machine (functions/workflow/definition.asl.json),
on moto's executing Step Functions, in-process and without Chromium.

The test plays the AgentWorker: it takes the state machine's messages off the WorkQueue and
answers their task tokens with SendTaskSuccess, SendTaskFailure, heartbeats or silence, so each
path of the definition is driven exactly. Tasks are created through the real API, which starts
the execution; the end is read where a caller sees it: the task's status and failure reason in
the Tasks table, the TaskStatusChanged events on the bus, and the states the execution entered.

The stack runs with limits far below a real account's (a 3 s heartbeat, a 7 s chunk timeout,
a 3 s pause timeout, one retry), so that timeouts happen within a test.
"""

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support import InProcessStack, in_process_stack, set_task_fields, task_item

FAST_LIMITS = {
    "ChunkHeartbeatSeconds": "3",
    "ChunkTimeoutSeconds": "7",
    "MaxChunkRetries": "1",
    "PauseTimeoutSeconds": "3",
}
HEARTBEAT_SECONDS = 3
CHUNK_TIMEOUT_SECONDS = 7
PAUSE_TIMEOUT_SECONDS = 3

# The states every execution passes before and after a chunk's answer is routed.
START = ["LoadSettings", "MarkRunning", "EmitRunning", "RunChunk"]
CHECKED = ["CheckResult", "CheckResultTypes", "CheckWorkerFailed"]
COUNTED = [*CHECKED, "CountChunk", "Route"]
FINISHED = ["MarkFinished", "EmitFinished", "Done"]
STOPPED = ["MarkStopped", "EmitStopped", "Done"]
FAILED = ["MarkFailed", "EmitFailed", "Done"]
RETRIED = ["CountRetry", "RetryOrFail", "RunChunk"]
PAUSED = ["MarkPaused", "EmitPaused", "AwaitResume"]


# -- the fake worker and what it observes -------------------------------------------------------


class FakeWorker:
    """The WorkQueue's consumer, played by the test: it creates its tasks through the API,
    takes their messages and answers their tokens. Messages of any other task (left by an
    earlier test that failed) are dropped, so tests sharing the stack cannot disturb one another.
    """

    def __init__(self, stack: InProcessStack) -> None:
        self.stack = stack
        self.queue_url = stack.environment["WORK_QUEUE_URL"]
        self.machine_arn = stack.environment["STATE_MACHINE_ARN"]
        self.task_ids: list[str] = []
        self.tokens: list[str] = []
        self._events: list[dict[str, Any]] = []
        self._sqs = boto3.client("sqs")
        self._sfn = boto3.client("stepfunctions")

    def run_task(
        self,
        max_agent_steps: int = 10,
        time_limit_seconds: int = 60,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """POST /run-task: the API stores the task and starts its execution."""
        response = self.stack.call(
            "POST",
            "/api/v1/run-task",
            body={
                "task": "Find the price",
                "max_agent_steps": max_agent_steps,
                "time_limit_seconds": time_limit_seconds,
                "metadata": metadata,
            },
        )
        assert response.status == 200, response.text
        task_id = str(response.json()["id"])
        self.task_ids.append(task_id)
        return task_id

    def take(self, kind: str = "run_chunk", timeout: float = 10.0) -> dict[str, Any]:
        """The next message (deleted from the queue, as a consumer that handled it would)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (message := self.poll(kind, wait_seconds=1)) is not None:
                return message
        raise AssertionError(f"no {kind} message within {timeout} s")

    def poll(self, kind: str = "run_chunk", wait_seconds: int = 0) -> dict[str, Any] | None:
        """A message for this test's tasks if one comes within ``wait_seconds``, else None."""
        for message in self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds
        ).get("Messages", []):
            self._sqs.delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            body: dict[str, Any] = json.loads(message["Body"])
            if body["task_id"] in self.task_ids:
                self.tokens.append(body["task_token"])
                assert body["kind"] == kind, body
                if kind == "run_chunk":
                    self._until_the_wait_is_armed(body["task_token"])
                return body
        return None

    def _until_the_wait_is_armed(self, token: str) -> None:
        """moto sends a token task's message before it arms the heartbeat wait; an answer in
        between is lost (the wait then times out) and a heartbeat is InvalidToken. A real
        worker is never that fast; this one waits until a heartbeat is accepted."""
        deadline = time.monotonic() + 5
        while True:
            try:
                self._sfn.send_task_heartbeat(taskToken=token)
                return
            except self._sfn.exceptions.InvalidToken:
                assert time.monotonic() < deadline, "the chunk's wait was never armed"
                time.sleep(0.02)

    def assert_queue_empty(self) -> None:
        """No message for this test's tasks is waiting."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        bodies = [json.loads(m["Body"]) for m in messages]
        assert [b for b in bodies if b["task_id"] in self.task_ids] == []

    def answer(self, message: dict[str, Any], output: Any) -> None:
        self._sfn.send_task_success(taskToken=message["task_token"], output=json.dumps(output))

    def chunk_ended(
        self, message: dict[str, Any], state: str, steps: int = 1, seconds: int = 1
    ) -> None:
        """SendTaskSuccess as the worker's chunk runner answers: {state, steps, elapsed_seconds}."""
        self.answer(message, {"state": state, "steps": steps, "elapsed_seconds": seconds})

    def fail(self, message: dict[str, Any], error: str, cause: str = "") -> None:
        self._sfn.send_task_failure(taskToken=message["task_token"], error=error, cause=cause)

    def heartbeat(self, message: dict[str, Any]) -> None:
        self._sfn.send_task_heartbeat(taskToken=message["task_token"])

    def wait_until_ended(
        self, task_id: str, *, name: str | None = None, timeout: float = 15.0
    ) -> str:
        """Wait for the execution (named by the task id unless ``name``) to end; its status."""
        arn = self.execution_arn(name or task_id)
        deadline = time.monotonic() + timeout
        while (status := self._sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            assert time.monotonic() < deadline, f"execution {name or task_id} still RUNNING"
            time.sleep(0.05)
        return str(status)

    def is_running(self, name: str) -> bool:
        status = self._sfn.describe_execution(executionArn=self.execution_arn(name))["status"]
        return bool(status == "RUNNING")

    def execution_arn(self, name: str) -> str:
        return self.machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def states_entered(self, name: str) -> list[str]:
        """The states the execution entered, in order: the path it took."""
        events = self._sfn.get_execution_history(
            executionArn=self.execution_arn(name), maxResults=1000
        )["events"]
        return [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]

    def assert_path_ends(self, name: str, tail: list[str]) -> None:
        path = self.states_entered(name)
        assert path[-len(tail) :] == tail, path

    def status_events(self, task_id: str) -> list[dict[str, Any]]:
        """The task's TaskStatusChanged events so far, as the bus's rule delivered them."""
        queue_url = self.stack.resources["WebhookQueue"]
        while messages := self._sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                self._events.append(json.loads(message["Body"])["detail"])
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self._events if e["task_id"] == task_id]

    def statuses_announced(self, task_id: str) -> list[str]:
        return [e["status"] for e in self.status_events(task_id)]

    def end_leftovers(self) -> None:
        """Teardown: end what a failed test left running. moto's StopExecution does not abort
        a token wait, so every token seen (and every message still queued) is answered too."""
        running = self._sfn.list_executions(
            stateMachineArn=self.machine_arn, statusFilter="RUNNING"
        )["executions"]
        if not running:
            return
        for execution in running:
            self._sfn.stop_execution(executionArn=execution["executionArn"])
        for message in self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", []):
            self.tokens.append(json.loads(message["Body"])["task_token"])
        for token in self.tokens:
            with contextlib.suppress(ClientError):  # already answered or timed out
                self._sfn.send_task_failure(taskToken=token, error="TestTeardown")


@pytest.fixture(scope="module")
def shared_stack() -> Iterator[InProcessStack]:
    """One stack for the module (provisioning costs ~1.5 s); each test makes its own tasks."""
    with (
        pytest.MonkeyPatch.context() as patch,
        in_process_stack(patch, execute_state_machine=True, parameters=FAST_LIMITS) as stack,
    ):
        yield stack


@pytest.fixture
def stack(shared_stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> InProcessStack:
    # The autouse fixture clears the functions' environment before every test: restore it.
    for name, value in shared_stack.environment.items():
        monkeypatch.setenv(name, value)
    return shared_stack


@pytest.fixture
def worker(stack: InProcessStack) -> Iterator[FakeWorker]:
    fake = FakeWorker(stack)
    yield fake
    fake.end_leftovers()


def _status(task_id: str) -> str:
    return str(task_item(task_id)["status"]["S"])


def _failure_reason(task_id: str) -> str | None:
    reason = task_item(task_id).get("failure_reason")
    return None if reason is None else str(reason["S"])


# -- a chunk's verdict --------------------------------------------------------------------------


def test_done_on_the_first_chunk_finishes_the_task(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task(max_agent_steps=10, time_limit_seconds=60)

    message = worker.take()
    assert _status(task_id) == "running"
    worker.chunk_ended(message, "done", steps=3, seconds=7)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert {k: v for k, v in message.items() if k != "task_token"} == {
        "kind": "run_chunk",
        "task_id": task_id,
        "owner": "alice",
        "chunk": 0,
        "attempt": 0,
        "execution_arn": worker.execution_arn(task_id),
        "steps_done": 0,
        "elapsed_seconds": 0,
        "steps_remaining": 10,
        "seconds_remaining": 60,
    }
    item = task_item(task_id)
    assert item["status"]["S"] == "finished"
    assert "finished_at" in item
    assert "failure_reason" not in item
    assert worker.states_entered(task_id) == [*START, *COUNTED, *FINISHED]
    assert worker.statuses_announced(task_id) == ["created", "running", "finished"]


def test_continue_then_done_runs_a_second_chunk_with_the_counters_carried(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task(max_agent_steps=10, time_limit_seconds=60)
    first = worker.take()
    worker.chunk_ended(first, "continue", steps=3, seconds=7)

    second = worker.take()
    worker.chunk_ended(second, "done", steps=2, seconds=4)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert {k: second[k] for k in ("chunk", "attempt", "steps_done", "elapsed_seconds")} == {
        "chunk": 1,
        "attempt": 0,
        "steps_done": 3,
        "elapsed_seconds": 7,
    }
    assert (second["steps_remaining"], second["seconds_remaining"]) == (7, 53)
    assert second["task_token"] != first["task_token"]
    assert worker.states_entered(task_id) == [*START, *COUNTED, "RunChunk", *COUNTED, *FINISHED]


@pytest.mark.parametrize("state", ["continue", "paused"])
def test_steps_reaching_max_agent_steps_fail_the_task(
    stack: InProcessStack, worker: FakeWorker, state: str
) -> None:
    # The step limit is checked before a pause: a task out of steps is not parked.
    task_id = worker.run_task(max_agent_steps=5)
    worker.chunk_ended(worker.take(), "continue", steps=2)

    worker.chunk_ended(worker.take(), state, steps=3)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    reason = _failure_reason(task_id)
    assert reason is not None
    assert "maximum steps reached (5 of max_agent_steps=5)" in reason
    worker.assert_path_ends(task_id, ["CountChunk", "Route", "FailMaxSteps", *FAILED])
    events = worker.status_events(task_id)
    assert [e["status"] for e in events] == ["created", "running", "failed"]
    assert events[-1]["failure_reason"] == reason


def test_done_on_the_last_allowed_step_finishes_the_task(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # The agent's own verdict comes before the limits.
    task_id = worker.run_task(max_agent_steps=5, time_limit_seconds=10)

    worker.chunk_ended(worker.take(), "done", steps=5, seconds=10)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"


def test_elapsed_time_reaching_time_limit_seconds_fails_the_task(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task(max_agent_steps=10, time_limit_seconds=10)
    worker.chunk_ended(worker.take(), "continue", steps=1, seconds=4)

    worker.chunk_ended(worker.take(), "continue", steps=1, seconds=6)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    reason = _failure_reason(task_id)
    assert reason is not None
    assert "time limit reached: the agent worked 10 s of the 10 s allowed" in reason
    worker.assert_path_ends(task_id, ["Route", "FailTimeLimit", *FAILED])


def test_a_worker_answering_stopped_stops_the_task(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()

    worker.chunk_ended(worker.take(), "stopped", steps=2)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    item = task_item(task_id)
    assert item["status"]["S"] == "stopped"
    assert "finished_at" in item
    assert "failure_reason" not in item
    assert worker.states_entered(task_id) == [*START, *COUNTED, *STOPPED]
    assert worker.statuses_announced(task_id) == ["created", "running", "stopped"]


def test_a_worker_answering_failed_with_an_error_fails_the_task_with_that_error(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    error = "Insufficient balance: top up to continue"

    worker.answer(
        worker.take(), {"state": "failed", "error": error, "steps": 1, "elapsed_seconds": 2}
    )

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == error
    assert worker.states_entered(task_id) == [
        *START,
        *CHECKED,
        "CheckFailReason",
        "FailFromWorker",
        *FAILED,
    ]


def test_a_worker_answering_failed_without_an_error_fails_the_task_with_the_generic_reason(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()

    worker.chunk_ended(worker.take(), "failed")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == "the agent worker reported a failure"
    worker.assert_path_ends(
        task_id, ["CheckWorkerFailed", "CheckFailReason", "FailWorkerNoReason", *FAILED]
    )


@pytest.mark.parametrize(
    "output",
    [
        pytest.param({"state": "done"}, id="no-steps-or-seconds"),
        pytest.param({"steps": 1, "elapsed_seconds": 1}, id="no-state"),
        pytest.param({"state": "done", "steps": 1}, id="no-seconds"),
        pytest.param({"state": "done", "steps": "1", "elapsed_seconds": 1}, id="steps-a-string"),
        pytest.param({"state": "done", "steps": 1, "elapsed_seconds": None}, id="seconds-null"),
        pytest.param({"state": 1, "steps": 1, "elapsed_seconds": 1}, id="state-a-number"),
        pytest.param({"state": "finished", "steps": 1, "elapsed_seconds": 1}, id="unknown-state"),
        pytest.param({}, id="empty-object"),
        pytest.param("done", id="not-an-object"),
        pytest.param(None, id="null"),
        # A negative count would make the next RunChunk's States.Format('-{}', -3) -> '--3'
        # an uncatchable States.Runtime on AWS; it is refused here instead.
        pytest.param({"state": "continue", "steps": -3, "elapsed_seconds": 1}, id="negative-steps"),
        pytest.param({"state": "continue", "steps": 1, "elapsed_seconds": -1}, id="negative-secs"),
    ],
)
def test_an_invalid_chunk_result_fails_the_task(
    stack: InProcessStack, worker: FakeWorker, output: Any
) -> None:
    task_id = worker.run_task()

    worker.answer(worker.take(), output)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == "worker returned an invalid chunk result"
    worker.assert_path_ends(task_id, ["FailInvalidResult", *FAILED])


# -- a chunk that fails: SendTaskFailure, missed heartbeats, the chunk timeout -------------------


def test_a_chunk_failed_once_is_retried_with_a_new_token_and_can_finish(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    first = worker.take()
    worker.fail(first, "WorkerCrashed", "the worker's process died")

    retry = worker.take()
    worker.chunk_ended(retry, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert (retry["chunk"], retry["attempt"]) == (0, 1)
    assert retry["task_token"] != first["task_token"]
    assert {k: retry[k] for k in ("steps_done", "elapsed_seconds")} == {
        "steps_done": 0,
        "elapsed_seconds": 0,
    }
    assert worker.states_entered(task_id) == [*START, *RETRIED, *COUNTED, *FINISHED]


def test_the_retry_count_starts_afresh_for_each_chunk(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # MaxChunkRetries=1: one failure in each of two chunks is within the limit.
    task_id = worker.run_task()
    worker.fail(worker.take(), "WorkerCrashed")
    worker.chunk_ended(worker.take(), "continue")

    worker.fail(second_chunk := worker.take(), "WorkerCrashed")
    retry = worker.take()
    worker.chunk_ended(retry, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert (second_chunk["chunk"], second_chunk["attempt"]) == (1, 0)
    assert (retry["chunk"], retry["attempt"]) == (1, 1)


def test_a_chunk_failing_beyond_max_chunk_retries_fails_the_task(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    worker.fail(worker.take(), "WorkerCrashed")

    worker.fail(worker.take(), "BrowserLaunchFailed", "chromium exited")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == "chunk failed 2 times; last error: BrowserLaunchFailed"
    assert worker.states_entered(task_id) == [
        *START,
        *RETRIED,
        "CountRetry",
        "RetryOrFail",
        "FailChunkRetries",
        *FAILED,
    ]


def test_a_chunk_that_makes_no_progress_counts_as_a_failed_attempt(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # A broken worker answering "continue" with nothing done would otherwise loop for 8 days.
    task_id = worker.run_task()
    worker.chunk_ended(worker.take(), "continue", steps=0, seconds=0)

    retried = worker.take()
    worker.chunk_ended(retried, "continue", steps=0, seconds=0)

    assert retried["attempt"] == 1
    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _failure_reason(task_id) == "chunk failed 2 times; last error: NoProgress"


def test_a_missed_heartbeat_retries_the_chunk_with_a_new_token(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # The fake worker takes the chunk and then goes silent, like a worker that hung.
    task_id = worker.run_task()
    first = worker.take()
    taken_at = time.monotonic()

    retry = worker.take(timeout=HEARTBEAT_SECONDS + 10)
    waited = time.monotonic() - taken_at
    worker.chunk_ended(retry, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert (retry["chunk"], retry["attempt"]) == (0, 1)
    assert retry["task_token"] != first["task_token"]
    # After ChunkHeartbeatSeconds (3 s), before ChunkTimeoutSeconds (7 s).
    assert HEARTBEAT_SECONDS - 1 <= waited < CHUNK_TIMEOUT_SECONDS - 1
    assert worker.states_entered(task_id) == [*START, *RETRIED, *COUNTED, *FINISHED]


def test_heartbeats_keep_a_chunk_alive_past_the_heartbeat_interval(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    message = worker.take()

    until = time.monotonic() + HEARTBEAT_SECONDS + 1.5  # and well before the chunk timeout
    while time.monotonic() < until:
        worker.heartbeat(message)
        time.sleep(0.5)
    worker.chunk_ended(message, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert worker.states_entered(task_id) == [*START, *COUNTED, *FINISHED]
    worker.assert_queue_empty()


def test_missed_heartbeats_beyond_max_chunk_retries_fail_the_task_with_a_timeout(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    worker.take()
    worker.take(timeout=HEARTBEAT_SECONDS + 10)

    assert worker.wait_until_ended(task_id, timeout=HEARTBEAT_SECONDS + 10) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    reason = _failure_reason(task_id)
    assert reason is not None
    # moto reports States.Timeout; AWS may name it States.HeartbeatTimeout.
    assert reason.startswith("chunk failed 2 times; last error: States.")
    assert "Timeout" in reason


def test_a_chunk_overrunning_chunk_timeout_seconds_is_retried_despite_heartbeats(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # The worker heartbeats all along: only the chunk timeout (TimeoutSecondsPath) can end it.
    # (moto keeps accepting heartbeats on the timed-out token, so the retry is what shows it.)
    task_id = worker.run_task()
    first = worker.take()
    taken_at = time.monotonic()
    retry = None
    while retry is None and time.monotonic() < taken_at + CHUNK_TIMEOUT_SECONDS + 5:
        with contextlib.suppress(ClientError):
            worker.heartbeat(first)
        retry = worker.poll()
        time.sleep(0.25)
    retried_after = time.monotonic() - taken_at
    assert retry is not None, "the chunk was not retried"

    worker.chunk_ended(retry, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert CHUNK_TIMEOUT_SECONDS - 1.5 <= retried_after < CHUNK_TIMEOUT_SECONDS + 3
    assert (retry["chunk"], retry["attempt"]) == (0, 1)
    assert retry["task_token"] != first["task_token"]
    assert worker.states_entered(task_id) == [*START, *RETRIED, *COUNTED, *FINISHED]


# -- pause and resume ---------------------------------------------------------------------------


def _pause(worker: FakeWorker, task_id: str, steps: int = 2, seconds: int = 5) -> dict[str, Any]:
    """Run the first chunk to a pause; the AwaitResume message."""
    worker.chunk_ended(worker.take(), "paused", steps=steps, seconds=seconds)
    return worker.take("await_resume")


def test_a_paused_task_resumes_and_finishes(stack: InProcessStack, worker: FakeWorker) -> None:
    task_id = worker.run_task(max_agent_steps=10, time_limit_seconds=60)

    parked = _pause(worker, task_id, steps=2, seconds=5)
    paused = task_item(task_id)
    worker.answer(parked, {"state": "resume"})
    next_chunk = worker.take()
    running = task_item(task_id)
    worker.chunk_ended(next_chunk, "done")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"
    assert {k: v for k, v in parked.items() if k != "task_token"} == {
        "kind": "await_resume",
        "task_id": task_id,
        "owner": "alice",
        "execution_arn": worker.execution_arn(task_id),
    }
    assert paused["status"]["S"] == "paused"
    assert "paused_at" in paused
    assert running["status"]["S"] == "running"
    assert "paused_at" not in running
    assert {k: next_chunk[k] for k in ("chunk", "attempt", "steps_done", "elapsed_seconds")} == {
        "chunk": 1,
        "attempt": 0,
        "steps_done": 2,
        "elapsed_seconds": 5,
    }
    assert worker.states_entered(task_id) == [
        *START,
        *COUNTED,
        *PAUSED,
        "CheckResume",
        "ResumeRoute",
        "MarkResumed",
        "EmitResumed",
        "RunChunk",
        *COUNTED,
        *FINISHED,
    ]
    assert worker.statuses_announced(task_id) == [
        "created",
        "running",
        "paused",
        "running",
        "finished",
    ]


def test_every_status_event_carries_the_metadata_and_when_the_status_changed(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    # Given a task whose execution state is rebuilt by every path that rebuilds it: a retried
    # chunk (CountRetry), a counted one (CountChunk), a pause and its resume
    metadata = {"order": "42", "team": "growth"}
    task_id = worker.run_task(metadata=metadata)
    worker.fail(worker.take(), "Boom")
    parked = _pause(worker, task_id)
    worker.answer(parked, {"state": "resume"})
    worker.chunk_ended(worker.take(), "done")
    assert worker.wait_until_ended(task_id) == "SUCCEEDED"

    events = worker.status_events(task_id)

    assert [e["status"] for e in events] == ["created", "running", "paused", "running", "finished"]
    assert all(e["metadata"] == metadata and e["owner"] == "alice" for e in events)
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert times == sorted(times)
    item = task_item(task_id)
    assert times[0] == datetime.fromisoformat(item["created_at"]["S"])
    assert times[-1] >= datetime.fromisoformat(item["finished_at"]["S"])


def test_a_paused_task_answered_stopped_is_stopped(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()

    worker.answer(_pause(worker, task_id), {"state": "stopped"})

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "stopped"
    worker.assert_path_ends(task_id, ["AwaitResume", "CheckResume", "ResumeRoute", *STOPPED])
    assert worker.statuses_announced(task_id) == ["created", "running", "paused", "stopped"]
    worker.assert_queue_empty()


def test_a_task_paused_past_pause_timeout_seconds_fails(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    _pause(worker, task_id)

    assert worker.wait_until_ended(task_id, timeout=PAUSE_TIMEOUT_SECONDS + 10) == "SUCCEEDED"

    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == "paused too long (pause timeout reached)"
    worker.assert_path_ends(task_id, ["AwaitResume", "FailPauseExpired", *FAILED])


def test_a_pause_token_answered_with_a_failure_fails_the_task_with_its_error(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()

    worker.fail(_pause(worker, task_id), "CheckpointLost", "the state bucket lost it")

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "failed"
    assert _failure_reason(task_id) == "CheckpointLost"
    worker.assert_path_ends(task_id, ["AwaitResume", "FailFromPause", *FAILED])


# -- a task another actor moved on ---------------------------------------------------------------


@pytest.mark.parametrize("first_answer", ["done", "stopped"])
def test_a_second_execution_for_a_task_that_already_ended_leaves_it_untouched(
    stack: InProcessStack, worker: FakeWorker, first_answer: str
) -> None:
    task_id = worker.run_task()
    worker.chunk_ended(worker.take(), first_answer)
    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    before = task_item(task_id)
    sfn = boto3.client("stepfunctions")
    execution_input = sfn.describe_execution(executionArn=worker.execution_arn(task_id))["input"]

    sfn.start_execution(
        stateMachineArn=worker.machine_arn, name=f"{task_id}-again", input=execution_input
    )

    assert worker.wait_until_ended(task_id, name=f"{task_id}-again") == "SUCCEEDED"
    assert task_item(task_id) == before
    assert worker.states_entered(f"{task_id}-again") == [
        "LoadSettings",
        "MarkRunning",
        "NotStarted",
    ]
    worker.assert_queue_empty()


def test_a_duplicate_execution_of_a_running_task_ends_without_touching_it(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    message = worker.take()
    sfn = boto3.client("stepfunctions")
    execution_input = sfn.describe_execution(executionArn=worker.execution_arn(task_id))["input"]

    sfn.start_execution(
        stateMachineArn=worker.machine_arn, name=f"{task_id}-twice", input=execution_input
    )

    assert worker.wait_until_ended(task_id, name=f"{task_id}-twice") == "SUCCEEDED"
    worker.assert_path_ends(f"{task_id}-twice", ["MarkRunning", "NotStarted"])
    worker.assert_queue_empty()  # no second worker for the same task
    worker.chunk_ended(message, "done")
    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert _status(task_id) == "finished"


@pytest.mark.parametrize(
    ("answer", "guard"),
    [
        ({"state": "done", "steps": 1, "elapsed_seconds": 1}, "MarkFinished"),
        ({"state": "stopped", "steps": 1, "elapsed_seconds": 1}, "MarkStopped"),
        ({"state": "paused", "steps": 1, "elapsed_seconds": 1}, "MarkPaused"),
        ({"state": "failed", "error": "boom", "steps": 1, "elapsed_seconds": 1}, "MarkFailed"),
    ],
    ids=["done", "stopped", "paused", "failed"],
)
def test_a_task_that_became_terminal_while_its_chunk_ran_is_left_as_it_was(
    stack: InProcessStack, worker: FakeWorker, answer: dict[str, Any], guard: str
) -> None:
    task_id = worker.run_task()
    message = worker.take()
    set_task_fields(stack, task_id, status="stopped")  # as if stopped directly meanwhile
    before = task_item(task_id)

    worker.answer(message, answer)

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert task_item(task_id) == before
    worker.assert_path_ends(task_id, [guard, "AlreadyTerminal"])
    assert worker.statuses_announced(task_id) == ["created", "running"]


def test_a_task_that_left_paused_before_its_resume_is_left_as_it_was(
    stack: InProcessStack, worker: FakeWorker
) -> None:
    task_id = worker.run_task()
    parked = _pause(worker, task_id)
    set_task_fields(stack, task_id, status="stopped")
    before = task_item(task_id)

    worker.answer(parked, {"state": "resume"})

    assert worker.wait_until_ended(task_id) == "SUCCEEDED"
    assert task_item(task_id) == before
    worker.assert_path_ends(task_id, ["MarkResumed", "AlreadyTerminal"])
    worker.assert_queue_empty()
