"""Moving a browser's state in and out of a running Chromium over CDP.

Cookies: ``Storage.getCookies`` on the browser target returns every cookie, HttpOnly and
session ones included (browser-use's ``user_data_dir`` does not keep them: Chromium is killed
before it writes them; FINDINGS.md).

A chunk boundary also carries the open tabs and each origin's localStorage. localStorage can
only be written from a document of its origin, so the restore opens a scratch tab whose
requests are answered by CDP ``Fetch`` with an empty page: the origin's storage is written
without the site being asked for anything. sessionStorage is per tab and dies with the tab;
page-local state (typed, unsubmitted input; the result of a POST) cannot be carried at all,
which is why chunks end only after steps that leave none (see chunk_runner).
"""

import asyncio
import base64
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from browser_use import BrowserSession
from pydantic import BaseModel

logger = logging.getLogger(__name__)

# The fields CDP's Storage.setCookies takes (CookieParam); getCookies returns more.
_COOKIE_PARAMS = (
    "name",
    "value",
    "domain",
    "path",
    "secure",
    "httpOnly",
    "sameSite",
    "expires",
    "priority",
    "sourceScheme",
    "sourcePort",
    "partitionKey",
)
_EMPTY_PAGE = base64.b64encode(b"<!DOCTYPE html><title>restoring</title>").decode()
_PAGE_LOAD_SECONDS = 10.0


class BrowserSnapshot(BaseModel):
    """What one chunk's browser hands the next: cookies, localStorage by origin, open tabs."""

    cookies: list[dict[str, Any]] = []
    local_storage: dict[str, dict[str, str]] = {}  # origin -> items
    tabs: list[str] = []  # URLs, the focused tab last
    focused_url: str | None = None


async def export_cookies(session: BrowserSession) -> list[dict[str, Any]]:
    result = await session.cdp_client.send.Storage.getCookies()
    return [dict(cookie) for cookie in result["cookies"]]


async def import_cookies(session: BrowserSession, cookies: list[dict[str, Any]]) -> None:
    params = []
    for cookie in cookies:
        param = {k: cookie[k] for k in _COOKIE_PARAMS if k in cookie}
        if param.get("expires", 0) < 0:  # a session cookie: it has no expiry to set
            param.pop("expires")
        params.append(param)
    if params:
        await session.cdp_client.send.Storage.setCookies(params={"cookies": params})  # type: ignore[typeddict-item]


def _web_origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


async def export_snapshot(
    session: BrowserSession, previous: BrowserSnapshot | None
) -> BrowserSnapshot:
    """The browser's state now. An origin's localStorage is only readable while one of its
    pages is open, so origins read before and not open now keep their earlier items."""
    storage = dict(previous.local_storage) if previous else {}
    tabs: list[str] = []
    focused = session.agent_focus_target_id
    focused_url = None
    for tab in await session.get_tabs():
        origin = _web_origin(tab.url)
        if origin is None:
            continue
        tabs.append(tab.url)
        if tab.target_id == focused:
            focused_url = tab.url
        try:
            cdp = await session.get_or_create_cdp_session(tab.target_id, focus=False)
            result = await cdp.cdp_client.send.Runtime.evaluate(
                params={
                    "expression": "JSON.stringify(Object.entries(localStorage))",
                    "returnByValue": True,
                },
                session_id=cdp.session_id,
            )
            storage[origin] = dict(json.loads(result["result"]["value"]))
        except Exception as error:  # a tab closing under us, an opaque origin
            logger.info("localStorage of a tab not read: %s", type(error).__name__)
    if focused_url in tabs:  # reopened last, so it ends up focused
        tabs.remove(focused_url)
        tabs.append(focused_url)
    return BrowserSnapshot(
        cookies=await export_cookies(session),
        local_storage=storage,
        tabs=tabs,
        focused_url=focused_url,
    )


async def restore_snapshot(session: BrowserSession, snapshot: BrowserSnapshot) -> None:
    """Cookies, then localStorage, then the tabs (each re-opened with a GET of its URL)."""
    await import_cookies(session, snapshot.cookies)
    if snapshot.local_storage:
        if not snapshot.tabs:
            # Debian's first tab (chrome://new-tab-page-third-party/) is no page to
            # browser-use: closing the scratch tab would look like closing the last one, and
            # browser-use would open and focus a tab of its own under the agent. Reopened
            # tabs (a checkpoint's) take the focus back; a profile's state has none.
            await session.navigate_to("about:blank")
        await _restore_local_storage(session, snapshot.local_storage)
    for index, url in enumerate(snapshot.tabs):
        await session.navigate_to(url, new_tab=index > 0)


async def _restore_local_storage(
    session: BrowserSession, local_storage: dict[str, dict[str, str]]
) -> None:
    # A connection of our own: cdp-use awaits event handlers in its read loop, so answering
    # Fetch.requestPaused from a handler on the session's connection would block it.
    from cdp_use.client import CDPClient

    assert session.cdp_url is not None
    client = CDPClient(session.cdp_url)
    await client.start()  # type: ignore[no-untyped-call]
    target_id = None
    replies: set[asyncio.Task[Any]] = set()
    try:
        target_id = (await client.send.Target.createTarget(params={"url": "about:blank"}))[
            "targetId"
        ]
        session_id = (
            await client.send.Target.attachToTarget(params={"targetId": target_id, "flatten": True})
        )["sessionId"]

        def answer_locally(event: Any, event_session: str | None) -> None:
            reply = asyncio.ensure_future(
                client.send.Fetch.fulfillRequest(
                    params={
                        "requestId": event["requestId"],
                        "responseCode": 200,
                        "responseHeaders": [{"name": "Content-Type", "value": "text/html"}],
                        "body": _EMPTY_PAGE,
                    },
                    session_id=event_session,
                )
            )
            replies.add(reply)
            reply.add_done_callback(replies.discard)

        client.register.Fetch.requestPaused(answer_locally)
        await client.send.Fetch.enable(
            params={"patterns": [{"urlPattern": "*", "requestStage": "Request"}]},
            session_id=session_id,
        )
        for origin, items in local_storage.items():
            if not items:
                continue
            await client.send.Page.navigate(params={"url": f"{origin}/"}, session_id=session_id)
            await _wait_for_origin(client, session_id, origin)
            await client.send.Runtime.evaluate(
                params={
                    "expression": (
                        f"for (const [k, v] of Object.entries({json.dumps(items)}))"
                        " localStorage.setItem(k, v)"
                    )
                },
                session_id=session_id,
            )
    finally:
        if target_id is not None:
            with contextlib.suppress(Exception):
                await client.send.Target.closeTarget(params={"targetId": target_id})
        with contextlib.suppress(Exception):
            await client.stop()  # type: ignore[no-untyped-call]


async def _wait_for_origin(client: Any, session_id: str, origin: str) -> None:
    deadline = time.monotonic() + _PAGE_LOAD_SECONDS
    while time.monotonic() < deadline:
        result = await client.send.Runtime.evaluate(
            params={
                "expression": "location.origin + ' ' + document.readyState",
                "returnByValue": True,
            },
            session_id=session_id,
        )
        if result.get("result", {}).get("value") == f"{origin} complete":
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the scratch page for {origin} did not load")
