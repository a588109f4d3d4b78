"""Every run-task field rule, through the real API handler on moto.

Given a valid body with one field made wrong, when it is POSTed, then the answer is 422 in
FastAPI's shape (loc, msg, type for each problem) and nothing is stored or started.
"""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from browser_tasks.local.api_gateway import rest_proxy_event
from tests.conftest import ALICE_KEY
from tests.support import InProcessStack, in_process_stack, tasks_in_table

VALID_SCHEMA = json.dumps(
    {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
)

# (case id, fields to set on {"task": "Find the title"}, the loc of the expected error, its type)
REJECTED: list[tuple[str, dict[str, Any], list[Any], str]] = [
    ("task missing", {"task": None}, ["body", "task"], "missing"),
    ("task empty", {"task": ""}, ["body", "task"], "string_too_short"),
    ("task blank", {"task": "   \n"}, ["body", "task"], "value_error"),
    ("task too long", {"task": "x" * 50_001}, ["body", "task"], "string_too_long"),
    ("task not a string", {"task": 42}, ["body", "task"], "string_type"),
    ("secrets not an object", {"secrets": ["a"]}, ["body", "secrets"], "dict_type"),
    (
        "secret value a number",
        {"secrets": {"pw": 5}},
        ["body", "secrets", "pw", "str"],
        "string_type",
    ),
    ("secret value empty", {"secrets": {"pw": ""}}, ["body", "secrets"], "value_error"),
    ("secret name with spaces", {"secrets": {"my pw": "x"}}, ["body", "secrets"], "value_error"),
    (
        "secret scope not a host",
        {"secrets": {"ftp://x.com": {"pw": "x"}}},
        ["body", "secrets"],
        "value_error",
    ),
    (
        "secret scope empty group",
        {"secrets": {"https://x.com": {}}},
        ["body", "secrets"],
        "value_error",
    ),
    (
        "too many secrets",
        {"secrets": {f"s{i}": "v" for i in range(51)}},
        ["body", "secrets"],
        "value_error",
    ),
    (
        "allowed_domains not a list",
        {"allowed_domains": "example.com"},
        ["body", "allowed_domains"],
        "list_type",
    ),
    (
        "allowed_domains TLD wildcard",
        {"allowed_domains": ["example.*"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains bare star",
        {"allowed_domains": ["*"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains whole TLD",
        {"allowed_domains": ["*.com"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains URL",
        {"allowed_domains": ["https://example.com/path"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains port",
        {"allowed_domains": ["example.com:8080"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains space",
        {"allowed_domains": ["exa mple.com"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains mid wildcard",
        {"allowed_domains": ["a.*.example.com"]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains empty entry",
        {"allowed_domains": [""]},
        ["body", "allowed_domains", 0],
        "value_error",
    ),
    (
        "allowed_domains too many",
        {"allowed_domains": [f"h{i}.example.com" for i in range(99)]},
        ["body", "allowed_domains"],
        "too_long",
    ),
    (
        "save_browser_data not bool",
        {"save_browser_data": "maybe"},
        ["body", "save_browser_data"],
        "bool_parsing",
    ),
    (
        "schema not JSON",
        {"structured_output_json": "{not json"},
        ["body", "structured_output_json"],
        "value_error",
    ),
    (
        "schema not an object",
        {"structured_output_json": "[1, 2]"},
        ["body", "structured_output_json"],
        "value_error",
    ),
    (
        "schema invalid",
        {"structured_output_json": '{"type": "object", "properties": {"a": {"type": "nope"}}}'},
        ["body", "structured_output_json"],
        "value_error",
    ),
    (
        "schema not for an object",
        {"structured_output_json": '{"type": "array"}'},
        ["body", "structured_output_json"],
        "value_error",
    ),
    (
        "schema uses $ref",
        {
            "structured_output_json": '{"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"type": "string"}}}'
        },
        ["body", "structured_output_json"],
        "value_error",
    ),
    (
        "schema as object not string",
        {"structured_output_json": {"type": "object"}},
        ["body", "structured_output_json"],
        "string_type",
    ),
    ("llm_model unknown", {"llm_model": "gpt-5"}, ["body", "llm_model"], "literal_error"),
    ("use_adblock not bool", {"use_adblock": "often"}, ["body", "use_adblock"], "bool_parsing"),
    ("use_proxy not bool", {"use_proxy": []}, ["body", "use_proxy"], "bool_type"),
    (
        "proxy_country_code unknown",
        {"proxy_country_code": "uk"},
        ["body", "proxy_country_code"],
        "literal_error",
    ),
    (
        "highlight_elements not bool",
        {"highlight_elements": "sometimes"},
        ["body", "highlight_elements"],
        "bool_parsing",
    ),
    (
        "included_file_names not list",
        {"included_file_names": "a.txt"},
        ["body", "included_file_names"],
        "list_type",
    ),
    (
        "included_file_names path",
        {"included_file_names": ["../etc/passwd.txt"]},
        ["body", "included_file_names", 0],
        "value_error",
    ),
    (
        "included_file_names type",
        {"included_file_names": ["run.exe"]},
        ["body", "included_file_names", 0],
        "value_error",
    ),
    (
        "viewport width too small",
        {"browser_viewport_width": 319},
        ["body", "browser_viewport_width"],
        "greater_than_equal",
    ),
    (
        "viewport width too large",
        {"browser_viewport_width": 6145},
        ["body", "browser_viewport_width"],
        "less_than_equal",
    ),
    (
        "viewport width fraction",
        {"browser_viewport_width": 1280.5},
        ["body", "browser_viewport_width"],
        "int_from_float",
    ),
    (
        "viewport height too small",
        {"browser_viewport_height": 319},
        ["body", "browser_viewport_height"],
        "greater_than_equal",
    ),
    (
        "viewport height too large",
        {"browser_viewport_height": 3457},
        ["body", "browser_viewport_height"],
        "less_than_equal",
    ),
    (
        "max_agent_steps zero",
        {"max_agent_steps": 0},
        ["body", "max_agent_steps"],
        "greater_than_equal",
    ),
    (
        "max_agent_steps too many",
        {"max_agent_steps": 201},
        ["body", "max_agent_steps"],
        "less_than_equal",
    ),
    (
        "max_agent_steps text",
        {"max_agent_steps": "many"},
        ["body", "max_agent_steps"],
        "int_parsing",
    ),
    (
        "enable_public_share not bool",
        {"enable_public_share": "public"},
        ["body", "enable_public_share"],
        "bool_parsing",
    ),
    ("metadata not object", {"metadata": ["a"]}, ["body", "metadata"], "dict_type"),
    (
        "metadata 11 pairs",
        {"metadata": {f"k{i}": "v" for i in range(11)}},
        ["body", "metadata"],
        "too_long",
    ),
    (
        "metadata empty key",
        {"metadata": {"": "v"}},
        ["body", "metadata", "", "[key]"],
        "string_too_short",
    ),
    (
        "metadata key too long",
        {"metadata": {"k" * 101: "v"}},
        ["body", "metadata", "k" * 101, "[key]"],
        "string_too_long",
    ),
    (
        "metadata value too long",
        {"metadata": {"k": "v" * 1001}},
        ["body", "metadata", "k"],
        "string_too_long",
    ),
    ("metadata value a number", {"metadata": {"k": 1}}, ["body", "metadata", "k"], "string_type"),
    (
        "browser_profile_id empty",
        {"browser_profile_id": ""},
        ["body", "browser_profile_id"],
        "string_pattern_mismatch",
    ),
    (
        "browser_profile_id path",
        {"browser_profile_id": "../bob/profile"},
        ["body", "browser_profile_id"],
        "string_pattern_mismatch",
    ),
    ("unknown field", {"max_steps": 5}, ["body", "max_steps"], "extra_forbidden"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[InProcessStack]:
    with pytest.MonkeyPatch.context() as monkeypatch, in_process_stack(monkeypatch) as s:
        yield s


def _assert_nothing_written() -> None:
    assert tasks_in_table() == []
    sfn = boto3.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        assert sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"] == []


def _assert_v1_validation_shape(response_json: Any) -> list[dict[str, Any]]:
    assert set(response_json) == {"detail"}
    detail = response_json["detail"]
    assert isinstance(detail, list)
    assert detail
    for problem in detail:
        assert set(problem) == {"loc", "msg", "type"}
        assert isinstance(problem["loc"], list)
        assert problem["loc"][0] == "body"
        assert isinstance(problem["msg"], str)
        assert problem["msg"]
        assert isinstance(problem["type"], str)
        assert problem["type"]
    return detail  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [pytest.param(f, loc, t, id=case) for case, f, loc, t in REJECTED],
)
def test_rejected_field_gives_422_and_writes_nothing(
    stack: InProcessStack, fields: dict[str, Any], loc: list[Any], error_type: str
) -> None:
    body: dict[str, Any] = {"task": "Find the title", **fields}
    body = {k: v for k, v in body.items() if v is not None}

    response = stack.call("POST", "/api/v1/run-task", body=body)

    assert response.status == 422, response.text
    detail = _assert_v1_validation_shape(response.json())
    matching = [p for p in detail if p["loc"][: len(loc)] == loc]
    assert matching, f"no error at {loc}: {detail}"
    assert any(p["type"] == error_type for p in matching), detail
    _assert_nothing_written()


@pytest.mark.parametrize(
    "raw_body",
    [
        pytest.param('{"task": "x",', id="truncated JSON"),
        pytest.param("task=x", id="form encoded"),
        pytest.param("", id="empty body"),
        pytest.param("null", id="null"),
        pytest.param('["task"]', id="array"),
    ],
)
def test_malformed_body_gives_422_and_writes_nothing(stack: InProcessStack, raw_body: str) -> None:
    response = stack.call("POST", "/api/v1/run-task", raw_body=raw_body)

    assert response.status == 422, response.text
    _assert_v1_validation_shape(response.json())
    _assert_nothing_written()


@pytest.mark.parametrize(("key", "status"), [(ALICE_KEY, 422), (None, 401)])
def test_a_body_that_is_not_utf8_is_invalid_json_not_a_crash(
    stack: InProcessStack, key: str | None, status: int
) -> None:
    # Found by the reliability suite's fuzzer: API Gateway passes such a body base64-encoded,
    # and Powertools' JSON parsing let the UnicodeDecodeError through (a 502).
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    event = rest_proxy_event("POST", "/api/v1/run-task", headers, b'{"task": "\xff\xfe"}', "::1")
    assert event["isBase64Encoded"]

    response = stack.api.invoke(event)

    assert response["statusCode"] == status, response["body"]
    if status == 422:
        assert json.loads(response["body"])["detail"][0]["type"] == "json_invalid"
    _assert_nothing_written()


def test_secret_values_never_echoed_in_errors(stack: InProcessStack) -> None:
    canary = "canary-7f3a9c1e-in-a-bad-request"
    response = stack.call(
        "POST",
        "/api/v1/run-task",
        body={"task": "x", "secrets": {"pw": canary, "bad name": canary}, "max_agent_steps": 0},
    )

    assert response.status == 422
    assert canary not in response.text


# Boundary values that must be accepted (and stored as given).
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("only task", {}),
    ("longest task", {"task": "x" * 50_000}),
    ("flat secrets", {"secrets": {"username": "u", "password": "p"}}),
    ("scoped secrets", {"secrets": {"https://*.example.com": {"password": "p"}, "plain": "v"}}),
    (
        "allowed domains",
        {"allowed_domains": ["example.com", "*.Example.org", "127.0.0.1", "localhost"]},
    ),
    (
        "null optionals",
        {
            "secrets": None,
            "allowed_domains": None,
            "metadata": None,
            "structured_output_json": None,
        },
    ),
    ("schema", {"structured_output_json": VALID_SCHEMA}),
    (
        "smallest viewport, one step",
        {"browser_viewport_width": 320, "browser_viewport_height": 320, "max_agent_steps": 1},
    ),
    (
        "largest viewport, 200 steps",
        {"browser_viewport_width": 6144, "browser_viewport_height": 3456, "max_agent_steps": 200},
    ),
    (
        "ten metadata pairs at the limits",
        {"metadata": {("k" * 99) + str(i): "v" * 1000 for i in range(10)}},
    ),
    ("every model", {"llm_model": "claude-sonnet-4-20250514"}),
    ("no files", {"included_file_names": []}),
]


@pytest.mark.parametrize("fields", [pytest.param(f, id=case) for case, f in ACCEPTED])
def test_accepted_boundaries_create_a_task(stack: InProcessStack, fields: dict[str, Any]) -> None:
    body = {"task": "Find the title", **fields}

    response = stack.call("POST", "/api/v1/run-task", body=body)

    assert response.status == 200, response.text
    task_id = response.json()["id"]
    assert task_id.startswith("task_")
    stored = [t for t in tasks_in_table() if t["task_id"]["S"] == task_id]
    assert len(stored) == 1
    assert stored[0]["task"]["S"] == body["task"]
    assert stored[0]["status"]["S"] == "created"
