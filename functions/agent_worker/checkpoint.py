"""A task's checkpoint: everything the next chunk needs to carry the agent on from here.

Written after every step (so a worker that dies loses at most the step it was in) to the
state bucket, KMS-encrypted: it holds cookies. What goes in, and why each part is needed, is
in FINDINGS.md ("Running one agent in chunks across processes"): the library's own storage
export is cookies only, and its AgentState keeps paths into the process that wrote it.
"""

import json
from pathlib import Path
from typing import Any

from browser_state import BrowserSnapshot
from browser_use.agent.views import ActionResult, AgentHistoryList, AgentState
from pydantic import BaseModel

from browser_tasks.models.work import StepStarted

# After these, the page holds state a re-opened tab would not have (typed but unsubmitted
# input, a chosen option, a picked file): a chunk never ends right after one.
PAGE_LOCAL_ACTIONS = frozenset({"input", "select_dropdown", "upload_file", "send_keys"})


def task_checkpoint_key(owner: str, task_id: str) -> str:
    return f"checkpoints/{owner}/{task_id}.json.enc"


class Checkpoint(BaseModel):
    steps_done: int
    agent_seconds: float  # agent time over all chunks up to this checkpoint
    agent_state: dict[str, Any]
    history: dict[str, Any]
    browser: BrowserSnapshot


def capture(
    agent: Any,
    browser: BrowserSnapshot,
    agent_seconds: float,
    secrets: dict[str, Any] | None,
) -> Checkpoint:
    """Taken in ``on_step_end``, before ``agent.stop()`` (which would be saved with it)."""
    state = json.loads(agent.state.model_dump_json())
    # The built prompt of the last step (system prompt, page state, a base64 screenshot) is
    # rebuilt at every step: ~50 KB we need not keep. A leftover context message would make
    # the next process send no system prompt (FINDINGS.md), so it all goes.
    state["message_manager_state"]["history"] = {}
    state["stopped"] = state["paused"] = False
    history = agent.history.model_dump(sensitive_data=secrets)
    for item in history["history"]:
        item["state"]["screenshot_path"] = None  # a path in this process; S3 has the image
    return Checkpoint(
        steps_done=agent.state.n_steps - 1,
        agent_seconds=agent_seconds,
        agent_state=state,
        history=history,
        browser=browser,
    )


def agent_state(checkpoint: Checkpoint, files_dir: Path) -> AgentState:
    """The agent's state, its file system moved to this process's ``files_dir``."""
    state = dict(checkpoint.agent_state)
    if state.get("file_system_state"):
        state["file_system_state"] = {**state["file_system_state"], "base_dir": str(files_dir)}
    return AgentState.model_validate(state)


def agent_history(checkpoint: Checkpoint, output_model: Any) -> AgentHistoryList[Any]:
    return AgentHistoryList.load_from_dict(json.loads(json.dumps(checkpoint.history)), output_model)


def interrupted_step_note(started: StepStarted) -> ActionResult:
    """Shown to the model with the last results before it plans the replayed step."""
    names = ", ".join(next(iter(action), "?") for action in started.actions) or "none"
    note = (
        f"Note: step {started.step} was interrupted (the worker running it stopped) and is "
        f"being retried. Its actions ({names}) may already have taken effect: check the page "
        "before repeating anything that must not happen twice, like a form submission."
    )
    return ActionResult(long_term_memory=note, extracted_content=note)


def leaves_page_local_state(agent: Any) -> bool:
    """Did the last step end with an action whose effect only the live page holds?"""
    last = agent.history.history[-1].model_output if agent.history.history else None
    if last is None or not last.action:
        return False
    names = last.action[-1].model_dump(exclude_none=True)
    return bool(PAGE_LOCAL_ACTIONS.intersection(names))
