"""Scheduled tasks on the in-process stack: the /scheduled-task routes, the EventBridge
Scheduler schedule each one owns (moto), and firings — the local scheduler on a simulated
clock sends them to the trigger queue, and ``schedule_service().fire`` acts on each message
as the trigger function will."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.s3_media import upload_key
from browser_tasks.local.scheduler import LocalScheduler
from browser_tasks.models.scheduled_task import FiringOutcome, FiringResult, ScheduleFiring
from browser_tasks.services import schedule_service
from browser_tasks.settings import get_settings
from tests.conftest import BOB_KEY
from tests.support import (
    InProcessStack,
    all_table_items,
    every_stored_text,
    in_process_stack,
    set_task_fields,
    tasks_in_table,
)

CANARY = "canary-schedule-secret-7c41d9"
# A day ahead, on the hour: schedules may start there (EventBridge refuses a past StartDate)
# and the simulated clock runs from there.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(moment: datetime) -> str:
    """How the API writes times (utc_timestamp)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


INTERVAL_BODY = {
    "task": "Check the price on the test site",
    "schedule_type": "interval",
    "interval_minutes": 5,
    "start_at": _iso(T0),
    "secrets": {"password": CANARY},
    "metadata": {"team": "growth"},
    "llm_model": "gpt-4.1-mini",
    "max_agent_steps": 12,
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


class SimulatedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _create(stack: InProcessStack, **fields: Any) -> str:
    response = stack.call("POST", "/api/v1/scheduled-task", body={**INTERVAL_BODY, **fields})
    assert response.status == 200, response.text
    scheduled_task_id = response.json()["id"]
    assert scheduled_task_id.startswith("sched_")
    return str(scheduled_task_id)


def _schedule(stack: InProcessStack, scheduled_task_id: str) -> dict[str, Any]:
    return dict(
        boto3.client("scheduler").get_schedule(
            Name=scheduled_task_id, GroupName=stack.environment["SCHEDULE_GROUP_NAME"]
        )
    )


def _schedule_items() -> list[dict[str, Any]]:
    return [
        i for name, items in all_table_items().items() if "SchedulesTable" in name for i in items
    ]


def _deliver(stack: InProcessStack) -> list[FiringResult]:
    """Receive every message on the trigger queue and fire each, as the trigger function does."""
    sqs = boto3.client("sqs")
    results = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=stack.resources["TriggerQueue"], MaxNumberOfMessages=10
        ).get("Messages", [])
        if not messages:
            return results
        for message in messages:
            results.append(
                schedule_service().fire(ScheduleFiring.model_validate_json(message["Body"]))
            )
            sqs.delete_message(
                QueueUrl=stack.resources["TriggerQueue"], ReceiptHandle=message["ReceiptHandle"]
            )


def _scheduled_tasks(scheduled_task_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in tasks_in_table()
        if t.get("origin", {}).get("M", {}).get("ref", {}).get("S") == scheduled_task_id
    ]


def test_a_scheduled_task_and_its_schedule_are_created_shown_updated_and_deleted(
    stack: InProcessStack,
) -> None:
    scheduled_task_id = _create(stack)

    # The view: the schedule, its next run, the run-task settings, never the secrets.
    response = stack.call("GET", f"/api/v1/scheduled-task/{scheduled_task_id}")
    assert response.status == 200, response.text
    view = response.json()
    assert {k: view[k] for k in ("id", "schedule_type", "interval_minutes", "cron_expression")} == {
        "id": scheduled_task_id,
        "schedule_type": "interval",
        "interval_minutes": 5,
        "cron_expression": None,
    }
    assert view["start_at"] == _stamp(T0)
    assert view["end_at"] == _stamp(T0 + timedelta(days=365))
    assert view["next_run_at"] == _stamp(T0)
    assert view["is_active"] is True
    assert (view["runs_count"], view["skipped_runs_count"], view["last_task_id"]) == (0, 0, None)
    assert (view["llm_model"], view["max_agent_steps"], view["metadata"]) == (
        "gpt-4.1-mini",
        12,
        {"team": "growth"},
    )
    assert "secrets" not in view
    assert CANARY not in response.text

    # The schedule: rate, window, target = the trigger queue with the scheduler role.
    schedule = _schedule(stack, scheduled_task_id)
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["StartDate"] == T0
    assert schedule["EndDate"] == T0 + timedelta(days=365)
    target = schedule["Target"]
    assert target["Arn"] == stack.environment["TRIGGER_QUEUE_ARN"]
    assert target["RoleArn"] == stack.environment["SCHEDULER_ROLE_ARN"]
    assert target["DeadLetterConfig"] == {"Arn": stack.environment["TRIGGER_DEAD_LETTER_QUEUE_ARN"]}
    assert json.loads(target["Input"]) == {
        "kind": "schedule",
        "owner": "alice",
        "scheduled_task_id": scheduled_task_id,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    # Secrets are sealed in the record only: in no stored text, nor in the schedule.
    assert [where for where, text in every_stored_text() if CANARY in text] == []
    assert CANARY not in json.dumps(schedule, default=str)

    # PUT: a partial update, switched to cron and disabled; the schedule follows.
    response = stack.call(
        "PUT",
        f"/api/v1/scheduled-task/{scheduled_task_id}",
        body={"schedule_type": "cron", "cron_expression": "0 9 * * MON-FRI", "is_active": False},
    )
    assert response.status == 200, response.text
    updated = response.json()
    assert (updated["schedule_type"], updated["interval_minutes"]) == ("cron", None)
    assert (updated["is_active"], updated["next_run_at"]) == (False, None)
    assert (updated["task"], updated["llm_model"]) == (INTERVAL_BODY["task"], "gpt-4.1-mini")
    schedule = _schedule(stack, scheduled_task_id)
    assert (schedule["ScheduleExpression"], schedule["State"]) == (
        "cron(0 9 ? * 2-6 *)",
        "DISABLED",
    )

    response = stack.call(
        "PUT",
        f"/api/v1/scheduled-task/{scheduled_task_id}",
        body={"is_active": True, "task": "A new task text"},
    )
    assert response.status == 200, response.text
    assert (response.json()["task"], response.json()["cron_expression"]) == (
        "A new task text",
        "0 9 * * MON-FRI",
    )
    assert response.json()["next_run_at"] is not None
    assert _schedule(stack, scheduled_task_id)["State"] == "ENABLED"
    assert [where for where, text in every_stored_text() if CANARY in text] == []

    # DELETE: schedule and record gone; a second DELETE is a 404.
    response = stack.call("DELETE", f"/api/v1/scheduled-task/{scheduled_task_id}")
    assert (response.status, response.json()) == (200, {})
    with pytest.raises(boto3.client("scheduler").exceptions.ResourceNotFoundException):
        _schedule(stack, scheduled_task_id)
    assert _schedule_items() == []
    for method in ("GET", "DELETE"):
        response = stack.call(method, f"/api/v1/scheduled-task/{scheduled_task_id}")
        assert (response.status, response.json()) == (404, {"detail": "Scheduled task not found"})


def test_the_list_is_paged_newest_first_and_holds_only_the_callers(stack: InProcessStack) -> None:
    ids = [_create(stack, task=f"task {n}") for n in range(3)]

    first = stack.call("GET", "/api/v1/scheduled-tasks?page=1&limit=2").json()
    second = stack.call("GET", "/api/v1/scheduled-tasks?page=2&limit=2").json()

    assert [s["id"] for s in first["scheduled_tasks"]] == [ids[2], ids[1]]
    assert [s["id"] for s in second["scheduled_tasks"]] == [ids[0]]
    assert {k: first[k] for k in ("total_pages", "page", "limit", "total_count")} == {
        "total_pages": 2,
        "page": 1,
        "limit": 2,
        "total_count": 3,
    }
    assert all("secrets" not in s for s in first["scheduled_tasks"])
    bobs = stack.call("GET", "/api/v1/scheduled-tasks", key=BOB_KEY).json()
    assert (bobs["scheduled_tasks"], bobs["total_count"]) == ([], 0)
    for query, loc in (("limit=0", "limit"), ("limit=101", "limit"), ("page=0", "page")):
        response = stack.call("GET", f"/api/v1/scheduled-tasks?{query}")
        assert response.status == 422, query
        assert response.json()["detail"][0]["loc"] == ["query", loc]


def test_no_key_is_401_and_another_owners_id_is_404_like_an_unknown_one(
    stack: InProcessStack,
) -> None:
    alices = _create(stack)
    not_found = (404, {"detail": "Scheduled task not found"})

    for method, path, body in (
        ("POST", "/api/v1/scheduled-task", INTERVAL_BODY),
        ("GET", "/api/v1/scheduled-tasks", None),
        ("GET", f"/api/v1/scheduled-task/{alices}", None),
        ("PUT", f"/api/v1/scheduled-task/{alices}", {"is_active": False}),
        ("DELETE", f"/api/v1/scheduled-task/{alices}", None),
    ):
        assert stack.call(method, path, body=body, key=None).status == 401
    for scheduled_task_id in (alices, "sched_unknown"):
        for method, body in (("GET", None), ("PUT", {"is_active": False}), ("DELETE", None)):
            response = stack.call(
                method, f"/api/v1/scheduled-task/{scheduled_task_id}", body=body, key=BOB_KEY
            )
            assert (response.status, response.json()) == not_found

    # Bob changed nothing of Alice's.
    view = stack.call("GET", f"/api/v1/scheduled-task/{alices}").json()
    assert view["is_active"] is True
    assert _schedule(stack, alices)["State"] == "ENABLED"


# (changes to a valid body, the field blamed, words of the message)
INVALID_SCHEDULES = [
    (
        {"schedule_type": "cron", "cron_expression": "61 * * * *"},
        "cron_expression",
        "Bad minute",
    ),
    (
        {"schedule_type": "cron", "cron_expression": "0 9 1 * MON"},
        "cron_expression",
        "EventBridge Scheduler cannot express",
    ),
    ({"schedule_type": "cron", "cron_expression": "0 9 * *"}, "cron_expression", "5 fields"),
    ({"schedule_type": "cron", "cron_expression": "0 0 L * *"}, "cron_expression", "standard"),
    ({"cron_expression": "0 9 * * *"}, "cron_expression", "Not allowed"),
    ({"schedule_type": "cron"}, "cron_expression", "Field required"),
    ({"interval_minutes": None}, "interval_minutes", "Field required"),
    ({"interval_minutes": 0}, "interval_minutes", "greater than or equal to 1"),
    ({"interval_minutes": 525_601}, "interval_minutes", "less than or equal"),
    ({"end_at": _iso(T0 - timedelta(minutes=1))}, "end_at", "after start_at"),
    ({"schedule_type": "weekly"}, "schedule_type", "interval"),
    # What run-task would refuse for this owner is refused when the schedule is saved.
    ({"browser_profile_id": "prof_unknown"}, "browser_profile_id", "Browser profile not found"),
    ({"time_limit_seconds": 86_400}, "time_limit_seconds", "this deployment's maximum"),
]


def test_invalid_schedules_are_a_422_naming_the_field_and_store_nothing(
    stack: InProcessStack,
) -> None:
    for changes, loc, msg in INVALID_SCHEDULES:
        response = stack.call("POST", "/api/v1/scheduled-task", body={**INTERVAL_BODY, **changes})

        assert response.status == 422, (changes, response.text)
        problems = response.json()["detail"]
        assert any(p["loc"] == ["body", loc] and msg in p["msg"] for p in problems), problems
        assert CANARY not in response.text
    assert _schedule_items() == []
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def test_an_update_is_checked_as_a_whole_and_a_refused_one_changes_nothing(
    stack: InProcessStack,
) -> None:
    scheduled_task_id = _create(stack)
    before = _schedule_items()

    for body, loc in (
        ({"schedule_type": "cron"}, "cron_expression"),  # cron needs its expression
        ({"end_at": _iso(T0 - timedelta(days=1))}, "end_at"),  # before the stored start_at
        ({"task": None}, "task"),
        ({"cron_expression": "0 9 1 * 1"}, "cron_expression"),
        ({"browser_profile_id": "prof_unknown"}, "browser_profile_id"),
    ):
        response = stack.call("PUT", f"/api/v1/scheduled-task/{scheduled_task_id}", body=body)
        assert response.status == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", loc], response.text

    assert _schedule_items() == before
    assert _schedule(stack, scheduled_task_id)["ScheduleExpression"] == "rate(5 minutes)"


def test_a_schedule_that_cannot_be_created_leaves_no_scheduled_task(
    stack: InProcessStack,
) -> None:
    # Given EventBridge Scheduler answers CreateSchedule with an error
    def throttled(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Code": "ThrottlingException", "Message": "Rate exceeded"}
        return SimpleNamespace(status_code=400), {"Error": error}

    aws_clients.scheduler().meta.events.register("before-call.scheduler.CreateSchedule", throttled)

    response = stack.call("POST", "/api/v1/scheduled-task", body=INTERVAL_BODY)

    assert response.status == 503, response.text
    assert _schedule_items() == []


def test_an_interval_schedule_fires_on_time_skips_while_busy_ignores_duplicates_and_stops_when_deleted(
    stack: InProcessStack,
) -> None:
    scheduled_task_id = _create(stack)
    clock = SimulatedClock(T0)
    scheduler = LocalScheduler(
        clock, "us-east-1", stack.environment["SCHEDULE_GROUP_NAME"], interval_seconds=60
    )

    # Every 5 minutes over 30 minutes, ticking each simulated minute: t0, t0+5 ... t0+30.
    sent: list[str] = []
    started: list[FiringResult] = []
    for minute in range(31):
        clock.now = T0 + timedelta(minutes=minute)
        sent += scheduler.tick()
        for result in _deliver(stack):
            assert result.outcome is FiringOutcome.STARTED, result
            assert result.task_id is not None
            started.append(result)
            set_task_fields(stack, result.task_id, status="finished")  # the run ends in time

    assert len(sent) == 7
    assert [json.loads(body)["scheduled_time"] for body in sent] == [
        _iso(T0 + timedelta(minutes=5 * k)) for k in range(7)
    ]
    tasks = _scheduled_tasks(scheduled_task_id)
    assert sorted(t["task_id"]["S"] for t in tasks) == sorted(r.task_id for r in started)
    assert all(t["origin"]["M"]["kind"]["S"] == "schedule" for t in tasks)
    assert all(t["task"]["S"] == INTERVAL_BODY["task"] for t in tasks)
    assert all(t["owner"]["S"] == "alice" for t in tasks)
    assert all(t["settings"]["M"]["llm_model"]["S"] == "gpt-4.1-mini" for t in tasks)
    assert all(t["metadata"]["M"] == {"team": {"S": "growth"}} for t in tasks)
    assert all("secrets_ciphertext" in t for t in tasks)  # handed on, sealed for each task
    view = stack.call("GET", f"/api/v1/scheduled-task/{scheduled_task_id}").json()
    assert (view["runs_count"], view["last_task_id"], view["last_run_at"]) == (
        7,
        started[-1].task_id,
        _stamp(T0 + timedelta(minutes=30)),
    )

    # The same firing delivered again: no second task.
    again = schedule_service().fire(ScheduleFiring.model_validate_json(sent[-1]))
    assert again.outcome is FiringOutcome.DUPLICATE
    assert len(_scheduled_tasks(scheduled_task_id)) == 7

    # The previous run still going: the next firing is skipped, and recorded.
    assert started[-1].task_id is not None
    set_task_fields(stack, started[-1].task_id, status="running")
    clock.now = T0 + timedelta(minutes=35)
    assert len(scheduler.tick()) == 1
    (skipped,) = _deliver(stack)
    assert skipped.outcome is FiringOutcome.SKIPPED
    view = stack.call("GET", f"/api/v1/scheduled-task/{scheduled_task_id}").json()
    assert (view["runs_count"], view["skipped_runs_count"], view["last_skipped_at"]) == (
        7,
        1,
        _stamp(T0 + timedelta(minutes=35)),
    )

    # Deleted: nothing more is sent, and a firing already on its way is dropped.
    assert stack.call("DELETE", f"/api/v1/scheduled-task/{scheduled_task_id}").status == 200
    for minute in range(36, 61):
        clock.now = T0 + timedelta(minutes=minute)
        assert scheduler.tick() == []
    late = schedule_service().fire(
        ScheduleFiring(
            kind="schedule",
            owner="alice",
            scheduled_task_id=scheduled_task_id,
            scheduled_time=T0 + timedelta(minutes=40),
        )
    )
    assert late.outcome is FiringOutcome.DROPPED
    assert len(_scheduled_tasks(scheduled_task_id)) == 7
    # The secrets reached the tasks sealed, never in clear.
    assert [where for where, text in every_stored_text() if CANARY in text] == []


def test_a_cron_schedule_fires_at_its_minutes_from_its_start(stack: InProcessStack) -> None:
    scheduled_task_id = _create(
        stack,
        schedule_type="cron",
        interval_minutes=None,
        cron_expression="*/10 * * * *",
        start_at=_iso(T0 + timedelta(minutes=3)),
    )
    assert _schedule(stack, scheduled_task_id)["ScheduleExpression"] == "cron(0/10 * * * ? *)"
    clock = SimulatedClock(T0)
    scheduler = LocalScheduler(clock, "us-east-1", stack.environment["SCHEDULE_GROUP_NAME"])

    fired: list[str] = []
    for minute in range(36):
        clock.now = T0 + timedelta(minutes=minute)
        scheduler.tick()
        for result in _deliver(stack):
            assert result.outcome is FiringOutcome.STARTED, result
            assert result.task_id is not None
            set_task_fields(stack, result.task_id, status="finished")
            fired.append(result.scheduled_time)

    assert fired == [_stamp(T0 + timedelta(minutes=m)) for m in (10, 20, 30)]


def test_after_a_long_gap_only_the_latest_missed_run_fires(stack: InProcessStack) -> None:
    _create(stack, interval_minutes=1)
    clock = SimulatedClock(T0)
    scheduler = LocalScheduler(clock, "us-east-1", stack.environment["SCHEDULE_GROUP_NAME"])

    clock.now = T0 + timedelta(hours=3, seconds=30)  # asleep for three hours
    sent = scheduler.tick()

    assert [json.loads(body)["scheduled_time"] for body in sent] == [_iso(T0 + timedelta(hours=3))]


def test_a_schedule_starting_just_before_the_last_tick_still_fires_its_first_run(
    stack: InProcessStack,
) -> None:
    # Given the scheduler looked a moment ago, just after the new schedule's start
    clock = SimulatedClock(T0 + timedelta(seconds=2))
    scheduler = LocalScheduler(clock, "us-east-1", stack.environment["SCHEDULE_GROUP_NAME"])
    assert scheduler.tick() == []
    _create(stack, interval_minutes=60)

    # When it next looks
    clock.now = T0 + timedelta(seconds=7)
    sent = scheduler.tick()

    # Then the run at the start is sent, once
    assert [json.loads(body)["scheduled_time"] for body in sent] == [_iso(T0)]
    clock.now = T0 + timedelta(seconds=12)
    assert scheduler.tick() == []


def test_a_firing_that_create_task_refuses_is_recorded_and_starts_nothing(
    stack: InProcessStack,
) -> None:
    # Given a scheduled task naming an upload that existed when it was saved, and no more
    media = boto3.client("s3")
    bucket, key = get_settings().media_bucket, upload_key("alice", "report.csv")
    media.put_object(Bucket=bucket, Key=key, Body=b"a,b\n")
    scheduled_task_id = _create(stack, included_file_names=["report.csv"])
    media.delete_object(Bucket=bucket, Key=key)

    result = schedule_service().fire(
        ScheduleFiring(
            kind="schedule", owner="alice", scheduled_task_id=scheduled_task_id, scheduled_time=T0
        )
    )

    assert result.outcome is FiringOutcome.REFUSED
    assert _scheduled_tasks(scheduled_task_id) == []
    view = stack.call("GET", f"/api/v1/scheduled-task/{scheduled_task_id}").json()
    assert "report.csv" in view["last_error"]
    assert view["runs_count"] == 0
    # Not retried: the same firing again is a duplicate.
    again = schedule_service().fire(
        ScheduleFiring(
            kind="schedule", owner="alice", scheduled_task_id=scheduled_task_id, scheduled_time=T0
        )
    )
    assert again.outcome is FiringOutcome.DUPLICATE


def test_a_firing_outside_the_window_or_for_another_owner_is_dropped(
    stack: InProcessStack,
) -> None:
    scheduled_task_id = _create(stack, end_at=_iso(T0 + timedelta(hours=1)))

    for owner, moment in (
        ("alice", T0 - timedelta(minutes=5)),
        ("alice", T0 + timedelta(hours=2)),
        ("bob", T0),
    ):
        result = schedule_service().fire(
            ScheduleFiring(
                kind="schedule",
                owner=owner,
                scheduled_task_id=scheduled_task_id,
                scheduled_time=moment,
            )
        )
        assert result.outcome is FiringOutcome.DROPPED, (owner, moment)
    assert _scheduled_tasks(scheduled_task_id) == []
