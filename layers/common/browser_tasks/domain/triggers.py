"""Starting tasks from outside the API: a JSON spec dropped in the task specs bucket, or a
``RunTask`` event on the stack's bus; and, when an S3-started task ends, its result written
beside its spec.

Both starts go through ``TaskService.create_task`` (the same validation, encryption, metering
and execution start as run-task) and are idempotent. Each notification or event is claimed
first, with the id its task will have: a redelivery finds the claim and starts nothing more; a
delivery after a crash between claim and create creates the claimed task; two deliveries at
once both try, and the tasks table's conditional put lets one through (``TaskAlreadyExists``
for the other, whose start fee is given back).

Who the owner is: a spec's key prefix (``incoming/<owner>/...``) or, without one, its
``owner`` tag, never its body alone; a RunTask event's ``detail.owner``, trusted because only
principals allowed to put events on the stack's bus can send one.
"""

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError

from browser_tasks.domain.api_keys import OWNER_RULE, is_owner_name
from browser_tasks.domain.ids import new_task_id
from browser_tasks.domain.ports import TaskLookup
from browser_tasks.domain.task_views import TaskReader
from browser_tasks.domain.tasks import TaskService
from browser_tasks.errors import (
    InsufficientBalance,
    RequestInvalid,
    TaskAlreadyExists,
    TaskStartFailed,
)
from browser_tasks.models.error_detail import problems_detail, validation_detail
from browser_tasks.models.run_task import RunTaskRequest
from browser_tasks.models.status_events import TaskStatusChange
from browser_tasks.models.task import TaskOrigin, utc_timestamp
from browser_tasks.models.triggers import ObjectCreatedEvent, RunTaskEvent, RunTaskRejection

logger = logging.getLogger(__name__)

SPEC_PREFIX = "incoming/"
RESULT_PREFIX = "results/"
OWNER_TAG = "owner"
MAX_SPEC_BYTES = 256 * 1024
# Longer than any redelivery can come (SQS keeps a message 4 days; S3 retries for hours).
CLAIM_LIFETIME = timedelta(days=30)
# A spec's key: the characters of owner names and plain file names, so the key in the
# notification is the object's own key, whatever encoding a notification path applies.
_KEY_SAFE = re.compile(r"^[A-Za-z0-9._@/-]+$")

Detail = list[dict[str, Any]] | str  # the v1 ``detail``: a validation list, or one message


class TriggerOutcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"  # a redelivery, or the loser of two deliveries at once
    REJECTED = "rejected"  # nothing started; the error object or event says why
    START_FAILED = "start_failed"  # stored, but its execution did not start: it is failed
    RESULT_WRITTEN = "result_written"
    IGNORED = "ignored"  # not ours to act on (another bucket, a task not started from S3)


@dataclass(frozen=True)
class Claim:
    task_id: str
    fresh: bool  # this delivery made the claim
    rejected: bool = False  # an earlier delivery refused it and said why


class TriggerClaims(Protocol):
    def claim(self, claim_key: str, task_id: str, claimed_at: str, expires_at: int) -> Claim:
        """Claim ``claim_key`` for ``task_id`` unless it is claimed already; the claim that
        holds (``fresh`` if it is this one). ``expires_at``: epoch seconds, the item's TTL."""

    def mark_rejected(self, claim_key: str) -> None:
        """Record that the claim's trigger was refused (and the refusal reported)."""


class TaskSpecBucket(Protocol):
    def read(self, bucket: str, key: str, version_id: str | None, at_most: int) -> bytes | None:
        """The object's first ``at_most`` bytes (all of it if smaller); None if it is gone."""

    def owner_tag(self, bucket: str, key: str, version_id: str | None) -> str | None:
        """The object's ``owner`` tag, or None."""

    def put_json(self, bucket: str, key: str, document: bytes) -> None: ...


class RejectionEvents(Protocol):
    def run_task_rejected(self, rejection: RunTaskRejection) -> None:
        """Put ``RunTaskRejected`` on the stack's bus; ``ServiceUnavailable`` if not sent."""


class Rejected(Exception):
    """A trigger that starts nothing, and what its sender is told."""

    def __init__(self, detail: Detail, owner: str | None = None) -> None:
        super().__init__("trigger rejected")
        self.detail = detail
        self.owner = owner


def result_key(spec_key: str, *, error: bool = False) -> str:
    """Where a spec's result goes: its key with ``incoming/`` → ``results/`` and a ``.json``
    (``.error.json`` when it started nothing) in place of its own ``.json``."""
    name = spec_key.removeprefix(SPEC_PREFIX).removesuffix(".json")
    return f"{RESULT_PREFIX}{name}{'.error.json' if error else '.json'}"


def owner_from_key(spec_key: str) -> str | None:
    """``incoming/<owner>/<name>`` → owner; a spec directly under ``incoming/`` has none."""
    owner, slash, _ = spec_key.removeprefix(SPEC_PREFIX).partition("/")
    return owner if slash else None


def _problem(loc: list[str | int], msg: str, kind: str = "value_error") -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": msg, "type": kind}]


class ParsedRunTask(NamedTuple):
    named_owner: Any  # the document's ``owner`` as given (None if absent): not yet trusted
    request: RunTaskRequest | None  # None: see problems
    problems: list[dict[str, Any]]  # v1 detail entries, locs under the document's root


def parse_run_task(document: Any, root: str) -> ParsedRunTask:
    """A run-task body that may also name an ``owner``, validated as run-task validates."""
    if not isinstance(document, dict):
        return ParsedRunTask(None, None, _problem([root], "must be a JSON object", "dict_type"))
    fields = dict(document)
    named_owner = fields.pop("owner", None)
    try:
        return ParsedRunTask(named_owner, RunTaskRequest.model_validate(fields), [])
    except ValidationError as invalid:
        return ParsedRunTask(named_owner, None, validation_detail(invalid.errors(), [root]))


def _rooted(problems: RequestInvalid, root: str) -> list[dict[str, Any]]:
    """create_task's problems (their locs start at "body", as the API's) under ``root``."""
    detail = problems_detail(problems.problems)
    for entry in detail:
        if entry["loc"][:1] == ["body"]:
            entry["loc"][0] = root
    return detail


@dataclass(frozen=True)
class TriggerService:
    tasks: TaskService
    task_lookup: TaskLookup
    reader: TaskReader
    claims: TriggerClaims
    specs: TaskSpecBucket
    rejections: RejectionEvents
    specs_bucket: str
    clock: Callable[[], datetime]

    # -- S3 specs -------------------------------------------------------------------------

    def start_from_spec(self, created: ObjectCreatedEvent) -> TriggerOutcome:
        """Start the task a spec object describes, once per version of the object; a spec
        that cannot start one gets ``results/...error.json`` (the v1 ``detail``) instead.

        Raises
        ------
        ServiceUnavailable
            An AWS call failed; the delivery should be retried.
        """
        bucket, key = created.detail.bucket.name, created.detail.object.key
        if bucket != self.specs_bucket or not key.startswith(SPEC_PREFIX):
            logger.warning("Not a task spec of this stack", extra={"bucket": bucket})
            return TriggerOutcome.IGNORED
        if key.endswith("/"):  # a "folder" the S3 console made: nothing to run
            return TriggerOutcome.IGNORED

        def reject(rejected: Rejected) -> None:
            # The same error object again on a redelivery: harmless.
            document = json.dumps({"detail": rejected.detail}).encode()
            self.specs.put_json(bucket, result_key(key, error=True), document)

        return self._start(
            claim_key=f"s3:{bucket}/{key}#{created.version_marker}",
            origin=TaskOrigin(kind="s3", ref=f"{bucket}/{key}"),
            root="body",
            load=lambda: self._read_spec(created),
            reject=reject,
        )

    def _read_spec(self, created: ObjectCreatedEvent) -> tuple[str, RunTaskRequest]:
        bucket, key = created.detail.bucket.name, created.detail.object.key
        if not _KEY_SAFE.match(key) or "//" in key or "/../" in f"/{key}/":
            raise Rejected(
                "A spec's key may hold only letters, digits, '.', '_', '@', '-' and '/' "
                "(incoming/<owner>/<name>.json)"
            )
        owner = owner_from_key(key)
        if owner is None:
            owner = self.specs.owner_tag(bucket, key, created.version_id)
        if owner is None:
            raise Rejected(
                _problem(
                    ["body", "owner"],
                    f"No owner: put the spec under {SPEC_PREFIX}<owner>/ or tag it "
                    f"{OWNER_TAG}=<owner> (an owner in the body alone is not trusted)",
                    "missing",
                )
            )
        if not is_owner_name(owner):
            raise Rejected(
                _problem(["body", "owner"], f"An owner is {OWNER_RULE}", "string_pattern_mismatch")
            )
        data = self.specs.read(bucket, key, created.version_id, MAX_SPEC_BYTES + 1)
        if data is None:
            raise Rejected("The spec was deleted before it could be read", owner)
        if len(data) > MAX_SPEC_BYTES:
            raise Rejected(
                _problem(["body"], f"A spec is at most {MAX_SPEC_BYTES} bytes", "too_long"), owner
            )
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except json.JSONDecodeError as error:
            where = f"line {error.lineno} column {error.colno}"
            detail = _problem(["body"], f"Invalid JSON at {where}", "json_invalid")
            raise Rejected(detail, owner) from None
        except UnicodeDecodeError:
            raise Rejected(_problem(["body"], "Not UTF-8 text", "json_invalid"), owner) from None
        parsed = parse_run_task(document, "body")
        problems = parsed.problems
        if parsed.named_owner is not None and parsed.named_owner != owner:
            problems += _problem(
                ["body", "owner"], "Does not match the owner of the spec's key prefix or tag"
            )
        if problems or parsed.request is None:
            raise Rejected(problems, owner)
        return owner, parsed.request

    # -- RunTask events -------------------------------------------------------------------

    def start_from_event(self, event: RunTaskEvent) -> TriggerOutcome:
        """Start the task a RunTask event describes, once per event id; an event that cannot
        start one is answered with ``RunTaskRejected`` on the same bus.

        Raises
        ------
        ServiceUnavailable
            An AWS call failed; the delivery should be retried.
        """

        def reject(rejected: Rejected) -> None:
            self.rejections.run_task_rejected(
                RunTaskRejection(event_id=event.id, owner=rejected.owner, detail=rejected.detail)
            )

        return self._start(
            claim_key=f"event:{event.id}",
            origin=TaskOrigin(kind="event", ref=event.id),
            root="detail",
            load=lambda: self._read_event(event),
            reject=reject,
        )

    @staticmethod
    def _read_event(event: RunTaskEvent) -> tuple[str, RunTaskRequest]:
        parsed = parse_run_task(event.detail, "detail")
        named = parsed.named_owner
        owner = named if isinstance(named, str) and is_owner_name(named) else None
        problems = parsed.problems
        if owner is None and isinstance(event.detail, dict):
            problems = [
                *_problem(
                    ["detail", "owner"],
                    f"Name the task's owner: {OWNER_RULE}",
                    "missing" if named is None else "string_pattern_mismatch",
                ),
                *problems,
            ]
        if owner is None or parsed.request is None:
            raise Rejected(problems, owner)
        return owner, parsed.request

    # -- both -----------------------------------------------------------------------------

    def _start(
        self,
        *,
        claim_key: str,
        origin: TaskOrigin,
        root: str,
        load: Callable[[], tuple[str, RunTaskRequest]],
        reject: Callable[[Rejected], None],
    ) -> TriggerOutcome:
        now = self.clock()
        claim = self.claims.claim(
            claim_key,
            new_task_id(now),
            utc_timestamp(now),
            int((now + CLAIM_LIFETIME).timestamp()),
        )
        context = {"origin": origin.kind, "task_id": claim.task_id}
        if claim.rejected or (not claim.fresh and self.task_lookup.get(claim.task_id)):
            logger.info("Already handled; nothing more to do", extra=context)
            return TriggerOutcome.DUPLICATE
        owner: str | None = None
        try:
            owner, request = load()
            self.tasks.create_task(owner, request, origin=origin, task_id=claim.task_id)
        except Rejected as rejected:
            return self._refuse(claim_key, rejected, reject, context)
        except RequestInvalid as invalid:  # e.g. a named upload that does not exist
            return self._refuse(claim_key, Rejected(_rooted(invalid, root), owner), reject, context)
        except InsufficientBalance as refused:
            return self._refuse(claim_key, Rejected(refused.detail, owner), reject, context)
        except TaskAlreadyExists:
            logger.info("Another delivery created the task first", extra=context)
            return TriggerOutcome.DUPLICATE
        except TaskStartFailed as failed:
            # The task exists, failed, and announced so (its result follows from that).
            logger.warning("Task stored but not started", extra={**context, "error": failed.detail})
            return TriggerOutcome.START_FAILED
        logger.info("Task started", extra={**context, "owner": owner})
        return TriggerOutcome.STARTED

    def _refuse(
        self,
        claim_key: str,
        rejected: Rejected,
        reject: Callable[[Rejected], None],
        context: dict[str, str],
    ) -> TriggerOutcome:
        reject(rejected)  # first: if telling fails, the retry tells again
        self.claims.mark_rejected(claim_key)
        logger.info("Trigger rejected", extra={**context, "owner": rejected.owner})
        return TriggerOutcome.REJECTED

    # -- results --------------------------------------------------------------------------

    def write_result(self, change: TaskStatusChange) -> TriggerOutcome:
        """An S3-started task has ended: write ``results/<...>.json`` beside its spec — the
        task as ``GET /task/{id}`` shows it, without links or browser data. Written again,
        the same, if the event is delivered again.

        Raises
        ------
        ServiceUnavailable
            An AWS call failed; the delivery should be retried.
        """
        record = self.task_lookup.get(change.task_id)
        if record is None or record.origin is None or record.origin.kind != "s3":
            return TriggerOutcome.IGNORED
        if not record.status.is_terminal:  # an event older than the task's state
            return TriggerOutcome.IGNORED
        bucket, _, key = record.origin.ref.partition("/")
        view = self.reader.result_view(record)
        self.specs.put_json(bucket, result_key(key), view.model_dump_json().encode())
        logger.info("Result written", extra={"task_id": record.task_id, "status": record.status})
        return TriggerOutcome.RESULT_WRITTEN
