"""Metering on in-process moto: /balance, the start fee and the 402 at run-task, concurrent
run-tasks against one balance, steps charged once each as the worker records them, billing
switched off, and the operator's ``balance add``."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend

from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.cli import main as cli
from browser_tasks.domain.redaction import Redactor
from browser_tasks.errors import InsufficientBalance
from browser_tasks.models.billing import StepCharge
from browser_tasks.models.run_task import RunTaskRequest
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskRecord
from browser_tasks.services import metering, reset_services, task_service
from tests.conftest import BOB_KEY
from tests.support import InProcessStack, in_process_stack, task_item, tasks_in_table

BILLING_ON = {"BillingEnabled": "true"}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch, parameters=BILLING_ON) as s:
        yield s


def _credit(owner: str, cents: int) -> None:
    metering().balances.credit(owner, cents)


def _balance(stack: InProcessStack, key: str | None = None) -> Any:
    response = stack.call("GET", "/api/v1/balance", **({"key": key} if key else {}))
    assert response.status == 200, response.text
    return response.json()


def _executions(stack: InProcessStack) -> list[dict[str, Any]]:
    return list(
        boto3.client("stepfunctions").list_executions(
            stateMachineArn=stack.resources["TaskStateMachine"]
        )["executions"]
    )


# -- /balance -------------------------------------------------------------------------------------


def test_balance_is_the_owners_cents_as_a_string(stack: InProcessStack) -> None:
    assert _balance(stack) == {"balance": "0"}  # never credited

    _credit("alice", 5000)

    assert _balance(stack) == {"balance": "5000"}
    assert _balance(stack, key=BOB_KEY) == {"balance": "0"}  # each owner's own


@pytest.mark.parametrize("key", [None, "bt_not_a_key_0123456789abcdef"])
def test_balance_needs_a_known_key(stack: InProcessStack, key: str | None) -> None:
    response = stack.call("GET", "/api/v1/balance", key=key)

    assert response.status == 401
    assert isinstance(response.json()["detail"], str)


# -- the start fee --------------------------------------------------------------------------------


def test_run_task_below_the_fee_and_one_step_answers_402_and_stores_nothing(
    stack: InProcessStack,
) -> None:
    _credit("alice", 3)  # a gpt-4.1 task needs 1 (fee) + 3 (one step)

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t", "llm_model": "gpt-4.1"})

    assert response.status == 402
    assert response.json() == {
        "detail": "Insufficient balance: a task on gpt-4.1 needs at least 4 cents, you have 3"
    }
    assert tasks_in_table() == []
    assert _executions(stack) == []
    assert _balance(stack) == {"balance": "3"}


def test_an_owner_never_credited_is_told_they_have_0(stack: InProcessStack) -> None:
    response = stack.call("POST", "/api/v1/run-task", body={"task": "t"}, key=BOB_KEY)

    assert response.status == 402
    assert response.json()["detail"].endswith("needs at least 4 cents, you have 0")
    assert tasks_in_table() == []


def test_the_minimum_follows_the_models_step_price(stack: InProcessStack) -> None:
    _credit("alice", 3)

    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "llm_model": "gpt-4o-mini"}
    )

    assert response.status == 200  # 1 + 1 on gpt-4o-mini
    assert _balance(stack) == {"balance": "2"}


def test_the_start_fee_is_taken_when_the_task_is_created(stack: InProcessStack) -> None:
    _credit("alice", 10)
    _credit("bob", 10)

    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    assert _balance(stack) == {"balance": "9"}
    assert _balance(stack, key=BOB_KEY) == {"balance": "10"}
    assert task_item(task_id)["cost_cents"] == {"N": "1"}


def test_the_operators_price_list_sets_the_fee_and_the_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prices = '{"start_fee_cents": 5, "step_cents": {"gpt-4.1": 20}}'
    with in_process_stack(monkeypatch, parameters={**BILLING_ON, "PriceList": prices}) as stack:
        _credit("alice", 24)

        refused = stack.call("POST", "/api/v1/run-task", body={"task": "t"})
        _credit("alice", 1)
        accepted = stack.call("POST", "/api/v1/run-task", body={"task": "t"})

        assert refused.status == 402
        assert "needs at least 25 cents, you have 24" in refused.json()["detail"]
        assert accepted.status == 200
        assert _balance(stack) == {"balance": "20"}
        assert task_item(accepted.json()["id"])["cost_cents"] == {"N": "5"}


def test_a_task_whose_execution_cannot_start_gets_its_fee_back(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _credit("alice", 10)
    monkeypatch.setenv(
        "STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    )
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t"})

    assert response.status == 503
    (item,) = tasks_in_table()
    assert item["status"]["S"] == "failed"
    assert item["cost_cents"] == {"N": "0"}  # what it was charged, in the end
    assert _balance(stack) == {"balance": "10"}


def test_a_task_that_cannot_be_stored_gets_its_fee_back(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _credit("alice", 10)
    monkeypatch.setenv("TASKS_TABLE", "no-such-table")
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t"})

    assert response.status == 503
    assert "Storing the task failed" in response.json()["detail"]
    assert _balance(stack) == {"balance": "10"}


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto applies a conditional update in several
    Python steps without a lock, so threads can interleave inside one request. One lock per
    request gives moto DynamoDB's guarantee, and the test below checks our code, not moto's."""
    lock = threading.RLock()

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    for name in ("get_item", "put_item", "update_item", "transact_write_items"):
        monkeypatch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_run_tasks_never_overdraw_the_balance(stack: InProcessStack) -> None:
    # Given 10 cents: a gpt-4.1 task needs 4 to start and takes 1, so exactly 7 start
    # (at 10, 9, ..., 4) and 3 cents are left, however the 30 requests interleave.
    _credit("alice", 10)
    service = task_service()
    started: list[str] = []
    refused: list[str] = []
    go = threading.Barrier(30)

    def submit() -> None:
        go.wait()
        try:
            started.append(service.create_task("alice", RunTaskRequest(task="t")).task_id)
        except InsufficientBalance as error:
            refused.append(error.detail)

    threads = [threading.Thread(target=submit) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(started) == 7
    assert len(refused) == 23
    assert _balance(stack) == {"balance": "3"}
    assert sorted(i["task_id"]["S"] for i in tasks_in_table()) == sorted(started)


# -- steps, as the worker records them ------------------------------------------------------------


def _recorder(stack: InProcessStack, task: TaskRecord) -> Any:
    from step_recorder import StepRecorder

    env = stack.environment
    return StepRecorder(
        task=task,
        steps_before=0,
        redactor=Redactor(None),
        steps=DynamoStepRepository(env["STEPS_TABLE"]),
        tasks=DynamoTaskRepository(env["TASKS_TABLE"]),
        media=S3MediaStore(env["MEDIA_BUCKET"]),
        metering=metering(),
    )


def _step(task_id: str, number: int) -> StepRecord:
    return StepRecord(task_id=task_id, step=number, created_at="2026-12-01T10:00:00.000000Z")


def test_each_step_is_charged_once_even_when_replayed_and_never_below_0(
    stack: InProcessStack,
) -> None:
    # Given a gpt-4.1 task created with 9 cents: 8 left after the fee, room for 2 steps
    _credit("alice", 9)
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    task = task_service().get("alice", task_id)
    recorder = _recorder(stack, task)
    billing = metering()

    recorder._store(_step(task_id, 1), None)
    recorder._store(_step(task_id, 1), None)  # its worker died after charging; replayed
    assert _balance(stack) == {"balance": "5"}
    assert billing.charge_step(task, 1) is StepCharge.ALREADY_CHARGED
    assert billing.shortfall(task, 1) is None

    recorder._store(_step(task_id, 2), None)
    assert _balance(stack) == {"balance": "2"}
    assert billing.shortfall(task, 2) == (
        "balance exhausted after 2 steps: a step on gpt-4.1 costs 3 cents and the balance is 2"
    )

    # A step that runs all the same (another task spent the balance meanwhile) stays unpaid
    recorder._store(_step(task_id, 3), None)

    assert _balance(stack) == {"balance": "2"}
    item = task_item(task_id)
    assert item["steps_count"] == {"N": "3"}
    assert item["charged_steps"] == {"N": "2"}
    assert item["cost_cents"] == {"N": str(1 + 2 * 3)}  # what was charged: fee and 2 steps


# -- billing off ----------------------------------------------------------------------------------


def test_with_billing_off_nothing_is_refused_or_charged(monkeypatch: pytest.MonkeyPatch) -> None:
    with in_process_stack(monkeypatch) as stack:  # the template's default
        assert stack.environment["BILLING_ENABLED"] == "false"
        task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
        _credit("alice", 5)
        stack.call("POST", "/api/v1/run-task", body={"task": "t"})
        task = task_service().get("alice", task_id)
        _recorder(stack, task)._store(_step(task_id, 1), None)

        assert _balance(stack) == {"balance": "5"}  # still shown, never charged
        item = task_item(task_id)
        assert item["cost_cents"] == {"N": "4"}  # the price list's cost, for information
        assert "charged_steps" not in item
        assert metering().shortfall(task, 1) is None


# -- the operator's CLI ---------------------------------------------------------------------------


def test_balance_add_credits_an_owner(
    stack: InProcessStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(["balance", "add", "--owner", "alice", "--cents", "250", "--stack-name", "test"]) == 0
    )
    assert cli(["balance", "add", "--owner", "alice", "--cents", "50", "--stack-name", "test"]) == 0

    assert capsys.readouterr().out.split() == ["250", "300"]
    assert _balance(stack) == {"balance": "300"}


@pytest.mark.parametrize("cents", ["0", "-5"])
def test_balance_add_refuses_what_is_not_a_credit(
    stack: InProcessStack, capsys: pytest.CaptureFixture[str], cents: str
) -> None:
    assert (
        cli(["balance", "add", "--owner", "alice", "--cents", cents, "--stack-name", "test"]) == 2
    )
    assert "positive" in capsys.readouterr().err
    assert _balance(stack) == {"balance": "0"}
