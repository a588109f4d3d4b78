"""PUT /pause-task and /resume-task on the API (in-process moto), and the worker's side of a
pause: storing the paused execution's token and answering a request that came before it.

Without execution, moto's Step Functions takes any task token; the tests set the status the
state machine would have set and watch the SendTaskSuccess calls each side makes.
"""

import json
from collections.abc import Iterator
from types import ModuleType

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tests.conftest import BOB_KEY
from tests.support import (
    InProcessStack,
    agent_worker_app,
    in_process_stack,
    record_task_token_answers,
    set_task_fields,
    task_item,
)

PAUSE_TOKEN = "pause-token"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


@pytest.fixture
def worker(stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The AgentWorker's handler module, wired to this test's stack."""
    with agent_worker_app(monkeypatch) as module:
        yield module


def _new_task(stack: InProcessStack, **fields: str | bool) -> str:
    task_id: str = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    if fields:
        set_task_fields(stack, task_id, **fields)
    return task_id


def _flag(task_id: str, name: str) -> bool:
    return bool(task_item(task_id).get(name, {}).get("BOOL", False))


def _park_pause_token(worker: ModuleType, task_id: str) -> None:
    """Deliver the state machine's AwaitResume message to the worker."""
    body = {
        "kind": "await_resume",
        "task_id": task_id,
        "owner": "alice",
        "task_token": PAUSE_TOKEN,
        "execution_arn": "not-a-real-execution",
    }
    worker.record_handler(SQSRecord({"body": json.dumps(body)}))


# pause-task


@pytest.mark.parametrize("status", ["created", "running"])
def test_a_created_or_running_task_is_asked_to_pause_after_its_current_step(
    stack: InProcessStack, status: str
) -> None:
    task_id = _new_task(stack, status=status)

    response = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")

    assert (response.status, response.json()) == (200, {})
    assert _flag(task_id, "pause_requested")
    assert task_item(task_id)["status"]["S"] == status  # the worker and state machine pause it


def test_asking_a_task_to_pause_twice_is_harmless(stack: InProcessStack) -> None:
    task_id = _new_task(stack, status="running")

    first = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")
    second = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")

    assert (first.status, second.status) == (200, 200)
    assert _flag(task_id, "pause_requested")


def test_a_paused_task_cannot_be_paused_again(stack: InProcessStack) -> None:
    task_id = _new_task(stack, status="paused")

    response = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")

    assert (response.status, response.json()) == (409, {"detail": "Task is already paused"})
    assert not _flag(task_id, "pause_requested")


@pytest.mark.parametrize("terminal", ["finished", "failed", "stopped"])
def test_an_ended_task_cannot_be_paused(stack: InProcessStack, terminal: str) -> None:
    task_id = _new_task(stack, status=terminal)

    response = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")

    assert response.status == 409
    assert response.json() == {"detail": f"Task is already {terminal}; it cannot be paused"}
    assert not _flag(task_id, "pause_requested")


def test_a_task_being_stopped_cannot_be_paused(stack: InProcessStack) -> None:
    task_id = _new_task(stack, status="running")
    stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    response = stack.call("PUT", f"/api/v1/pause-task?task_id={task_id}")

    assert response.status == 409
    assert response.json() == {"detail": "Task is being stopped; it cannot be paused"}
    assert not _flag(task_id, "pause_requested")


# resume-task


def test_a_paused_tasks_waiting_execution_is_answered_resume(stack: InProcessStack) -> None:
    task_id = _new_task(stack, status="paused", resume_token=PAUSE_TOKEN, pause_requested=True)
    answers = record_task_token_answers()

    response = stack.call("PUT", f"/api/v1/resume-task?task_id={task_id}")

    assert (response.status, response.json()) == (200, {})
    assert answers == [(PAUSE_TOKEN, {"state": "resume"})]
    assert _flag(task_id, "resume_requested")
    assert "pause_requested" not in task_item(task_id)  # a later pause-task starts afresh


@pytest.mark.parametrize("status", ["created", "running", "finished", "failed", "stopped"])
def test_only_a_paused_task_can_be_resumed(stack: InProcessStack, status: str) -> None:
    task_id = _new_task(stack, status=status)
    answers = record_task_token_answers()

    response = stack.call("PUT", f"/api/v1/resume-task?task_id={task_id}")

    assert response.status == 409
    assert response.json() == {"detail": f"Task is {status}; only a paused task can be resumed"}
    assert not _flag(task_id, "resume_requested")
    assert answers == []


def test_a_paused_task_being_stopped_cannot_be_resumed(stack: InProcessStack) -> None:
    task_id = _new_task(stack, status="paused")
    stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    response = stack.call("PUT", f"/api/v1/resume-task?task_id={task_id}")

    assert response.status == 409
    assert response.json() == {"detail": "Task is being stopped; it cannot be resumed"}
    assert not _flag(task_id, "resume_requested")


# The worker's side: the AwaitResume message stores the token, and reads the flags back with it.


def test_a_resume_asked_before_the_token_is_stored_is_answered_by_the_worker(
    stack: InProcessStack, worker: ModuleType
) -> None:
    task_id = _new_task(stack, status="paused")
    answers = record_task_token_answers()

    response = stack.call("PUT", f"/api/v1/resume-task?task_id={task_id}")
    assert (response.status, answers) == (200, [])  # no token to answer yet
    _park_pause_token(worker, task_id)

    assert answers == [(PAUSE_TOKEN, {"state": "resume"})]
    assert task_item(task_id)["resume_token"] == {"S": PAUSE_TOKEN}


def test_a_stop_asked_before_the_token_is_stored_is_answered_by_the_worker(
    stack: InProcessStack, worker: ModuleType
) -> None:
    task_id = _new_task(stack, status="paused")
    answers = record_task_token_answers()

    stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")
    _park_pause_token(worker, task_id)

    assert answers == [(PAUSE_TOKEN, {"state": "stopped"})]


def test_a_stop_after_a_resume_wins_when_the_worker_answers(
    stack: InProcessStack, worker: ModuleType
) -> None:
    task_id = _new_task(stack, status="paused")
    answers = record_task_token_answers()

    stack.call("PUT", f"/api/v1/resume-task?task_id={task_id}")
    stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")
    _park_pause_token(worker, task_id)

    assert answers == [(PAUSE_TOKEN, {"state": "stopped"})]


def test_a_pause_nobody_has_answered_yet_waits(stack: InProcessStack, worker: ModuleType) -> None:
    task_id = _new_task(stack, status="paused")
    answers = record_task_token_answers()

    _park_pause_token(worker, task_id)

    assert answers == []
    assert task_item(task_id)["resume_token"] == {"S": PAUSE_TOKEN}


# Errors shared by both routes


@pytest.mark.parametrize("route", ["pause-task", "resume-task"])
def test_another_owners_or_an_unknown_task_is_404(stack: InProcessStack, route: str) -> None:
    task_id = _new_task(stack, status="paused" if route == "resume-task" else "running")

    as_bob = stack.call("PUT", f"/api/v1/{route}?task_id={task_id}", key=BOB_KEY)
    unknown = stack.call("PUT", f"/api/v1/{route}?task_id=task_nope")

    assert (as_bob.status, as_bob.json()) == (404, {"detail": "Task not found"})
    assert (unknown.status, unknown.json()) == (404, {"detail": "Task not found"})
    assert not _flag(task_id, "pause_requested")
    assert not _flag(task_id, "resume_requested")


@pytest.mark.parametrize("route", ["pause-task", "resume-task"])
def test_a_task_id_and_a_key_are_needed(stack: InProcessStack, route: str) -> None:
    missing = stack.call("PUT", f"/api/v1/{route}")
    no_key = stack.call("PUT", f"/api/v1/{route}?task_id=x", key=None)

    assert missing.status == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "task_id"]
    assert no_key.status == 401
