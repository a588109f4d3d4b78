"""Standard cron → EventBridge Scheduler's cron(...) and back: the translation keeps every run
time, and what EventBridge cannot express is refused with the reason."""

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from browser_tasks.models.cron import (
    cron_times_after,
    from_aws_cron,
    latest_cron_time,
    rate_expression,
    rate_minutes,
    to_aws_cron,
)

# (standard, EventBridge): names, ranges, lists, steps, Sunday as 0 and 7, weekday wrap.
TRANSLATIONS = [
    ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
    ("30 8 * * MON-FRI", "cron(30 8 ? * 2-6 *)"),
    ("*/10 * * * *", "cron(0/10 * * * ? *)"),
    ("5/15 * * * *", "cron(5/15 * * * ? *)"),
    ("0 0 1 JAN *", "cron(0 0 1 1 ? *)"),
    ("0 12 1,15 * *", "cron(0 12 1,15 * ? *)"),
    ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
    ("0 9-17/2 * * *", "cron(0 9,11,13,15,17 * * ? *)"),
    ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
    ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
    ("0 0 * * SUN,SAT", "cron(0 0 ? * 1,7 *)"),
    ("0 0 * * 5-7", "cron(0 0 ? * 1,6,7 *)"),
    ("0 0 * * */2", "cron(0 0 ? * 1,3,5,7 *)"),  # no '/' in EventBridge's day-of-week
    ("15 3 * JUN-AUG *", "cron(15 3 * 6-8 ? *)"),
    ("* * * * *", "cron(* * * * ? *)"),
    # Neither day field starts with '*', so cron runs on either: 1-31 is every day.
    ("0 0 1-31 * MON", "cron(0 0 * * ? *)"),
]

REFUSED = [
    ("0 0 1 * MON", "restricts both day-of-month and day-of-week"),
    ("0 0 */2 * 1", "restricts both day-of-month and day-of-week"),
    ("61 * * * *", "Bad minute"),
    ("0 24 * * *", "Bad hour"),
    ("0 0 31 2 *", "Bad day-of-month"),
    ("0 0 * 13 *", "Bad month"),
    ("* * *", "must have 5 fields"),
    ("0 0 * * * *", "must have 5 fields"),  # cronsim's seconds field is not standard
    ("0 0 L * *", "L, W, # and ? are not standard cron"),
    ("0 0 * * MON#2", "L, W, # and ? are not standard cron"),
    ("0 0 ? * *", "L, W, # and ? are not standard cron"),
    ("0 0 * * FUNDAY", "L, W, # and ? are not standard cron"),
]


@pytest.mark.parametrize(("standard", "aws"), TRANSLATIONS)
def test_standard_cron_becomes_the_eventbridge_expression(standard: str, aws: str) -> None:
    assert to_aws_cron(standard) == aws


@pytest.mark.parametrize(("standard", "aws"), TRANSLATIONS)
def test_the_translation_back_runs_at_the_very_same_times(standard: str, aws: str) -> None:
    # Given a start in a leap year, crossing month and year ends
    start = datetime(2027, 12, 20, 23, 50, tzinfo=UTC)

    # When both expressions are evaluated by cronsim
    original = list(islice(cron_times_after(standard, start), 200))
    round_trip = list(islice(cron_times_after(from_aws_cron(aws), start), 200))

    # Then they agree on every one of the next 200 runs
    assert original == round_trip


@pytest.mark.parametrize(("standard", "reason"), REFUSED)
def test_what_is_invalid_or_inexpressible_is_refused_with_the_reason(
    standard: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason.replace("?", r"\?").replace("#", r"\#")):
        to_aws_cron(standard)


def test_forms_the_local_scheduler_does_not_evaluate_are_refused() -> None:
    for aws in ("cron(0 0 L * ? *)", "cron(0 0 ? * 6#3 *)", "cron(0 0 * * ? 2030)", "rate(5)"):
        with pytest.raises(ValueError, match="cron"):
            from_aws_cron(aws)


def test_latest_run_at_or_before_a_moment() -> None:
    on_the_hour = datetime(2026, 11, 30, 7, 40, tzinfo=UTC)

    assert latest_cron_time("*/10 * * * *", on_the_hour) == on_the_hour
    assert latest_cron_time("*/10 * * * *", on_the_hour + timedelta(minutes=9)) == on_the_hour
    assert latest_cron_time("*/10 * * * *", on_the_hour - timedelta(seconds=1)) == datetime(
        2026, 11, 30, 7, 30, tzinfo=UTC
    )


def test_rates_are_written_and_read_in_minutes() -> None:
    assert rate_expression(1) == "rate(1 minute)"
    assert rate_expression(90) == "rate(90 minutes)"
    assert rate_minutes("rate(1 minute)") == 1
    assert rate_minutes("rate(90 minutes)") == 90
    with pytest.raises(ValueError, match="rate"):
        rate_minutes("rate(2 hours)")
