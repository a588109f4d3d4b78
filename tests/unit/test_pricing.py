import pytest

from browser_tasks.domain.pricing import STEP_PRICE_CENTS, task_cost_cents
from browser_tasks.models.run_task import LlmModel


def test_the_v1_example_10_steps_on_gpt_4_1_costs_31_cents() -> None:
    assert task_cost_cents("gpt-4.1", 10) == 31


@pytest.mark.parametrize(
    ("model", "steps", "cents"),
    [("gpt-4o-mini", 0, 1), ("gemini-2.5-flash", 75, 76), ("claude-sonnet-4-20250514", 200, 601)],
)
def test_start_fee_plus_steps_times_the_models_price(model: str, steps: int, cents: int) -> None:
    assert task_cost_cents(model, steps) == cents


def test_every_model_a_caller_may_choose_has_a_price() -> None:
    assert set(STEP_PRICE_CENTS) == set(LlmModel.__args__)  # type: ignore[attr-defined]
