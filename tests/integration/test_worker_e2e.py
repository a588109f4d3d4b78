"""The agent worker end to end on ``browser-tasks local``: API → state machine → WorkQueue →
AgentWorker (its own process, real Chromium, the real browser-use Agent and ChatOpenAI) →
steps, screenshots, output. Only the model is scripted, over HTTP on loopback."""

import base64
import glob
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes import ScriptedLLM, TestSite, latest_user_text
from tests.fakes.recording_proxy import RecordingProxy
from tests.fakes.test_site import PRODUCTS, PRODUCTS_SCHEMA
from tests.local_stack_process import local_stack_process
from tests.support import every_stored_text
from tests.task_world import TaskWorld

API_KEY = "bt_local_test_worker_key_0123456789"
PROXY_PASSWORD = "proxy-pass-7d1e"
# The caller's schema asks for at least three products; the agent's extraction does not.
CALLER_SCHEMA: dict[str, Any] = json.loads(
    json.dumps(PRODUCTS_SCHEMA).replace('"type": "array"', '"type": "array", "minItems": 3')
)


@dataclass
class World(TaskWorld):
    ads: TestSite  # an ad host on 127.0.0.3, named in the adblock list
    elsewhere: TestSite  # a host on 127.0.0.2 that tasks limited to 127.0.0.1 must never reach
    proxy: RecordingProxy  # the operator's proxy for "de"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    rules = tmp_path_factory.mktemp("adblock") / "rules.txt"
    with (
        ScriptedLLM() as llm,
        TestSite(host="127.0.0.3") as ads,
        TestSite(host="127.0.0.2") as elsewhere,
        TestSite(ad_host=ads.base_url) as site,
        RecordingProxy() as proxy,
    ):
        rules.write_text("! a local list in EasyList format\n||127.0.0.3^\n")
        environment = {
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "sk-scripted",
            "ADBLOCK_RULES_PATH": str(rules),
            # The operator's proxies by country: only "de" is configured here.
            "PROXY_URLS": json.dumps({"de": proxy.url("scout", PROXY_PASSWORD)}),
        }
        with local_stack_process(API_KEY, extra_env=environment) as stack:
            yield World(stack, llm, site, ads, elsewhere, proxy)


@pytest.fixture
def fresh(world: World) -> World:
    world.llm.reset()
    for site in (world.site, world.ads, world.elsewhere):
        site.clear()
    world.proxy.requests.clear()
    return world


def _extract_then_done(products: Any = None) -> Any:
    def script(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        if step == 1:
            return [{"extract": {"query": "all products", "output_schema": PRODUCTS_SCHEMA}}]
        if products is not None:
            return [{"done": {"data": {"products": products}, "success": True}}]
        history = latest_user_text(request)
        start = history.rindex("<structured_result>") + len("<structured_result>")
        found = json.loads(history[start : history.index("</structured_result>", start)])
        return [{"done": {"data": found, "success": True}}]

    return script


def test_structured_task_finishes_with_steps_screenshots_and_output(fresh: World) -> None:
    fresh.llm.set_script(_extract_then_done())

    task_id = fresh.submit(
        {
            "task": f"List the products on {fresh.site.url('/products')}",
            "structured_output_json": json.dumps(CALLER_SCHEMA),
            "allowed_domains": ["127.0.0.1"],
            "metadata": {"suite": "e2e"},
        }
    )

    status = fresh.wait_until_ended(task_id)
    assert status == "finished"
    item = fresh.task_item(task_id)
    assert json.loads(item["structured_output"]) == {"products": PRODUCTS}
    assert item["is_success"] is True
    assert item["steps_count"] == 2
    assert item["cost_cents"] == 1 + 2 * 3  # start fee + 2 steps on gpt-4.1
    steps = sorted(fresh.steps(task_id), key=lambda s: s["step"])
    assert [s["step"] for s in steps] == [1, 2]
    assert all(s["metadata"] == {"suite": "e2e"} for s in steps)
    assert "extract" in steps[0]["actions"][0]
    assert steps[0]["url"].startswith(fresh.site.url("/products"))
    for step in steps:
        assert fresh.media(step["screenshot_key"]).startswith(b"\x89PNG")
    assert item["gif_key"]
    assert fresh.media(item["gif_key"]).startswith(b"GIF8")
    assert fresh.site.hits_for("/products")
    # The chunk's temp folder (profile, downloads, the library's own folders) is gone.
    assert glob.glob(os.path.join(tempfile.gettempdir(), f"chunk-{task_id}-*")) == []

    # And the API reads it all back, with media URLs that download from the stack's S3
    task = fresh.read(f"/task/{task_id}")
    assert (task["status"], task["structured_output"]) == ("finished", {"products": PRODUCTS})
    assert [(s["id"], s["url"]) for s in task["steps"]] == [
        (f"{task_id}-{s['step']}", s["url"]) for s in steps
    ]
    assert (task["steps_count"], task["cost_cents"]) == (2, item["cost_cents"])
    listed = fresh.read("/tasks", **{"metadata[suite]": "e2e", "status": "finished"})
    assert task_id in [t["id"] for t in listed["tasks"]]
    screenshots = fresh.read(f"/task/{task_id}/screenshots")["screenshots"]
    assert len(screenshots) == 2
    for url in screenshots:
        assert url.startswith(fresh.stack.aws_endpoint)
        assert requests.get(url, timeout=30).content.startswith(b"\x89PNG")
    gif = requests.get(fresh.read(f"/task/{task_id}/gif")["gif"], timeout=30)
    assert gif.content == fresh.media(item["gif_key"])
    assert gif.content.startswith(b"GIF8")


def test_output_that_breaks_the_callers_schema_fails_the_task_with_the_reason(
    fresh: World,
) -> None:
    fresh.llm.set_script(_extract_then_done(products=[{"name": "Only one", "price": 1}]))

    task_id = fresh.submit(
        {
            "task": f"List the products on {fresh.site.url('/products')}",
            "structured_output_json": json.dumps(CALLER_SCHEMA),
        }
    )

    assert fresh.wait_until_ended(task_id) == "failed"
    item = fresh.task_item(task_id)
    assert "does not match structured_output_json" in item["failure_reason"]
    assert "too short" in item["failure_reason"]
    assert "structured_output" not in item


def test_a_model_without_its_key_fails_at_once_with_a_clear_reason(fresh: World) -> None:
    task_id = fresh.submit({"task": "anything", "llm_model": "claude-sonnet-4-20250514"})

    assert fresh.wait_until_ended(task_id, timeout=60) == "failed"
    item = fresh.task_item(task_id)
    assert item["failure_reason"] == (
        "claude-sonnet-4-20250514 needs ANTHROPIC_API_KEY, which the operator has not configured"
    )
    assert fresh.steps(task_id) == []
    assert fresh.llm.requests == []


def test_secret_canary_reaches_the_site_and_nothing_else(
    fresh: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"canary-{secrets.token_hex(10)}"
    fresh.llm.set_script(
        [
            [{"navigate": {"url": fresh.site.url("/login")}}],
            [
                {"input": {"field": "username", "text": "<secret>x_user</secret>"}},
                {"input": {"field": "password", "text": "<secret>x_password</secret>"}},
                {"click": {"text": "Submit"}},
            ],
            [{"navigate": {"url": fresh.site.url(f"/page?title=Echo&text={canary}")}}],
            [{"done": {"text": f"Logged in; the page said {canary}", "success": True}}],
        ]
    )

    task_id = fresh.submit(
        {
            "task": "Log in to the test site",
            "secrets": {"x_user": "alice", "x_password": canary},
            "allowed_domains": ["127.0.0.1"],
        }
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    assert fresh.site.logins == [{"username": "alice", "password": canary}]
    # Nowhere else: not stored, not logged, not returned, not sent to the model.
    for name, value in fresh.stack.aws_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    leaks = [where for where, text in every_stored_text() if canary in text]
    assert leaks == []
    assert canary not in fresh.stack.log
    assert fresh.llm.requests_containing(canary) == []
    status = requests.get(
        f"{fresh.stack.api_url}/task/{task_id}/status",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert canary not in status.text
    # And the stored output says where the secret was, by name.
    assert "<secret>x_password</secret>" in fresh.task_item(task_id)["output"]


def _available_path(request: dict[str, Any], name: str) -> str:
    text = latest_user_text(request)
    start = text.index("<available_file_paths>") + len("<available_file_paths>")
    listed = text[start : text.index("</available_file_paths>")]
    return next(line.strip() for line in listed.splitlines() if line.strip().endswith(name))


def test_an_uploaded_file_is_offered_to_the_agent_and_reaches_the_form(fresh: World) -> None:
    content = secrets.token_hex(64).encode()
    presigned = requests.post(
        f"{fresh.stack.api_url}/uploads/presigned-url",
        json={"file_name": "notes.txt", "content_type": "text/plain"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert presigned.status_code == 200
    put = requests.put(
        presigned.json()["upload_url"],
        data=content,
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert put.status_code == 200

    def script(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        if step == 1:
            path = _available_path(request, "notes.txt")
            return [{"upload_file": {"field": "document", "path": path}}]
        if step == 2:
            return [{"click": {"text": "Submit"}}]
        return [{"done": {"text": "Uploaded", "success": True}}]

    fresh.llm.set_script(script)

    task_id = fresh.submit(
        {
            "task": f"Upload notes.txt at {fresh.site.url('/upload')}",
            "included_file_names": ["notes.txt"],
        }
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    assert fresh.site.uploads == [("notes.txt", content)]


def test_a_downloaded_file_becomes_an_output_file(fresh: World) -> None:
    from tests.fakes.test_site import REPORT_CSV

    fresh.llm.set_script(
        [
            [{"click": {"text": "Download report"}}],
            [{"done": {"text": "Downloaded", "success": True}}],
        ]
    )

    task_id = fresh.submit({"task": f"Download the report from {fresh.site.url('/download')}"})

    assert fresh.wait_until_ended(task_id) == "finished"
    item = fresh.task_item(task_id)
    assert item["output_files"] == ["report.csv"]
    assert fresh.media(f"tasks/local/{task_id}/files/report.csv") == REPORT_CSV


def test_saved_browser_data_keeps_the_login_cookie_on_the_task(fresh: World) -> None:
    # Given a task that logs in and keeps its browser data
    # (test_browser_profiles_e2e.py carries a login into a later task on a browser profile)
    fresh.llm.set_script(
        [
            [{"navigate": {"url": fresh.site.url("/login")}}],
            [
                {"input": {"field": "username", "text": "<secret>user</secret>"}},
                {"input": {"field": "password", "text": "<secret>pw</secret>"}},
                {"click": {"text": "Submit"}},
            ],
            [{"done": {"text": "Logged in", "success": True}}],
        ]
    )
    task_id = fresh.submit(
        {
            "task": "Log in",
            "secrets": {"user": "carol", "pw": f"pw-{secrets.token_hex(6)}"},
            "save_browser_data": True,
        }
    )

    # Then its session cookie is saved with it, and the API shows it
    assert fresh.wait_until_ended(task_id) == "finished"
    assert fresh.task_item(task_id)["browser_data_key"] == f"browser-data/local/{task_id}.json.enc"
    cookies = fresh.read(f"/task/{task_id}")["browser_data"]["cookies"]
    (session,) = [c for c in cookies if c["name"] == "session"]
    assert fresh.site.session_user(session["value"]) == "carol"


def _open_and_finish(world: World, url: str, wait: int = 0) -> None:
    steps: list[list[dict[str, Any]]] = [[{"navigate": {"url": url}}]]
    if wait:
        steps.append([{"wait": {"seconds": wait}}])
    world.llm.set_script([*steps, [{"done": {"text": "Done", "success": True}}]])


def test_adblock_keeps_listed_hosts_from_being_requested(fresh: World) -> None:
    _open_and_finish(fresh, fresh.site.url("/ads"))
    blocked = fresh.submit({"task": "Read the article", "use_adblock": True})
    assert fresh.wait_until_ended(blocked) == "finished"
    hits_with_adblock = list(fresh.ads.hits)

    fresh.llm.reset()
    _open_and_finish(fresh, fresh.site.url("/ads"))
    unblocked = fresh.submit({"task": "Read the article", "use_adblock": False})
    assert fresh.wait_until_ended(unblocked) == "finished"

    assert hits_with_adblock == []
    assert {hit.path for hit in fresh.ads.hits} >= {"/ads/banner.js", "/ads/banner.png"}


def test_use_proxy_routes_through_the_operators_proxy_for_the_country(fresh: World) -> None:
    _open_and_finish(fresh, fresh.site.url("/page?title=Via+proxy"))

    task_id = fresh.submit(
        {
            "task": "Open the page",
            "use_proxy": True,
            "proxy_country_code": "de",
            "use_adblock": False,
        }
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    through_proxy = [url for url, _ in fresh.proxy.requests if "/page?title=Via+proxy" in url]
    assert through_proxy
    credentials = {auth for _, auth in fresh.proxy.requests}
    assert credentials == {"Basic " + base64.b64encode(f"scout:{PROXY_PASSWORD}".encode()).decode()}
    assert fresh.site.hits_for("/page")
    assert fresh.task_item(task_id)["notes"] == []
    assert PROXY_PASSWORD not in fresh.stack.log


def test_a_country_without_a_proxy_runs_direct_and_says_so(fresh: World) -> None:
    _open_and_finish(fresh, fresh.site.url("/page?title=Direct"))

    task_id = fresh.submit(
        {"task": "Open the page", "proxy_country_code": "jp", "use_adblock": False}
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    assert fresh.proxy.requests == []
    assert fresh.task_item(task_id)["notes"] == [
        "use_proxy: no proxy is configured for 'jp'; the browser connected directly"
    ]


@pytest.mark.parametrize("via_proxy", [False, True], ids=["direct", "via-proxy"])
def test_allowed_domains_keep_every_request_off_other_hosts(fresh: World, via_proxy: bool) -> None:
    escape_page = fresh.site.url(f"/escape?target={fresh.elsewhere.base_url}")
    _open_and_finish(fresh, escape_page, wait=4)

    task_id = fresh.submit(
        {
            "task": "Open the page and wait",
            "allowed_domains": ["127.0.0.1"],
            "use_proxy": via_proxy,
            "proxy_country_code": "de",
        }
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    assert fresh.site.hits_for("/escape")
    assert fresh.elsewhere.hits == []


def test_without_allowed_domains_the_escape_page_does_reach_the_other_host(fresh: World) -> None:
    # The control for the test above: the page really tries, and would succeed unguarded.
    escape_page = fresh.site.url(f"/escape?target={fresh.elsewhere.base_url}")
    _open_and_finish(fresh, escape_page, wait=4)

    task_id = fresh.submit({"task": "Open the page and wait", "use_proxy": False})

    assert fresh.wait_until_ended(task_id) == "finished"
    reached = {hit.path.split("?")[0] for hit in fresh.elsewhere.hits}
    assert len(reached) >= 8, reached


def test_a_secret_scoped_to_another_domain_is_not_typed_here(fresh: World) -> None:
    canary = f"canary-{secrets.token_hex(8)}"
    fresh.llm.set_script(
        [
            [{"navigate": {"url": fresh.site.url("/login")}}],
            [
                {"input": {"field": "username", "text": "alice"}},
                {"input": {"field": "password", "text": "<secret>bank_pin</secret>"}},
                {"click": {"text": "Submit"}},
            ],
            [{"done": {"text": "Tried", "success": True}}],
        ]
    )

    task_id = fresh.submit(
        {"task": "Log in", "secrets": {"https://*.bank.example": {"bank_pin": canary}}}
    )

    assert fresh.wait_until_ended(task_id) == "finished"
    # The page is not the secret's domain: the value never reaches it.
    assert all(canary not in json.dumps(login) for login in fresh.site.logins)
    assert all(canary not in hit.body.decode(errors="replace") for hit in fresh.site.hits)
    assert canary not in fresh.stack.log


def test_stop_task_ends_a_running_task_after_its_current_step(fresh: World) -> None:
    # Given a task that would take 20 steps of a second each
    fresh.llm.set_script(
        [[{"navigate": {"url": fresh.site.url("/page?title=Long")}}]]
        + [[{"wait": {"seconds": 1}}] for _ in range(19)]
        + [[{"done": {"text": "never reached", "success": True}}]]
    )
    task_id = fresh.submit({"task": "A long task", "use_adblock": False})
    deadline = time.monotonic() + 60
    while fresh.task_item(task_id).get("steps_count", 0) < 2:
        assert time.monotonic() < deadline, "the task never took two steps"
        time.sleep(0.2)

    # When the caller stops it
    response = requests.put(
        f"{fresh.stack.api_url}/stop-task",
        params={"task_id": task_id},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    steps_when_stopped = fresh.task_item(task_id)["steps_count"]

    # Then it ends stopped, within a step, and stays stopped
    assert (response.status_code, response.json()) == (200, {})
    assert fresh.wait_until_ended(task_id, timeout=60) == "stopped"
    item = fresh.task_item(task_id)
    assert steps_when_stopped <= item["steps_count"] <= steps_when_stopped + 1
    assert len(fresh.steps(task_id)) == item["steps_count"]
    again = requests.put(
        f"{fresh.stack.api_url}/stop-task",
        params={"task_id": task_id},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )
    assert again.status_code == 409
