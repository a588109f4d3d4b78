"""Ad and tracker blocking for the agent's Chromium (the v1 field ``use_adblock``).

EasyList-format rules (the worker image fetches EasyList at build time into the file named by
``ADBLOCK_RULES_PATH``) go into Brave's filter engine (``braveblock``, adblock-rust); a second CDP
connection to the browser pauses every request and answers each one with ``Fetch.failRequest``
(``BlockedByClient``) or ``Fetch.continueRequest``.

    engine = AdblockEngine.from_file(path)        # once per process: EasyList loads in ~0.3 s
    async with attach_adblock(browser_session, engine) as adblock:
        ...                                       # adblock.blocked: the URLs refused so far

How requests are intercepted (checked on Chromium 156, see ``tests/integration/test_adblock.py``)
---------------------------------------------------------------------------------------------------
One browser-wide ``Fetch.enable`` (sent without a session id) on its own ``CDPClient(cdp_url)``.
It pauses requests of every tab, popup, same-site iframe, cross-site (out-of-process) iframe and
dedicated worker, from the first request of a new target on, with no attach step to race. The
alternative — ``Target.setAutoAttach(flatten)`` plus a ``Fetch.enable`` per attached page — let
10-12 of 12 ad requests through when tabs were opened with ``Target.createTarget(url=...)``, with
and without ``waitForDebuggerOnStart``.

The connection runs in a thread of its own with its own event loop (``dedicated_thread=True``),
so a busy agent loop (DOM snapshots, JSON of megabytes) does not hold up the page's requests.
Handlers never await a CDP call (cdp-use awaits handlers in its read loop, so that would
deadlock): the answer to each paused request is sent from a task.

What is (not) blocked, and why
------------------------------
* The top-level document of a tab is never blocked: a navigation the agent asked for must not
  fail silently. Ad iframes (documents in a sub-frame) are blocked like other subresources.
* Only ``http(s)``/``ws(s)`` URLs are checked. Chromium does not pass WebSocket handshakes
  through ``Fetch`` at all, nor preconnects, prefetches or WebRTC.
* Adblock is not a security boundary (the egress guard in :mod:`.egress` is). If the CDP
  connection drops, Chromium resumes paused requests and stops pausing new ones: blocking fails
  open, :attr:`AdblockInterceptor.connected` turns ``False`` and a warning is logged.

Neither braveblock nor cdp-use is imported until used, so the module loads without the worker's
extra dependencies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from cdp_use.cdp.fetch.events import RequestPausedEvent
    from cdp_use.cdp.target.events import (
        TargetCreatedEvent,
        TargetDestroyedEvent,
        TargetInfoChangedEvent,
    )
    from cdp_use.client import CDPClient

logger = logging.getLogger(__name__)

RULES_PATH_ENV: Final = "ADBLOCK_RULES_PATH"

#: CDP ``Network.ResourceType`` -> the request type adblock-rust matches ``$script`` etc. against.
#: ``Document`` is ``document`` in a tab's main frame and ``subdocument`` in an iframe (see
#: :func:`request_type_for`). Anything not listed is ``other``.
RESOURCE_TYPE_TO_REQUEST_TYPE: Final[Mapping[str, str]] = {
    "Document": "subdocument",
    "Stylesheet": "stylesheet",
    "Image": "image",
    "Media": "media",
    "Font": "font",
    "Script": "script",
    "TextTrack": "other",
    "XHR": "xmlhttprequest",
    "Fetch": "xmlhttprequest",
    "EventSource": "xmlhttprequest",
    "Prefetch": "other",
    "WebSocket": "websocket",
    "Manifest": "web_manifest",
    "SignedExchange": "other",
    "Ping": "ping",
    "CSPViolationReport": "csp_report",
    "Preflight": "other",
    "FedCM": "other",
    "Other": "other",
}

_CHECKED_SCHEMES: Final = ("http://", "https://", "ws://", "wss://")

#: Target types whose main frame is a top-level document (its frame id is the target id).
_TOP_LEVEL_TARGET_TYPES: Final = frozenset({"page", "tab", "background_page", "app"})

#: Frame URLs remembered as the ``source_url`` of their subresources; oldest dropped beyond this.
_MAX_TRACKED_FRAMES: Final = 4096
#: Blocked URLs kept in :attr:`AdblockInterceptor.blocked`; ``blocked_count`` keeps counting.
_MAX_BLOCKED_URLS: Final = 10_000


class AdblockError(RuntimeError):
    """The rules could not be loaded, or interception could not be attached."""


def load_rules(path: str | os.PathLike[str]) -> list[str]:
    """The filter rules in an EasyList-format file: one a line, without comments and blanks.

    Skips ``!`` comments and ``[Adblock Plus 2.0]``-style headers. Raises :class:`AdblockError`
    naming the file if it is missing, unreadable or holds no rule at all (a fetch at build time
    that saved an error page or nothing should not quietly turn blocking off).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise AdblockError(
            f"adblock rules file {file} does not exist; point {RULES_PATH_ENV} at an "
            "EasyList-format file (the worker image fetches one at build time)"
        ) from None
    except OSError as error:
        raise AdblockError(f"adblock rules file {file} cannot be read: {error}") from error
    rules = []
    for line in text.splitlines():
        rule = line.strip()
        if rule and not rule.startswith(("!", "[")):
            rules.append(rule)
    if not rules:
        raise AdblockError(f"adblock rules file {file} holds no rules")
    return rules


def request_type_for(resource_type: str, *, in_subframe: bool = False) -> str:
    """The adblock request type of a CDP resource type (``"Script"`` -> ``"script"``)."""
    if resource_type == "Document" and not in_subframe:
        return "document"
    return RESOURCE_TYPE_TO_REQUEST_TYPE.get(resource_type, "other")


class _Matcher(Protocol):
    def check_network_urls(self, url: str, source_url: str, request_type: str) -> bool: ...


class AdblockEngine:
    """Brave's adblock engine over the given rules only (braveblock's bundled lists are off)."""

    def __init__(self, rules: Iterable[str]) -> None:
        import braveblock  # type: ignore[import-untyped]

        self.rules = list(rules)
        self._matcher: _Matcher = braveblock.Adblocker(
            rules=self.rules, include_easylist=False, include_easyprivacy=False
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AdblockEngine:
        return cls(load_rules(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AdblockEngine:
        """The engine over the file named by ``ADBLOCK_RULES_PATH``."""
        path = (os.environ if environ is None else environ).get(RULES_PATH_ENV)
        if not path:
            raise AdblockError(f"{RULES_PATH_ENV} is not set: no adblock rules to load")
        return cls.from_file(path)

    def blocks(
        self, url: str, source_url: str, resource_type: str, *, in_subframe: bool = False
    ) -> bool:
        """Whether a request for ``url`` made by the document at ``source_url`` is blocked.

        ``resource_type`` is CDP's (``Script``, ``Image``, ``XHR``, ``Document``...). A
        ``Document`` is a tab's own navigation unless ``in_subframe`` says it loads into an
        iframe, and a tab's own navigation is never blocked. ``source_url`` may be empty when
        unknown: the request then counts as third-party. Non-web schemes are never blocked.
        """
        if resource_type == "Document" and not in_subframe:
            return False
        if not url.lower().startswith(_CHECKED_SCHEMES):
            return False
        request_type = request_type_for(resource_type, in_subframe=in_subframe)
        try:
            return bool(
                self._matcher.check_network_urls(
                    url=url, source_url=source_url, request_type=request_type
                )
            )
        except Exception:
            logger.debug("adblock engine failed on %s; allowing it", url, exc_info=True)
            return False


class _HasCdpUrl(Protocol):
    """What :func:`attach_adblock` needs of a ``browser_use.BrowserSession``."""

    @property
    def cdp_url(self) -> str | None: ...


class AdblockInterceptor:
    """A CDP connection of its own that fails blocked requests and continues all others.

    Counters (read them from any thread): :attr:`blocked` (URLs, the first 10 000),
    :attr:`blocked_count`, :attr:`allowed`, :attr:`errors` (answers Chromium refused, e.g. for a
    request the page cancelled meanwhile), :attr:`connected`.
    """

    def __init__(
        self,
        cdp_url: str,
        engine: AdblockEngine,
        *,
        dedicated_thread: bool = True,
        connect_timeout: float = 10.0,
    ) -> None:
        self.cdp_url = cdp_url
        self.engine = engine
        self.dedicated_thread = dedicated_thread
        self.connect_timeout = connect_timeout
        self.blocked: list[str] = []
        self.blocked_count = 0
        self.allowed = 0
        self.errors = 0
        self.connected = False
        self._top_frames: set[str] = set()
        self._frame_urls: dict[str, str] = {}
        self._replies: set[asyncio.Task[None]] = set()
        self._client: CDPClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and enable interception; every request from now on is checked."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self.dedicated_thread:
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self._serve(ready)), name="adblock-cdp", daemon=True
            )
            self._thread.start()
        else:
            self._task = asyncio.create_task(self._serve(ready), name="adblock-cdp")
        try:
            await asyncio.wait_for(asyncio.wrap_future(ready), self.connect_timeout)
        except BaseException as error:
            await self.stop()
            if isinstance(error, Exception):
                raise AdblockError(
                    f"could not attach adblock to {self.cdp_url}: {error}"
                ) from error
            raise

    async def stop(self) -> None:
        """Disable interception and close the connection (paused requests resume)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, self.connect_timeout)
            self._thread = None
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        from cdp_use.client import CDPClient

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = CDPClient(self.cdp_url)
        try:
            await client.start()  # type: ignore[no-untyped-call]
            self._client = client
            client.register.Target.targetCreated(self._on_target_created)
            client.register.Target.targetInfoChanged(self._on_target_info_changed)
            client.register.Target.targetDestroyed(self._on_target_destroyed)
            client.register.Fetch.requestPaused(self._on_request_paused)
            # Reports every existing target before it answers: tabs' frame ids are known first.
            await client.send.Target.setDiscoverTargets(params={"discover": True})
            # No session id: browser-wide, so it covers every target, present and future.
            await client.send.Fetch.enable(
                params={"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}
            )
        except BaseException as error:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                ready.set_exception(error)  # unless start() gave up waiting already
            with contextlib.suppress(Exception):
                await client.stop()  # type: ignore[no-untyped-call]
            return
        self.connected = True
        try:
            ready.set_result(None)
        except concurrent.futures.InvalidStateError:  # start() gave up waiting: stop again
            self._stop.set()
        assert client.ws is not None
        closed = asyncio.ensure_future(client.ws.wait_closed())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done() and not stopping.done():
                logger.warning(
                    "adblock CDP connection to %s closed: ad blocking is off for this browser",
                    self.cdp_url,
                )
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.send.Fetch.disable(), 2.0)
        finally:
            self.connected = False
            closed.cancel()
            stopping.cancel()
            with contextlib.suppress(Exception):
                await client.stop()  # type: ignore[no-untyped-call]
            self._client = None

    # -- CDP event handlers (never await in here) -----------------------------------------------

    def _on_target_created(self, event: TargetCreatedEvent, session_id: str | None) -> None:
        info = event["targetInfo"]
        if info["type"] in _TOP_LEVEL_TARGET_TYPES:
            self._top_frames.add(info["targetId"])

    def _on_target_info_changed(
        self, event: TargetInfoChangedEvent, session_id: str | None
    ) -> None:
        info = event["targetInfo"]
        if info["type"] in _TOP_LEVEL_TARGET_TYPES:
            self._top_frames.add(info["targetId"])

    def _on_target_destroyed(self, event: TargetDestroyedEvent, session_id: str | None) -> None:
        self._top_frames.discard(event["targetId"])
        self._frame_urls.pop(event["targetId"], None)

    def _on_request_paused(self, event: RequestPausedEvent, session_id: str | None) -> None:
        # Every paused request gets an answer, whatever happens in here: one without an answer
        # would hang the page. Anything unexpected lets the request through.
        url = ""
        try:
            request = event["request"]
            url = request["url"]
            block = self._decide(
                url,
                event.get("resourceType", "Other"),
                event.get("frameId", ""),
                request.get("headers", {}),
            )
        except Exception:
            logger.debug("adblock could not judge %s; allowing it", url, exc_info=True)
            block = False
        if block:
            self.blocked_count += 1
            if len(self.blocked) < _MAX_BLOCKED_URLS:
                self.blocked.append(url)
            params: dict[str, Any] = {
                "requestId": event["requestId"],
                "errorReason": "BlockedByClient",
            }
            self._reply("Fetch.failRequest", params, session_id)
        else:
            self.allowed += 1
            self._reply("Fetch.continueRequest", {"requestId": event["requestId"]}, session_id)

    def _decide(
        self, url: str, resource_type: str, frame_id: str, headers: Mapping[str, object]
    ) -> bool:
        if resource_type == "Document":
            in_subframe = frame_id not in self._top_frames
            source = _referer(headers) if in_subframe else url
            if self.engine.blocks(url, source, resource_type, in_subframe=in_subframe):
                return True
            self._remember_frame(frame_id, url)
            return False
        source = self._frame_urls.get(frame_id) or _referer(headers)
        return self.engine.blocks(url, source, resource_type)

    def _remember_frame(self, frame_id: str, url: str) -> None:
        if not frame_id:
            return
        frames = self._frame_urls
        frames[frame_id] = url
        if len(frames) > _MAX_TRACKED_FRAMES:
            del frames[next(iter(frames))]

    def _reply(self, method: str, params: dict[str, Any], session_id: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self._send(method, params, session_id))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    async def _send(self, method: str, params: dict[str, Any], session_id: str | None) -> None:
        client = self._client
        if client is None:
            return
        try:
            await client.send_raw(method, params, session_id)
        except Exception as error:
            self.errors += 1
            logger.debug("adblock %s failed: %s", method, error)


def _referer(headers: Mapping[str, object]) -> str:
    value = headers.get("Referer") or headers.get("referer")
    return value if isinstance(value, str) else ""


@contextlib.asynccontextmanager
async def attach_adblock(
    browser_session: _HasCdpUrl,
    engine: AdblockEngine,
    *,
    dedicated_thread: bool = True,
) -> AsyncIterator[AdblockInterceptor]:
    """Block ads and trackers in a started ``browser_use.BrowserSession`` while inside.

    Interception is on when this yields; leaving it disables it. Raises :class:`AdblockError`
    if the browser cannot be reached (the caller decides whether to run without adblock).
    """
    cdp_url = browser_session.cdp_url
    if not cdp_url:
        raise AdblockError("the browser session has no CDP URL yet: start it first")
    interceptor = AdblockInterceptor(cdp_url, engine, dedicated_thread=dedicated_thread)
    await interceptor.start()
    try:
        yield interceptor
    finally:
        await interceptor.stop()
