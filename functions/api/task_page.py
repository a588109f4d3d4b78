"""The live view's and the share page's HTML, and the headers all their answers carry.

One static page serves both (``task_page.html``; its ``data-page`` says which): its style and
script are inline and it fetches nothing from elsewhere (users may be offline), and it polls
``<its own URL>/state`` for the task, rendering it as text only (a task's text, output and
steps are not ours to trust). The Content-Security-Policy allows exactly that: the page's own
inline style and script by their hashes, the JSON from its own origin, and images only from
where the screenshots' presigned URLs point.
"""

import base64
import hashlib
import re
from pathlib import Path
from typing import TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from browser_tasks.domain.task_pages import PageKind
from browser_tasks.models.task_page import SharedView

View = TypeVar("View", bound=SharedView)

_PAGE = Path(__file__).with_name("task_page.html").read_text(encoding="utf-8")

# The link is the credential: nothing may keep it or pass it on.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}

HTML_ANSWER: OpenAPIResponse = {
    "description": "The page (HTML); it polls its `/state` for the task",
    "content": {content_types.TEXT_HTML: {"schema": {"type": "string"}}},
}


def _inline_source_hash(tag: str) -> str:
    """The CSP source allowing the page's one inline ``<tag>`` element, by its SHA-256."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", _PAGE, re.DOTALL)
    if match is None:
        raise RuntimeError(f"task_page.html has no <{tag}>")
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


_SCRIPT_SOURCE = _inline_source_hash("script")
_STYLE_SOURCE = _inline_source_hash("style")


def content_security_policy(media_origin: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {_SCRIPT_SOURCE}",
            f"style-src {_STYLE_SOURCE}",
            f"img-src {media_origin}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def page_response(page: PageKind, media_origin: str) -> Response[str]:
    """The page, with its CSP; screenshots may come only from ``media_origin``."""
    return Response(
        status_code=200,
        content_type=f"{content_types.TEXT_HTML}; charset=utf-8",
        body=_PAGE.replace("{{page}}", page.value),
        headers={
            **PRIVATE_HEADERS,
            "Content-Security-Policy": content_security_policy(media_origin),
        },
    )


def state_response(view: View) -> Response[View]:
    """What the page polls: the task's data as JSON."""
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=view,
        headers=PRIVATE_HEADERS,
    )
