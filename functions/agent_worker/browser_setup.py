"""The task's Chromium: network allowlist, proxy chain, viewport, downloads — all per task."""

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from browser_state import BrowserSnapshot, restore_snapshot
from browser_use import BrowserProfile, BrowserSession

from browser_tasks.adapters.browser.adblock import AdblockEngine, attach_adblock
from browser_tasks.adapters.browser.allowlist_proxy import AllowlistProxy
from browser_tasks.adapters.browser.egress import (
    browser_use_allowed_domains,
    egress_chromium_args,
    guarded_launch_args,
    verify_launch_args,
)
from worker_settings import WorkerSettings

# What Chromium needs inside Lambda (and in any container run as root), each for a reason:
LAMBDA_ARGS = (
    "--no-sandbox",  # no user namespaces in Lambda; the sandbox cannot start
    "--disable-dev-shm-usage",  # /dev/shm is 64 MB there; use /tmp instead
    "--disable-gpu",  # no GPU; avoids probing for one
    "--no-zygote",  # one fewer process tree to fork in a constrained sandbox
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",  # no keyring daemon
    "--disable-breakpad",  # no crash uploads
)


@dataclass(frozen=True)
class BrowserPlan:
    """How this task's browser reaches the network, decided before it starts."""

    allowed_domains: list[str] | None
    upstream_proxy: str | None
    adblock: AdblockEngine | None
    notes: tuple[str, ...]  # told to the caller on the task, e.g. "no proxy configured"


@lru_cache(maxsize=4)
def _adblock_engine(rules_path: str) -> AdblockEngine:
    # EasyList is ~60k rules (0.1-0.3 s to load): once per warm container, not per task.
    return AdblockEngine.from_file(rules_path)


def plan_network(
    task_settings: dict[str, Any], settings: WorkerSettings, proxy_urls: Mapping[str, str]
) -> BrowserPlan:
    notes = []
    upstream = None
    if task_settings.get("use_proxy", True):
        country = str(task_settings.get("proxy_country_code", "us"))
        upstream = proxy_urls.get(country)
        if not upstream:
            notes.append(
                f"use_proxy: no proxy is configured for '{country}'; the browser connected directly"
            )
    adblock = None
    if task_settings.get("use_adblock", True):
        if settings.adblock_rules_path:
            adblock = _adblock_engine(settings.adblock_rules_path)
        else:
            notes.append("use_adblock: no filter list is configured; nothing was blocked")
    return BrowserPlan(task_settings.get("allowed_domains"), upstream, adblock, tuple(notes))


@asynccontextmanager
async def task_browser(
    plan: BrowserPlan,
    task_settings: dict[str, Any],
    workdir: Path,
    settings: WorkerSettings,
    restore: BrowserSnapshot | None = None,
) -> AsyncIterator[BrowserSession]:
    """A started browser session for the task; the browser and the proxy end with the block.

    ``restore``: the previous chunk's browser, put back before adblock attaches (the restore
    answers its own scratch requests through CDP Fetch, which adblock would also claim).
    """
    async with AsyncExitStack() as stack:
        proxy_port = None
        if plan.upstream_proxy or settings.block_private_networks:
            proxy = await stack.enter_async_context(
                AllowlistProxy(
                    plan.allowed_domains,
                    upstream=plan.upstream_proxy,
                    refuse_private_addresses=settings.block_private_networks,
                )
            )
            proxy_port = proxy.port
        egress = egress_chromium_args(plan.allowed_domains, proxy_port)
        width = int(task_settings.get("browser_viewport_width", 1280))
        height = int(task_settings.get("browser_viewport_height", 960))
        profile = BrowserProfile(
            executable_path=settings.chromium(),
            headless=settings.headless,
            chromium_sandbox=False,
            enable_default_extensions=False,  # they would be downloaded at start
            args=guarded_launch_args(LAMBDA_ARGS, egress),
            allowed_domains=browser_use_allowed_domains(plan.allowed_domains),
            viewport={"width": width, "height": height},
            window_size={"width": width, "height": height},
            highlight_elements=bool(task_settings.get("highlight_elements", True)),
            downloads_path=workdir / "downloads",
            user_data_dir=workdir / "profile",
            keep_alive=True,  # we end it ourselves, after exporting what the task keeps
        )
        # The arguments Chromium will really get: no other input may undo the guard.
        verify_launch_args(profile.get_args(), egress)
        session = BrowserSession(browser_profile=profile)
        await session.start()
        stack.push_async_callback(session.kill)
        if restore is not None:
            await restore_snapshot(session, restore)
        if plan.adblock is not None:
            await stack.enter_async_context(attach_adblock(session, plan.adblock))
        yield session
