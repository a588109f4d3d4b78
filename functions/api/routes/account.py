"""``/ping``, ``/me`` and ``/balance``."""

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from api_docs import route_answers
from browser_tasks.services import metering
from routes.auth import current_owner

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools


@router.get("/ping")
def ping() -> dict[str, str]:
    """Liveness; the only route without a key."""
    return {"status": "ok"}


@router.get("/me", responses=route_answers(success_schema={"const": True}))
def me() -> Response[str]:
    """v1 answers a bare ``true`` to a valid key (the middleware has already said 401 if not)."""
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body="true")


@router.get("/balance")
def balance() -> dict[str, str]:
    """The owner's balance in cents, as a string (v1's shape), whether billing is on or off."""
    return {"balance": str(metering().balance(current_owner(router)))}
