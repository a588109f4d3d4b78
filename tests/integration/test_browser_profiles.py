"""Browser profiles on in-process moto with the real API handler: ``/browser-profiles`` CRUD and
paging, the v1 errors (401, 404 for another owner's id like an unknown one, 422), run-task
naming a profile (refused unless it is the caller's; the profile's settings stand in for those
the request left unset), and the rule for keeping a profile's browser state.
test_browser_profiles_e2e.py runs real tasks on a profile through ``browser-tasks local``."""

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from browser_tasks.adapters.dynamodb_items import from_item
from browser_tasks.models.browser_profile import PROFILE_ID_PATTERN
from browser_tasks.services import browser_profile_service
from tests.conftest import BOB_KEY
from tests.support import (
    InProcessStack,
    all_table_items,
    every_stored_text,
    in_process_stack,
    task_item,
    tasks_in_table,
)

PROFILES = "/api/v1/browser-profiles"
UNKNOWN_ID = "prof_01kbd7xk3m2q8v5y6z7a8b9c0d"
VIEW_FIELDS = {
    "profile_id",
    "profile_name",
    "description",
    "persist",
    "ad_blocker",
    "proxy",
    "proxy_country_code",
    "browser_viewport_width",
    "browser_viewport_height",
    "created_at",
    "updated_at",
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def _create(stack: InProcessStack, key: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"profile_name": "shop", **fields}
    response = stack.call("POST", PROFILES, body=body, **({"key": key} if key else {}))
    assert response.status == 200, response.text
    return dict(response.json())


def _profile_items() -> list[dict[str, Any]]:
    return [
        from_item(item)
        for name, items in all_table_items().items()
        if "ProfilesTable" in name
        for item in items
    ]


def _state_keys(stack: InProcessStack) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.environment["STATE_BUCKET"])
    return [o["Key"] for o in listed.get("Contents", [])]


# --- CRUD -------------------------------------------------------------------------------------


def test_a_created_profile_has_v1_defaults_and_reads_back(stack: InProcessStack) -> None:
    created = _create(stack, profile_name="Shopping account")

    assert set(created) == VIEW_FIELDS
    assert re.match(PROFILE_ID_PATTERN, created["profile_id"])
    assert created | {"profile_id": "", "created_at": "", "updated_at": ""} == {
        "profile_id": "",
        "profile_name": "Shopping account",
        "description": "",
        "persist": True,
        "ad_blocker": True,
        "proxy": True,
        "proxy_country_code": "us",
        "browser_viewport_width": 1280,
        "browser_viewport_height": 960,
        "created_at": "",
        "updated_at": "",
    }
    assert created["created_at"] == created["updated_at"]
    read = stack.call("GET", f"{PROFILES}/{created['profile_id']}")
    assert (read.status, read.json()) == (200, created)
    (item,) = _profile_items()
    assert (item["owner"], item["profile_id"]) == ("alice", created["profile_id"])


def test_profiles_are_listed_newest_first_a_page_at_a_time(stack: InProcessStack) -> None:
    ids = [_create(stack, profile_name=f"p{n}")["profile_id"] for n in range(3)]
    _create(stack, key=BOB_KEY, profile_name="bob's")

    first = stack.call("GET", f"{PROFILES}?page=1&limit=2").json()
    second = stack.call("GET", f"{PROFILES}?page=2&limit=2").json()
    past_the_end = stack.call("GET", f"{PROFILES}?page=3&limit=2").json()
    default = stack.call("GET", PROFILES).json()

    assert [p["profile_id"] for p in first["profiles"]] == [ids[2], ids[1]]
    assert {k: v for k, v in first.items() if k != "profiles"} == {
        "total_pages": 2,
        "page": 1,
        "limit": 2,
        "total_count": 3,
    }
    assert [p["profile_id"] for p in second["profiles"]] == [ids[0]]
    assert (past_the_end["profiles"], past_the_end["total_count"]) == ([], 3)
    assert (default["limit"], len(default["profiles"])) == (10, 3)
    assert set(default["profiles"][0]) == VIEW_FIELDS


def test_paging_is_validated_like_the_task_list(stack: InProcessStack) -> None:
    for query in ("page=0", "limit=0", "limit=101", "page=x"):
        response = stack.call("GET", f"{PROFILES}?{query}")

        assert response.status == 422, query
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["query", query.split("=")[0]]
        assert set(problem) == {"loc", "msg", "type"}


def test_put_changes_only_the_fields_sent(stack: InProcessStack) -> None:
    created = _create(stack, description="for the shop")

    response = stack.call(
        "PUT",
        f"{PROFILES}/{created['profile_id']}",
        body={"persist": False, "browser_viewport_width": 800, "proxy_country_code": "de"},
    )

    assert response.status == 200, response.text
    updated = response.json()
    assert updated == created | {
        "persist": False,
        "browser_viewport_width": 800,
        "proxy_country_code": "de",
        "updated_at": updated["updated_at"],
    }
    assert updated["updated_at"] > created["updated_at"]
    assert stack.call("GET", f"{PROFILES}/{created['profile_id']}").json() == updated
    nothing_sent = stack.call("PUT", f"{PROFILES}/{created['profile_id']}", body={})
    assert nothing_sent.json() == updated


INVALID_FIELDS = [
    ("no name", {"profile_name": None}, ["body", "profile_name"]),
    ("blank name", {"profile_name": "   "}, ["body", "profile_name"]),
    ("long name", {"profile_name": "n" * 101}, ["body", "profile_name"]),
    ("long description", {"description": "d" * 501}, ["body", "description"]),
    ("unknown country", {"proxy_country_code": "xx"}, ["body", "proxy_country_code"]),
    ("narrow", {"browser_viewport_width": 319}, ["body", "browser_viewport_width"]),
    ("tall", {"browser_viewport_height": 3457}, ["body", "browser_viewport_height"]),
    ("not a flag", {"persist": "sometimes"}, ["body", "persist"]),
    ("unknown field", {"cookies": []}, ["body", "cookies"]),
]


def test_invalid_fields_are_refused_on_create_and_update_and_change_nothing(
    stack: InProcessStack,
) -> None:
    existing = _create(stack)
    path = f"{PROFILES}/{existing['profile_id']}"

    for case, fields, loc in INVALID_FIELDS:
        create_body = {k: v for k, v in ({"profile_name": "x"} | fields).items() if v is not None}
        for method, url, body in (("POST", PROFILES, create_body), ("PUT", path, fields)):
            response = stack.call(method, url, body=body)

            assert response.status == 422, (case, method, response.text)
            assert loc in [p["loc"] for p in response.json()["detail"]], (case, method)
    assert len(_profile_items()) == 1
    assert stack.call("GET", path).json() == existing


def test_delete_removes_the_profile_and_its_saved_state(stack: InProcessStack) -> None:
    kept, deleted = _create(stack)["profile_id"], _create(stack)["profile_id"]
    service = browser_profile_service()
    for profile_id in (kept, deleted):
        assert service.save_state("alice", profile_id, {"cookies": [{"name": "s", "value": "1"}]})

    response = stack.call("DELETE", f"{PROFILES}/{deleted}")

    assert (response.status, response.json()) == (200, {})
    assert stack.call("GET", f"{PROFILES}/{deleted}").status == 404
    assert _state_keys(stack) == [f"profiles/alice/{kept}.json.enc"]
    assert [p["profile_id"] for p in _profile_items()] == [kept]
    assert stack.call("DELETE", f"{PROFILES}/{deleted}").status == 404


def test_another_owners_profile_is_as_unknown_as_a_made_up_id(stack: InProcessStack) -> None:
    alices = _create(stack)
    browser_profile_service().save_state("alice", alices["profile_id"], {"cookies": []})

    for profile_id in (alices["profile_id"], UNKNOWN_ID):
        path = f"{PROFILES}/{profile_id}"
        for method, body in (("GET", None), ("PUT", {"persist": False}), ("DELETE", None)):
            response = stack.call(method, path, body=body, key=BOB_KEY)

            assert (response.status, response.json()) == (
                404,
                {"detail": "Browser profile not found"},
            ), (method, profile_id)
    assert stack.call("GET", f"{PROFILES}/{alices['profile_id']}").json() == alices
    assert _state_keys(stack) == [f"profiles/alice/{alices['profile_id']}.json.enc"]
    assert stack.call("GET", PROFILES, key=BOB_KEY).json()["total_count"] == 0


def test_a_malformed_profile_id_is_a_422(stack: InProcessStack) -> None:
    for bad_id in ("task_01kbd7xk3m2q8v5y6z7a8b9c0d", "prof_short", "prof_" + "U" * 26):
        for method, body in (("GET", None), ("PUT", {}), ("DELETE", None)):
            response = stack.call(method, f"{PROFILES}/{bad_id}", body=body)

            assert response.status == 422, (bad_id, method, response.text)
            assert [p["loc"] for p in response.json()["detail"]] == [["path", "profile_id"]]


def test_every_profile_route_needs_a_key(stack: InProcessStack) -> None:
    profile_id = _create(stack)["profile_id"]
    for method, path, body in (
        ("POST", PROFILES, {"profile_name": "x"}),
        ("GET", PROFILES, None),
        ("GET", f"{PROFILES}/{profile_id}", None),
        ("PUT", f"{PROFILES}/{profile_id}", {"persist": False}),
        ("DELETE", f"{PROFILES}/{profile_id}", None),
        ("POST", PROFILES, {"profile_name": ""}),  # invalid too: the key is checked first
    ):
        response = stack.call(method, path, body=body, key=None)

        assert response.status == 401, (method, path, response.text)
        assert set(response.json()) == {"detail"}
    assert len(_profile_items()) == 1


# --- run-task with a profile --------------------------------------------------------------------


def test_run_task_refuses_a_profile_that_is_not_the_callers_and_stores_nothing(
    stack: InProcessStack,
) -> None:
    bobs = _create(stack, key=BOB_KEY)["profile_id"]

    for profile_id in (bobs, UNKNOWN_ID, "shop"):
        response = stack.call(
            "POST", "/api/v1/run-task", body={"task": "t", "browser_profile_id": profile_id}
        )

        assert response.status == 422, response.text
        assert response.json() == {
            "detail": [
                {
                    "loc": ["body", "browser_profile_id"],
                    "msg": "Browser profile not found",
                    "type": "value_error",
                }
            ]
        }
    assert tasks_in_table() == []
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=stack.resources["TaskStateMachine"]
    )
    assert executions["executions"] == []


def _stored_settings(task_id: str) -> dict[str, Any]:
    return dict(from_item(task_item(task_id))["settings"])


def test_a_task_takes_the_profiles_settings_where_it_sets_none_itself(
    stack: InProcessStack,
) -> None:
    profile_id = _create(
        stack,
        ad_blocker=False,
        proxy=False,
        proxy_country_code="de",
        browser_viewport_width=800,
        browser_viewport_height=600,
    )["profile_id"]

    plain = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "browser_profile_id": profile_id}
    ).json()["id"]
    # Values equal to run-task's defaults, but set: the request's own choice wins.
    explicit = stack.call(
        "POST",
        "/api/v1/run-task",
        body={
            "task": "t",
            "browser_profile_id": profile_id,
            "use_adblock": True,
            "browser_viewport_width": 1280,
        },
    ).json()["id"]
    without_profile = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    profile_settings = {
        "use_adblock": False,
        "use_proxy": False,
        "proxy_country_code": "de",
        "browser_viewport_width": 800,
        "browser_viewport_height": 600,
    }
    assert (
        _stored_settings(plain).items()
        >= (profile_settings | {"browser_profile_id": profile_id}).items()
    )
    assert (
        _stored_settings(explicit).items()
        >= (profile_settings | {"use_adblock": True, "browser_viewport_width": 1280}).items()
    )
    assert (
        _stored_settings(without_profile).items()
        >= {
            "use_adblock": True,
            "use_proxy": True,
            "proxy_country_code": "us",
            "browser_viewport_width": 1280,
            "browser_viewport_height": 960,
        }.items()
    )


# --- the profile's browser state ----------------------------------------------------------------


def test_state_is_kept_only_for_a_profile_that_exists_and_persists(
    stack: InProcessStack,
) -> None:
    service = browser_profile_service()
    persisting = _create(stack)["profile_id"]
    not_persisting = _create(stack, persist=False)["profile_id"]
    deleted = _create(stack)["profile_id"]
    stack.call("DELETE", f"{PROFILES}/{deleted}")
    state = {
        "cookies": [{"name": "session", "value": "canary-7c1f0e", "domain": "127.0.0.1"}],
        "local_storage": {"http://127.0.0.1:8000": {"theme": "dark"}},
    }

    kept = [
        service.save_state(owner, profile_id, state)
        for owner, profile_id in (
            ("alice", persisting),
            ("alice", not_persisting),
            ("alice", deleted),  # deleted while its task ran: not brought back
            ("bob", persisting),  # another owner's
        )
    ]

    assert kept == [True, False, False, False]
    assert _state_keys(stack) == [f"profiles/alice/{persisting}.json.enc"]
    assert service.load_state("alice", persisting) == state
    assert service.load_state("alice", not_persisting) is None
    # Sealed: the cookie's value is nowhere in plain text.
    assert not [where for where, text in every_stored_text() if "canary-7c1f0e" in text]
