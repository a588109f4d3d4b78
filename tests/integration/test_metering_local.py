"""Metering end to end on ``browser-tasks local`` with ``BillingEnabled=true``: the operator
credits an owner with ``browser-tasks balance add``, a task runs in real Chromium until the
balance can pay no further step, and ends failed saying so. Only the model is scripted."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import PROJECT_ROOT
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_metering_key_0123456789"
OWNER = "local"  # the owner `browser-tasks local` gives its key
CREDIT_10 = ["balance", "add", "--owner", OWNER, "--cents", "10"]


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY, {"BillingEnabled": "true"}) as world:
        yield world


def _balance(world: TaskWorld) -> str:
    response = requests.get(
        f"{world.stack.api_url}/balance",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


def test_a_task_ends_failed_when_its_balance_runs_out_and_never_overdraws(
    world: TaskWorld,
) -> None:
    # Given 10 cents, credited by the operator's CLI: a gpt-4.1 task takes 1 to start and 3 a
    # step, so after 3 steps 0 is left and a 4th step cannot be paid for
    credit = subprocess.run(
        [sys.executable, "-m", "browser_tasks.cli", *CREDIT_10],
        cwd=PROJECT_ROOT,
        env=world.stack.aws_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert credit.returncode == 0, credit.stderr
    assert credit.stdout.strip() == "10"
    world.llm.set_script(
        lambda _request, _served: [{"navigate": {"url": world.site.url("/page?title=Again")}}]
    )

    # When a task that never finishes runs
    task_id = world.submit({"task": "Never finish", "llm_model": "gpt-4.1", "max_agent_steps": 10})

    # Then it stops after the steps the balance paid for, failed, with the reason
    assert world.wait_until_ended(task_id) == "failed"
    item = world.task_item(task_id)
    assert item["failure_reason"] == (
        "balance exhausted after 3 steps: a step on gpt-4.1 costs 3 cents and the balance is 0"
    )
    assert item["steps_count"] == 3
    assert sorted(int(s["step"]) for s in world.steps(task_id)) == [1, 2, 3]
    assert item["cost_cents"] == 10  # exactly what was charged
    assert _balance(world) == "0"
    # ...and the next task is refused before anything is stored
    refused = requests.post(
        f"{world.stack.api_url}/run-task",
        json={"task": "One more"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert refused.status_code == 402
    assert refused.json() == {
        "detail": "Insufficient balance: a task on gpt-4.1 needs at least 4 cents, you have 0"
    }
