"""What charging a step for a task came to."""

from enum import StrEnum


class StepCharge(StrEnum):
    CHARGED = "charged"
    # A replayed step (its worker died after charging it; the next chunk runs it again).
    ALREADY_CHARGED = "already_charged"
    # The balance no longer covers the step (another task of the owner spent it meanwhile):
    # the step stays unpaid and the task ends after it.
    NOT_COVERED = "not_covered"
    NOT_BILLED = "not_billed"  # billing is off
