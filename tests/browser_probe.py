"""A headless Chromium for tests to look at pages with: started through browser-use's
``BrowserSession`` (the way the worker starts one), inspected over a CDP connection of the
test's own (``Probe``)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from browser_use import BrowserSession
    from cdp_use.client import CDPClient

CHROMIUM = "/usr/lib/chromium/chromium"
T = TypeVar("T")


def offline_browser_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No telemetry or version check; the library's temp folders land in ``tmp_path``.
    Call it from an autouse fixture of a module that starts ``browser()``."""
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "false")
    monkeypatch.setenv("BROWSER_USE_VERSION_CHECK", "false")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


class Probe:
    """The test's own CDP connection: opens tabs, reads pages."""

    def __init__(self, client: CDPClient) -> None:
        self.client = client
        self._sessions: dict[str, str] = {}

    async def open_tab(self, url: str) -> str:
        created = await self.client.send.Target.createTarget(params={"url": url})
        return created["targetId"]

    async def evaluate(self, target_id: str, expression: str) -> Any:
        if target_id not in self._sessions:
            attached = await self.client.send.Target.attachToTarget(
                params={"targetId": target_id, "flatten": True}
            )
            self._sessions[target_id] = attached["sessionId"]
        result = await self.client.send.Runtime.evaluate(
            params={"expression": expression, "returnByValue": True, "awaitPromise": True},
            session_id=self._sessions[target_id],
        )
        return result["result"].get("value")

    async def wait_for_text(
        self, target_id: str, selector: str, url: str, timeout: float = 10
    ) -> str:
        """The element's text once the document at ``url`` has loaded."""
        expression = (
            f"location.href === {url!r} && document.readyState === 'complete' && "
            f"document.querySelector({selector!r}) ? "
            f"document.querySelector({selector!r}).textContent : null"
        )
        text = await poll(lambda: self.evaluate(target_id, expression), timeout)
        assert isinstance(text, str), f"{selector} never appeared in {target_id}"
        return text


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float) -> T | None:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    async def check() -> bool:
        return predicate()

    return bool(await poll(check, timeout))


@asynccontextmanager
async def browser() -> AsyncIterator[tuple[BrowserSession, Probe]]:
    from browser_use import BrowserProfile, BrowserSession
    from cdp_use.client import CDPClient

    profile = BrowserProfile(
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        enable_default_extensions=False,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
        user_data_dir=None,
    )
    session = BrowserSession(browser_profile=profile)
    await session.start()
    try:
        assert session.cdp_url
        client = CDPClient(session.cdp_url)
        await client.start()  # type: ignore[no-untyped-call]
        try:
            yield session, Probe(client)
        finally:
            await client.stop()  # type: ignore[no-untyped-call]
    finally:
        await session.kill()


def run(scenario: Awaitable[T], timeout: float) -> T:
    """Run an async scenario to its end, failing it after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(scenario, timeout)

    return asyncio.run(bounded())
