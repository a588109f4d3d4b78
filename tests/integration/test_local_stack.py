"""``browser-tasks local`` as a subprocess, driven over real HTTP like a v1 caller would."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import boto3
import pytest
import requests

from tests.local_stack_process import LocalStackProcess, local_stack_process
from tests.support import every_stored_text

ALICE_KEY = "bt_local_test_alice_key_0123456789"
CANARY = "canary-b9d4e0a2-local-stack"

# The v1 reference's own Python example (docs/api-reference/run-task), every field set, its
# placeholders replaced by realistic values.
V1_EXAMPLE_PAYLOAD = {
    "task": "Go to https://news.ycombinator.com and return the titles of the top 3 posts",
    "secrets": {"hn_username": "alice", "hn_password": CANARY},
    "allowed_domains": ["news.ycombinator.com", "*.ycombinator.com"],
    "save_browser_data": True,
    "structured_output_json": json.dumps(
        {
            "type": "object",
            "properties": {"titles": {"type": "array", "items": {"type": "string"}}},
            "required": ["titles"],
        }
    ),
    "llm_model": "gpt-4o",
    "use_adblock": True,
    "use_proxy": True,
    "proxy_country_code": "us",
    "highlight_elements": True,
    "included_file_names": ["reading-list.csv"],
    "browser_viewport_width": 1280,
    "browser_viewport_height": 960,
    "max_agent_steps": 25,
    "enable_public_share": True,
    "metadata": {"campaign": "q4-automation", "team": "marketing"},
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStackProcess]:
    with local_stack_process(ALICE_KEY) as s:
        yield s


def _aws(stack: LocalStackProcess, service: str) -> object:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _upload_reading_list(stack: LocalStackProcess) -> None:
    """The v1 flow for included_file_names: presigned URL, then PUT the file there."""
    presigned = requests.post(
        f"{stack.api_url}/uploads/presigned-url",
        json={"file_name": "reading-list.csv", "content_type": "text/csv"},
        headers={"Authorization": f"Bearer {ALICE_KEY}"},
        timeout=30,
    )
    assert presigned.status_code == 200, presigned.text
    put = requests.put(
        presigned.json()["upload_url"],
        data=b"title,url\nShow HN,https://news.ycombinator.com/\n",
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert put.status_code == 200


def test_v1_example_payload_is_accepted_and_tracked(stack: LocalStackProcess) -> None:
    headers = {"Authorization": f"Bearer {ALICE_KEY}", "Content-Type": "application/json"}
    _upload_reading_list(stack)

    response = requests.request(
        "POST", f"{stack.api_url}/run-task", json=V1_EXAMPLE_PAYLOAD, headers=headers, timeout=30
    )

    assert response.status_code == 200, response.text
    task_id = response.json()["id"]
    assert list(response.json()) == ["id"]
    status = requests.get(f"{stack.api_url}/task/{task_id}/status", headers=headers, timeout=30)
    assert status.status_code == 200
    assert status.json() in ("created", "running", "paused", "finished", "failed", "stopped")

    # The state machine execution exists, named by the task id.
    sfn = _aws(stack, "stepfunctions")
    (machine,) = sfn.list_state_machines()["stateMachines"]  # type: ignore[attr-defined]
    executions = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]  # type: ignore[attr-defined]
    assert [e["name"] for e in executions if e["name"] == task_id] == [task_id]

    # A second owner, minted with the CLI against the same endpoint, cannot see it.
    minted = subprocess.run(
        [sys.executable, "-m", "browser_tasks.cli", "keys", "create", "--owner", "bob"],
        env=stack.aws_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    bob_key = minted.stdout.strip()
    assert bob_key.startswith("bt_")
    as_bob = requests.get(
        f"{stack.api_url}/task/{task_id}/status",
        headers={"Authorization": f"Bearer {bob_key}"},
        timeout=30,
    )
    assert (as_bob.status_code, as_bob.json()) == (404, {"detail": "Task not found"})
    me = requests.get(
        f"{stack.api_url}/me", headers={"Authorization": f"Bearer {bob_key}"}, timeout=30
    )
    assert me.text == "true"


def test_moves_past_created_on_the_executing_state_machine(stack: LocalStackProcess) -> None:
    headers = {"Authorization": f"Bearer {ALICE_KEY}"}
    task_id = requests.post(
        f"{stack.api_url}/run-task", json={"task": "t"}, headers=headers, timeout=30
    ).json()["id"]

    deadline = time.monotonic() + 30
    status = "created"
    while status == "created" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = requests.get(
            f"{stack.api_url}/task/{task_id}/status", headers=headers, timeout=30
        ).json()

    # The state machine took it (running), and with no model key in this stack the worker may
    # already have failed it; either way it left "created".
    assert status in ("running", "failed")


def test_canary_appears_in_no_store_and_no_log_line(
    stack: LocalStackProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Authorization": f"Bearer {ALICE_KEY}"}
    _upload_reading_list(stack)
    response = requests.post(
        f"{stack.api_url}/run-task", json=V1_EXAMPLE_PAYLOAD, headers=headers, timeout=30
    )
    assert response.status_code == 200
    time.sleep(1)  # let the execution write its first states

    for name, value in stack.aws_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    stores = every_stored_text()

    assert len(stores) > 5
    assert [where for where, text in stores if CANARY in text] == []
    assert CANARY not in stack.log


def test_unauthenticated_and_invalid_requests_over_http(stack: LocalStackProcess) -> None:
    no_key = requests.post(f"{stack.api_url}/run-task", json={"task": "t"}, timeout=30)
    invalid = requests.post(
        f"{stack.api_url}/run-task",
        json={"task": "t", "max_agent_steps": 500},
        headers={"Authorization": f"Bearer {ALICE_KEY}"},
        timeout=30,
    )
    outside = requests.get(stack.api_url.replace("/api/v1", "/elsewhere"), timeout=30)

    assert no_key.status_code == 401
    assert isinstance(no_key.json()["detail"], str)
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "max_agent_steps"]
    assert outside.status_code == 404


def test_ctrl_c_stops_everything_cleanly() -> None:
    with local_stack_process("bt_local_test_shutdown_key_0123") as stack:
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{stack.api_url}/ping", timeout=2)
        with pytest.raises(requests.ConnectionError):
            requests.get(stack.aws_endpoint, timeout=2)
