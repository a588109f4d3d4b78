"""Fixtures shared by every test: the project root and a clean AWS environment."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The worker's modules import one another by name, as they do in its image; appended (not
# prepended) so that no test picks up the worker's app.py by accident.
sys.path.append(str(PROJECT_ROOT / "functions" / "agent_worker"))
ALICE_KEY = "bt_test_alice_0123456789abcdef"
BOB_KEY = "bt_test_bob_0123456789abcdef00"


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test ever talks to a real AWS account or inherits another test's endpoint."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.endswith("_TABLE") or name == "STATE_MACHINE_ARN":
            monkeypatch.delenv(name)
    # ...nor a real model provider: only the scripted model on loopback answers in tests.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    return


# Modules that drive Chromium or a `browser-tasks local` subprocess. `scripts/test` runs the
# suite on two xdist workers with `--dist loadgroup`: these all go to one worker, one after
# the other (two Chromium-heavy tests side by side on 2 cores would race their own timing),
# while the other worker takes the in-process moto tests.
BROWSER_MODULES = frozenset(
    {
        "test_adblock",
        "test_browser_profiles_e2e",
        "test_caller_cli",
        "test_egress",
        "test_execution_guard_local",
        "test_fakes",
        "test_local_stack",
        "test_metering_local",
        "test_private_networks",
        "test_queue_pollers",
        "test_task_pages_e2e",
        "test_triggers_local",
        "test_webhooks_local",
        "test_worker_e2e",
        "test_worker_concurrency",
        "test_workflow",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in BROWSER_MODULES:
            item.add_marker(pytest.mark.xdist_group("browser"))
