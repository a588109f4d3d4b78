"""Every operation of the served OpenAPI document, fuzzed by schemathesis on a real
``browser-tasks local`` with owner A's key: valid and invalid parameters and bodies, and the
same requests without the key.

Each answer must be no 5xx, a status, content type, headers and body the document declares
for the operation, and — for every 4xx — the v1 error shape: ``{"detail": [{"loc", "msg",
"type"}]}`` for a 422, ``{"detail": "<text>"}`` otherwise. The tasks the fuzzer starts end at
once (the model answers ``done``); whatever else it made (schedules, a webhook) is removed
after it, and any task still going is stopped.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.canary import check_text
from tests.reliability.conftest import TwoOwners
from tests.reliability.counts import record_count
from tests.task_world import TERMINAL

API_PREFIX = "/api/v1"
# Cases per operation and mode (valid, invalid): ~33 operations x 2 x this many requests (and
# ignored_auth's keyless ones), about two minutes on the local stack.
EXAMPLES_PER_OPERATION = 12


def v1_error_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 4xx answers ``{"detail": [{"loc", "msg", "type"}, ...]}`` (422) or
    ``{"detail": "<text>"}``."""
    check_text(f"{case.method} {case.path} answer", response.text)
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.text)
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
    assert list(body) == ["detail"], f"{response.status_code} body is not v1's: {body!r}"
    detail = body["detail"]
    if response.status_code == 422:
        assert isinstance(detail, list), f"422 detail is not a list: {body!r}"
        assert detail, "422 without a problem"
        for problem in detail:
            assert isinstance(problem, dict), problem
            assert {"loc", "msg", "type"} <= set(problem), (
                f"422 problem lacks loc/msg/type: {problem}"
            )
            assert isinstance(problem["loc"], list), problem
            assert isinstance(problem["msg"], str), problem
    else:
        assert isinstance(detail, str), f"{response.status_code} detail is not a string: {body!r}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # the same request without the key, and with a wrong one: 401
    v1_error_shape,
]


@pytest.fixture(scope="module")
def fuzzed_stack(two_owners: TwoOwners) -> Iterator[TwoOwners]:
    """The shared stack; after the fuzzing, what the fuzzer created is cleaned away."""
    yield two_owners
    _remove_what_the_fuzzer_made(two_owners)


def test_every_operation_answers_within_its_contract(fuzzed_stack: TwoOwners) -> None:
    # Loaded in the test, not at collection (schemathesis' pytest plugin): the document is
    # the one the running stack serves.
    schema = schemathesis.openapi.from_url(f"{fuzzed_stack.api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, [operation.label for operation in operations]
    failures = []
    for operation in operations:
        takes_input = {"parameters", "requestBody"} & set(operation.definition.raw)
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else ()
        for mode in modes or (GenerationMode.POSITIVE,):  # nothing to get wrong: valid only
            try:
                _fuzz(operation, mode, fuzzed_stack)
            except Exception as failure:  # every operation is fuzzed; all failures reported
                failures.append(f"{operation.label} ({mode.value} cases): {failure}")
    record_count("operations fuzzed", len(operations))
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: APIOperation, mode: GenerationMode, owners: TwoOwners) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases on each run: a failure is reproducible
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is kept
    )
    def call(case: Case) -> None:
        record_count("requests sent")
        if mode is GenerationMode.NEGATIVE:
            record_count("bad inputs tried")
        case.call_and_validate(
            base_url=owners.api_url.removesuffix(API_PREFIX),
            headers={"Authorization": f"Bearer {owners.key_a}"},
            checks=CHECKS,
        )

    call()


def _remove_what_the_fuzzer_made(owners: TwoOwners) -> None:
    """Stop every task still going, delete the schedules (they would start more) and the
    webhook (deliveries to whatever URL the fuzzer set)."""
    key = owners.key_a
    for schedule in _all(owners, "/scheduled-tasks", "scheduled_tasks"):
        owners.call("DELETE", f"/scheduled-task/{schedule['id']}", key)
    owners.call("DELETE", "/webhook", key)
    tasks = _all(owners, "/tasks", "tasks")
    record_count("tasks created", len(tasks))
    going = [task["id"] for task in tasks if task["status"] not in TERMINAL]
    for task_id in going:
        owners.call("PUT", "/stop-task", key, params={"task_id": task_id})
    for task_id in going:
        owners.world.wait_until_ended(task_id)


def _all(owners: TwoOwners, path: str, field: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = owners.call("GET", path, owners.key_a, params={"page": page, "limit": 100}).json()
        items += answer[field]
        if page >= answer.get("total_pages", 1):
            return items
        page += 1
