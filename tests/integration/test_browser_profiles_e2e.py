"""A browser profile end to end on ``browser-tasks local`` (real Chromium, the real agent, only
the model scripted): one task on the profile gets a login cookie and a localStorage item, a
later fresh task on it starts with both, deleting the profile removes its saved state — even
from under a task still running on it — and a task can no longer name it."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes import latest_user_text
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_profiles_key_0123456789"
LOGIN = "carol-7f3e"  # the login cookie's value
WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY) as world:
        yield world


def _api(world: TaskWorld, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{world.stack.api_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {world.stack.api_key}"},
        timeout=30,
    )


def _state_keys(world: TaskWorld) -> list[str]:
    s3 = world.aws("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "statebucket" in b["Name"])
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_a_profile_keeps_a_login_for_the_next_task_until_it_is_deleted(world: TaskWorld) -> None:
    profile_id = _api(world, "POST", "/browser-profiles", {"profile_name": "shop"}).json()[
        "profile_id"
    ]
    state_key = f"profiles/local/{profile_id}.json.enc"

    # Given a task on the profile that logs in (a cookie) and picks a theme (localStorage)
    world.llm.set_script(
        [
            [{"navigate": {"url": world.site.url(f"/set-cookie?name=login&value={LOGIN}")}}],
            [{"navigate": {"url": world.site.url("/storage?set=theme=dark")}}],
            [{"done": {"text": "Logged in", "success": True}}],
        ]
    )
    first = world.submit({"task": "Log in to the shop", "browser_profile_id": profile_id})
    assert world.wait_until_ended(first) == "finished"
    assert state_key in _state_keys(world)

    # When a fresh task on the same profile opens the storage page, its model holding its
    # last answer until the test has deleted the profile
    asked, deleted = threading.Event(), threading.Event()
    seen: list[str] = []

    def script(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        if step == 1:
            return [{"navigate": {"url": world.site.url("/storage")}}]
        seen.append(latest_user_text(request))
        asked.set()
        deleted.wait(WAIT_SECONDS)
        return [{"done": {"text": "Checked", "success": True}}]

    world.llm.reset()
    world.llm.set_script(script)
    world.site.clear()
    second = world.submit({"task": "Check the shop", "browser_profile_id": profile_id})
    try:
        assert asked.wait(WAIT_SECONDS), world.stack.log[-3000:]

        # Then it starts logged in: the site got the cookie, and the page (so the model) shows
        # both the cookie and the localStorage item
        assert f"login={LOGIN}" in world.site.hits_for("/storage")[-1].headers.get("Cookie", "")
        assert f"Cookies: login={LOGIN}" in seen[0]
        assert "Stored: theme=dark" in seen[0]

        # When the profile is deleted while that task still runs
        deleted_answer = _api(world, "DELETE", f"/browser-profiles/{profile_id}")
    finally:
        deleted.set()  # the model answers, whatever happened above
    assert (deleted_answer.status_code, deleted_answer.json()) == (200, {})
    assert state_key not in _state_keys(world)

    # Then the task ends without bringing the profile's state back, and no task can name it
    assert world.wait_until_ended(second) == "finished"
    assert state_key not in _state_keys(world)
    third = _api(world, "POST", "/run-task", {"task": "Again", "browser_profile_id": profile_id})
    assert third.status_code == 422
    assert third.json()["detail"][0]["msg"] == "Browser profile not found"
