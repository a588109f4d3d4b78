"""Local stand-ins for the outside world: a scripted OpenAI-compatible model and a small web site.

Both are stdlib-only HTTP servers on loopback, started on a free port in a daemon thread.
"""

from tests.fakes.scripted_llm import (
    Element,
    ScriptedLLM,
    agent_step_number,
    browser_state_text,
    latest_user_text,
    parse_elements,
)
from tests.fakes.test_site import Hit, TestSite

__all__ = [
    "Element",
    "Hit",
    "ScriptedLLM",
    "TestSite",
    "agent_step_number",
    "browser_state_text",
    "latest_user_text",
    "parse_elements",
]
