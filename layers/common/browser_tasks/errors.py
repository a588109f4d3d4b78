"""Typed failures the domain and adapters raise; the API maps each class to one HTTP status.

Messages are shown to callers as the v1 ``detail``: they say what happened and never hold a
secret value.
"""


class BrowserTasksError(Exception):
    """Base of every failure a caller may be told about."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(BrowserTasksError):
    """No API key, or one we do not know."""


class NotFound(BrowserTasksError):
    """What was asked for does not exist for this caller."""


class TaskNotFound(NotFound):
    """Unknown id, or another owner's: the two are indistinguishable on purpose."""

    def __init__(self) -> None:
        super().__init__("Task not found")


class OutputFileNotFound(NotFound):
    """The task has no output file of that name."""

    def __init__(self) -> None:
        super().__init__("Output file not found")


class BrowserProfileNotFound(NotFound):
    """Unknown profile id, or another owner's: the two are indistinguishable on purpose."""

    def __init__(self) -> None:
        super().__init__("Browser profile not found")


class ScheduledTaskNotFound(NotFound):
    """Unknown scheduled task id, or another owner's: indistinguishable on purpose."""

    def __init__(self) -> None:
        super().__init__("Scheduled task not found")


class WebhookNotFound(NotFound):
    """The owner has registered no webhook."""

    def __init__(self) -> None:
        super().__init__("Webhook not found")


class WebhookDeliveryFailed(BrowserTasksError):
    """A webhook endpoint could not be reached or did not answer 2xx; the notifier retries.
    Never shown to an API caller."""


class ServiceUnavailable(BrowserTasksError):
    """An AWS dependency failed; nothing was written, the caller may retry."""


class TaskStartFailed(BrowserTasksError):
    """The task was stored but its execution could not start; it is marked failed."""

    def __init__(self, task_id: str, reason: str) -> None:
        super().__init__(f"Task {task_id} could not be started and was marked failed: {reason}")
        self.task_id = task_id


class RequestInvalid(BrowserTasksError):
    """Input that passed the model but not a rule that needs stored data (e.g. an upload that
    does not exist). Answered like any validation error: 422 with loc, msg and type."""

    def __init__(self, problems: list[tuple[list[str | int], str, str]]) -> None:
        super().__init__("; ".join(msg for _, msg, _ in problems))
        self.problems = problems


class InsufficientBalance(BrowserTasksError):
    """With billing on, the owner's balance does not cover what was asked; nothing was done."""


class TaskConflict(BrowserTasksError):
    """The task's state does not allow the request (e.g. stopping a finished task)."""


class TaskAlreadyExists(TaskConflict):
    """A task with the chosen id is already stored: two deliveries of one trigger raced to
    create it (a trigger chooses the id before it creates the task). The later one lost."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task {task_id} already exists")
        self.task_id = task_id
