"""Where the API is, as the caller reached it: the one place that works it out from a request.

Links the API hands out (the live view and share page in task reads) and the server URL of its
OpenAPI document must point where the caller can follow them: behind API Gateway's own URL
the stage is the first path segment (``https://<id>.execute-api.<region>.amazonaws.com/prod
/api/v1``); on a custom domain there is none, or its base path mapping; ``browser-tasks local``
serves like a custom domain (``http://127.0.0.1:8000/api/v1``).
"""

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

API_PREFIX = "/api/v1"


def path_root(event: BaseProxyEvent) -> str:
    """What comes before ``/api/v1`` in the URL the caller used: ``/prod`` (the stage) behind
    API Gateway's own URL, ``""`` on a custom domain without a base path and locally.

    API Gateway gives the resource path (``path``) and the path as requested, stage or base
    path first (``requestContext.path``): the root is the difference.
    """
    requested = _rest(event).request_context.path
    return requested.removesuffix(event.path) if requested.endswith(event.path) else ""


def api_base_url(event: BaseProxyEvent) -> str:
    """The API's own URL, ending in ``/api/v1``: the domain API Gateway answered on (else the
    Host header), the scheme it was reached by (API Gateway: always https)."""
    host = _rest(event).request_context.domain_name or event.headers.get("Host", "")
    scheme = event.headers.get("X-Forwarded-Proto", "https")
    root = f"{path_root(event)}{API_PREFIX}"
    return f"{scheme}://{host}{root}" if host else root


def _rest(event: BaseProxyEvent) -> APIGatewayProxyEvent:
    """The event as the REST API's (a router's ``current_event`` is typed as any proxy's)."""
    if not isinstance(event, APIGatewayProxyEvent):
        raise TypeError(f"not an API Gateway REST event: {type(event).__name__}")
    return event
