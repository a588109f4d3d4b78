"""ExecutionGuardFunction on in-process moto: a task whose execution failed, timed out or was
aborted is failed; a task that already ended, and every other event, is left alone."""

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from browser_tasks.local.lambda_runtime import InProcessFunction
from tests.conftest import PROJECT_ROOT
from tests.support import InProcessStack, in_process_stack, tasks_in_table

SAMPLE_EVENT = json.loads((PROJECT_ROOT / "events/eventbridge_execution_failed.json").read_text())
REASON = "The task's workflow ended unexpectedly: execution "


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


@pytest.fixture
def guard(stack: InProcessStack) -> InProcessFunction:
    return InProcessFunction(stack.functions["ExecutionGuardFunction"])


def _event(
    stack: InProcessStack,
    task_id: str,
    status: str,
    *,
    error: str | None = None,
    cause: str | None = None,
    state_machine_arn: str | None = None,
) -> dict[str, Any]:
    """The sample event, for this stack's state machine (or another) and this task."""
    machine = state_machine_arn or stack.resources["TaskStateMachine"]
    execution = machine.replace(":stateMachine:", ":execution:") + f":{task_id}"
    event = copy.deepcopy(SAMPLE_EVENT)
    event["resources"] = [execution]
    event["detail"].update(
        executionArn=execution,
        stateMachineArn=machine,
        name=task_id,
        status=status,
        input=json.dumps({"task_id": task_id, "owner": "alice"}),
        error=error,
        cause=cause,
    )
    return event


def _new_task(stack: InProcessStack, status: str) -> str:
    task_id = str(
        stack.call(
            "POST", "/api/v1/run-task", body={"task": "t", "metadata": {"order": "42"}}
        ).json()["id"]
    )
    boto3.client("dynamodb").update_item(
        TableName=stack.environment["TASKS_TABLE"],
        Key={"task_id": {"S": task_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    return task_id


def _item(task_id: str) -> dict[str, Any]:
    (item,) = [t for t in tasks_in_table() if t["task_id"]["S"] == task_id]
    return item


def _status_events(stack: InProcessStack) -> list[dict[str, Any]]:
    """TaskStatusChanged events after ``created`` (which run-task announces), as the bus's
    rule delivered them to the webhook queue."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.resources["WebhookQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in messages]
    return [d for d in details if d["status"] != "created"]


@pytest.mark.parametrize(
    ("task_status", "execution_status"),
    [
        ("running", "FAILED"),
        ("running", "TIMED_OUT"),
        ("running", "ABORTED"),
        ("paused", "TIMED_OUT"),
        ("created", "ABORTED"),
    ],
)
def test_an_unfinished_task_is_failed_with_how_its_execution_ended(
    stack: InProcessStack, guard: InProcessFunction, task_status: str, execution_status: str
) -> None:
    task_id = _new_task(stack, task_status)

    answer = guard.invoke(_event(stack, task_id, execution_status))

    assert answer == {"task_id": task_id, "verdict": "task_failed"}
    item = _item(task_id)
    assert item["status"] == {"S": "failed"}
    assert item["failure_reason"] == {"S": REASON + execution_status}
    assert item["finished_at"]["S"] == item["updated_at"]["S"]
    assert item["stop_requested"] == {"BOOL": True}  # a worker still on it stops
    assert stack.call("GET", f"/api/v1/task/{task_id}/status").json() == "failed"
    (event,) = _status_events(stack)
    changed_at = datetime.fromisoformat(event.pop("timestamp"))
    assert changed_at == datetime.fromisoformat(item["finished_at"]["S"])
    assert event == {
        "task_id": task_id,
        "owner": "alice",
        "status": "failed",
        "metadata": {"order": "42"},
        "failure_reason": REASON + execution_status,
    }


def test_a_failed_executions_error_and_cause_are_in_the_reason(
    stack: InProcessStack, guard: InProcessFunction
) -> None:
    task_id = _new_task(stack, "running")
    event = _event(stack, task_id, "FAILED", error="States.Runtime", cause="x" * 600)

    guard.invoke(event)

    reason = _item(task_id)["failure_reason"]["S"]
    assert reason == f"{REASON}FAILED (States.Runtime: {'x' * 500}...)"


@pytest.mark.parametrize("ended", ["finished", "stopped", "failed"])
def test_a_task_that_already_ended_is_left_as_it_was(
    stack: InProcessStack, guard: InProcessFunction, ended: str
) -> None:
    task_id = _new_task(stack, ended)
    before = _item(task_id)

    answer = guard.invoke(_event(stack, task_id, "ABORTED"))

    assert answer == {"task_id": task_id, "verdict": "already_ended"}
    assert _item(task_id) == before
    assert _status_events(stack) == []


def test_the_same_event_twice_changes_nothing_the_second_time(
    stack: InProcessStack, guard: InProcessFunction
) -> None:
    task_id = _new_task(stack, "running")
    event = _event(stack, task_id, "TIMED_OUT")
    guard.invoke(event)
    after_first = _item(task_id)

    answer = guard.invoke(event)

    assert answer["verdict"] == "already_ended"
    assert _item(task_id) == after_first
    assert len(_status_events(stack)) == 1


@pytest.mark.parametrize(
    ("status", "other_machine"),
    [
        ("ABORTED", True),
        ("SUCCEEDED", False),
        ("RUNNING", False),
    ],
)
def test_other_machines_and_other_statuses_are_ignored(
    stack: InProcessStack, guard: InProcessFunction, status: str, other_machine: bool
) -> None:
    task_id = _new_task(stack, "running")
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:other" if other_machine else None

    answer = guard.invoke(_event(stack, task_id, status, state_machine_arn=machine))

    assert answer == {"task_id": task_id, "verdict": "ignored"}
    assert _item(task_id)["status"] == {"S": "running"}
    assert _status_events(stack) == []


def test_an_unknown_task_is_not_written(stack: InProcessStack, guard: InProcessFunction) -> None:
    answer = guard.invoke(_event(stack, "task_unknown", "ABORTED"))

    assert answer == {"task_id": "task_unknown", "verdict": "already_ended"}
    assert tasks_in_table() == []
