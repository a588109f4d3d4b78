"""Counters the reliability suite prints at its end, and the secret it plants everywhere.

Any reliability test calls `record_count("tasks created")` (or with n) for what it did; the
suite's conftest prints the totals in its terminal summary. Counts go to one file per process
in a directory the conftest names, so they add up across xdist workers too.
"""

import os
from pathlib import Path

# Planted as a secret value in the tasks the reliability suite creates; the session-end sweep
# fails if it appears in any store, log or response of any stack the suite used.
CANARY = "canary-reliability-5c1e0d9b7a"
CANARY_SECRETS = {"reliability_canary": CANARY}  # a placeholder name, as the model sees it

COUNTS_DIR_VARIABLE = "BROWSER_TASKS_RELIABILITY_COUNTS_DIR"

# The names the summary prints first, in this order (any other name is printed after them).
KNOWN_COUNTS = (
    "requests sent",
    "tasks created",
    "operations fuzzed",
    "bad inputs tried",
    "routes probed",
    "isolation probes",
    "faults injected",
    "stored texts swept",
)


def record_count(name: str, n: int = 1) -> None:
    """Adds n to the session-wide counter `name` (one short line appended to this process's file)."""
    directory = os.environ.get(COUNTS_DIR_VARIABLE)
    if not directory:  # outside the reliability suite's conftest: nothing to report to
        return
    with (Path(directory) / f"counts-{os.getpid()}.tsv").open("a", encoding="utf-8") as file:
        file.write(f"{name}\t{n}\n")


def read_counts(directory: Path) -> dict[str, int]:
    """The totals of every process's counts in `directory`."""
    totals: dict[str, int] = {}
    for counts_file in sorted(directory.glob("counts-*.tsv")):
        for line in counts_file.read_text(encoding="utf-8").splitlines():
            name, _, n = line.rpartition("\t")
            totals[name] = totals.get(name, 0) + int(n)
    return totals
