"""Tenant isolation on a real ``browser-tasks local``: owner B, with a key of its own, calls every
route of the OpenAPI document with owner A's ids (task, scheduled task, browser profile, output
file, uploaded file) and A's live/share tokens, and every page route with tokens that are not
the task's own (B's, another kind's, truncated, random). Only 404s come back, exactly like an
unknown id's, without a key only 401s, and nothing of A's changes.

The routes are read from the served OpenAPI document, so a new route is probed too; one whose
path parameter this module does not know fails the test until a value for it is added.
"""

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.fakes.scripted_llm import agent_step_number
from tests.reliability.canary import check_text
from tests.reliability.conftest import TwoOwners
from tests.reliability.counts import CANARY_SECRETS, record_count
from tests.task_world import TERMINAL

API_PREFIX = "/api/v1"
PAGE_KINDS = ("live", "share")
UPLOAD_NAME = "notes.txt"
# B's own calls on the routes that name no id of A's: the body each needs (none: no body).
OWN_CALL_BODIES: dict[tuple[str, str], Callable[["Owner"], dict[str, Any]]] = {
    ("post", "/run-task"): lambda a: {
        "task": "B names A's profile and A's file",
        "browser_profile_id": a.profile_id,
        "included_file_names": [a.upload_name],
        "secrets": CANARY_SECRETS,
    },
    ("post", "/uploads/presigned-url"): lambda a: {
        "file_name": a.upload_name,
        "content_type": "text/plain",
    },
    ("post", "/browser-profiles"): lambda _: {"profile_name": "B's profile"},
    ("post", "/scheduled-task"): lambda _: {
        "task": "B's schedule",
        "schedule_type": "cron",
        "cron_expression": "0 0 1 1 *",
    },
    ("put", "/webhook"): lambda _: {"url": "http://127.0.0.1:9/b-hook"},
}
# The bodies of the routes that change one of A's things by id: valid ones, so only the
# owner check stands between B and A's data.
CHANGE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/browser-profiles/{profile_id}"): {"description": "changed by B"},
    ("put", "/scheduled-task/{scheduled_task_id}"): {"is_active": False},
}


@dataclass
class Owner:
    key: str
    task_id: str
    tokens: dict[str, str]  # page kind → the token in the task's link
    profile_id: str = ""
    schedule_id: str = ""
    output_file: str = ""
    upload_name: str = ""
    upload_url: str = ""

    def ids(self) -> list[str]:
        names = [self.task_id, self.profile_id, self.schedule_id, *self.tokens.values()]
        return [name for name in names if name]


def _ok(response: requests.Response) -> Any:
    assert response.status_code == 200, f"{response.request.method} {response.url}: {response.text}"
    return response.json()


def _script(site_url: str) -> Callable[[dict[str, Any], int], list[dict[str, Any]]]:
    """A's task downloads the test site's report (an output file); any other task ends at once."""

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        if "Download the report" not in json.dumps(request.get("messages", [])):
            return [{"done": {"text": "Nothing to do", "success": True}}]
        if agent_step_number(request) == 1:
            return [{"click": {"text": "Download report"}}]
        return [{"done": {"text": "Downloaded", "success": True}}]

    return script


def _tokens(task: dict[str, Any]) -> dict[str, str]:
    return {
        kind: task[f"{kind}_url" if kind == "live" else "public_share_url"].rsplit("/", 1)[1]
        for kind in PAGE_KINDS
    }


def _run_task(owners: TwoOwners, key: str, body: dict[str, Any]) -> dict[str, Any]:
    task_id = _ok(owners.call("POST", "/run-task", key, json=body))["id"]
    record_count("tasks created")
    deadline = time.monotonic() + 120
    while (status := _ok(owners.call("GET", f"/task/{task_id}/status", key))) not in TERMINAL:
        assert time.monotonic() < deadline, f"{task_id} is still {status}"
        time.sleep(0.3)
    assert status == "finished", owners.world.stack.log[-3000:]
    return dict(_ok(owners.call("GET", f"/task/{task_id}", key)))


@pytest.fixture(scope="module")
def owner_a_and_b(two_owners: TwoOwners) -> tuple[Owner, Owner]:
    """A with one of everything (a finished task with an output file and links, a profile, a
    schedule, an uploaded file, a webhook); B with a finished task of its own."""
    world = two_owners.world
    world.llm.set_script(_script(world.site.url("/")))
    key_a = two_owners.key_a
    task = _run_task(
        two_owners,
        key_a,
        {
            "task": f"Download the report from {world.site.url('/download')}",
            "secrets": CANARY_SECRETS,
            "enable_public_share": True,
        },
    )
    assert task["output_files"], task
    # The model saw the secret's placeholder, never its value (the sweep checks every request).
    ((placeholder, value),) = CANARY_SECRETS.items()
    assert world.llm.requests_containing(placeholder), "the model never saw the placeholder"
    assert world.llm.requests_containing(value) == []
    a = Owner(key_a, task["id"], _tokens(task), output_file=task["output_files"][0])
    a.profile_id = _ok(
        two_owners.call("POST", "/browser-profiles", key_a, json={"profile_name": "A's"})
    )["profile_id"]
    a.schedule_id = _ok(
        two_owners.call(
            "POST",
            "/scheduled-task",
            key_a,
            json={"task": "A's schedule", "schedule_type": "cron", "cron_expression": "0 0 1 1 *"},
        )
    )["id"]
    upload = _ok(
        two_owners.call(
            "POST",
            "/uploads/presigned-url",
            key_a,
            json={"file_name": UPLOAD_NAME, "content_type": "text/plain"},
        )
    )
    put = requests.put(
        upload["upload_url"], data=b"A's notes", headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert put.status_code == 200, put.text
    a.upload_name, a.upload_url = UPLOAD_NAME, upload["upload_url"]
    b_task = _run_task(
        two_owners,
        two_owners.key_b,
        {"task": "B's own task", "secrets": CANARY_SECRETS, "enable_public_share": True},
    )
    # Last: a webhook registered while tasks ran would keep delivering (and retrying) events.
    _ok(two_owners.call("PUT", "/webhook", key_a, json={"url": "http://127.0.0.1:9/a-hook"}))
    return a, Owner(two_owners.key_b, b_task["id"], _tokens(b_task))


def _operations(owners: TwoOwners) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path under /api/v1, operation) for every operation the API documents."""
    document = _ok(owners.call("GET", "/openapi.json", None))
    return [
        (method, path.removeprefix(API_PREFIX), operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _a_state(owners: TwoOwners, a: Owner) -> dict[str, Any]:
    """Every stored item and object of A's (by owner or by one of A's ids), and A's reads."""
    markers = [*a.ids(), a.upload_name, "a-hook"]
    world = owners.world
    dynamodb = world.aws("dynamodb")
    items = {}
    for table in dynamodb.list_tables()["TableNames"]:
        if "ApiKeysTable" in table:  # a key's last use is not A's data
            continue
        rows = dynamodb.scan(TableName=table)["Items"]
        items[table] = sorted(
            text
            for text in (json.dumps(row, sort_keys=True) for row in rows)
            if any(marker in text for marker in markers) or '"owner": {"S": "local"}' in text
        )
    s3 = world.aws("s3")
    objects = sorted(
        (bucket["Name"], obj["Key"], obj["ETag"])
        for bucket in s3.list_buckets()["Buckets"]
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        if "/local/" in f"/{obj['Key']}" or any(marker in obj["Key"] for marker in markers)
    )
    reads = {
        path: _ok(owners.call("GET", path, a.key))
        for path in (
            f"/task/{a.task_id}",
            f"/browser-profiles/{a.profile_id}",
            f"/scheduled-task/{a.schedule_id}",
            "/webhook",
        )
    }
    # Presigned URLs are signed anew on each read: compared without their signatures.
    unsigned_reads = re.sub(r"\?X-Amz-[^\"]*", "", json.dumps(reads, sort_keys=True))
    return {"items": items, "objects": objects, "reads": unsigned_reads}


def _assert_not_found(response: requests.Response, what: str) -> None:
    record_count("isolation probes")
    check_text(what, response.text)
    assert response.status_code == 404, f"{what}: {response.status_code} {response.text}"
    assert isinstance(response.json().get("detail"), str), f"{what}: {response.text}"


def _assert_unauthorized(response: requests.Response, what: str) -> None:
    record_count("isolation probes")
    assert response.status_code == 401, (
        f"{what} without a key: {response.status_code} {response.text}"
    )
    assert isinstance(response.json().get("detail"), str), f"{what}: {response.text}"


def _page_probes(kind: str, a: Owner, b: Owner) -> list[tuple[str, str, str]]:
    """(task id, token, why it must not open) for a page of this kind."""
    other = next(k for k in PAGE_KINDS if k != kind)
    return [
        (a.task_id, b.tokens[kind], "B's token on A's task"),
        (b.task_id, a.tokens[kind], "A's token on B's task"),
        (a.task_id, a.tokens[other], f"A's {other} token"),
        (a.task_id, a.tokens[kind][:-4], "a truncated token"),
        (a.task_id, secrets.token_urlsafe(24), "a random token"),
    ]


def test_owner_b_gets_only_404s_for_everything_of_owner_a(
    two_owners: TwoOwners, owner_a_and_b: tuple[Owner, Owner]
) -> None:
    a, b = owner_a_and_b
    path_values = {
        "task_id": a.task_id,
        "scheduled_task_id": a.schedule_id,
        "profile_id": a.profile_id,
        "file_name": a.output_file,
    }
    before = _a_state(two_owners, a)
    probed = []
    for method, path, operation in _operations(two_owners):
        parameters = {p["name"]: p["in"] for p in operation.get("parameters", [])}
        what = f"{method.upper()} {path}"
        if path.split("/")[1] in PAGE_KINDS:
            _probe_pages(two_owners, method, path, a, b)
        elif parameters.get("task_id") == "query" or any(v == "path" for v in parameters.values()):
            unknown = sorted(
                n for n, at in parameters.items() if at == "path" and n not in path_values
            )
            assert not unknown, f"{what}: no owner-A value for path parameter(s) {unknown}: add one"
            url = re.sub(r"\{(\w+)\}", lambda m: path_values[m.group(1)], path)
            params = {"task_id": a.task_id} if parameters.get("task_id") == "query" else None
            body = CHANGE_BODIES.get((method, path)) if "requestBody" in operation else None
            assert "requestBody" not in operation or body, f"{what}: add a body to CHANGE_BODIES"
            for key in (b.key, None):
                response = two_owners.call(method, url, key, params=params, json=body)
                (_assert_not_found if key else _assert_unauthorized)(response, f"B: {what}")
        elif operation.get("security") == []:  # public and naming nothing: /ping
            assert "{" not in path
        else:
            _own_call(two_owners, method, path, operation, a, b)
        probed.append(what)
    record_count("routes probed", len(probed))
    assert len(probed) >= 30, probed

    assert _a_state(two_owners, a) == before, "B's calls changed something of A's"


def _probe_pages(owners: TwoOwners, method: str, path: str, a: Owner, b: Owner) -> None:
    kind = path.split("/")[1]
    own = owners.call(
        method, path.replace("{task_id}", a.task_id).replace("{token}", a.tokens[kind]), None
    )
    assert own.status_code == 200, f"A's own {kind} link does not open: {own.text}"  # the control
    for task_id, token, why in _page_probes(kind, a, b):
        url = path.replace("{task_id}", task_id).replace("{token}", token)
        _assert_not_found(owners.call(method, url, None), f"{method.upper()} {path} with {why}")


def _own_call(
    owners: TwoOwners, method: str, path: str, operation: dict[str, Any], a: Owner, b: Owner
) -> None:
    """B's call of a route that names no id: whatever it answers holds nothing of A's."""
    what = f"{method.upper()} {path}"
    make_body = OWN_CALL_BODIES.get((method, path))
    assert "requestBody" not in operation or make_body, f"{what}: add a body to OWN_CALL_BODIES"
    response = owners.call(method, path, b.key, json=make_body(a) if make_body else None)
    record_count("isolation probes")
    check_text(f"B: {what}", response.text)
    assert response.status_code < 500, f"B: {what}: {response.status_code} {response.text}"
    leaked = [marker for marker in (*a.ids(), "a-hook") if marker in response.text]
    assert not leaked, f"B: {what} answered A's {leaked}: {response.text}"
    if (method, path) == ("post", "/run-task"):
        # A's profile and file are as unknown to B as ones that never existed.
        unknown = {"browser_profile_id": "prof_" + "0" * 26, "included_file_names": ["none.txt"]}
        answer = owners.call(method, path, b.key, json={**make_body(a), **unknown})  # type: ignore[misc]
        assert response.status_code == answer.status_code == 422, response.text
        assert _named_as(response.text, a) == _named_as(answer.text, a, unknown)
    if (method, path) == ("post", "/uploads/presigned-url"):  # B's own slot, not A's file
        assert a.upload_url.split("?")[0] != response.json()["upload_url"].split("?")[0]


def _named_as(text: str, a: Owner, unknown: dict[str, Any] | None = None) -> str:
    """``text`` with A's profile and file names (or the unknown ones) replaced by placeholders."""
    profile, file_name = (
        (unknown["browser_profile_id"], unknown["included_file_names"][0])
        if unknown
        else (a.profile_id, a.upload_name)
    )
    return text.replace(profile, "<profile>").replace(file_name, "<file>")
