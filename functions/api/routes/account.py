"""``/ping`` and ``/me``."""

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools


@router.get("/ping")
def ping() -> dict[str, str]:
    """Liveness; the only route without a key."""
    return {"status": "ok"}


@router.get("/me")
def me() -> Response[str]:
    """v1 answers a bare ``true`` to a valid key (the middleware has already said 401 if not)."""
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body="true")
