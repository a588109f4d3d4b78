"""PUT /stop-task on the API (in-process moto): every state it may meet, and its errors."""

from collections.abc import Iterator

import pytest

from tests.conftest import BOB_KEY
from tests.support import (
    InProcessStack,
    in_process_stack,
    record_task_token_answers,
    set_task_fields,
    task_item,
    tasks_in_table,
)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def _status(task_id: str) -> str:
    return str(task_item(task_id)["status"]["S"])


def test_a_task_that_has_not_started_is_stopped_at_once(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    response = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    assert (response.status, response.json()) == (200, {})
    assert _status(task_id) == "stopped"
    assert stack.call("GET", f"/api/v1/task/{task_id}/status").json() == "stopped"


def test_a_running_task_is_asked_to_stop_after_its_current_step(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    set_task_fields(stack, task_id, status="running")

    response = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    assert response.status == 200
    (item,) = tasks_in_table()
    assert item["stop_requested"] == {"BOOL": True}
    assert item["status"]["S"] == "running"  # the worker and the state machine end it


def test_a_paused_tasks_waiting_execution_is_answered_stopped(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    set_task_fields(stack, task_id, status="paused", resume_token="pause-token")
    answers = record_task_token_answers()

    response = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    assert (response.status, response.json()) == (200, {})
    assert answers == [("pause-token", {"state": "stopped"})]
    assert task_item(task_id)["stop_requested"] == {"BOOL": True}


def test_a_pause_whose_token_is_not_stored_yet_is_left_to_the_worker(
    stack: InProcessStack,
) -> None:
    # The worker stores the token with the flags read back atomically: it answers this stop.
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    set_task_fields(stack, task_id, status="paused")
    answers = record_task_token_answers()

    response = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    assert response.status == 200
    assert answers == []
    assert task_item(task_id)["stop_requested"] == {"BOOL": True}


@pytest.mark.parametrize("terminal", ["finished", "failed", "stopped"])
def test_an_ended_task_cannot_be_stopped(stack: InProcessStack, terminal: str) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]
    set_task_fields(stack, task_id, status=terminal)

    response = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}")

    assert response.status == 409
    assert response.json() == {"detail": f"Task is already {terminal}; it cannot be stopped"}
    assert _status(task_id) == terminal


def test_another_owners_or_an_unknown_task_is_404(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    as_bob = stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}", key=BOB_KEY)
    unknown = stack.call("PUT", "/api/v1/stop-task?task_id=task_nope")

    assert (as_bob.status, as_bob.json()) == (404, {"detail": "Task not found"})
    assert unknown.status == 404
    assert _status(task_id) == "created"


def test_stop_needs_a_task_id_and_a_key(stack: InProcessStack) -> None:
    missing = stack.call("PUT", "/api/v1/stop-task")
    no_key = stack.call("PUT", "/api/v1/stop-task?task_id=x", key=None)

    assert missing.status == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "task_id"]
    assert no_key.status == 401
