"""``use_adblock`` against real Chromium under browser-use: ad requests never reach the ad host.

Three ``TestSite``s: the site on 127.0.0.1, the ad host on 127.0.0.3 (named by the rule list),
and another site on 127.0.0.4 (a cross-site, out-of-process iframe). ``/ads`` loads
``/ads/banner.js`` and ``/ads/banner.png`` from the ad host and says "Ad status: loaded" once the
script ran. Every test starts its own Chromium through ``BrowserSession``; pages are inspected
over a probe CDP connection of the test's own (tests/browser_probe.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from browser_tasks.adapters.browser.adblock import AdblockEngine, attach_adblock
from tests.browser_probe import browser, offline_browser_use, wait_until
from tests.browser_probe import run as run_scenario
from tests.fakes import TestSite

if TYPE_CHECKING:
    from browser_use import BrowserSession

RULES = "[Adblock Plus 2.0]\n! Title: test list\n||127.0.0.3^\n"
SCENARIO_TIMEOUT = 30.0
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _offline_browser_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline_browser_use(monkeypatch, tmp_path)


@dataclass
class Sites:
    site: TestSite
    ad: TestSite
    other: TestSite


@pytest.fixture
def sites() -> Iterator[Sites]:
    with (
        TestSite(host="127.0.0.3") as ad,
        TestSite(host="127.0.0.1", ad_host=ad.base_url) as site,
        TestSite(host="127.0.0.4", ad_host=ad.base_url) as other,
    ):
        yield Sites(site=site, ad=ad, other=other)


@pytest.fixture
def engine(tmp_path: Path) -> AdblockEngine:
    rules = tmp_path / "easylist.txt"
    rules.write_text(RULES)
    return AdblockEngine.from_file(rules)


def run(scenario: Awaitable[T]) -> T:
    return run_scenario(scenario, SCENARIO_TIMEOUT)


async def focused_tab(session: BrowserSession) -> str:
    target_id = session.agent_focus_target_id
    assert target_id
    return target_id


def ad_paths(sites: Sites) -> list[str]:
    return [hit.path for hit in sites.ad.hits]


# --------------------------------------------------------------------------------------------


def test_the_ads_page_loads_its_ads_without_adblock_and_none_once_attached(
    sites: Sites, engine: AdblockEngine
) -> None:
    async def scenario() -> None:
        async with browser() as (session, probe):
            # Given the ads page, loaded without adblock
            first = sites.site.url("/ads")
            await session.navigate_to(first)
            tab = await focused_tab(session)
            # Then the ad host served the script and the image, and the script ran
            assert await wait_until(lambda: len(sites.ad.hits) >= 2)
            assert sorted(ad_paths(sites)) == ["/ads/banner.js", "/ads/banner.png"]
            assert await probe.wait_for_text(tab, "#ad-status", first) == "Ad status: loaded"

            # When adblock is attached with a list naming the ad host, and the page loads again
            sites.ad.clear()
            async with attach_adblock(session, engine) as adblock:
                again = sites.site.url("/ads?again=1")
                await session.navigate_to(again)
                status = await probe.wait_for_text(tab, "#ad-status", again)
                assert await wait_until(lambda: len(adblock.blocked) >= 2)

                # Then the ad host is never reached, the script never ran, the page itself did
                assert ad_paths(sites) == []
                assert status == "Ad status: blocked"
                assert await probe.evaluate(tab, "window.adLoaded === true") is False
                assert sorted(adblock.blocked) == [
                    sites.ad.url("/ads/banner.js"),
                    sites.ad.url("/ads/banner.png"),
                ]
                assert adblock.allowed >= 1
                assert sites.site.hits_for("/ads?again=1")

            # And once detached, the same page loads its ads again
            assert not adblock.connected
            after = sites.site.url("/ads?after=1")
            await session.navigate_to(after)
            assert await wait_until(lambda: len(sites.ad.hits) >= 2)
            assert await probe.wait_for_text(tab, "#ad-status", after) == "Ad status: loaded"

    run(scenario())


def test_new_tabs_iframes_fetch_and_workers_are_blocked_too(
    sites: Sites, engine: AdblockEngine
) -> None:
    ad, other = sites.ad, sites.other
    iframes = [
        sites.site.url("/ads?frame=same-origin"),  # same process, its ads from the ad host
        other.url("/ads?frame=cross-site"),  # an out-of-process iframe, its ads likewise
        ad.url("/page?title=ad-frame"),  # an iframe on the ad host itself
    ]
    add_frames = "".join(
        f"{{const f=document.createElement('iframe');f.src={url!r};document.body.append(f);}}"
        for url in iframes
    )
    worker_source = f"fetch({ad.url('/ads/worker')!r}).catch(() => null)"
    from_scripts = (
        f"fetch({ad.url('/ads/fetch')!r}).catch(() => null);"
        f"new Worker(URL.createObjectURL(new Blob([{worker_source!r}])));"
    )

    async def scenario() -> None:
        async with browser() as (session, probe), attach_adblock(session, engine) as adblock:
            # Given adblock attached, and the ads page in the first tab
            page = sites.site.url("/ads")
            await session.navigate_to(page)
            tab = await focused_tab(session)
            assert await probe.wait_for_text(tab, "#ad-status", page) == "Ad status: blocked"

            # When the page adds iframes and fetches from the page and a worker,
            await probe.evaluate(tab, add_frames + from_scripts)
            # and tabs open straight at the ads page: by CDP and through browser-use
            tab_url = sites.site.url("/ads?tab=cdp")
            opened = await probe.open_tab(tab_url)
            await session.navigate_to(sites.site.url("/ads?tab=browser-use"), new_tab=True)

            # Then every one of those requests is refused before it leaves the browser
            expected = {
                ad.url("/page?title=ad-frame"),
                ad.url("/ads/fetch"),
                ad.url("/ads/worker"),
            }
            assert await wait_until(
                lambda: expected <= set(adblock.blocked) and len(adblock.blocked) >= 13
            ), adblock.blocked
            assert await probe.wait_for_text(opened, "#ad-status", tab_url) == "Ad status: blocked"
            assert ad_paths(sites) == []
            # while the pages and iframes that are not ads did load
            assert other.hits_for("/ads?frame=cross-site")
            assert sites.site.hits_for("/ads?frame=same-origin")
            assert sites.site.hits_for("/ads?tab=cdp")
            assert sites.site.hits_for("/ads?tab=browser-use")
            # 3 tabs and 2 iframes x (script + image), the ad iframe, the fetch, the worker's
            assert adblock.blocked_count == 13

    run(scenario())


def test_a_tab_navigating_to_a_listed_host_is_not_blocked(
    sites: Sites, engine: AdblockEngine
) -> None:
    async def scenario() -> None:
        async with browser() as (session, probe), attach_adblock(session, engine) as adblock:
            # Given adblock attached with a list naming the ad host
            # When the agent navigates there, and a new tab opens there
            navigated = sites.ad.url("/page?title=Navigated&text=first")
            opened_url = sites.ad.url("/page?title=Opened&text=second")
            await session.navigate_to(navigated)
            opened = await probe.open_tab(opened_url)

            # Then both documents load (a tab's own navigation is never blocked silently)
            tab = await focused_tab(session)
            assert await probe.wait_for_text(tab, "h1", navigated) == "Navigated"
            assert await probe.wait_for_text(opened, "h1", opened_url) == "Opened"
            assert sites.ad.hits_for("/page?title=Navigated")
            assert sites.ad.hits_for("/page?title=Opened")
            assert not [url for url in adblock.blocked if "/page" in url]

    run(scenario())


def test_if_its_connection_drops_adblock_fails_open_and_says_so(
    sites: Sites, engine: AdblockEngine
) -> None:
    async def scenario() -> None:
        async with browser() as (session, probe), attach_adblock(session, engine) as adblock:
            # Given adblock attached and blocking
            await session.navigate_to(sites.site.url("/ads"))
            assert await wait_until(lambda: len(adblock.blocked) == 2)

            # When its CDP connection drops (closed from its own thread, as a crash would)
            client, loop = adblock._client, adblock._loop
            assert client is not None
            assert client.ws is not None
            assert loop is not None
            asyncio.run_coroutine_threadsafe(client.ws.close(), loop).result(timeout=5)
            assert await wait_until(lambda: not adblock.connected)

            # Then pages still load, ads included: nothing hangs on an interceptor that is gone
            after = sites.site.url("/ads?after-drop=1")
            await session.navigate_to(after)
            tab = await focused_tab(session)
            assert await probe.wait_for_text(tab, "#ad-status", after) == "Ad status: loaded"
            assert sorted(ad_paths(sites)) == ["/ads/banner.js", "/ads/banner.png"]

    run(scenario())
