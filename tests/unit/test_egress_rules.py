"""The Chromium arguments of the egress guard, and the host matching it shares with the proxy."""

from pathlib import Path

import pytest

from browser_tasks.adapters.browser.egress import (
    DEBIAN_FIRST_TAB,
    DENY_ALL_SENTINEL,
    DISABLED_FEATURES,
    OWNED_SWITCHES,
    EgressGuardError,
    HostAllowlist,
    browser_use_allowed_domains,
    egress_chromium_args,
    guarded_launch_args,
    host_resolver_rules,
    switch_name,
    verify_launch_args,
)

WEBRTC = "--webrtc-ip-handling-policy=disable_non_proxied_udp"
BACKGROUND = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-pings",
    "--disable-breakpad",
    "--safebrowsing-disable-auto-update",
    "--disable-client-side-phishing-detection",
    "--disable-features=MediaRouter,DialMediaRouteProvider",
]


@pytest.mark.parametrize(
    ("allowed", "rules"),
    [
        (None, None),
        ([], "MAP * ~NOTFOUND"),
        (["example.com"], "MAP * ~NOTFOUND, EXCLUDE example.com, EXCLUDE www.example.com"),
        (["*.example.com"], "MAP * ~NOTFOUND, EXCLUDE example.com, EXCLUDE *.example.com"),
        (["sub.example.com"], "MAP * ~NOTFOUND, EXCLUDE sub.example.com"),
        (["example.co.uk"], "MAP * ~NOTFOUND, EXCLUDE example.co.uk"),
        (["localhost"], "MAP * ~NOTFOUND, EXCLUDE localhost"),
        (["10.0.0.5"], "MAP * ~NOTFOUND, EXCLUDE 10.0.0.5"),
        (
            ["b.com", "*.a.com", "b.com", "a.com"],
            "MAP * ~NOTFOUND, EXCLUDE a.com, EXCLUDE b.com, EXCLUDE www.a.com, EXCLUDE www.b.com,"
            " EXCLUDE *.a.com",
        ),
    ],
)
def test_direct_mode_resolves_only_the_allowed_hosts(
    allowed: list[str] | None, rules: str | None
) -> None:
    # Given a task's allowed_domains and no upstream proxy
    # When the guard's arguments are built
    args = egress_chromium_args(allowed)
    # Then Chromium resolves only those hosts, never uses a proxy, and sends no raw UDP
    expected = [f"--host-resolver-rules={rules}"] if rules else []
    assert args == [*expected, WEBRTC, "--no-proxy-server", *BACKGROUND]


@pytest.mark.parametrize("allowed", [None, [], ["example.com", "*.example.org"]])
def test_proxy_mode_resolves_only_the_proxy(allowed: list[str] | None) -> None:
    args = egress_chromium_args(allowed, proxy_port=8123)
    assert args == [
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        WEBRTC,
        "--proxy-server=http://127.0.0.1:8123",
        "--proxy-bypass-list=<-loopback>",
        *BACKGROUND,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "a.com, EXCLUDE *",  # would add a rule of its own
        "a.com EXCLUDE b.com",
        "*",
        "Example.com",
        "https://a.com",
        "a.com:443",
        "a..com",
        "-a.com",
        "",
    ],
)
def test_patterns_that_are_not_normalized_hosts_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a normalized host pattern"):
        egress_chromium_args([bad])
    with pytest.raises(ValueError, match="not a normalized host pattern"):
        browser_use_allowed_domains([bad])


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_proxy_port_must_be_a_port(port: int) -> None:
    with pytest.raises(ValueError, match="not a port"):
        egress_chromium_args(["a.com"], proxy_port=port)


@pytest.mark.parametrize(
    ("patterns", "host", "allowed"),
    [
        (["example.com"], "example.com", True),
        (["example.com"], "www.example.com", True),  # as browser-use: a root domain adds www.
        (["example.com"], "EXAMPLE.com", True),
        (["example.com"], "sub.example.com", False),
        (["example.com"], "example.com.evil.test", False),
        (["example.com"], "wwwexample.com", False),
        (["example.com"], "example.com.", False),  # resolver rules do not match it either
        (["sub.example.com"], "www.sub.example.com", False),
        (["*.example.com"], "example.com", True),  # as browser-use: the apex is included
        (["*.example.com"], "a.b.example.com", True),
        (["*.example.com"], "badexample.com", False),
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["127.0.0.1"], "[::ffff:7f00:1]", False),
        (["localhost"], "evil.localhost", False),
        ([], "example.com", False),
    ],
)
def test_host_allowlist_matches_like_browser_use(
    patterns: list[str], host: str, allowed: bool
) -> None:
    assert HostAllowlist.from_patterns(patterns).allows(host) is allowed


def test_resolver_rules_and_allowlist_come_from_the_same_expansion() -> None:
    allowlist = HostAllowlist.from_patterns(["*.a.com", "b.com", "c.b.com"])
    assert allowlist.resolver_excludes() == ["a.com", "b.com", "c.b.com", "www.b.com", "*.a.com"]
    rules = host_resolver_rules(["*.a.com", "b.com", "c.b.com"], via_proxy=False)
    assert rules == "MAP * ~NOTFOUND, " + ", ".join(
        f"EXCLUDE {host}" for host in allowlist.resolver_excludes()
    )


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (None, None),
        ([], [DENY_ALL_SENTINEL]),  # browser-use reads an empty list as "everything"
        (["a.com", "*.b.com", "a.com"], ["a.com", "*.b.com", DEBIAN_FIRST_TAB]),
        ([f"h{i}.com" for i in range(98)], [*(f"h{i}.com" for i in range(98)), DEBIAN_FIRST_TAB]),
        # At 100 entries browser-use switches to a set and ignores *. patterns: do not add one.
        ([f"h{i}.com" for i in range(99)], [f"h{i}.com" for i in range(99)]),
    ],
)
def test_browser_use_gets_the_same_patterns(
    allowed: list[str] | None, expected: list[str] | None
) -> None:
    assert browser_use_allowed_domains(allowed) == expected


def test_other_argument_lists_cannot_replace_the_guard() -> None:
    # Given arguments from elsewhere that would route around the guard
    others = [
        "--proxy-server=http://198.51.100.1:3128",
        "--host-resolver-rules=MAP * 127.0.0.2",
        "--host-rules=MAP a.com 127.0.0.2",
        "--proxy-pac-url=http://198.51.100.1/pac",
        "--force-webrtc-ip-handling-policy=default",
        "--window-size=1280,800",
        "--disable-features=Translate",
    ]
    egress = egress_chromium_args(["a.com"])
    # When they are merged with the guard's
    merged = guarded_launch_args(others, egress)
    # Then only the harmless ones stay, and the guard comes last (browser-use: last one wins)
    assert merged == ["--window-size=1280,800", "--disable-features=Translate", *egress]
    assert {switch_name(a) for a in others[:5]} <= OWNED_SWITCHES


def _as_browser_use_would(args: list[str]) -> list[str]:
    """browser-use's de-duplication: key by switch name, last value wins, first position kept."""
    merged: dict[str, str] = {}
    for arg in args:
        merged[switch_name(arg)] = arg
    return list(merged.values())


def test_verify_accepts_the_guard_as_browser_use_passes_it() -> None:
    egress = egress_chromium_args(["a.com"])
    launch = _as_browser_use_would(
        ["--no-first-run", "--disable-features=A", *guarded_launch_args(["--x"], egress)]
    )
    launch = [a for a in launch if switch_name(a) != "disable-features"]
    launch.append(f"--disable-features=A,{','.join(DISABLED_FEATURES)}")
    verify_launch_args(launch, egress)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda a: [x for x in a if not x.startswith("--host-resolver-rules")], "host-resolver"),
        (lambda a: [*a, "--host-resolver-rules=MAP * 127.0.0.2"], "host-resolver"),
        (lambda a: [*a, "--proxy-server=http://198.51.100.1:1"], "proxy-server"),
        (lambda a: [x for x in a if x != "--no-proxy-server"], "no-proxy-server"),
        (lambda a: [x for x in a if not x.startswith("--webrtc")], "webrtc"),
        (lambda a: [x for x in a if x != "--disable-component-update"], "component-update"),
        (lambda a: [*a, "--proxy-auto-detect"], "proxy-auto-detect"),
        (lambda a: [*a, "--enable-features=MediaRouter"], "features"),
        (lambda a: [x for x in a if not x.startswith("--disable-features")], "features"),
    ],
)
def test_verify_refuses_launch_arguments_that_lost_the_guard(tamper, message: str) -> None:  # type: ignore[no-untyped-def]
    egress = egress_chromium_args(["a.com"])
    with pytest.raises(EgressGuardError, match=message):
        verify_launch_args(tamper(list(egress)), egress)


def test_browser_use_profile_keeps_the_guard_and_verify_catches_its_proxy_field(
    tmp_path: Path,
) -> None:
    browser_use = pytest.importorskip("browser_use")
    from browser_use.browser.profile import ProxySettings

    egress = egress_chromium_args(["a.com"])
    common = {
        "executable_path": "/usr/lib/chromium/chromium",
        "headless": True,
        "chromium_sandbox": False,
        "enable_default_extensions": False,
        "user_data_dir": tmp_path,
    }
    # Given the guard in BrowserProfile.args, even with browser-use's defaults (partly) off
    for ignore in (["--disable-component-update", "--disable-background-networking"], True):
        profile = browser_use.BrowserProfile(
            args=guarded_launch_args(["--host-resolver-rules=MAP * 1.2.3.4"], egress),
            ignore_default_args=ignore,
            **common,
        )
        # Then the list browser-use launches with carries it unchanged
        verify_launch_args(profile.get_args(), egress)
    # But BrowserProfile.proxy is appended after args and would win: verify refuses it
    profile = browser_use.BrowserProfile(
        args=guarded_launch_args([], egress),
        proxy=ProxySettings(server="http://198.51.100.1:3128"),
        **common,
    )
    with pytest.raises(EgressGuardError, match="proxy-server"):
        verify_launch_args(profile.get_args(), egress)
