"""Ids: a prefix + a ULID, so ids sort by creation time and never collide."""

import secrets
from datetime import datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_task_id(now: datetime) -> str:
    """``task_`` + 26 characters: 48 bits of milliseconds, then 80 random bits."""
    return "task_" + _ulid(now)


def new_scheduled_task_id(now: datetime) -> str:
    """``sched_`` + the same 26 characters as a task id: one owner's scheduled tasks sort
    newest last by id, which ``GET /scheduled-tasks`` reads backwards."""
    return "sched_" + _ulid(now)


def new_profile_id(now: datetime) -> str:
    """``prof_`` + the same 26 characters as a task id (models/browser_profile.py's
    PROFILE_ID_PATTERN): one owner's profiles sort newest last by id."""
    return "prof_" + _ulid(now)


def _ulid(now: datetime) -> str:
    value = (int(now.timestamp() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
