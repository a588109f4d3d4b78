"""The OpenAPI document and Swagger UI, served by the real API handler on in-process moto: every
route is in the document (and nothing else), it is valid OpenAPI 3.1, and what it says each
route answers is what the route does answer."""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from browser_tasks.local.lambda_runtime import load_module
from tests.conftest import BOB_KEY
from tests.support import InProcessStack, in_process_stack

OPENAPI = "/api/v1/openapi.json"
DOCS = "/api/v1/docs"
# The routes answered without a key, and what each answers to the made-up input of _concrete
# (a task page's token is its credential: a made-up one opens nothing).
PUBLIC = {
    "/api/v1/ping": 200,
    **{
        f"/api/v1/{page}/{{task_id}}/{{token}}{part}": 404
        for page in ("live", "share")
        for part in ("", "/state")
    },
}
VALID_BODIES = {
    "/api/v1/run-task": {"task": "t"},
    "/api/v1/uploads/presigned-url": {"file_name": "a.txt", "content_type": "text/plain"},
    "/api/v1/webhook": {"url": "https://example.com/hook"},
    "/api/v1/browser-profiles": {"profile_name": "p"},
}
# The v1 shapes of the two kinds of error, as the document must give them.
ERROR_DETAIL = {"detail"}
VALIDATION_ERROR_FIELDS = {"loc", "msg", "type"}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


@pytest.fixture
def document(stack: InProcessStack) -> dict[str, Any]:
    response = stack.call("GET", OPENAPI, key=None)
    assert response.status == 200, response.text
    assert response.headers["Content-Type"] == ["application/json"]
    return dict(response.json())


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_every_route_is_in_the_document_with_its_methods_and_nothing_else(
    stack: InProcessStack, document: dict[str, Any]
) -> None:
    resolver = load_module(stack.functions["ApiFunction"]).app
    # Powertools keeps the routes it resolves in these two lists (static paths, then paths
    # with parameters); include_in_schema=False marks the docs' own two routes.
    routes = resolver._static_routes + resolver._dynamic_routes
    served = {(r.method, r.openapi_path) for r in routes if r.include_in_schema}
    hidden = {(r.method, r.openapi_path) for r in routes if not r.include_in_schema}

    documented = {(method, path) for method, path, _ in _operations(document)}

    assert documented == served
    assert hidden == {("GET", OPENAPI), ("GET", DOCS)}
    assert {("POST", "/api/v1/run-task"), ("GET", "/api/v1/task/{task_id}/status")} <= served


def test_the_document_is_valid_openapi_3_1_and_names_the_api(document: dict[str, Any]) -> None:
    validate(document)  # raises on any schema violation or unresolvable $ref

    assert document["openapi"].startswith("3.1")
    assert "browser-use Cloud v1" in document["info"]["title"]
    assert document["servers"] == [{"url": "/"}]  # the local stack serves without a stage
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`browser-tasks keys create --owner NAME`).",
    }


def test_request_and_response_models_are_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    run_task = document["paths"]["/api/v1/run-task"]["post"]

    body = run_task["requestBody"]["content"]["application/json"]["schema"]
    answer = run_task["responses"]["200"]["content"]["application/json"]["schema"]
    status = document["paths"]["/api/v1/task/{task_id}/status"]["get"]["responses"]["200"]

    assert body == {"$ref": "#/components/schemas/RunTaskRequest"}
    assert schemas["RunTaskRequest"]["required"] == ["task"]
    assert schemas["RunTaskRequest"]["properties"]["max_agent_steps"]["maximum"] == 200
    assert answer == {"$ref": "#/components/schemas/TaskCreated"}
    assert schemas["TaskCreated"]["required"] == ["id"]
    assert status["content"]["application/json"]["schema"] == {
        "enum": ["created", "running", "paused", "finished", "stopped", "failed"]
    }


def test_only_ping_the_docs_and_the_task_pages_go_without_a_key_and_every_other_route_answers_401(
    stack: InProcessStack, document: dict[str, Any]
) -> None:
    for method, path, operation in _operations(document):
        # Given any documented route, called without a key (and with valid input: Powertools
        # validates a request before the key middleware runs)
        response = stack.call(
            method, _concrete(path, operation), body=VALID_BODIES.get(path), key=None
        )

        # Then it asks for one exactly when the document says it needs one
        if path in PUBLIC:
            assert operation["security"] == [], path
            assert "401" not in operation["responses"], path
            assert response.status == PUBLIC[path], (path, response.text)
        else:
            assert operation["security"] == [{"bearerAuth": []}], path
            assert _error_schema(operation, "401") == "ErrorDetail", path
            assert _error_schema(operation, "503") == "ErrorDetail", path
            assert response.status == 401, (path, response.text)
            assert set(response.json()) == ERROR_DETAIL


def test_every_route_taking_a_task_id_documents_404_and_answers_it_for_a_foreign_id(
    stack: InProcessStack, document: dict[str, Any]
) -> None:
    alices = stack.call("POST", "/api/v1/run-task", body={"task": "Alice's task"}).json()["id"]
    task_routes = [
        (method, path, operation)
        for method, path, operation in _operations(document)
        if any(p["name"] == "task_id" for p in operation.get("parameters", []))
    ]
    assert len(task_routes) >= 4  # status, stop, pause, resume at least

    for method, path, operation in task_routes:
        response = stack.call(method, _concrete(path, operation, alices), key=BOB_KEY)

        assert _error_schema(operation, "404") == "ErrorDetail", path
        assert (response.status, response.json()) == (404, {"detail": "Task not found"}), path


def test_errors_only_some_routes_give_are_documented_on_those(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]

    for control in ("stop", "pause", "resume"):
        assert _error_schema(paths[f"/api/v1/{control}-task"]["put"], "409") == "ErrorDetail"
    assert _error_schema(paths["/api/v1/run-task"]["post"], "402") == "ErrorDetail"
    output_file = paths["/api/v1/task/{task_id}/output-file/{file_name}"]["get"]
    assert "no output file of that name" in output_file["responses"]["404"]["description"]
    assert _error_schema(paths["/api/v1/webhook"]["get"], "404") == "ErrorDetail"
    assert "409" not in paths["/api/v1/task/{task_id}/status"]["get"]["responses"]


def test_validation_errors_have_the_v1_shape_and_only_routes_with_input_list_them(
    stack: InProcessStack, document: dict[str, Any]
) -> None:
    validation_error = document["components"]["schemas"]["ValidationError"]
    assert set(validation_error["properties"]) == VALIDATION_ERROR_FIELDS
    assert set(validation_error["required"]) == VALIDATION_ERROR_FIELDS
    for method, path, operation in _operations(document):
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        assert ("422" in operation["responses"]) == takes_input, (method, path)

    # And the API answers what the document says
    response = stack.call("POST", "/api/v1/run-task", body={"task": "t", "max_agent_steps": 0})
    assert response.status == 422
    (problem,) = response.json()["detail"]
    assert set(problem) == VALIDATION_ERROR_FIELDS


def test_swagger_ui_is_served_without_a_key_and_needs_no_network(
    stack: InProcessStack, document: dict[str, Any]
) -> None:
    response = stack.call("GET", DOCS, key=None)

    assert response.status == 200
    assert response.headers["Content-Type"] == ["text/html"]
    page = response.text
    assert "SwaggerUIBundle(" in page
    assert "/api/v1/run-task" in page  # the document is in the page
    # Script and style are inline: nothing is fetched from a CDN (users may be offline).
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    as_json = stack.call("GET", f"{DOCS}?format=json", key=None)
    assert as_json.json() == document


def test_behind_api_gateways_own_url_the_server_is_the_stage(stack: InProcessStack) -> None:
    # API Gateway's execute-api URL carries the stage first: /prod/api/v1/openapi.json
    from browser_tasks.local.api_gateway import rest_proxy_event

    event = rest_proxy_event("GET", OPENAPI, {}, b"", "127.0.0.1")
    event["requestContext"]["path"] = f"/prod{OPENAPI}"

    response = stack.api.invoke(event)

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["servers"] == [{"url": "/prod"}]


def _concrete(
    path: str, operation: dict[str, Any], task_id: str = "task_00000000000000000000000000"
) -> str:
    """A documented path with its parameters filled in, and its required query parameters."""
    values = {
        "task_id": task_id,
        "file_name": "report.csv",
        "token": "not-the-token",
        "profile_id": "prof_01kbd7xk3m2q8v5y6z7a8b9c0d",
    }
    query = [
        f"{p['name']}={values[p['name']]}"
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    ]
    filled = path
    for name, value in values.items():
        filled = filled.replace(f"{{{name}}}", value)
    return filled + (f"?{'&'.join(query)}" if query else "")


def _error_schema(operation: dict[str, Any], status: str) -> str:
    """The component an error answer refers to (``ErrorDetail`` for the v1 error shape)."""
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return str(schema["$ref"]).removeprefix("#/components/schemas/")
