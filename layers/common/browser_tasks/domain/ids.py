"""Task ids: ``task_`` + a ULID, so ids sort by creation time and never collide."""

import secrets
from datetime import datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_task_id(now: datetime) -> str:
    """``task_`` + 26 characters: 48 bits of milliseconds, then 80 random bits."""
    value = (int(now.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = [_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5)]
    return "task_" + "".join(chars)
