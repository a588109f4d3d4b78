"""Faults at the API's edge, on in-process moto with the real API handler: KMS failing while a
task's secrets are sealed, and two control requests racing for one task's conditional write.

Each must end in a clear answer in the v1 shape with the stores consistent: a failed submit
leaves nothing behind and charges nothing; of two racing writes exactly one takes effect.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend

from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.services import metering, task_service
from tests.reliability.counts import CANARY, CANARY_SECRETS, record_count
from tests.support import (
    ApiResponse,
    InProcessStack,
    all_table_items,
    in_process_stack,
    set_task_fields,
    task_item,
)

BILLING_ON = {"BillingEnabled": "true"}
BALANCE_CENTS = 100
SUBMIT = {"task": "Reliability: seal my secrets", "secrets": CANARY_SECRETS}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch, parameters=BILLING_ON) as stack:
        metering().balances.credit("alice", BALANCE_CENTS)
        yield stack


def call(stack: InProcessStack, method: str, path: str, **kwargs: Any) -> ApiResponse:
    record_count("requests sent")
    return stack.call(method, path, **kwargs)


def _balance(stack: InProcessStack) -> str:
    return str(call(stack, "GET", "/api/v1/balance").json()["balance"])


def _work_in_flight() -> tuple[int, int]:
    """(executions, messages queued anywhere) in the account."""
    import boto3

    sfn = boto3.client("stepfunctions")
    executions = sum(
        len(sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"])
        for m in sfn.list_state_machines()["stateMachines"]
    )
    sqs = boto3.client("sqs")
    messages = sum(
        int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        for url in sqs.list_queues().get("QueueUrls", [])
    )
    return executions, messages


# -- KMS fails at submit ------------------------------------------------------------------------


def _kms_error(kind: str) -> JsonRESTError:
    if kind == "key disabled":
        return JsonRESTError("DisabledException", "The key is disabled.")
    error = JsonRESTError("KMSInternalException", "KMS had an internal error.")
    error.code = 500
    return error


@pytest.mark.parametrize("kind", ["key disabled", "KMS internal error"])
def test_kms_failing_at_submit_is_a_503_that_stores_and_charges_nothing(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Given KMS refusing every data key (moto cannot disable a key: its backend is made to fail
    # the call, so the Encryption SDK gets a real KMS error answer over the wire)
    before = all_table_items()
    with monkeypatch.context() as fault:

        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise _kms_error(kind)

        fault.setattr(KmsBackend, "generate_data_key", refuse)
        fault.setattr(KmsBackend, "encrypt", refuse)
        record_count("faults injected")

        # When a task with secrets is submitted
        response = call(stack, "POST", "/api/v1/run-task", body=SUBMIT)

    # Then the caller gets a 503 in the v1 shape that names the cause, not the secret
    assert response.status == 503
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    assert "Encrypting the secrets failed" in body["detail"]
    assert CANARY not in response.text
    # And nothing was stored, started, queued or charged
    assert all_table_items() == before
    assert _work_in_flight() == (0, 0)
    assert _balance(stack) == str(BALANCE_CENTS)

    # And once KMS answers again the same request goes through (the failure left no trace)
    response = call(stack, "POST", "/api/v1/run-task", body=SUBMIT)
    record_count("tasks created")
    assert response.status == 200, response.text
    assert int(_balance(stack)) < BALANCE_CENTS


# -- two control requests race for one conditional write ---------------------------------------


def _stop_lands_first(
    monkeypatch: pytest.MonkeyPatch, method: Callable[..., Any], name: str, task_id: str
) -> list[str]:
    """Make another caller's stop-task land between ``name``'s read of the task and its
    conditional write: the interleaving two Lambda containers can have. What the stop did."""
    raced: list[str] = []

    def racing(repository: DynamoTaskRepository, *args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append("stop")
            task_service().stop("alice", task_id)  # the competitor, whole, through the domain
        return method(repository, *args, **kwargs)

    monkeypatch.setattr(DynamoTaskRepository, name, racing)
    return raced


def _created_task(stack: InProcessStack, status: str) -> str:
    response = call(stack, "POST", "/api/v1/run-task", body=SUBMIT)
    record_count("tasks created")
    assert response.status == 200, response.text
    task_id = str(response.json()["id"])
    if status != "created":
        set_task_fields(stack, task_id, status=status)  # as the state machine's MarkRunning
    return task_id


def test_two_stops_racing_on_a_created_task_one_wins_the_other_is_409(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a created task, and a second stop-task landing while the first is on its way
    task_id = _created_task(stack, "created")
    raced = _stop_lands_first(
        monkeypatch,
        DynamoTaskRepository.mark_stopped_if_created,
        "mark_stopped_if_created",
        task_id,
    )

    # When the first stop writes
    response = call(stack, "PUT", f"/api/v1/stop-task?task_id={task_id}")
    record_count("faults injected")

    # Then the second (which landed first) won; this one is told the task ended, in v1 shape
    assert raced == ["stop"]
    assert (response.status, response.json()) == (
        409,
        {"detail": "Task ended before it could be stopped"},
    )
    item = task_item(task_id)
    assert item["status"]["S"] == "stopped"
    assert item["stop_requested"] == {"BOOL": False}  # the loser's fallback flag was refused too
    assert call(stack, "GET", f"/api/v1/task/{task_id}/status").json() == "stopped"


@pytest.mark.parametrize("status", ["created", "running"])
def test_a_stop_racing_a_pause_wins_and_the_pause_is_409(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    # Given a created or running task, and a stop-task landing while a pause-task is on its way
    task_id = _created_task(stack, status)
    raced = _stop_lands_first(
        monkeypatch, DynamoTaskRepository.request_pause, "request_pause", task_id
    )

    # When the pause writes
    response = call(stack, "PUT", f"/api/v1/pause-task?task_id={task_id}")
    record_count("faults injected")

    # Then the stop won and the pause is refused in the v1 shape, leaving no pause flag
    assert raced == ["stop"]
    assert (response.status, response.json()) == (
        409,
        {"detail": "Task changed state before it could be paused; read its status"},
    )
    item = task_item(task_id)
    assert item["pause_requested"] == {"BOOL": False}
    if status == "created":  # stopped at once
        assert item["status"]["S"] == "stopped"
        assert item["stop_requested"] == {"BOOL": False}
    else:  # the worker stops it after its current step
        assert item["status"]["S"] == "running"
        assert item["stop_requested"] == {"BOOL": True}
    # And a later pause is refused for what the task now is
    assert call(stack, "PUT", f"/api/v1/pause-task?task_id={task_id}").status == 409
