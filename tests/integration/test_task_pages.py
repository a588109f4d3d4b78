"""The live view and the public share page, through the real API handler on in-process moto:
the links the task reads give, who they open for (a token, never a key), the page's HTML and
headers, the JSON it polls, and what the share page must never show.

Steps and their screenshots are written through the repositories the worker uses. The browser
side (the page polling in real Chromium against a running task) is test_task_pages_e2e.py.
"""

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.local.api_gateway import rest_proxy_event
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskOutcome
from tests.conftest import ALICE_KEY, BOB_KEY
from tests.support import ApiResponse, InProcessStack, in_process_stack, set_task_fields

HOST = "tasks.example.test"
CANARY = "canary-5be1d07a-secret-never-shown"
METADATA_VALUE = "customer-acme-4471"
NOW = "2026-12-01T10:00:00.000000Z"
SHARED_FIELDS = ["task", "status", "ended", "steps", "output"]
STEP_FIELDS = ["step", "next_goal", "evaluation_previous_goal", "url", "screenshot_url"]
UNKNOWN_ID = "task_00000000000000000000000000"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def _submit(stack: InProcessStack, **body: Any) -> str:
    response = stack.call("POST", "/api/v1/run-task", body={"task": "Read the title", **body})
    assert response.status == 200, response.text
    return str(response.json()["id"])


def _links(stack: InProcessStack, task_id: str) -> tuple[str, str | None]:
    """(live_url, public_share_url) as the owner reads them, reached at HOST over https."""
    response = stack.call(
        "GET", f"/api/v1/task/{task_id}", headers={"Host": HOST, "X-Forwarded-Proto": "https"}
    )
    assert response.status == 200, response.text
    task = response.json()
    return task["live_url"], task["public_share_url"]


def _open(stack: InProcessStack, url: str, query: str = "") -> ApiResponse:
    """GET a page link (or its /state) the way a browser would: no key."""
    return stack.call("GET", urlsplit(url).path + query, key=None)


def _add_step(stack: InProcessStack, task_id: str, step: int) -> None:
    media = S3MediaStore(stack.environment["MEDIA_BUCKET"])
    key = media.put(
        media.screenshot_key("alice", task_id, step),
        b"\x89PNG\r\n\x1a\nstep %d" % step,
        "image/png",
    )
    DynamoStepRepository(stack.environment["STEPS_TABLE"]).put(
        StepRecord(
            task_id=task_id,
            step=step,
            evaluation_previous_goal=f"evaluation {step}",
            memory=f"memory {step}",
            next_goal=f"goal {step}",
            url=f"https://example.com/{step}",
            screenshot_key=key,
            created_at=NOW,
            metadata={"customer": METADATA_VALUE},
        )
    )


def _finish(stack: InProcessStack, task_id: str, **outcome: Any) -> None:
    tasks = DynamoTaskRepository(stack.environment["TASKS_TABLE"])
    tasks.record_outcome(task_id, TaskOutcome(**outcome), NOW)
    tasks.record_progress(task_id, 2, None, NOW)
    tasks.add_note(task_id, "no proxy is configured for 'de': the task ran without one")
    set_task_fields(stack, task_id, status="finished", finished_at=NOW)


def _inline_hash(page: str, tag: str) -> str:
    (source,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    return base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()


# --- the links -------------------------------------------------------------------------------


def test_every_task_has_a_live_url_and_only_a_shared_one_a_share_url(
    stack: InProcessStack,
) -> None:
    # Given a task created with enable_public_share and one without
    shared = _submit(stack, enable_public_share=True)
    private = _submit(stack)

    # When their owner reads them
    shared_live, shared_share = _links(stack, shared)
    private_live, private_share = _links(stack, private)

    # Then each has a live view under the API's own URL, and only the shared one a share page,
    # each with its own unguessable token
    assert shared_live.startswith(f"https://{HOST}/api/v1/live/{shared}/")
    assert private_live.startswith(f"https://{HOST}/api/v1/live/{private}/")
    assert shared_share is not None
    assert shared_share.startswith(f"https://{HOST}/api/v1/share/{shared}/")
    assert private_share is None
    tokens = [url.rsplit("/", 1)[1] for url in (shared_live, shared_share, private_live)]
    assert len(set(tokens)) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)  # 256 bits
    # And the task list gives the same live links
    listed = stack.call(
        "GET", "/api/v1/tasks", headers={"Host": HOST, "X-Forwarded-Proto": "https"}
    )
    assert {t["id"]: t["live_url"] for t in listed.json()["tasks"]} == {
        shared: shared_live,
        private: private_live,
    }


def test_behind_api_gateways_own_url_the_links_carry_the_stage(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    # As API Gateway sends it: its domain, and the stage first in the requested path
    event = rest_proxy_event(
        "GET",
        f"/api/v1/task/{task_id}",
        {"Authorization": f"Bearer {ALICE_KEY}", "X-Forwarded-Proto": "https"},
        b"",
        "127.0.0.1",
    )
    event["requestContext"]["path"] = f"/prod/api/v1/task/{task_id}"
    event["requestContext"]["domainName"] = "abc123.execute-api.us-east-1.amazonaws.com"

    live_url = json.loads(stack.api.invoke(event)["body"])["live_url"]

    base = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/api/v1"
    assert live_url.startswith(f"{base}/live/{task_id}/")
    assert _open(stack, live_url.replace("/prod", "")).status == 200  # API Gateway strips it


# --- who may open them -----------------------------------------------------------------------


def test_a_wrong_or_guessed_token_and_an_unshared_task_all_answer_the_same_404(
    stack: InProcessStack,
) -> None:
    shared = _submit(stack, enable_public_share=True)
    private = _submit(stack)
    live_url, share_url = _links(stack, shared)
    assert share_url is not None
    private_live, _ = _links(stack, private)
    live_token, share_token = live_url.rsplit("/", 1)[1], share_url.rsplit("/", 1)[1]
    guessed = live_token[:-1] + ("A" if live_token[-1] != "A" else "B")

    refused = [
        f"/api/v1/live/{shared}/{guessed}",  # one character off
        f"/api/v1/live/{shared}/{share_token}",  # the share token does not open the live view
        f"/api/v1/share/{shared}/{live_token}",  # ...nor the live token the share page
        f"/api/v1/live/{private}/{live_token}",  # another task's token
        f"/api/v1/live/{UNKNOWN_ID}/{live_token}",
        f"/api/v1/share/{private}/{private_live.rsplit('/', 1)[1]}",  # a task not shared
        f"/api/v1/live/{shared}/{live_token[:-1]}é",  # not ASCII
        f"/api/v1/live/{shared}/x",
    ]
    for path in refused:
        for target in (path, f"{path}/state"):
            response = stack.call("GET", target, key=None)
            assert (response.status, response.json()) == (404, {"detail": "Task not found"}), target
    # An absurd token is refused before any lookup
    too_long = stack.call("GET", f"/api/v1/live/{shared}/{'a' * 65}", key=None)
    assert too_long.status == 422
    # And with the right tokens both open, with no key, or with another owner's key
    assert _open(stack, live_url).status == 200
    assert stack.call("GET", urlsplit(share_url).path + "/state", key=BOB_KEY).status == 200


# --- the page --------------------------------------------------------------------------------


def test_the_page_is_self_contained_html_under_a_strict_policy(stack: InProcessStack) -> None:
    task_id = _submit(stack)
    _add_step(stack, task_id, 1)
    live_url, _ = _links(stack, task_id)

    response = _open(stack, live_url)

    assert response.status == 200
    headers = {name: values[0] for name, values in response.headers.items()}
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    # Nothing keeps or passes on the link, which is the credential
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert headers["Cache-Control"] == "no-store"
    # Only the page's own inline script and style run; data from its origin; images from the
    # media bucket, where the screenshots' URLs point
    page = response.text
    policy = dict(
        directive.split(" ", 1) for directive in headers["Content-Security-Policy"].split("; ")
    )
    screenshot_url = _open(stack, live_url, "/state").json()["steps"][0]["screenshot_url"]
    parts = urlsplit(screenshot_url)
    assert policy == {
        "default-src": "'none'",
        "script-src": f"'sha256-{_inline_hash(page, 'script')}'",
        "style-src": f"'sha256-{_inline_hash(page, 'style')}'",
        "img-src": f"{parts.scheme}://{parts.netloc}",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    # Nothing is loaded from anywhere else (users may be offline), and the page knows its kind
    assert not re.search(r"\b(src|href)=", page)
    assert '<body data-page="live">' in page
    share_page = _open(stack, _links(stack, _submit(stack, enable_public_share=True))[1] or "")
    assert '<body data-page="share">' in share_page.text


# --- what the pages show ---------------------------------------------------------------------


def test_the_live_view_shows_the_owners_task_its_steps_and_screenshots(
    stack: InProcessStack,
) -> None:
    # Given a task with metadata and secrets, two steps, an output file and a note
    task_id = _submit(stack, metadata={"customer": METADATA_VALUE}, secrets={"x_pw": CANARY})
    live_url, _ = _links(stack, task_id)
    running = _open(stack, live_url, "/state").json()
    _add_step(stack, task_id, 2)  # stored out of order, as a replayed step may be
    _add_step(stack, task_id, 1)
    _finish(stack, task_id, output="The title is Example", is_success=True, output_files=["a.csv"])

    # When the page polls, then polls again for what came after step 1
    state = _open(stack, live_url, "/state").json()
    later = _open(stack, live_url, "/state?after=1").json()

    # Then it has the task as its owner sees it, its steps in order with screenshots that load
    assert (running["status"], running["ended"], running["steps"]) == ("created", False, [])
    assert {k: v for k, v in state.items() if k not in ("steps", "created_at")} == {
        "task": "Read the title",
        "status": "finished",
        "ended": True,
        "output": "The title is Example",
        "id": task_id,
        "started_at": None,
        "finished_at": NOW,
        "steps_count": 2,
        "is_success": True,
        "failure_reason": None,
        "output_files": ["a.csv"],
        "metadata": {"customer": METADATA_VALUE},
        "notes": ["no proxy is configured for 'de': the task ran without one"],
    }
    assert [list(step) for step in state["steps"]] == [STEP_FIELDS] * 2
    assert [(s["step"], s["next_goal"], s["url"]) for s in state["steps"]] == [
        (1, "goal 1", "https://example.com/1"),
        (2, "goal 2", "https://example.com/2"),
    ]
    for step in state["steps"]:
        image = requests.get(step["screenshot_url"], timeout=30)
        assert image.content == b"\x89PNG\r\n\x1a\nstep %d" % step["step"]
    assert [s["step"] for s in later["steps"]] == [2]
    # But never the secrets, nor the task's secret ciphertext or tokens
    text = json.dumps(state)
    assert CANARY not in text
    assert "secrets" not in text
    assert live_url.rsplit("/", 1)[1] not in text


def test_the_share_page_shows_steps_and_output_and_nothing_of_the_owner(
    stack: InProcessStack,
) -> None:
    # Given a shared task with metadata, secrets, a failure reason, files, notes and steps
    task_id = _submit(
        stack,
        enable_public_share=True,
        metadata={"customer": METADATA_VALUE},
        secrets={"x_pw": CANARY},
        save_browser_data=True,
    )
    _add_step(stack, task_id, 1)
    _add_step(stack, task_id, 2)
    _finish(stack, task_id, output="Done", is_success=False, output_files=["private-report.csv"])
    set_task_fields(stack, task_id, failure_reason="operator proxy de-proxy-3 refused")
    live_url, share_url = _links(stack, task_id)
    assert share_url is not None

    # When anyone with the link opens it
    page = _open(stack, share_url)
    state = _open(stack, share_url, "/state").json()

    # Then they see the task, its status, steps with screenshots, and output: nothing more
    assert page.status == 200
    assert list(state) == SHARED_FIELDS
    assert (state["task"], state["status"], state["ended"], state["output"]) == (
        "Read the title",
        "finished",
        True,
        "Done",
    )
    assert [(s["step"], s["next_goal"], s["evaluation_previous_goal"]) for s in state["steps"]] == [
        (1, "goal 1", "evaluation 1"),
        (2, "goal 2", "evaluation 2"),
    ]
    assert all(requests.get(s["screenshot_url"], timeout=30).ok for s in state["steps"])
    shown = page.text + json.dumps(state)
    for private in (
        METADATA_VALUE,
        CANARY,
        "private-report.csv",
        "no proxy is configured",
        "de-proxy-3",
        live_url.rsplit("/", 1)[1],
        "cookies",
    ):
        assert private not in shown, private
