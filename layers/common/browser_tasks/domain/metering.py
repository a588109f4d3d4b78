"""Metering: each owner's balance pays a task's start fee when it is created and each step as
it runs, with atomic conditional writes so that concurrent tasks never overdraw it.

With billing off (a self-hosted deployment for one team) nothing is charged and nothing is
refused; the balance is still kept and shown.
"""

import logging
from dataclasses import dataclass

from browser_tasks.domain.ports import Balances
from browser_tasks.domain.pricing import PriceList
from browser_tasks.errors import InsufficientBalance, ServiceUnavailable
from browser_tasks.models.billing import StepCharge
from browser_tasks.models.run_task import LlmModel
from browser_tasks.models.task import TaskRecord

logger = logging.getLogger(__name__)


def task_model(task: TaskRecord) -> LlmModel:
    """The model a stored task runs on (RunTaskRequest's default if it names none)."""
    model: LlmModel = task.settings.get("llm_model", "gpt-4.1")
    return model


def credit(balances: Balances, owner: str, cents: int) -> int:
    """The operator's top-up: add ``cents`` to the owner's balance (whether billing is on or
    off, at whatever prices); the balance after."""
    if not owner.strip():
        raise ValueError("name an owner")
    if cents <= 0:
        raise ValueError("credit a positive number of cents")
    return balances.credit(owner, cents)


@dataclass(frozen=True)
class Metering:
    balances: Balances
    prices: PriceList
    enabled: bool

    def balance(self, owner: str) -> int:
        """The owner's balance in cents (billing on or off)."""
        return self.balances.balance(owner)

    def charge_task_start(self, owner: str, llm_model: LlmModel) -> int:
        """Take the start fee if the balance also covers one step; the cents taken (0 with
        billing off).

        Raises
        ------
        InsufficientBalance
            The balance is below the start fee plus one step at the model's price.
        ServiceUnavailable
            DynamoDB failed; nothing was taken.
        """
        if not self.enabled:
            return 0
        fee = self.prices.start_fee_cents
        needed = self.prices.cents_to_start(llm_model)
        short = self.balances.debit_if_at_least(owner, fee, needed)
        if short is not None:
            raise InsufficientBalance(
                f"Insufficient balance: a task on {llm_model} needs at least {needed} cents, "
                f"you have {short}"
            )
        return fee

    def refund_task_start(self, owner: str, task_id: str | None, cents: int) -> None:
        """Give back a start fee taken for a task that never ran (``task_id`` None: the task
        was never stored). Best effort: a refund that fails is logged, not raised, so the
        caller still hears why the task failed."""
        if not cents:
            return
        try:
            if task_id is None:
                self.balances.credit(owner, cents)
            else:
                self.balances.refund_task_start(owner, task_id, cents)
        except ServiceUnavailable:
            logger.exception(
                "The start fee could not be refunded",
                extra={"owner": owner, "task_id": task_id, "cents": cents},
            )

    def charge_step(self, task: TaskRecord, step: int) -> StepCharge:
        """Charge step number ``step`` of ``task`` once, however often it is replayed; the
        task's ``cost_cents`` follows what was charged."""
        if not self.enabled:
            return StepCharge.NOT_BILLED
        model = task_model(task)
        charge = self.balances.charge_step(
            task.owner,
            task.task_id,
            step,
            self.prices.step_price_cents(model),
            self.prices.task_cost_cents(model, step),
        )
        if charge is StepCharge.NOT_COVERED:
            logger.warning(
                "A step ran that the balance no longer covers; the task ends after it",
                extra={"task_id": task.task_id, "step": step},
            )
        return charge

    def listed_cost_cents(self, task: TaskRecord, steps: int) -> int | None:
        """The cost the task's progress records when billing is off (the price list's); None
        with billing on, where the charges themselves keep ``cost_cents``."""
        return None if self.enabled else self.prices.task_cost_cents(task_model(task), steps)

    def shortfall(self, task: TaskRecord, steps_done: int) -> str | None:
        """Why the task cannot pay for its next step, or None if it can (or billing is off).

        Asked before a chunk's first step and after every step, so a step starts only when
        the balance covers it.
        """
        if not self.enabled:
            return None
        model = task_model(task)
        price = self.prices.step_price_cents(model)
        balance = self.balances.balance(task.owner)
        if balance >= price:
            return None
        return (
            f"balance exhausted after {steps_done} steps: a step on {model} costs {price} "
            f"cents and the balance is {balance}"
        )
