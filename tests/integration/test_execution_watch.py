"""The local stack's stand-in for EventBridge: executions that ended badly reach the guard once."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from browser_tasks.local.execution_watch import DELIVERY_ATTEMPTS, ExecutionWatch
from browser_tasks.local.lambda_runtime import InProcessFunction
from tests.support import in_process_stack, tasks_in_table

ROLE = "arn:aws:iam::123456789012:role/local-state-machine"


class RecordingFunction:
    def __init__(self, error: Exception | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._error = error

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if self._error is not None:
            raise self._error
        return None


@pytest.fixture
def failing_machine() -> Iterator[str]:
    """A state machine whose every execution FAILS with an error and a cause."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        definition = {
            "StartAt": "Boom",
            "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "a bug"}},
        }
        yield boto3.client("stepfunctions").create_state_machine(
            name="tasks", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]


def _start_and_wait_until_ended(machine: str, name: str) -> None:
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input='{"task_id": "x"}')[
        "executionArn"
    ]
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.05)


def test_a_failed_execution_is_delivered_once_as_eventbridge_would(failing_machine: str) -> None:
    _start_and_wait_until_ended(failing_machine, "task_1")
    function = RecordingFunction()
    watch = ExecutionWatch(failing_machine, function, "us-east-1")

    delivered = [watch.poll_once(), watch.poll_once()]

    assert delivered == [1, 0]
    (event,) = function.events
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["source"] == "aws.states"
    detail = event["detail"]
    assert event["resources"] == [detail["executionArn"]]
    assert {k: detail[k] for k in ("stateMachineArn", "name", "status", "error", "cause")} == {
        "stateMachineArn": failing_machine,
        "name": "task_1",
        "status": "FAILED",
        "error": "Boom",
        "cause": "a bug",
    }
    assert json.loads(detail["input"]) == {"task_id": "x"}
    assert isinstance(detail["startDate"], int)
    assert isinstance(detail["stopDate"], int)


def test_a_guard_that_keeps_failing_is_tried_as_often_as_lambda_would(
    failing_machine: str,
) -> None:
    _start_and_wait_until_ended(failing_machine, "task_1")
    function = RecordingFunction(error=RuntimeError("table unavailable"))
    watch = ExecutionWatch(failing_machine, function, "us-east-1")

    for _ in range(DELIVERY_ATTEMPTS + 2):
        watch.poll_once()

    assert len(function.events) == DELIVERY_ATTEMPTS


def test_an_aborted_execution_fails_its_running_task_through_the_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with in_process_stack(monkeypatch, execute_state_machine=True) as stack:
        task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
        token = _wait_for_first_chunk(stack.resources["WorkQueue"])
        sfn = boto3.client("stepfunctions")
        machine = stack.resources["TaskStateMachine"]
        (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
        sfn.stop_execution(executionArn=execution["executionArn"])
        # moto ends a stopped execution only once its token wait is answered (AWS at once):
        # answer it as a worker finishing its chunk late would.
        sfn.send_task_success(taskToken=token, output='{"state": "done"}')
        _wait_for_status(execution["executionArn"], "ABORTED")
        guard = InProcessFunction(stack.functions["ExecutionGuardFunction"])

        delivered = ExecutionWatch(machine, guard, "us-east-1").poll_once()

        assert delivered == 1
        (item,) = tasks_in_table()
        assert item["task_id"]["S"] == task_id
        assert item["status"]["S"] == "failed"
        assert item["failure_reason"]["S"].endswith("execution ABORTED")


def _wait_for_first_chunk(work_queue_url: str) -> str:
    """The first RunChunk message's task token (the task is running by then)."""
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=work_queue_url, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            return str(json.loads(messages[0]["Body"])["task_token"])
    raise AssertionError("the state machine sent no chunk")


def _wait_for_status(execution_arn: str, status: str) -> None:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution_arn)["status"] != status:
        assert time.monotonic() < deadline, f"the execution never became {status}"
        time.sleep(0.05)
