"""The v1 ``detail`` list of a validation error: ``[{"loc", "msg", "type"}, ...]``.

FastAPI's shape, which v1 callers parse. Built here once for every door a request comes in by
(the API's 422, an S3 spec's error object, a RunTask event's rejection). It never carries the
input: a rejected value may be a secret.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Problem = tuple[list[str | int], str, str]  # RequestInvalid's (loc, msg, type)


def validation_detail(
    errors: Iterable[Mapping[str, Any]], root: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """pydantic's (or Powertools') ``errors()`` as v1 detail entries, each ``loc`` under
    ``root`` (e.g. ``["body"]`` when a model validated a request body on its own)."""
    return [
        {
            "loc": [*root, *error.get("loc", ())],
            "msg": error.get("msg", "Invalid value"),
            "type": error.get("type", "value_error"),
        }
        for error in errors
    ]


def problems_detail(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """``RequestInvalid.problems`` as v1 detail entries."""
    return [{"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in problems]
