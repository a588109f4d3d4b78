"""Every route but ``/ping``, the docs and the task pages acts for the owner of the request's
API key."""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from browser_tasks.domain.task_pages import PageKind
from browser_tasks.services import api_key_service

OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/api/v1/docs"  # Swagger UI
# Answered without a key: liveness and the API's own documentation.
PUBLIC_PATHS = frozenset({"/api/v1/ping", OPENAPI_PATH, DOCS_PATH})
# ...and every path under these: a task's live view and share page, opened by a browser that
# cannot send a key; the token in their path is checked instead (routes/task_pages.py).
PUBLIC_PATH_PREFIXES = tuple(f"/api/v1/{page.value}/" for page in PageKind)


def is_public(path: str) -> bool:
    """Whether ``path`` (as requested, or as the OpenAPI document writes it) needs no key."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PATH_PREFIXES)


def require_api_key(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    """Resolve the Bearer key to its owner (``Unauthorized`` otherwise) before the route runs."""
    if not is_public(app.current_event.path):
        app.append_context(owner=request_owner(app))  # type: ignore[no-untyped-call]
    return next_middleware(app)


def request_owner(app: APIGatewayRestResolver) -> str:
    """The owner of the request's Bearer key; ``Unauthorized`` without a known one."""
    headers = app.current_event.headers
    authorization = headers.get("authorization") or headers.get("Authorization")
    return api_key_service().owner_for(authorization)


def current_owner(router: Router) -> str:
    """The owner ``require_api_key`` put on the request."""
    return str(router.context["owner"])
