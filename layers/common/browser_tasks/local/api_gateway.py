"""API Gateway on loopback: HTTP request → REST proxy event → handler → HTTP response."""

import base64
import json
import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/"
STAGE = "prod"
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def rest_proxy_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The event API Gateway's REST proxy integration sends for ``/api/v1/{proxy+}``."""
    parts = urlsplit(raw_path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        multi_query.setdefault(key, []).append(value)
    is_text = not body or any(headers.get("Content-Type", "").startswith(t) for t in TEXT_TYPES)
    try:
        text_body = body.decode() if is_text else None
    except UnicodeDecodeError:
        text_body = None
    return {
        "resource": "/api/v1/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": parts.path[len(API_PREFIX) :]},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/api/v1/{proxy+}",
            "httpMethod": method,
            # As on a custom domain: the local API is served without the stage in its URL
            # (behind API Gateway's own URL this would be f"/{STAGE}{path}").
            "path": parts.path,
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
        },
        "body": (text_body if text_body is not None else base64.b64encode(body).decode())
        if body
        else None,
        "isBase64Encoded": bool(body) and text_body is None,
    }


def serve_api(host: str, port: int, invoke: Invoke) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) that hands ``/api/v1/*`` to ``invoke``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._forward()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD_BYTES:
                self._reply(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {}, b'{"message":"Request Too Long"}'
                )
                return
            body = self.rfile.read(length) if length else b""
            if not urlsplit(self.path).path.startswith(API_PREFIX):
                self._reply(HTTPStatus.NOT_FOUND, {}, json.dumps({"detail": "Not Found"}).encode())
                return
            # As API Gateway does, say how the client reached us (links the API hands out).
            headers = {k: v for k, v in self.headers.items() if k.lower() != "x-forwarded-proto"}
            headers["X-Forwarded-Proto"] = "http"
            event = rest_proxy_event(self.command, self.path, headers, body, self.client_address[0])
            try:
                response = invoke(event)
            except Exception:  # API Gateway's answer to a crashed integration
                logger.exception("The API function failed")
                self._reply(HTTPStatus.BAD_GATEWAY, {}, b'{"message":"Internal server error"}')
                return
            headers = {
                k: ", ".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()
            }
            headers.update(response.get("headers") or {})
            payload = response.get("body") or ""
            data = (
                base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
            )
            self._reply(HTTPStatus(response["statusCode"]), headers, data)

        def _reply(self, status: HTTPStatus, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
