"""The API's OpenAPI document (``/api/v1/openapi.json``) and its Swagger UI (``/api/v1/docs``),
both served without a key.

Powertools derives the paths, parameters, request bodies and success answers from the routes
and their models. What it cannot see is added here, from the same facts the API acts on:

- which routes need the Bearer key: all but the public ones, as ``require_api_key`` decides;
  each of those can answer 401, and 503 (the key is looked up in DynamoDB);
- every route that takes a ``task_id`` answers 404 for an unknown task or another owner's;
- only a route with parameters or a body can fail validation (Powertools lists a 422 on every
  route), and the v1 validation error carries ``loc``, ``msg`` and ``type``.

An error that only some routes give (409, 402, a 404 of another kind) is declared on the route
with ``responses=route_answers({...})``.
"""

import json
from functools import cache
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from api_urls import path_root
from routes.auth import DOCS_PATH, OPENAPI_PATH, is_public

TITLE = "browser-tasks: the browser-use Cloud v1 task API, self-hosted"
VERSION = "1.0.0"
DESCRIPTION = (
    "Send a task in plain language; an LLM agent carries it out in a real browser in the "
    "operator's AWS account. Every route but `/ping`, these docs, and a task's live view "
    "and share page (their links carry a token of their own) takes "
    '`Authorization: Bearer <API key>`. Errors answer `{"detail": "..."}`; validation '
    'errors `422 {"detail": [{"loc", "msg", "type"}]}`.'
)
BEARER_SCHEME = "bearerAuth"
SCHEMA_REF = "#/components/schemas/"

# What v1 answers (the validation_failed handler in app.py); Powertools' own ValidationError
# leaves ``msg`` out.
VALIDATION_ERROR_SCHEMA = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
    },
    "required": ["loc", "msg", "type"],
}
ERROR_DETAIL_SCHEMA = {
    "title": "ErrorDetail",
    "description": "The v1 shape of every error but a validation error.",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}


def route_answers(
    errors: dict[int, str] | None = None, *, success_schema: dict[str, Any] | None = None
) -> dict[int, OpenAPIResponse]:
    """``responses=`` for a route that can also answer ``errors`` (status → when), or whose
    success is a bare JSON value it writes itself (``success_schema``); otherwise the success
    answer is documented from the route's return type.

    401, 503, 422 and the task 404 are added by ``openapi_document`` wherever they apply.
    """
    success: OpenAPIResponse = {"description": "Successful Response"}
    if success_schema is not None:
        success["content"] = {content_types.APPLICATION_JSON: {"schema": success_schema}}
    return {
        200: success,
        **{status: _error_response(when) for status, when in (errors or {}).items()},
    }


def _error_response(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {
            content_types.APPLICATION_JSON: {"schema": {"$ref": f"{SCHEMA_REF}ErrorDetail"}}
        },
    }


def openapi_document(app: APIGatewayRestResolver, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route ``app`` serves, but these docs themselves.

    ``server_url`` is where ``/api/v1`` sits: ``/prod`` behind API Gateway's own URL (the
    stage is in the path), ``/`` on a custom domain or ``browser-tasks local``.
    """
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            servers=[Server(url=server_url)],
            security_schemes={
                BEARER_SCHEME: HTTPBearer(
                    description="An API key (`browser-tasks keys create --owner NAME`)."
                )
            },
        )
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ValidationError"] = VALIDATION_ERROR_SCHEMA
    schemas["ErrorDetail"] = ERROR_DETAIL_SCHEMA
    for path, operations in document["paths"].items():
        for operation in operations.values():
            _add_what_every_route_answers(path, operation)
    return document


def _add_what_every_route_answers(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    parameters = operation.get("parameters", [])
    if not parameters and "requestBody" not in operation:
        responses.pop("422", None)  # nothing to validate
    if is_public(path):
        operation["security"] = []
    else:
        operation["security"] = [{BEARER_SCHEME: []}]
        responses.setdefault("401", _error_response("Missing or unknown API key"))
        responses.setdefault(
            "503", _error_response("An AWS dependency failed; nothing was changed, retry")
        )
    if any(parameter["name"] == "task_id" for parameter in parameters):
        responses.setdefault("404", _error_response("Task not found: unknown, or another owner's"))
    operation["responses"] = dict(sorted(responses.items()))


def serve_api_docs(app: APIGatewayRestResolver) -> None:
    """Serve the OpenAPI document and Swagger UI on ``app`` (both public: ``PUBLIC_PATHS``).

    Swagger UI's script and style are inlined from the copy Powertools ships, not loaded from
    a CDN: the page works offline and behind a firewall. It is ~1.7 MB, under Lambda's 6 MB.
    """

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_json() -> Response[str]:
        return _json_response(_document_text(app, _server_url(app)))

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui() -> Response[str]:
        query = app.current_event.query_string_parameters or {}
        if query.get("format") == "json":  # where the page says its document is
            return _json_response(_document_text(app, _server_url(app)))
        return Response(
            status_code=200,
            content_type=content_types.TEXT_HTML,
            body=_swagger_page(app, _server_url(app)),
        )


def _json_response(body: str) -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


def _server_url(app: APIGatewayRestResolver) -> str:
    """``/<stage>`` when the request came through API Gateway's own URL, where the stage is the
    first path segment; ``/`` on a custom domain and on the local stack."""
    return path_root(app.current_event) or "/"


# The routes never change once the function is loaded: build each text once per server URL.
@cache
def _document_text(app: APIGatewayRestResolver, server_url: str) -> str:
    return json.dumps(openapi_document(app, server_url), indent=2)


@cache
def _swagger_page(app: APIGatewayRestResolver, server_url: str) -> str:
    assets = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    # The document sits in a <script>: "</" must not end it early.
    spec = _document_text(app, server_url).replace("</", "<\\/")
    return generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",  # no base URL: inline the script and style above
        None,
    )
