"""run-task, status, auth and secrets through the real API handler on in-process moto."""

import json
import logging
from collections.abc import Iterator

import boto3
import pytest

from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.domain.tasks import secrets_context
from browser_tasks.services import reset_services
from tests.conftest import ALICE_KEY, BOB_KEY
from tests.support import InProcessStack, every_stored_text, in_process_stack, tasks_in_table

CANARY = "canary-5e1b7d2f-do-not-store"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def test_run_task_stores_created_task_and_starts_execution_named_by_id(
    stack: InProcessStack,
) -> None:
    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "Find the title", "max_agent_steps": 7}
    )

    assert response.status == 200
    task_id = response.json()["id"]
    assert response.json() == {"id": task_id}
    (item,) = tasks_in_table()
    assert item["task_id"]["S"] == task_id
    assert item["owner"]["S"] == "alice"
    assert item["status"]["S"] == "created"
    assert item["settings"]["M"]["max_agent_steps"]["N"] == "7"
    execution_arn = stack.resources["TaskStateMachine"].replace(":stateMachine:", ":execution:")
    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=f"{execution_arn}:{task_id}"
    )
    assert execution["name"] == task_id
    execution_input = json.loads(execution["input"])
    assert execution_input["max_agent_steps"] == 7
    assert execution_input["time_limit_seconds"] == 3600  # TaskTimeLimitSeconds default
    assert "secrets" not in execution_input
    assert "task" not in execution_input


def test_status_is_a_bare_json_string(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    response = stack.call("GET", f"/api/v1/task/{task_id}/status")

    assert response.status == 200
    assert response.text == '"created"'
    assert response.headers["Content-Type"] == ["application/json"]


def test_another_owners_task_and_unknown_ids_are_404(stack: InProcessStack) -> None:
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    as_bob = stack.call("GET", f"/api/v1/task/{task_id}/status", key=BOB_KEY)
    unknown = stack.call("GET", "/api/v1/task/task_00000000000000000000000000/status")

    assert (as_bob.status, as_bob.json()) == (404, {"detail": "Task not found"})
    assert (unknown.status, unknown.json()) == (404, {"detail": "Task not found"})


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param({"Authorization": "Bearer bt_not_a_key_of_anyone_here"}, id="unknown key"),
        pytest.param({"Authorization": f"Basic {ALICE_KEY}"}, id="wrong scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty token"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/run-task"), ("GET", "/api/v1/me"), ("GET", "/api/v1/task/x/status")],
)
def test_routes_need_a_valid_key(
    stack: InProcessStack, headers: dict[str, str], method: str, path: str
) -> None:
    response = stack.call(method, path, body={"task": "t"}, key=None, headers=headers)

    assert response.status == 401
    assert isinstance(response.json()["detail"], str)
    assert response.headers["WWW-Authenticate"] == ["Bearer"]
    assert tasks_in_table() == []


def test_ping_needs_no_key_and_me_is_bare_true(stack: InProcessStack) -> None:
    assert stack.call("GET", "/api/v1/ping", key=None).status == 200
    me = stack.call("GET", "/api/v1/me")
    assert (me.status, me.text) == (200, "true")


def test_lowercase_authorization_header_is_accepted(stack: InProcessStack) -> None:
    response = stack.call(
        "GET", "/api/v1/me", key=None, headers={"authorization": f"bearer {ALICE_KEY}"}
    )
    assert response.status == 200


def test_unknown_route_is_404_in_v1_shape(stack: InProcessStack) -> None:
    response = stack.call("GET", "/api/v1/no-such-route")
    assert (response.status, response.json()) == (404, {"detail": "Not Found"})


def test_api_keys_are_stored_only_as_hashes(stack: InProcessStack) -> None:
    stored = json.dumps([t for _, t in every_stored_text()])
    assert ALICE_KEY not in stored
    assert BOB_KEY not in stored


def test_secret_canary_is_stored_nowhere_and_logged_nowhere(
    stack: InProcessStack, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {
        "task": "Log in with x_user and x_password",
        "secrets": {
            "x_user": "alice",
            "x_password": CANARY,
            "https://*.bank.example": {"pin": CANARY + "-pin"},
        },
        "metadata": {"team": "qa"},
    }

    response = stack.call("POST", "/api/v1/run-task", body=body)

    assert response.status == 200
    assert CANARY not in response.text
    stores = every_stored_text()
    assert any(where.startswith("dynamodb:") for where, _ in stores)
    leaks = [where for where, text in stores if CANARY in text]
    assert leaks == []
    out, err = capfd.readouterr()
    assert CANARY not in out + err + caplog.text


def test_secrets_decrypt_only_with_their_own_task_and_owner(stack: InProcessStack) -> None:
    task_id = stack.call(
        "POST", "/api/v1/run-task", body={"task": "t", "secrets": {"pw": CANARY}}
    ).json()["id"]
    (item,) = tasks_in_table()
    ciphertext = item["secrets_ciphertext"]["S"]
    cipher = KmsSecretsCipher(stack.environment["SECRETS_KEY_ARN"])

    assert json.loads(cipher.decrypt(ciphertext, secrets_context(task_id, "alice"))) == {
        "pw": CANARY
    }
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK's error type is an implementation detail
        cipher.decrypt(ciphertext, secrets_context(task_id, "bob"))
    with pytest.raises(Exception):  # noqa: B017, PT011
        cipher.decrypt(ciphertext, secrets_context("task_someone_else", "alice"))


def test_task_without_secrets_stores_no_ciphertext(stack: InProcessStack) -> None:
    stack.call("POST", "/api/v1/run-task", body={"task": "t"})
    (item,) = tasks_in_table()
    assert "secrets_ciphertext" not in item


def test_execution_start_failure_marks_the_task_failed_with_a_reason(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    )
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t"})

    assert response.status == 503
    detail = response.json()["detail"]
    (item,) = tasks_in_table()
    assert item["task_id"]["S"] in detail
    assert item["status"]["S"] == "failed"
    assert "workflow could not be started" in item["failure_reason"]["S"]
    assert "finished_at" in item


def test_kms_failure_at_submit_writes_nothing(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SECRETS_KEY_ARN",
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    )
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t", "secrets": {"pw": CANARY}})

    assert response.status == 503
    assert "Encrypting the secrets failed" in response.json()["detail"]
    assert CANARY not in response.text
    assert tasks_in_table() == []


def test_sample_api_event_runs_through_the_handler(stack: InProcessStack) -> None:
    from tests.conftest import PROJECT_ROOT

    event = json.loads((PROJECT_ROOT / "events" / "api_run_task.json").read_text())
    event["headers"]["Authorization"] = f"Bearer {ALICE_KEY}"
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {ALICE_KEY}"]

    response = stack.api.invoke(event)

    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["id"].startswith("task_")


@pytest.mark.parametrize("key", [None, "bt_not_a_key_we_know_0123456789"])
def test_an_anonymous_caller_with_bad_input_gets_401_not_the_validation_detail(
    stack: InProcessStack, key: str | None
) -> None:
    # Powertools validates the body before the key middleware runs; the key is checked first.
    response = stack.call("POST", "/api/v1/run-task", body={"task": ""}, key=key)

    assert response.status == 401
    assert response.json() == {"detail": response.json()["detail"]}
    assert "task" not in json.dumps(response.json())
