"""When a chunk ends after a step, and how: the rules of ``chunk_ending``."""

import pytest

from browser_tasks.models.task import TaskControl

NOW = 1000.0
NOTHING_ASKED = TaskControl(stop=False, pause=False)


def _budget(**overrides: float) -> object:
    from chunk_runner import ChunkBudget

    values = {
        "task_max_steps": 10,
        "task_deadline": NOW + 100,
        "chunk_deadline": NOW + 50,
        "forced_deadline": NOW + 110,
        "chunk_max_steps": 0,
        **overrides,
    }
    return ChunkBudget(**values)  # type: ignore[arg-type]


def _ending(
    control: TaskControl = NOTHING_ASKED,
    *,
    now: float = NOW,
    steps_this_chunk: int = 1,
    steps_total: int = 1,
    page_local: bool = False,
    balance_exhausted: bool = False,
    **budget: float,
) -> str | None:
    from chunk_runner import chunk_ending

    return chunk_ending(
        control,
        now=now,
        budget=_budget(**budget),  # type: ignore[arg-type]
        steps_this_chunk=steps_this_chunk,
        steps_total=steps_total,
        page_local=page_local,
        balance_exhausted=balance_exhausted,
    )


def test_nothing_asked_and_budget_left_takes_the_next_step() -> None:
    assert _ending() is None


def test_stop_ends_at_once_even_with_input_typed() -> None:
    assert _ending(TaskControl(stop=True, pause=True), page_local=True) == "stopped"


@pytest.mark.parametrize("page_local", [False, True])
def test_the_tasks_own_limits_end_the_chunk_at_once(page_local: bool) -> None:
    assert _ending(steps_total=10, page_local=page_local) == "continue"
    assert _ending(now=NOW + 100, page_local=page_local) == "continue"


def test_pause_waits_for_a_step_that_left_no_typed_input() -> None:
    pause = TaskControl(stop=False, pause=True)
    assert _ending(pause, page_local=True) is None
    assert _ending(pause, page_local=False) == "paused"


def test_the_chunks_step_budget_ends_it_only_at_a_safe_step() -> None:
    assert _ending(steps_this_chunk=2, chunk_max_steps=2) == "continue"
    assert _ending(steps_this_chunk=2, chunk_max_steps=2, page_local=True) is None
    assert _ending(steps_this_chunk=1, chunk_max_steps=2) is None


def test_the_chunks_time_budget_ends_it_at_a_safe_step_or_past_the_overrun() -> None:
    assert _ending(now=NOW + 50) == "continue"
    assert _ending(now=NOW + 50, page_local=True) is None
    assert _ending(now=NOW + 110, page_local=True, task_deadline=NOW + 500) == "continue"


@pytest.mark.parametrize(
    ("last_action", "page_local"),
    [
        ({"input": {"index": 3, "text": "x"}}, True),
        ({"select_dropdown": {"index": 3, "text": "x"}}, True),
        ({"upload_file": {"index": 3, "path": "x"}}, True),
        ({"send_keys": {"keys": "Tab"}}, True),
        ({"click": {"index": 3}}, False),
        ({"navigate": {"url": "https://example.com"}}, False),
    ],
)
def test_page_local_state_is_judged_by_the_steps_last_action(
    last_action: dict[str, object], page_local: bool
) -> None:
    from types import SimpleNamespace

    from checkpoint import leaves_page_local_state

    action = SimpleNamespace(model_dump=lambda **_: last_action)
    output = SimpleNamespace(action=[SimpleNamespace(model_dump=lambda **_: {"click": {}}), action])
    agent = SimpleNamespace(history=SimpleNamespace(history=[SimpleNamespace(model_output=output)]))

    assert leaves_page_local_state(agent) is page_local


@pytest.mark.parametrize("page_local", [False, True])
def test_a_balance_that_cannot_pay_the_next_step_fails_the_task_at_once(page_local: bool) -> None:
    assert _ending(balance_exhausted=True, page_local=page_local) == "failed"
    assert _ending(TaskControl(stop=False, pause=True), balance_exhausted=True) == "failed"


def test_stop_and_the_tasks_own_limits_come_before_the_balance() -> None:
    assert _ending(TaskControl(stop=True, pause=False), balance_exhausted=True) == "stopped"
    assert _ending(steps_total=10, balance_exhausted=True) == "continue"
