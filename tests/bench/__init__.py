"""Benchmarks (not tests): each module prints figures; see the README's table."""

import pytest


def quiet_powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    """No X-Ray, warnings only: what is timed is the work, not the logging of it."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
