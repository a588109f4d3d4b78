"""What the domain needs from the outside world; adapters implement these."""

from typing import Any, Protocol

from browser_tasks.models.billing import StepCharge
from browser_tasks.models.browser_profile import BrowserProfileRecord
from browser_tasks.models.scheduled_task import FiringState, ScheduledTaskRecord, SchedulePlan
from browser_tasks.models.status_events import TaskStatusChange, WebhookTestRequest
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskRecord, TaskStatus
from browser_tasks.models.task_view import TaskFilter
from browser_tasks.models.webhooks import StoredWebhook
from browser_tasks.models.work import ResumeAnswer


class TaskRepository(Protocol):
    def create(self, task: TaskRecord) -> None:
        """Store a new task; never overwrites an existing id (``TaskAlreadyExists``)."""

    def get(self, task_id: str) -> TaskRecord | None: ...

    def mark_stopped_if_created(self, task_id: str, finished_at: str) -> bool:
        """``created`` → ``stopped``; False if the task had already left ``created``."""

    def request_stop(self, task_id: str) -> TaskRecord | None:
        """Flag a created, running or paused task to stop; the task as written (its
        ``resume_token`` read with the flag, atomically), or None if it is in none of those."""

    def request_pause(self, task_id: str) -> bool:
        """Flag a created or running task, not being stopped, to pause; False if it is not."""

    def request_resume(self, task_id: str) -> TaskRecord | None:
        """Flag a paused task, not being stopped, to resume; the task as written (its
        ``resume_token`` read with the flag, atomically), or None if it is not such a task."""

    def mark_failed(
        self, task_id: str, reason: str, *, finished_at: str, expected: TaskStatus
    ) -> bool:
        """Set ``failed`` with a reason if the task is still ``expected``; False if not."""


class ChunkLeases(Protocol):
    """Which delivery of a chunk's queue message runs the chunk: at most one ``holder`` at a
    time holds the task's chunk lease, until its ``until`` (epoch seconds) passes."""

    def acquire_chunk_lease(
        self, task_id: str, holder: str, until_epoch: float, now_epoch: float
    ) -> bool:
        """Hold the lease until ``until_epoch`` unless another holder's lease is still live at
        ``now_epoch``; False if one is (or there is no such task)."""

    def renew_chunk_lease(self, task_id: str, holder: str, until_epoch: float) -> bool:
        """Move ``holder``'s lease on to ``until_epoch``; False if it is no longer theirs."""

    def release_chunk_lease(self, task_id: str, holder: str) -> None:
        """Drop ``holder``'s lease; nothing happens if it is not theirs."""


class RenewableLease(Protocol):
    def renew(self) -> None:
        """Hold on for another lease period from now."""


class ApiKeyRepository(Protocol):
    def owner_of(self, key_hash: str) -> str | None: ...

    def add(self, key_hash: str, owner: str, created_at: str) -> None: ...


class SecretsCipher(Protocol):
    def encrypt(self, plaintext: str, context: dict[str, str]) -> str:
        """Envelope-encrypt ``plaintext``; only the same ``context`` decrypts it."""

    def decrypt(self, ciphertext: str, context: dict[str, str]) -> str: ...


class Workflow(Protocol):
    def start(self, execution_name: str, execution_input: dict[str, Any]) -> str:
        """Start the task's state machine execution; return its ARN."""

    def answer(self, task_token: str, answer: ResumeAnswer) -> None:
        """Answer a paused execution's token; harmless if it was already answered."""


class UnfinishedTasks(Protocol):
    def fail_if_unfinished(
        self, task_id: str, reason: str, *, finished_at: str
    ) -> TaskRecord | None:
        """Set ``failed`` with a reason if the task is ``created``, ``running`` or ``paused``,
        and ask a worker still running it to stop; return the task as written, or None if it
        had already ended (or does not exist)."""


class StatusEvents(Protocol):
    def task_status_changed(self, change: TaskStatusChange) -> None:
        """Announce a status change (TaskStatusChanged on the stack's bus), as the state
        machine does; raise ``ServiceUnavailable`` if it could not be sent."""

    def webhook_test_requested(self, request: WebhookTestRequest) -> None:
        """Ask for a test delivery to the owner's webhook (WebhookTest on the same bus, so it
        reaches the notifier the way status changes do); ``ServiceUnavailable`` if not sent."""


class WebhookStore(Protocol):
    """One webhook per owner, kept on the owner's item beside whatever else it holds."""

    def put(self, owner: str, webhook: StoredWebhook) -> None: ...

    def get(self, owner: str) -> StoredWebhook | None: ...

    def delete(self, owner: str) -> None:
        """Forget the owner's webhook; nothing happens if there is none."""


class HostCheck(Protocol):
    def refusal(self, host: str, port: int) -> str | None:
        """Why ``host`` may not be called (it does not resolve, or resolves to a loopback,
        link-local or private address), or None if every address it resolves to is public."""


class WebhookSender(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` and return the HTTP status; ``WebhookDeliveryFailed`` if no answer
        came (refused destination, connection error, timeout)."""


class TaskLookup(Protocol):
    def get(self, task_id: str) -> TaskRecord | None: ...


class TaskIndex(Protocol):
    """One owner's tasks, newest first."""

    def count(self, owner: str, where: TaskFilter) -> int:
        """How many of the owner's tasks match ``where``."""

    def newest_first(
        self, owner: str, where: TaskFilter, *, skip: int, take: int
    ) -> list[TaskRecord]:
        """Up to ``take`` of the owner's tasks matching ``where``, after the newest ``skip``."""


class StepLog(Protocol):
    def list(self, task_id: str, after: int = 0) -> list[StepRecord]:
        """Every stored step of the task numbered above ``after`` (all of them by default)."""


class MediaLinks(Protocol):
    def presign_get(self, key: str, seconds: int) -> str:
        """A URL that GETs the stored object for ``seconds``."""

    def output_file_key(self, owner: str, task_id: str, file_name: str) -> str: ...

    def origin(self) -> str:
        """``scheme://host[:port]`` that every URL of ``presign_get`` starts with."""


class SavedBrowserData(Protocol):
    def load(self, owner: str, key: str) -> dict[str, Any] | None:
        """Saved browser state (``{"cookies": [...]}``), decrypted; None if none was saved."""


class Balances(Protocol):
    """Each owner's balance in cents; every change is one atomic conditional write."""

    def balance(self, owner: str) -> int:
        """0 for an owner never credited."""

    def credit(self, owner: str, cents: int) -> int:
        """Add ``cents``; the balance after."""

    def debit_if_at_least(self, owner: str, cents: int, at_least: int) -> int | None:
        """Take ``cents`` if the balance is at least ``at_least``: None if taken, else the
        balance that fell short."""

    def refund_task_start(self, owner: str, task_id: str, cents: int) -> None:
        """Give back a task's start fee and set its ``cost_cents`` to 0, at most once."""

    def charge_step(
        self, owner: str, task_id: str, step: int, cents: int, task_cost_cents: int
    ) -> StepCharge:
        """Take ``cents`` for step number ``step`` unless the task was already charged for it
        or the balance is below ``cents``; on a charge the task's cost becomes
        ``task_cost_cents``."""


class BrowserProfileLookup(Protocol):
    def get(self, owner: str, profile_id: str) -> BrowserProfileRecord | None:
        """The owner's profile; None for an unknown id and for another owner's alike."""


class BrowserProfileRepository(BrowserProfileLookup, Protocol):
    """One owner's browser profiles, keyed by owner and profile id."""

    def create(self, profile: BrowserProfileRecord) -> None:
        """Store a new profile; never overwrites an existing id."""

    def update(
        self, owner: str, profile_id: str, changes: dict[str, Any], updated_at: str
    ) -> BrowserProfileRecord | None:
        """Set ``changes`` on an existing profile; the profile as written, or None if the
        owner has no such profile (nothing is written then)."""

    def delete(self, owner: str, profile_id: str) -> bool:
        """Delete the profile; False if the owner had no such profile."""

    def count(self, owner: str) -> int: ...

    def newest_first(self, owner: str, *, skip: int, take: int) -> list[BrowserProfileRecord]:
        """Up to ``take`` of the owner's profiles, after the newest ``skip``."""


class ProfileStates(Protocol):
    """A profile's saved browser state (cookies, localStorage), encrypted, one per profile."""

    def save(self, owner: str, profile_id: str, state: dict[str, Any]) -> None: ...

    def load(self, owner: str, profile_id: str) -> dict[str, Any] | None:
        """The saved state, decrypted; None if none was saved."""

    def delete(self, owner: str, profile_id: str) -> None:
        """Remove the saved state; nothing happens if there is none."""


class ScheduledTaskRepository(Protocol):
    """One owner's scheduled tasks, keyed by owner and scheduled task id."""

    def create(self, record: ScheduledTaskRecord) -> None:
        """Store a new scheduled task; never overwrites an existing id."""

    def get(self, owner: str, scheduled_task_id: str) -> ScheduledTaskRecord | None:
        """The owner's scheduled task; None for an unknown id and another owner's alike."""

    def replace_definition(self, record: ScheduledTaskRecord) -> bool:
        """Write everything but ``firing`` (which only firings write); False if the scheduled
        task no longer exists (nothing is written then)."""

    def save_firing(
        self, owner: str, scheduled_task_id: str, firing: FiringState, *, expected_version: int
    ) -> bool:
        """Write ``firing`` if the stored one is still at ``expected_version``; False if not
        (another delivery wrote first) or if the scheduled task no longer exists."""

    def delete(self, owner: str, scheduled_task_id: str) -> None:
        """Forget the scheduled task; nothing happens if there is none."""

    def count(self, owner: str) -> int: ...

    def newest_first(self, owner: str, *, skip: int, take: int) -> list[ScheduledTaskRecord]:
        """Up to ``take`` of the owner's scheduled tasks, after the newest ``skip``."""


class Schedules(Protocol):
    """The timers that fire scheduled tasks (EventBridge Scheduler), one per scheduled task."""

    def create(self, plan: SchedulePlan) -> None: ...

    def update(self, plan: SchedulePlan) -> None: ...

    def delete(self, name: str) -> None:
        """Remove the schedule; nothing happens if there is none."""
