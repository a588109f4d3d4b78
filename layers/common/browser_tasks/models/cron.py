"""Schedule expressions: standard 5-field cron ⇄ EventBridge Scheduler's ``cron(...)``, and
``rate(N minutes)``.

Callers write standard cron (``0 9 * * 1-5``), which cronsim validates and evaluates the way
Debian cron does. EventBridge Scheduler speaks its own dialect: six fields (a year last), ``?``
in exactly one of day-of-month and day-of-week, weekdays numbered 1-7 = SUN-SAT (standard cron:
0-6, and 7, = SUN-SAT), and no ``/`` in day-of-week. A standard expression that restricts both
day-of-month and day-of-week (cron then runs on days matching either, or with a leading ``*``
both) has no equivalent there: it is refused, not approximated. The local scheduler turns the
AWS form back into standard cron (``from_aws_cron``) to evaluate the very schedule AWS holds.

Pure: no clock, no AWS.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = {
    name: n
    for n, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_WEEKDAYS = {name: n for n, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_STANDARD_FIELD = re.compile(r"^[0-9A-Z*,/-]+$")
_AWS_CRON = re.compile(r"^cron\((.*)\)$")
_RATE = re.compile(r"^rate\((\d+) minutes?\)$")
MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK = range(5)


def to_aws_cron(expression: str) -> str:
    """The EventBridge Scheduler ``cron(...)`` that runs when ``expression`` (standard 5-field
    cron, evaluated in UTC) does.

    Raises
    ------
    ValueError
        ``expression`` is not valid standard cron, or EventBridge Scheduler cannot express it;
        the message says why, in words meant for the caller.
    """
    fields = expression.upper().split()
    if len(fields) != 5:
        raise ValueError(
            f"must have 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
        )
    for field, (name, text) in enumerate(zip(FIELD_NAMES, fields, strict=True)):
        names = _names(field)
        if not _STANDARD_FIELD.match(text) or any(
            word not in names for word in re.findall("[A-Z]+", text)
        ):
            raise ValueError(
                f"{name} {text!r}: use numbers, names (MON, JAN), '*', ',', '-' and '/' "
                "(L, W, # and ? are not standard cron)"
            )
    try:
        evaluated = CronSim(" ".join(fields), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        raise ValueError(f"is not a valid cron expression ({error})") from None
    minute, hour, month = (_aws_field(fields[i], i) for i in (MINUTE, HOUR, MONTH))
    day_of_month, day_of_week = _aws_days(fields, days_and=evaluated.day_and)
    return f"cron({minute} {hour} {day_of_month} {month} {day_of_week} *)"


def from_aws_cron(aws_expression: str) -> str:
    """The standard 5-field cron of an EventBridge Scheduler ``cron(...)`` of the forms
    ``to_aws_cron`` writes (numbers, names, ``*``, ``?``, ``,``, ``-``, ``/`` but in
    day-of-week, year ``*``).

    Raises
    ------
    ValueError
        A form this translation does not cover (``L``, ``W``, ``#``, a year).
    """
    match = _AWS_CRON.match(aws_expression.strip())
    fields = match.group(1).upper().split() if match else []
    if len(fields) != 6 or fields[5] != "*":
        raise ValueError(f"{aws_expression!r}: expected cron(min hour dom month dow *)")
    if any(mark in text for text in fields for mark in "LW#"):
        raise ValueError(f"{aws_expression!r}: L, W and # are not supported here")
    minute, hour, day_of_month, month, day_of_week = (
        "*" if text == "?" else text for text in fields[:5]
    )
    if "/" in day_of_week:
        raise ValueError(f"{aws_expression!r}: EventBridge has no '/' in day-of-week")
    if day_of_week != "*":
        # AWS 1-7 = SUN-SAT; standard 0-6. Names are the same in both.
        day_of_week = re.sub(r"\d+", lambda n: str(int(n.group()) - 1), day_of_week)
    return f"{minute} {hour} {day_of_month} {month} {day_of_week}"


def cron_times_after(expression: str, after: datetime) -> Iterator[datetime]:
    """The times (UTC) standard cron ``expression`` runs, strictly after ``after``."""
    return CronSim(expression.upper(), after.astimezone(UTC))


def latest_cron_time(expression: str, at_or_before: datetime) -> datetime:
    """The last time (UTC) standard cron ``expression`` ran at or before ``at_or_before``."""
    moment = at_or_before.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    return next(CronSim(expression.upper(), moment, reverse=True))


def rate_expression(interval_minutes: int) -> str:
    """EventBridge Scheduler's ``rate(...)`` for a schedule every ``interval_minutes``."""
    unit = "minute" if interval_minutes == 1 else "minutes"
    return f"rate({interval_minutes} {unit})"


def rate_minutes(expression: str) -> int:
    """The interval of a ``rate(N minute[s])`` expression.

    Raises
    ------
    ValueError
        Not a rate in minutes.
    """
    match = _RATE.match(expression.strip())
    if match is None:
        raise ValueError(f"{expression!r}: expected rate(N minutes)")
    return int(match.group(1))


def _aws_days(fields: list[str], *, days_and: bool) -> tuple[str, str]:
    """Day-of-month and day-of-week in EventBridge's form: exactly one of them ``?``."""
    days_of_month = _values(fields[DAY_OF_MONTH], DAY_OF_MONTH)
    # Standard 0 and 7 are both Sunday; AWS numbers SUN-SAT 1-7.
    aws_weekdays = {value % 7 + 1 for value in _values(fields[DAY_OF_WEEK], DAY_OF_WEEK)}
    every_day_of_month = days_of_month == set(range(1, 32))
    every_weekday = aws_weekdays == set(range(1, 8))
    if not days_and and (every_day_of_month or every_weekday):
        # Neither field starts with '*', so cron runs on days matching either: every day.
        return "*", "?"
    if not every_day_of_month and not every_weekday:
        raise ValueError(
            "restricts both day-of-month and day-of-week, which EventBridge Scheduler cannot "
            "express (it needs '?' in one of them): leave one of the two as '*'"
        )
    if not every_weekday:
        return "?", _compact(aws_weekdays)
    return _aws_field(fields[DAY_OF_MONTH], DAY_OF_MONTH), "?"


def _aws_field(text: str, field: int) -> str:
    """Minute, hour, day-of-month or month as EventBridge writes it: ``*``, ``start/step``,
    or the values themselves (names as numbers, ranges with steps spelled out)."""
    if text == "*":
        return "*"
    base, slash, step = text.partition("/")
    if slash and "," not in text and "-" not in base:
        start = _RANGES[field][0] if base == "*" else _number(base, field)
        return f"{start}/{int(step)}"  # EventBridge's own "every step from start"
    return _compact(_values(text, field))


def _values(text: str, field: int) -> set[int]:
    """The values a standard cron field (already checked by cronsim) stands for."""
    lowest, highest = _RANGES[field]
    values: set[int] = set()
    for term in text.split(","):
        base, slash, step_text = term.partition("/")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = lowest, highest
        elif "-" in base:
            start, end = base.split("-", 1)
            first, last = _number(start, field), _number(end, field)
        else:
            first = _number(base, field)
            last = highest if slash else first  # "5/15": from 5 to the end, every 15
        values.update(range(first, last + 1, step))
    return values


def _number(text: str, field: int) -> int:
    names = _names(field)
    return names[text] if text in names else int(text)


def _names(field: int) -> dict[str, int]:
    return _MONTHS if field == MONTH else _WEEKDAYS if field == DAY_OF_WEEK else {}


def _compact(values: set[int]) -> str:
    """Sorted values, runs of three or more as ranges: {1, 2, 3, 5} → "1-3,5"."""
    ordered = sorted(values)
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ",".join(
        f"{run[0]}-{run[-1]}" if len(run) >= 3 else ",".join(map(str, run)) for run in runs
    )
