"""Answering a Step Functions task token twice: the API and the worker may both answer a
paused task's token, and a chunk's token may time out while the chunk runs. A token Step
Functions has already decided is not an error; any other refusal still is."""

from collections.abc import Callable, Iterator

import pytest
from botocore.stub import Stubber

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.stepfunctions_callbacks import (
    ALREADY_DECIDED_ERROR_CODES,
    TaskTokenCallbacks,
)
from browser_tasks.adapters.stepfunctions_workflow import StepFunctionsWorkflow
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.work import ChunkResult, ResumeAnswer

ANSWERS: dict[str, tuple[str, Callable[[], None]]] = {
    "resume-task": (
        "send_task_success",
        lambda: StepFunctionsWorkflow("arn").answer("token", ResumeAnswer(state="resume")),
    ),
    "worker pause answer": (
        "send_task_success",
        lambda: TaskTokenCallbacks().answer_pause("token", ResumeAnswer(state="stopped")),
    ),
    "chunk result": (
        "send_task_success",
        lambda: TaskTokenCallbacks().succeed(
            "token", ChunkResult(state="continue", steps=1, elapsed_seconds=1)
        ),
    ),
    "chunk failure": (
        "send_task_failure",
        lambda: TaskTokenCallbacks().fail("token", "ChunkFailed", "boom"),
    ),
}


@pytest.fixture
def stepfunctions() -> Iterator[Stubber]:
    aws_clients.reset_clients()
    with Stubber(aws_clients.stepfunctions()) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    aws_clients.reset_clients()


@pytest.mark.parametrize("code", sorted(ALREADY_DECIDED_ERROR_CODES))
@pytest.mark.parametrize("answer", ANSWERS)
def test_an_answer_to_an_already_decided_token_is_harmless(
    stepfunctions: Stubber, answer: str, code: str
) -> None:
    operation, send = ANSWERS[answer]
    stepfunctions.add_client_error(operation, service_error_code=code, http_status_code=400)

    send()  # no error


@pytest.mark.parametrize("answer", ANSWERS)
def test_any_other_refusal_is_still_a_failure(stepfunctions: Stubber, answer: str) -> None:
    operation, send = ANSWERS[answer]
    stepfunctions.add_client_error(
        operation, service_error_code="AccessDeniedException", http_status_code=400
    )

    with pytest.raises(ServiceUnavailable, match="AccessDeniedException"):
        send()


def test_still_waiting_asks_again_while_the_wait_is_not_yet_armed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto answers a heartbeat sent before it armed the token's wait with InvalidToken.
    from botocore.exceptions import ClientError

    from browser_tasks.adapters import stepfunctions_callbacks
    from browser_tasks.errors import ServiceUnavailable

    answers = iter(["InvalidToken", "InvalidToken", None])

    def heartbeat(_self: object, _token: str) -> None:
        code = next(answers)
        if code:
            error = ClientError({"Error": {"Code": code, "Message": "x"}}, "SendTaskHeartbeat")
            raise ServiceUnavailable("Sending a heartbeat failed") from error

    monkeypatch.setattr(stepfunctions_callbacks, "_ARMING_PAUSE_SECONDS", 0)
    monkeypatch.setattr(stepfunctions_callbacks.TaskTokenCallbacks, "heartbeat", heartbeat)

    assert stepfunctions_callbacks.TaskTokenCallbacks().still_waiting("token") is True


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_still_waiting_is_false_once_the_token_is_decided(
    monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    from botocore.exceptions import ClientError

    from browser_tasks.adapters import stepfunctions_callbacks
    from browser_tasks.errors import ServiceUnavailable

    def heartbeat(_self: object, _token: str) -> None:
        error = ClientError({"Error": {"Code": code, "Message": "x"}}, "SendTaskHeartbeat")
        raise ServiceUnavailable("Sending a heartbeat failed") from error

    monkeypatch.setattr(stepfunctions_callbacks.TaskTokenCallbacks, "heartbeat", heartbeat)

    assert stepfunctions_callbacks.TaskTokenCallbacks().still_waiting("token") is False
