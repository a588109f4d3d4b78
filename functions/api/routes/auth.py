"""Every route but ``/ping`` acts for the owner of the request's API key."""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from browser_tasks.services import api_key_service

PUBLIC_PATHS = frozenset({"/api/v1/ping"})


def require_api_key(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    """Resolve the Bearer key to its owner (``Unauthorized`` otherwise) before the route runs."""
    if app.current_event.path not in PUBLIC_PATHS:
        authorization = app.current_event.headers.get(
            "authorization"
        ) or app.current_event.headers.get("Authorization")
        owner = api_key_service().owner_for(authorization)
        app.append_context(owner=owner)  # type: ignore[no-untyped-call]
    return next_middleware(app)


def current_owner(router: Router) -> str:
    """The owner ``require_api_key`` put on the request."""
    return str(router.context["owner"])
