"""What EventBridge Scheduler does on AWS, for the local stack: fire the schedules.

moto's Scheduler stores schedules but never fires them. This reads them back through the same
API (``list_schedules`` + ``get_schedule`` in the stack's schedule group): the very schedules
the API wrote, not the scheduled tasks' records. For each enabled one it works out the
occurrences that fell due since it last looked (``rate``: StartDate + k x the interval, as
"StartDate sets the first occurrence"; ``cron``: the AWS expression turned back into standard
cron and evaluated by cronsim), within StartDate..EndDate, and sends the target's Input with
``<aws.scheduler.scheduled-time>`` filled in to the target queue.

After a long gap (a laptop asleep) only the latest missed occurrence of each schedule fires,
not a burst of them. The clock is injected, so tests move time instead of waiting for it.
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from browser_tasks.adapters import aws_clients
from browser_tasks.domain.schedules import SCHEDULED_TIME_PLACEHOLDER
from browser_tasks.models.cron import from_aws_cron, latest_cron_time, rate_minutes

if TYPE_CHECKING:
    from mypy_boto3_scheduler.type_defs import GetScheduleOutputTypeDef, TargetOutputTypeDef

logger = logging.getLogger(__name__)


def scheduled_time_text(moment: datetime) -> str:
    """How EventBridge Scheduler writes a scheduled time: ``2026-11-30T07:35:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalScheduler:
    def __init__(
        self,
        clock: Callable[[], datetime],
        region: str,
        group: str,
        interval_seconds: float = 5.0,
    ) -> None:
        self._clock = clock
        self._region = region
        self._group = group
        self._interval = interval_seconds
        # Occurrences after this and up to the clock's now are due at the next tick; one
        # falling exactly when the scheduler starts counts.
        self._looked_until = clock() - timedelta(microseconds=1)
        # Each schedule's LastModificationDate as last seen: a schedule created or changed
        # since may start a moment before the last tick (start_at defaults to now), and that
        # first run is still due.
        self._versions: dict[str, datetime] = {}
        self._queue_urls: dict[str, str] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop ticking; returns once a tick in progress has finished."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def tick(self) -> list[str]:
        """Send each enabled schedule's latest occurrence due since the last tick; the
        messages sent."""
        now = self._clock()
        after, self._looked_until = self._looked_until, max(now, self._looked_until)
        sent: list[str] = []
        if now <= after:
            return sent
        for schedule in self._schedules():
            version = schedule["LastModificationDate"]
            changed = self._versions.get(schedule["Name"]) != version
            self._versions[schedule["Name"]] = version
            if schedule.get("State") != "ENABLED":
                continue
            start = schedule.get("StartDate")
            since = min(after, start - timedelta(microseconds=1)) if changed and start else after
            due = latest_due(schedule, since, now)
            if due is not None:
                sent.append(self._send(schedule["Target"], due))
        return sent

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.tick()
            except Exception:  # keep ticking, as Scheduler keeps firing
                logger.exception("Firing the local schedules failed")

    def _schedules(self) -> list["GetScheduleOutputTypeDef"]:
        client = aws_clients.scheduler()
        names = [
            summary["Name"]
            for page in client.get_paginator("list_schedules").paginate(GroupName=self._group)
            for summary in page["Schedules"]
        ]
        return [client.get_schedule(Name=name, GroupName=self._group) for name in names]

    def _send(self, target: "TargetOutputTypeDef", due: datetime) -> str:
        body = target.get("Input", "").replace(SCHEDULED_TIME_PLACEHOLDER, scheduled_time_text(due))
        aws_clients.sqs().send_message(QueueUrl=self._queue_url(target["Arn"]), MessageBody=body)
        return body

    def _queue_url(self, queue_arn: str) -> str:
        if queue_arn not in self._queue_urls:
            # arn:aws:sqs:<region>:<account>:<name>: only SQS targets are used by this stack.
            _, _, service, _, account, name = queue_arn.split(":", 5)
            if service != "sqs":
                raise ValueError(f"the local scheduler only sends to SQS targets, not {queue_arn}")
            self._queue_urls[queue_arn] = aws_clients.sqs().get_queue_url(
                QueueName=name, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
        return self._queue_urls[queue_arn]


def latest_due(
    schedule: "GetScheduleOutputTypeDef", after: datetime, until: datetime
) -> datetime | None:
    """The schedule's last occurrence in (``after``, ``until``], within its StartDate and
    EndDate; None if it has none there."""
    start, end = schedule.get("StartDate"), schedule.get("EndDate")
    upper = min(until, end) if end is not None else until
    expression = schedule["ScheduleExpression"]
    if expression.startswith("rate("):
        if start is None:  # AWS starts a rate without a StartDate when it is created
            return None
        interval = timedelta(minutes=rate_minutes(expression))
        if upper < start:
            return None
        latest = start + interval * ((upper - start) // interval)
    else:
        latest = latest_cron_time(from_aws_cron(expression), upper)
        if start is not None and latest < start:
            return None
    return latest if latest > after else None
