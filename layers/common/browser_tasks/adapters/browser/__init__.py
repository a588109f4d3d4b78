"""The browser side of the agent worker: egress guard for Chromium and its allowlisting proxy.

Nothing here imports browser-use, so the layer can carry it; the worker image adds the library.
"""

from browser_tasks.adapters.browser.allowlist_proxy import (
    AllowlistProxy,
    ProxyCounters,
    UpstreamProxy,
)
from browser_tasks.adapters.browser.egress import (
    OWNED_SWITCHES,
    EgressGuardError,
    HostAllowlist,
    browser_use_allowed_domains,
    egress_chromium_args,
    guarded_launch_args,
    host_resolver_rules,
    verify_launch_args,
)

__all__ = [
    "OWNED_SWITCHES",
    "AllowlistProxy",
    "EgressGuardError",
    "HostAllowlist",
    "ProxyCounters",
    "UpstreamProxy",
    "browser_use_allowed_domains",
    "egress_chromium_args",
    "guarded_launch_args",
    "host_resolver_rules",
    "verify_launch_args",
]
