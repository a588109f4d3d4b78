"""The reliability suite (``scripts/reliability``; the regular suite does not collect it).

- Counts: tests call ``record_count`` (tests/reliability/counts.py); the totals are printed at
  the end of the run.
- The canary sweep (tests/reliability/canary.py) runs for the whole session and is checked
  last, after every stack of the suite has stopped: a leak anywhere fails the run.
- ``two_owners``: one ``browser-tasks local`` with a scripted model and two owners' keys,
  shared by the API-surface tests (the fuzzer, tenant isolation).
"""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reliability.canary import canary_sweep
from tests.reliability.counts import COUNTS_DIR_VARIABLE, KNOWN_COUNTS, read_counts, record_count
from tests.task_world import TaskWorld, scripted_world

OWNER_A_KEY = "bt_local_reliability_owner_a_0123456789"


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers start after this and inherit the variable: all count into one directory.
    if COUNTS_DIR_VARIABLE not in os.environ:
        os.environ[COUNTS_DIR_VARIABLE] = tempfile.mkdtemp(prefix="browser-tasks-counts-")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    totals = read_counts(Path(os.environ[COUNTS_DIR_VARIABLE]))
    names = [*KNOWN_COUNTS, *sorted(set(totals) - set(KNOWN_COUNTS))]
    terminalreporter.section("reliability counts")
    for name in names:
        terminalreporter.line(f"{name:>24}: {totals.get(name, 0)}")


@pytest.fixture(scope="session", autouse=True)
def _canary_never_leaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, so torn down last: by then every stack of the session has been swept."""
    with canary_sweep(tmp_path_factory.mktemp("stack-logs")) as sweep:
        yield
    print(f"\ncanary sweep: {sweep.texts_read} texts read, logs in {sweep.log_dir}")
    assert sweep.hits == [], "the canary secret leaked:\n" + "\n".join(sweep.hits)
    assert sweep.stacks_swept > 0, "no stack was swept: are the BEFORE_STOP hooks called?"


@dataclass
class TwoOwners:
    """A local stack (owner A's key is its own) and a second owner B's key on it."""

    world: TaskWorld
    key_b: str

    @property
    def key_a(self) -> str:
        return self.world.stack.api_key

    @property
    def api_url(self) -> str:
        return self.world.stack.api_url

    def call(self, method: str, path: str, key: str | None, **kwargs: Any) -> "requests.Response":
        """One request to the API (``path`` under /api/v1) as the holder of ``key``."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        record_count("requests sent")
        return requests.request(
            method, f"{self.api_url}{path}", headers=headers, timeout=30, **kwargs
        )


@pytest.fixture(scope="session")
def two_owners() -> Iterator[TwoOwners]:
    with scripted_world(OWNER_A_KEY) as world:
        minted = subprocess.run(
            [sys.executable, "-m", "browser_tasks.cli", "keys", "create", "--owner", "owner-b"],
            env=world.stack.aws_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        yield TwoOwners(world, minted.stdout.strip())
