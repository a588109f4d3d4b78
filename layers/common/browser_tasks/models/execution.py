"""A state machine execution's status change, as Step Functions reports it to EventBridge."""

from pydantic import BaseModel, ConfigDict, Field


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a ``Step Functions Execution Status Change`` event.

    Only the fields the guard reads; the event carries more (dates, output, redrive counts).
    ``input`` is the execution's input as a JSON string, or None when Step Functions left it out
    (inputs over 248 KB). ``error`` and ``cause`` are set for a FAILED execution.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None
