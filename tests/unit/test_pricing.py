import pytest
from pydantic import ValidationError

from browser_tasks.domain.pricing import PriceList
from browser_tasks.models.run_task import LlmModel
from browser_tasks.settings import Settings

V1 = PriceList()
# Every resource name the template must give (the required fields), as placeholders.
RESOURCES = {name: "x" for name, field in Settings.model_fields.items() if field.is_required()}


def test_the_v1_example_10_steps_on_gpt_4_1_costs_31_cents() -> None:
    assert V1.task_cost_cents("gpt-4.1", 10) == 31


@pytest.mark.parametrize(
    ("model", "steps", "cents"),
    [("gpt-4o-mini", 0, 1), ("gemini-2.5-flash", 75, 76), ("claude-sonnet-4-20250514", 200, 601)],
)
def test_start_fee_plus_steps_times_the_models_price(
    model: LlmModel, steps: int, cents: int
) -> None:
    assert V1.task_cost_cents(model, steps) == cents


def test_every_model_a_caller_may_choose_has_a_price() -> None:
    assert set(V1.step_cents) == set(LlmModel.__args__)  # type: ignore[attr-defined]


def test_a_task_needs_its_start_fee_and_one_step_to_start() -> None:
    assert V1.cents_to_start("gpt-4.1") == 4
    assert V1.cents_to_start("gpt-4o-mini") == 2


def test_the_operator_names_only_the_prices_that_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICE_LIST", '{"start_fee_cents": 5, "step_cents": {"gpt-4.1": 7}}')

    prices = Settings(**RESOURCES).price_list

    assert prices.start_fee_cents == 5
    assert prices.step_price_cents("gpt-4.1") == 7
    assert prices.step_price_cents("gpt-4o") == 3  # v1's, untouched
    assert prices.task_cost_cents("gpt-4.1", 10) == 75


def test_the_templates_default_keeps_the_v1_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICE_LIST", "{}")

    assert Settings(**RESOURCES).price_list == V1


@pytest.mark.parametrize(
    "text",
    [
        '{"step_cents": {"gpt-5": 3}}',  # not a model a caller may choose
        '{"step_cents": {"gpt-4.1": -1}}',
        '{"start_fee_cents": -1}',
        '{"start_fee": 1}',  # a misspelt part is refused, not ignored
    ],
)
def test_a_price_list_that_cannot_be_right_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("PRICE_LIST", text)

    with pytest.raises(ValidationError):
        Settings(**RESOURCES)
