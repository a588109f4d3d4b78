"""What a task costs, by the v1 price list: a start fee plus a price per step by model.

Cents throughout (integers: no rounding drift). Metering against a balance builds on this.
"""

START_FEE_CENTS = 1
STEP_PRICE_CENTS: dict[str, int] = {
    "gpt-4o": 3,
    "gpt-4.1": 3,
    "claude-sonnet-4-20250514": 3,
    "gpt-4o-mini": 1,
    "gpt-4.1-mini": 1,
    "gemini-2.5-flash": 1,
}


def task_cost_cents(llm_model: str, steps: int) -> int:
    """e.g. 10 steps on gpt-4.1: 1 + 10 * 3 = 31 cents ($0.31, v1's own example)."""
    return START_FEE_CENTS + steps * STEP_PRICE_CENTS[llm_model]
