"""The live view and the share page in real headless Chromium, against ``browser-tasks local``
running a real task (real worker Chromium, the real Agent; only the model is scripted).

The model holds the task before its 4th step until the test has looked at the live view, so
"the steps appear without a reload" is seen, not raced: 3 steps while it waits, 5 at the end,
in the same document.
"""

import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser_probe import Probe, browser, offline_browser_use, poll, run
from tests.fakes.scripted_llm import agent_step_number
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_task_pages_key_0123456789"
METADATA_VALUE = "customer-acme-8812"
GOALS = ["Open the login page", "Log in", "Open the echo page", "Open page four", "Report"]
SCENARIO_TIMEOUT = 180.0

STEP_COUNT = "document.querySelectorAll('#steps li.step').length"
# Every screenshot fetched from the stack's S3 and decoded (a failed load has no width).
IMAGES_LOADED = (
    "[...document.images].length > 0 && "
    "[...document.images].every((image) => image.complete && image.naturalWidth > 0)"
)
ENDED = "document.body.dataset.ended === 'true'"


@pytest.fixture(autouse=True)
def _offline_browser_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline_browser_use(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY) as world:
        yield world


def _script(world: TaskWorld, canary: str, held: threading.Event) -> Any:
    actions: dict[int, list[dict[str, Any]]] = {
        1: [{"navigate": {"url": world.site.url("/login")}}],
        2: [
            {"input": {"field": "username", "text": "<secret>x_user</secret>"}},
            {"input": {"field": "password", "text": "<secret>x_password</secret>"}},
            {"click": {"text": "Submit"}},
        ],
        # The secret in a URL: the stored step's url is redacted
        3: [{"navigate": {"url": world.site.url(f"/page?title=Echo&ref={canary}")}}],
        4: [{"navigate": {"url": world.site.url("/page?title=Four")}}],
        5: [{"done": {"text": f"Logged in; the link carried {canary}", "success": True}}],
    }

    def script(request: dict[str, Any], _served: int) -> dict[str, Any]:
        step = agent_step_number(request) or 0
        if step == 4:
            held.wait(timeout=60)  # until the test has seen the first three steps
        return {"actions": actions[step], "next_goal": GOALS[step - 1]}

    return script


async def _value(probe: Probe, tab: str, expression: str, timeout: float = 30) -> Any:
    """The expression's value once truthy (polled in the page); its last value otherwise."""
    return await poll(lambda: probe.evaluate(tab, expression), timeout)


async def _texts(probe: Probe, tab: str, selector: str) -> list[str]:
    return list(
        await probe.evaluate(
            tab, f"[...document.querySelectorAll({selector!r})].map((e) => e.textContent)"
        )
    )


def test_the_live_view_follows_a_running_task_and_the_share_page_shows_it_redacted(
    world: TaskWorld,
) -> None:
    # Given a shared task with metadata and a secret, held by its model before step 4
    canary = f"canary-{secrets.token_hex(8)}"
    held = threading.Event()
    world.llm.set_script(_script(world, canary, held))
    task_id = world.submit(
        {
            "task": "Log in to the test site and report",
            "secrets": {"x_user": "alice", "x_password": canary},
            "metadata": {"customer": METADATA_VALUE},
            "enable_public_share": True,
            "use_adblock": False,
        }
    )
    world.wait_for_steps(task_id, 3)
    task = world.read(f"/task/{task_id}")
    live_url, share_url = task["live_url"], task["public_share_url"]
    assert live_url.startswith(f"{world.stack.api_url}/live/{task_id}/")
    assert share_url.startswith(f"{world.stack.api_url}/share/{task_id}/")

    def screenshots() -> list[str]:
        return list(world.read(f"/task/{task_id}/screenshots")["screenshots"])

    async def scenario() -> None:
        async with browser() as (_, probe):
            # When the owner opens the live view while the task runs
            live = await probe.open_tab(live_url)
            assert await _value(probe, live, f"{STEP_COUNT} === 3 && {IMAGES_LOADED}")
            assert await _texts(probe, live, "#status") == ["running"]
            assert await probe.evaluate(live, ENDED) is False  # still polling
            await probe.evaluate(live, "window.sameDocument = true")
            # Then its steps appear as the task goes on, without a reload, until it ends
            held.set()
            assert await _value(probe, live, ENDED, timeout=90), "the live view never ended"
            assert await probe.evaluate(live, "window.sameDocument === true")
            assert await probe.evaluate(live, STEP_COUNT) == 5
            assert await _value(probe, live, IMAGES_LOADED)
            # one per step that has a screenshot: all but step 1, which began on a blank tab
            assert await probe.evaluate(live, "document.images.length") == len(screenshots()) == 4
            assert await _texts(probe, live, "#status") == ["finished"]
            shown = await _texts(probe, live, "#steps li.step dd")
            assert [shown[i] for i in range(0, 15, 3)] == GOALS  # goal, evaluation, url
            # the owner's metadata is on the live view (so its absence below means something)
            assert METADATA_VALUE in await _texts(probe, live, "#metadata dd")

            # When anyone opens the share page after the run
            shared = await probe.open_tab(share_url)
            assert await _value(probe, shared, ENDED)
            # Then it has the steps and their screenshots, and no metadata or secret
            assert await probe.evaluate(shared, STEP_COUNT) == 5
            assert await _value(probe, shared, IMAGES_LOADED)
            assert await probe.evaluate(shared, "document.images.length") == 4
            assert await _texts(probe, shared, "#status") == ["finished"]
            assert "<secret>x_password</secret>" in (await _texts(probe, shared, "#output"))[0]
            dom = await probe.evaluate(shared, "document.documentElement.outerHTML")
            assert METADATA_VALUE not in dom
            assert canary not in dom
            assert await probe.evaluate(shared, "document.querySelector('#details').hidden")

    try:
        run(scenario(), SCENARIO_TIMEOUT)
    finally:
        held.set()  # never leave the model holding the stack's worker

    # And the JSON behind the share page holds neither either
    state = requests.get(f"{share_url}/state", timeout=30)
    assert state.status_code == 200
    assert METADATA_VALUE not in state.text
    assert canary not in state.text
    assert [s["step"] for s in json.loads(state.text)["steps"]] == [1, 2, 3, 4, 5]
