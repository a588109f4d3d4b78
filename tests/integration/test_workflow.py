"""The task lifecycle on moto's executing Step Functions, through ``browser-tasks local``:
step and time limits, chunk boundaries and checkpoints, a worker killed mid-chunk, stop,
pause and resume. Real Chromium and the real Agent; only the model is scripted.

The stack here ends a chunk after every 2 steps (``ChunkMaxSteps=2``), so nearly every task
below crosses chunk boundaries: each one is a checkpoint written, a new worker process state
restored, and the state machine's counters carried on.
"""

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes import browser_state_text
from tests.fakes.scripted_llm import agent_step_number
from tests.task_world import TaskWorld, scripted_world, stack_with_scripted_model

API_KEY = "bt_local_test_workflow_key_0123456789"
CHUNKED = {"ChunkMaxSteps": "2", "MaxChunkRetries": "1"}


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY, CHUNKED) as world:
        yield world


@pytest.fixture
def fresh(world: TaskWorld) -> TaskWorld:
    world.llm.reset()
    world.site.clear()
    return world


def _step_numbers(world: TaskWorld, task_id: str) -> list[int]:
    return sorted(int(s["step"]) for s in world.steps(task_id))


def _by_agent_step(actions: dict[int, list[dict[str, Any]]], default: list[dict[str, Any]]) -> Any:
    """A script keyed on the agent's own step number, so a replayed step gets the same
    actions (the served-request counter would move on)."""

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        return actions.get(agent_step_number(request) or 0, default)

    return script


def _never_done(world: TaskWorld) -> list[dict[str, Any]]:
    return [{"navigate": {"url": world.site.url("/page?title=Again")}}]


# -- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_steps", [5, 1])
def test_max_agent_steps_ends_the_task_failed_with_exactly_that_many_steps(
    fresh: TaskWorld, max_steps: int
) -> None:
    fresh.llm.set_script(_by_agent_step({}, _never_done(fresh)))

    task_id = fresh.submit(
        {"task": "Never finish", "max_agent_steps": max_steps, "use_adblock": False}
    )

    assert fresh.wait_until_ended(task_id) == "failed"
    item = fresh.task_item(task_id)
    assert "maximum steps reached" in item["failure_reason"]
    assert f"max_agent_steps={max_steps}" in item["failure_reason"]
    assert item["steps_count"] == max_steps
    assert _step_numbers(fresh, task_id) == list(range(1, max_steps + 1))


def test_a_task_past_its_time_limit_fails_and_its_worker_stops_stepping(
    fresh: TaskWorld,
) -> None:
    # Given work of 40 one-second steps and a 12-second budget
    fresh.llm.set_script(
        _by_agent_step(
            {1: [{"navigate": {"url": fresh.site.url("/page?title=Slow")}}]},
            [{"wait": {"seconds": 1}}],
        )
    )

    task_id = fresh.submit(
        {"task": "Slow work", "time_limit_seconds": 12, "max_agent_steps": 40, "use_adblock": False}
    )

    assert fresh.wait_until_ended(task_id, timeout=120) == "failed"
    item = fresh.task_item(task_id)
    assert "time limit reached" in item["failure_reason"]
    assert "12 s allowed" in item["failure_reason"]
    steps_at_end = item["steps_count"]
    assert 1 <= steps_at_end < 40
    served = fresh.llm.steps_served
    threading.Event().wait(4)  # longer than a step: nothing more may run
    assert fresh.llm.steps_served == served
    assert fresh.task_item(task_id)["steps_count"] == steps_at_end
    assert _step_numbers(fresh, task_id) == list(range(1, steps_at_end + 1))


def test_time_limit_above_the_deployments_maximum_is_422(fresh: TaskWorld) -> None:
    import requests

    response = requests.post(
        f"{fresh.stack.api_url}/run-task",
        json={"task": "t", "time_limit_seconds": 86_400},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "time_limit_seconds"]


# -- chunk boundaries and checkpoints -----------------------------------------------------------


def _storage_script(world: TaskWorld) -> Any:
    """Log in (cookie), store a value, carry on from the open page in the next chunk, store
    another, and answer with what the page shows: the output depends on everything carried."""

    def done_from_page(request: dict[str, Any]) -> list[dict[str, Any]]:
        page = browser_state_text(request)
        stored = re.search(r"Stored: [^\n<]*", page)
        cookies = re.search(r"Cookies: [^\n<]*", page)
        text = f"{stored.group(0) if stored else '?'} | {cookies.group(0) if cookies else '?'}"
        return [{"done": {"text": text, "success": True}}]

    actions = {
        1: [{"navigate": {"url": world.site.url("/set-cookie?name=session&value=abc")}}],
        2: [{"navigate": {"url": world.site.url("/storage?set=color=blue")}}],
        3: [{"scroll": {"down": True, "pages": 0.5}}],  # on whatever page is open
        4: [{"navigate": {"url": world.site.url("/storage?set=size=L")}}],
    }

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        step = agent_step_number(request) or 0
        return actions[step] if step in actions else done_from_page(request)

    return script


def test_two_step_chunks_give_the_output_of_one_long_chunk_with_cookies_and_page_carried(
    fresh: TaskWorld,
) -> None:
    fresh.llm.set_script(_storage_script(fresh))
    chunked_id = fresh.submit({"task": "Remember things", "use_adblock": False})
    assert fresh.wait_until_ended(chunked_id) == "finished"

    with stack_with_scripted_model(API_KEY, fresh.llm, fresh.site) as one_chunk:
        fresh.llm.reset()
        single_id = one_chunk.submit({"task": "Remember things", "use_adblock": False})
        assert one_chunk.wait_until_ended(single_id) == "finished"
        single = one_chunk.task_item(single_id)

    chunked = fresh.task_item(chunked_id)
    assert chunked["output"] == single["output"]
    assert chunked["output"] == "Stored: color=blue; size=L | Cookies: session=abc"
    assert _step_numbers(fresh, chunked_id) == [1, 2, 3, 4, 5]
    step_three = next(s for s in fresh.steps(chunked_id) if s["step"] == 3)
    assert step_three["url"] == fresh.site.url("/storage?set=color=blue")  # the page carried
    assert fresh.media(chunked["gif_key"]).startswith(b"GIF8")  # frames from every chunk


def test_a_worker_killed_mid_step_is_resumed_from_its_checkpoint(fresh: TaskWorld) -> None:
    # Given a task whose worker dies while step 3 (in the second chunk) runs its action
    killed: list[int] = []
    task: list[str] = []

    def kill_once_step_three_acts() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            started = fresh.task_item(task[0]).get("step_started") or {}
            if started.get("step") == 3:  # recorded before the action runs
                killed.append(fresh.kill_worker())
                return
            time.sleep(0.05)

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        step = agent_step_number(request) or 0
        if step == 3:
            if not killed:
                threading.Thread(target=kill_once_step_three_acts, daemon=True).start()
            return [{"wait": {"seconds": 3}}]
        if step < 3:
            return [{"navigate": {"url": fresh.site.url(f"/page?title=Step+{step}")}}]
        return [{"done": {"text": "all four steps", "success": True}}]

    fresh.llm.set_script(script)
    task.append(fresh.submit({"task": "Survive a crash", "use_adblock": False}))

    # Then SQS redelivers the chunk, which resumes after step 2 and finishes
    assert fresh.wait_until_ended(task[0], timeout=120) == "finished"
    assert killed
    assert _step_numbers(fresh, task[0]) == [1, 2, 3, 4]
    item = fresh.task_item(task[0])
    assert (item["steps_count"], item["output"]) == (4, "all four steps")
    # The replayed step was told its first run may have taken effect
    told = [t for t in fresh.llm.request_texts() if "step 3 was interrupted" in t]
    assert told, "the model was not told that step 3 had been interrupted"


def test_a_worker_killed_every_time_fails_the_task_after_its_retries(fresh: TaskWorld) -> None:
    kills: list[int] = []

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        if agent_step_number(request) == 2:
            kills.append(fresh.kill_worker())
        return [{"navigate": {"url": fresh.site.url("/page?title=Doomed")}}]

    fresh.llm.set_script(script)
    task_id = fresh.submit({"task": "Crash always", "use_adblock": False})

    assert fresh.wait_until_ended(task_id, timeout=240) == "failed"
    reason = fresh.task_item(task_id)["failure_reason"]
    assert "chunk failed 2 times" in reason
    assert "WorkerCrashed" in reason
    # 2 tokens (MaxChunkRetries=1), each delivered twice (the redelivery resumes), then failed
    assert len(kills) == 4
    assert _step_numbers(fresh, task_id) == [1]


# -- stop, pause, resume ------------------------------------------------------------------------


def _slow_steps(world: TaskWorld, count: int) -> Any:
    return _by_agent_step(
        {count: [{"done": {"text": f"{count} steps", "success": True}}]},
        [{"wait": {"seconds": 1}}],
    )


def test_pause_then_resume_finishes_with_steps_continuing_in_order(fresh: TaskWorld) -> None:
    fresh.llm.set_script(_slow_steps(fresh, 7))
    task_id = fresh.submit({"task": "Pausable", "use_adblock": False})
    fresh.wait_for_steps(task_id, 2)

    assert (fresh.control("pause", task_id).status_code, fresh.status(task_id)) == (
        200,
        "running",
    )  # takes effect after the current step
    fresh.wait_for_status(task_id, "paused")
    paused_at = fresh.task_item(task_id)["steps_count"]
    served = fresh.llm.steps_served
    threading.Event().wait(3)
    assert fresh.llm.steps_served == served  # nothing runs while paused
    assert fresh.control("pause", task_id).status_code == 409

    response = fresh.control("resume", task_id)

    assert (response.status_code, response.json()) == (200, {})
    assert fresh.wait_until_ended(task_id) == "finished"
    assert _step_numbers(fresh, task_id) == list(range(1, 8))
    assert fresh.task_item(task_id)["output"] == "7 steps"
    assert paused_at < 7


def test_resume_of_a_running_task_is_refused(fresh: TaskWorld) -> None:
    fresh.llm.set_script(_slow_steps(fresh, 4))
    task_id = fresh.submit({"task": "Running", "use_adblock": False})
    fresh.wait_for_steps(task_id, 1)

    response = fresh.control("resume", task_id)

    assert response.status_code == 409
    assert "only a paused task can be resumed" in response.json()["detail"]
    assert fresh.wait_until_ended(task_id) == "finished"


def test_stop_while_paused_ends_the_task_stopped(fresh: TaskWorld) -> None:
    fresh.llm.set_script(_slow_steps(fresh, 20))
    task_id = fresh.submit({"task": "Pause then stop", "use_adblock": False})
    fresh.wait_for_steps(task_id, 1)
    assert fresh.control("pause", task_id).status_code == 200
    fresh.wait_for_status(task_id, "paused")
    steps_when_paused = fresh.task_item(task_id)["steps_count"]

    response = fresh.control("stop", task_id)

    assert (response.status_code, response.json()) == (200, {})
    assert fresh.wait_until_ended(task_id) == "stopped"
    assert fresh.task_item(task_id)["steps_count"] == steps_when_paused
    assert fresh.control("resume", task_id).status_code == 409
