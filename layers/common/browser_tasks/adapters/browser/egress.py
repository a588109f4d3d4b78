"""Chromium launch arguments that keep the browser inside a task's ``allowed_domains``.

browser-use's own ``allowed_domains`` check runs after a request has already left the browser, and
it never sees subresources, workers, WebSockets, preconnects or WebRTC. What holds (FINDINGS.md,
"Egress control"; ``tests/integration/test_egress.py`` tries 45 routes, each against the host's
IP, its IPv4-mapped IPv6 form and two names) is Chromium's own resolver: every host that is not
allowed maps to "not found" before a socket is opened. This module turns the task's host
patterns into those arguments; :mod:`.allowlist_proxy` covers the case of an upstream proxy, where
the resolver never sees target hosts.

Both layers are host-level: ports are not restricted and there are no path rules. Keep
browser-use's ``allowed_domains`` as well (see :func:`browser_use_allowed_domains`): it limits
schemes and gives the agent a clear message when a navigation is refused.

Ownership of the flags
----------------------
browser-use de-duplicates launch arguments by switch name and the last one wins
(``BrowserProfile.get_args``: defaults, then ``args``, then ``proxy``/``user_agent``), so any
other list that contains ``--proxy-server`` or ``--host-resolver-rules`` could silently replace
the guard. Therefore:

* every switch that decides where traffic goes is listed once, in :data:`OWNED_SWITCHES`;
* :func:`guarded_launch_args` removes those switches from every other argument list and puts
  the guard's arguments last, so that within ``BrowserProfile.args`` the guard wins;
* :func:`verify_launch_args` checks the list browser-use will really start Chromium with
  (``profile.get_args()``) and raises :class:`EgressGuardError` if any owned switch differs —
  which also catches ``BrowserProfile(proxy=...)``, the one input appended after ``args``.
  Never set ``BrowserProfile.proxy``: an upstream proxy goes to :class:`.AllowlistProxy`.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROXY_HOST = "127.0.0.1"
"""Where the worker's :class:`.AllowlistProxy` listens; the only host Chromium resolves then."""

#: browser-use turns an ``allowed_domains`` list of this many entries into a set, after which
#: ``*.example.com`` patterns no longer match anything in its own check (the network rules are
#: unaffected). Kept here rather than imported: the layer does not carry browser-use.
BROWSER_USE_SET_THRESHOLD = 100

#: The page Debian's Chromium opens first. Allowed for browser-use only (it makes no request the
#: resolver would let through), or the library closes it and logs errors, losing seconds a launch.
DEBIAN_FIRST_TAB = "chrome://new-tab-page-third-party/"

#: What browser-use gets for an empty allowlist: a name in the reserved ``.invalid`` TLD, so its
#: list is not empty (an empty list means "everything" to browser-use) and matches nothing.
DENY_ALL_SENTINEL = "deny-all.invalid"

#: Switches that decide where the browser's traffic goes. Only the guard may set them.
OWNED_SWITCHES: frozenset[str] = frozenset(
    {
        "host-resolver-rules",
        "host-rules",
        "proxy-server",
        "no-proxy-server",
        "proxy-bypass-list",
        "proxy-pac-url",
        "proxy-auto-detect",
        "winhttp-proxy-resolver",
        "webrtc-ip-handling-policy",
        "force-webrtc-ip-handling-policy",
        "disable-background-networking",
        "disable-component-update",
        "disable-domain-reliability",
        "disable-sync",
        "no-pings",
        "disable-breakpad",
        "safebrowsing-disable-auto-update",
        "disable-client-side-phishing-detection",
    }
)

#: Chromium features the guard turns off (merged by browser-use into one ``--disable-features``).
DISABLED_FEATURES: tuple[str, ...] = ("MediaRouter", "DialMediaRouteProvider")

_BACKGROUND_ARGS: tuple[str, ...] = (
    # Chromium's own traffic: variations, translate, NTP, GCM, safe-browsing lists, update checks.
    # Not all of it: Chromium 156 still asks update.googleapis.com, clients2.google.com and
    # accounts.google.com with these switches; the resolver rules (or the proxy) refuse those.
    # With allowed_domains=None and no proxy nothing refuses them.
    "--disable-background-networking",
    "--disable-component-update",  # component updater (CRLSet, widevine, ...)
    "--disable-domain-reliability",  # uploads of network error reports to Google
    "--disable-sync",
    "--no-pings",  # <a ping> auditing requests
    "--disable-breakpad",  # crash uploads
    "--safebrowsing-disable-auto-update",
    "--disable-client-side-phishing-detection",
    # Cast/DIAL discovery sends SSDP/mDNS multicast over UDP, which the resolver never sees.
    f"--disable-features={','.join(DISABLED_FEATURES)}",
)

_PATTERN = re.compile(r"^(\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


class EgressGuardError(RuntimeError):
    """The browser would start without the egress guard it was given (fail closed)."""


@dataclass(frozen=True)
class HostAllowlist:
    """The hosts a task may reach, as exact names and ``.suffix`` matches.

    One source of truth for the resolver rules and the allowlisting proxy. The expansion follows
    browser-use's own matching so the network never allows less than the library expects:
    ``example.com`` (a root domain: exactly one dot) also allows ``www.example.com``;
    ``*.example.com`` allows every subdomain and ``example.com`` itself.

    Attributes
    ----------
    exact
        Host names and IPv4 literals allowed as they are.
    suffixes
        Parent domains whose every subdomain is allowed (``example.com`` for ``*.example.com``).
    """

    exact: frozenset[str]
    suffixes: frozenset[str]

    @classmethod
    def from_patterns(cls, allowed_domains: Iterable[str]) -> "HostAllowlist":
        """Expand normalized host patterns; raise ``ValueError`` for anything else.

        The patterns come validated from the request model; they are checked again here because
        a comma or a space in one would otherwise add a rule of its own to Chromium's list.
        """
        exact: set[str] = set()
        suffixes: set[str] = set()
        for pattern in allowed_domains:
            if not _PATTERN.match(pattern) or ".." in pattern:
                raise ValueError(f"not a normalized host pattern: {pattern!r}")
            if pattern.startswith("*."):
                parent = pattern[2:]
                suffixes.add(parent)
                exact.add(parent)
            else:
                exact.add(pattern)
                if _is_root_domain(pattern):
                    exact.add(f"www.{pattern}")
        return cls(exact=frozenset(exact), suffixes=frozenset(suffixes))

    def allows(self, host: str) -> bool:
        """Whether ``host`` (as it appears in a URL or CONNECT line) may be reached."""
        name = host.lower()
        if name in self.exact:
            return True
        return any(name.endswith(f".{parent}") for parent in self.suffixes)

    def resolver_excludes(self) -> list[str]:
        """``EXCLUDE`` targets for ``--host-resolver-rules``, in a stable order.

        ``EXCLUDE *.example.com`` does not match ``example.com``: the apex is in :attr:`exact`.
        """
        return sorted(self.exact) + sorted(f"*.{parent}" for parent in self.suffixes)


def host_resolver_rules(allowed_domains: Sequence[str] | None, *, via_proxy: bool) -> str | None:
    """The value of ``--host-resolver-rules``, or ``None`` when every host is allowed.

    ``MAP * ~NOTFOUND`` makes every lookup fail, IP literals included; ``EXCLUDE`` rules are
    checked first and let the allowed names resolve normally. Through the proxy Chromium
    resolves nothing but the proxy's own address: target hosts are the proxy's business.
    """
    if via_proxy:
        excludes = [PROXY_HOST]
    elif allowed_domains is None:
        return None
    else:
        excludes = HostAllowlist.from_patterns(allowed_domains).resolver_excludes()
    return ", ".join(["MAP * ~NOTFOUND", *(f"EXCLUDE {host}" for host in excludes)])


def egress_chromium_args(
    allowed_domains: Sequence[str] | None, proxy_port: int | None = None
) -> list[str]:
    """Chromium arguments that enforce ``allowed_domains`` at the network level.

    Parameters
    ----------
    allowed_domains
        Normalized host patterns (``example.com``, ``*.example.com``, ``localhost``, IPv4
        literals). ``None`` allows every host; an empty list allows none.
    proxy_port
        Port of the worker's :class:`.AllowlistProxy` on ``127.0.0.1``, when the task uses an
        upstream proxy. The allowlist is then enforced by that proxy, not by the resolver.

    Returns
    -------
    list[str]
        One argument per element, unquoted (browser-use starts Chromium without a shell):

        * ``--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE <host>, ...``: names and IP literals
          that are not allowed never resolve, for every kind of request, the browser's own
          background traffic included (omitted when everything is allowed and direct).
        * ``--webrtc-ip-handling-policy=disable_non_proxied_udp``: WebRTC's raw UDP (STUN, TURN
          over UDP) goes to IP literals without asking the resolver; this keeps WebRTC to TCP,
          which the resolver or the proxy sees. Checked on Chromium 156: with resolver rules
          alone, or with the older ``--force-webrtc-ip-handling-policy`` spelling (not in this
          binary), STUN and TURN-over-UDP packets still reached a disallowed IP.
        * direct: ``--no-proxy-server``, or an ``http_proxy`` variable in the environment would
          send requests around the resolver rules to a proxy that resolves them itself;
        * via the proxy: ``--proxy-server=http://127.0.0.1:PORT`` and
          ``--proxy-bypass-list=<-loopback>`` (without it Chromium sends loopback traffic
          directly, around the proxy's allowlist). If the proxy dies, requests fail with
          ``ERR_PROXY_CONNECTION_FAILED``: closed, not open.
        * the background switches (``--disable-background-networking``,
          ``--disable-component-update``, ...) so that Chromium starts less of its own traffic
          (what remains is refused by the rules above), and Cast/DIAL discovery switched off.
    """
    via_proxy = proxy_port is not None
    if proxy_port is not None and not 0 < proxy_port < 65536:
        raise ValueError(f"not a port: {proxy_port}")
    args: list[str] = []
    rules = host_resolver_rules(allowed_domains, via_proxy=via_proxy)
    if rules is not None:
        args.append(f"--host-resolver-rules={rules}")
    args.append("--webrtc-ip-handling-policy=disable_non_proxied_udp")
    if proxy_port is None:
        args.append("--no-proxy-server")
    else:
        args += [
            f"--proxy-server=http://{PROXY_HOST}:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",
        ]
    args += _BACKGROUND_ARGS
    return args


def browser_use_allowed_domains(allowed_domains: Sequence[str] | None) -> list[str] | None:
    """The ``allowed_domains`` list for ``BrowserProfile``: same hosts, plus schemes and messages.

    browser-use reads bare patterns the way :class:`HostAllowlist` expands them, so the patterns
    pass through. Debian's first tab is added while the list stays under browser-use's set
    threshold (at or above it browser-use ignores ``*.`` patterns: stricter, never looser).
    """
    if allowed_domains is None:
        return None
    patterns = list(dict.fromkeys(allowed_domains))
    HostAllowlist.from_patterns(patterns)  # same validation as the network rules
    if not patterns:
        return [DENY_ALL_SENTINEL]
    if len(patterns) + 1 < BROWSER_USE_SET_THRESHOLD:
        patterns.append(DEBIAN_FIRST_TAB)
    return patterns


def switch_name(arg: str) -> str:
    """``--proxy-server=http://x`` -> ``proxy-server``, as browser-use keys its de-duplication."""
    return arg.split("=", 1)[0].strip().lstrip("-")


def guarded_launch_args(other_args: Iterable[str], egress_args: Sequence[str]) -> list[str]:
    """``BrowserProfile.args``: other arguments without any owned switch, then the guard's.

    ``--disable-features`` lists are kept: browser-use merges them rather than replacing one.
    """
    kept = [arg for arg in other_args if switch_name(arg) not in OWNED_SWITCHES]
    return [*kept, *egress_args]


def verify_launch_args(launch_args: Sequence[str], egress_args: Sequence[str]) -> None:
    """Raise :class:`EgressGuardError` unless ``launch_args`` enforce ``egress_args``.

    Pass the list Chromium will really get, before it starts:
    ``BrowserSession(browser_profile=profile).browser_profile.get_args()`` (the session's copy of
    the profile has its ``user_data_dir``; ``get_args()`` asserts one is set). Every owned switch
    must appear exactly as the guard set it, no owned switch may appear that the guard did not
    set, and no feature the guard disables may be enabled.
    """
    expected = {switch_name(arg): arg for arg in egress_args if not _is_feature_list(arg)}
    seen: dict[str, list[str]] = {}
    disabled: set[str] = set()
    enabled: set[str] = set()
    for arg in launch_args:
        name = switch_name(arg)
        if name == "disable-features":
            disabled.update(_feature_values(arg))
        elif name == "enable-features":
            enabled.update(_feature_values(arg))
        elif name in OWNED_SWITCHES:
            seen.setdefault(name, []).append(arg.strip())
    for name in sorted(OWNED_SWITCHES):
        want = [expected[name]] if name in expected else []
        if seen.get(name, []) != want:
            raise EgressGuardError(
                f"--{name}: expected {want}, Chromium would get {seen.get(name)}"
            )
    missing = set(DISABLED_FEATURES) - disabled
    if missing or set(DISABLED_FEATURES) & enabled:
        raise EgressGuardError(f"features must stay disabled: {sorted(DISABLED_FEATURES)}")


def _is_feature_list(arg: str) -> bool:
    return switch_name(arg) in {"disable-features", "enable-features"}


def _feature_values(arg: str) -> set[str]:
    value = arg.split("=", 1)[1] if "=" in arg else ""
    return {feature.strip() for feature in value.split(",") if feature.strip()}


def _is_root_domain(host: str) -> bool:
    """browser-use's heuristic for "also allow www.": a name with exactly one dot."""
    return host.count(".") == 1
