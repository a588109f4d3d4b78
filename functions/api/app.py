"""ApiFunction: the v1 REST API behind API Gateway.

Thin on purpose: routes parse and answer, the domain does the work, and every typed error is
turned into an HTTP status here, in one place.
"""

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from api_docs import serve_api_docs
from browser_tasks.errors import (
    BrowserTasksError,
    InsufficientBalance,
    NotFound,
    RequestInvalid,
    ServiceUnavailable,
    TaskConflict,
    TaskStartFailed,
    Unauthorized,
)
from browser_tasks.models.error_detail import problems_detail, validation_detail
from observability import logger, metrics, tracer
from routes import (
    account,
    browser_profiles,
    scheduled_tasks,
    task_pages,
    task_reads,
    tasks,
    uploads,
    webhooks,
)
from routes.auth import is_public, request_owner, require_api_key

API_PREFIX = "/api/v1"

app = APIGatewayRestResolver(enable_validation=True)
app.use(middlewares=[require_api_key])
app.include_router(account.router, prefix=API_PREFIX)
app.include_router(tasks.router, prefix=API_PREFIX)
app.include_router(task_reads.router, prefix=API_PREFIX)
app.include_router(task_pages.router, prefix=API_PREFIX)  # no key: a token in the path
app.include_router(uploads.router, prefix=API_PREFIX)
app.include_router(webhooks.router, prefix=API_PREFIX)
app.include_router(browser_profiles.router, prefix=API_PREFIX)
app.include_router(scheduled_tasks.router, prefix=API_PREFIX)
serve_api_docs(app)  # /openapi.json and /docs, from the routes above

HTTP_STATUS_BY_ERROR: dict[type[BrowserTasksError], HTTPStatus] = {
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    InsufficientBalance: HTTPStatus.PAYMENT_REQUIRED,
    NotFound: HTTPStatus.NOT_FOUND,
    TaskConflict: HTTPStatus.CONFLICT,
    ServiceUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    TaskStartFailed: HTTPStatus.SERVICE_UNAVAILABLE,
}


def detail_response(
    status: HTTPStatus, detail: Any, headers: dict[str, str] | None = None
) -> Response[str]:
    """The v1 error shape: ``{"detail": ...}``."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"detail": detail}),
        headers=headers,
    )


@app.exception_handler(RequestValidationError)
def validation_failed(error: RequestValidationError) -> Response[str]:
    # Powertools validates before any middleware runs: without this check an anonymous caller
    # would learn what is wrong with its input instead of getting its 401.
    if not is_public(app.current_event.path):
        try:
            request_owner(app)
        except BrowserTasksError as refused:  # Unauthorized, or the key store unavailable
            answer: Response[str] = domain_error(refused)
            return answer
    # Powertools' locs already start at "body", "query" or "path".
    return detail_response(HTTPStatus.UNPROCESSABLE_ENTITY, validation_detail(error.errors()))


@app.exception_handler(UnicodeDecodeError)
def body_not_utf8(_: UnicodeDecodeError) -> Response[str]:
    # A body API Gateway passed base64-encoded (not valid UTF-8) makes Powertools' JSON parsing
    # raise this instead of its RequestValidationError: it is invalid JSON all the same, not a
    # crash (which API Gateway would answer with a 502).
    problem = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}
    answer: Response[str] = validation_failed(RequestValidationError([problem]))
    return answer


@app.exception_handler(RequestInvalid)
def request_invalid(error: RequestInvalid) -> Response[str]:
    return detail_response(HTTPStatus.UNPROCESSABLE_ENTITY, problems_detail(error.problems))


@app.exception_handler(BrowserTasksError)
def domain_error(error: BrowserTasksError) -> Response[str]:
    status = next(
        (code for cls, code in HTTP_STATUS_BY_ERROR.items() if isinstance(error, cls)),
        HTTPStatus.INTERNAL_SERVER_ERROR,
    )
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("Request failed", extra={"error": error.detail, "status": int(status)})
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    return detail_response(status, error.detail, headers)


@app.not_found
def route_not_found(_: Exception) -> Response[str]:
    return detail_response(HTTPStatus.NOT_FOUND, "Not Found")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
