"""A webhook endpoint on loopback, as a v1 caller runs one: it records every POST and checks
its signature with its own implementation of the v1 rule (nothing imported from the project).

    with WebhookReceiver() as receiver:
        receiver.secret = "whsec_..."            # what PUT /webhook answered
        receiver.answer_next(500, 500)          # then 200 again
        ... receiver.wait_for(3) ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MAX_SIGNATURE_AGE_SECONDS = 300  # v1 receivers reject older timestamps


def v1_signature_is_valid(body: bytes, timestamp: str, signature: str, secret: str) -> bool:
    """The receiver's check, as browser-use documents it for v1 webhooks: a fresh Unix
    timestamp, and the hex HMAC-SHA256 under the secret of ``"{timestamp}.{json}"`` where
    ``json`` is the request's JSON dumped with sorted keys and no spaces."""
    try:
        sent_at = int(timestamp)
        document = json.loads(body)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - sent_at) > MAX_SIGNATURE_AGE_SECONDS:
        return False
    message = f"{timestamp}.{json.dumps(document, separators=(',', ':'), sort_keys=True)}"
    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@dataclass(frozen=True)
class Delivery:
    received_at: float  # time.monotonic()
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int
    signature_valid: bool  # against the receiver's secret when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret = ""
        self._deliveries: list[Delivery] = []
        self._answers: list[int] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hooks/browser-tasks") -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def answer_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then 200 again."""
        with self._lock:
            self._answers = list(statuses)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._answers.clear()

    def wait_for(self, count: int, timeout: float = 30, **match: Any) -> list[Delivery]:
        """The first ``count`` deliveries whose JSON body has ``match`` in its payload (all
        deliveries without ``match``), once they have arrived."""

        def matching() -> list[Delivery]:
            return [
                d
                for d in self._deliveries
                if all(d.json().get("payload", {}).get(k) == v for k, v in match.items())
            ]

        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(found := matching()) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{len(found)} of {count} deliveries: {self._deliveries}"
                self._arrived.wait(remaining)
            return found[:count]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        # Recorded before answering: the sender's next request (another thread here) cannot
        # be recorded ahead of this one.
        with self._arrived:
            status = self._answers.pop(0) if self._answers else 200
            valid = v1_signature_is_valid(
                body,
                headers.get("x-browser-use-timestamp", ""),
                headers.get("x-browser-use-signature", ""),
                self.secret,
            )
            self._deliveries.append(
                Delivery(time.monotonic(), request.path, headers, body, status, valid)
            )
            self._arrived.notify_all()
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()
