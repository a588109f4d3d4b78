"""What a task costs: a start fee plus a price per step by model.

Cents throughout (integers: no rounding drift). The v1 price list is the default; the operator
may change any of it (the template's ``PriceList`` parameter, env ``PRICE_LIST``), naming only
what differs.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

from browser_tasks.models.run_task import LlmModel

# v1's list: $0.01 a task, plus per step $0.03 (gpt-4o, gpt-4.1, claude-sonnet-4) or $0.01.
_V1_STEP_CENTS: dict[LlmModel, int] = {
    "gpt-4o": 3,
    "gpt-4.1": 3,
    "claude-sonnet-4-20250514": 3,
    "gpt-4o-mini": 1,
    "gpt-4.1-mini": 1,
    "gemini-2.5-flash": 1,
}


class PriceList(BaseModel):
    """Prices in cents. From JSON like ``{"start_fee_cents": 2, "step_cents": {"gpt-4.1": 4}}``:
    each part is optional, and a model left out keeps its v1 price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_fee_cents: NonNegativeInt = 1
    step_cents: dict[LlmModel, NonNegativeInt] = Field(default_factory=lambda: dict(_V1_STEP_CENTS))

    @field_validator("step_cents", mode="before")
    @classmethod
    def _over_the_v1_prices(cls, value: Any) -> Any:
        return {**_V1_STEP_CENTS, **value} if isinstance(value, dict) else value

    def step_price_cents(self, llm_model: LlmModel) -> int:
        return self.step_cents[llm_model]

    def task_cost_cents(self, llm_model: LlmModel, steps: int) -> int:
        """e.g. 10 steps on gpt-4.1 at v1 prices: 1 + 10 * 3 = 31 cents (v1's own example)."""
        return self.start_fee_cents + steps * self.step_price_cents(llm_model)

    def cents_to_start(self, llm_model: LlmModel) -> int:
        """The least balance a task may start with: its start fee and one step."""
        return self.task_cost_cents(llm_model, 1)
