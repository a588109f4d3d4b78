"""Webhooks through ``browser-tasks local``: a task run with the real Agent in Chromium (only
the model is scripted) reaches a receiver on loopback as signed created → running → finished,
in order, and a receiver that fails twice gets its event on the third try, later each time.
The stack retries on a 1 s base (``WebhookRetryBaseSeconds=1``): tries 2 s, then 4 s apart.
"""

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_webhooks_key_0123456789"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[TaskWorld, WebhookReceiver]]:
    with (
        WebhookReceiver() as hooks,
        scripted_world(API_KEY, {"WebhookRetryBaseSeconds": "1"}) as world,
    ):
        response = requests.put(
            f"{world.stack.api_url}/webhook",
            json={"url": hooks.url()},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        hooks.secret = response.json()["secret"]
        yield world, hooks


def test_a_tasks_run_reaches_the_receiver_created_running_finished_in_order_and_signed(
    world: tuple[TaskWorld, WebhookReceiver],
) -> None:
    tasks, hooks = world
    tasks.llm.set_script(
        [
            [{"navigate": {"url": tasks.site.url("/page?title=Webhooks")}}],
            [{"done": {"text": "seen", "success": True}}],
        ]
    )
    metadata = {"order": "42"}

    task_id = tasks.submit({"task": "Look once", "metadata": metadata, "use_adblock": False})

    assert tasks.wait_until_ended(task_id) == "finished"
    deliveries = hooks.wait_for(3, task_id=task_id)
    bodies = [d.json() for d in deliveries]
    assert [b["payload"] for b in bodies] == [
        {"task_id": task_id, "status": status, "metadata": metadata}
        for status in ("created", "running", "finished")
    ]
    assert all(b["type"] == "agent.task.status_update" for b in bodies)
    assert all(d.signature_valid and d.answered == 200 for d in deliveries)
    changed_at = [datetime.fromisoformat(b["timestamp"]) for b in bodies]
    assert changed_at == sorted(changed_at)
    time.sleep(1)  # and nothing more for the task: no duplicate, no stray status
    assert len([d for d in hooks.deliveries if d.json()["payload"].get("task_id") == task_id]) == 3


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try_later_each_time(
    world: tuple[TaskWorld, WebhookReceiver],
) -> None:
    tasks, hooks = world
    hooks.answer_next(500, 500)

    response = requests.post(
        f"{tasks.stack.api_url}/webhook/test",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )

    assert (response.status_code, response.json()) == (200, {})
    tries = hooks.wait_for(3, timeout=60, test="ok")
    assert [t.answered for t in tries] == [500, 500, 200]
    assert all(t.signature_valid for t in tries)  # each try signed afresh
    assert len({t.json()["timestamp"] for t in tries}) == 1  # the same event each time
    first_wait = tries[1].received_at - tries[0].received_at
    second_wait = tries[2].received_at - tries[1].received_at
    assert 1.5 <= first_wait < second_wait  # 2 s, then 4 s (base 1 s x 2^try)
    assert second_wait >= 3.5
