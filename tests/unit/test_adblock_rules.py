"""The adblock engine on a small EasyList-format list, and CDP resource types mapped for it."""

from pathlib import Path

import pytest

from browser_tasks.adapters.browser.adblock import (
    RESOURCE_TYPE_TO_REQUEST_TYPE,
    RULES_PATH_ENV,
    AdblockEngine,
    AdblockError,
    load_rules,
    request_type_for,
)

PAGE = "https://news.example/article"
RULES = """\
[Adblock Plus 2.0]
! Title: a small test list
! Expires: 4 days

||ads.test^
||ads.test/allowed/$script
@@||ads.test/allowed/*
/banner/*
||tracker.test^$third-party
||pics.test^$image
||frames.test^$subdocument
||beacons.test^$xmlhttprequest
||sockets.test^$websocket
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> AdblockEngine:
    path = tmp_path_factory.mktemp("rules") / "easylist.txt"
    path.write_text(RULES)
    return AdblockEngine.from_file(path)


def test_load_rules_keeps_rules_and_drops_comments_headers_and_blank_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "list.txt"
    path.write_text(RULES)

    rules = load_rules(path)

    assert rules[0] == "||ads.test^"
    assert rules[-1] == "||sockets.test^$websocket"
    assert len(rules) == 9
    assert not [rule for rule in rules if rule.startswith(("!", "[")) or not rule.strip()]


def test_a_missing_rules_file_is_a_clear_error_naming_the_file_and_the_setting(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere" / "easylist.txt"

    with pytest.raises(AdblockError, match="does not exist") as raised:
        load_rules(missing)

    assert str(missing) in str(raised.value)
    assert RULES_PATH_ENV in str(raised.value)


def test_a_rules_file_with_only_comments_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("[Adblock Plus 2.0]\n! nothing here\n\n")

    with pytest.raises(AdblockError, match="holds no rules"):
        load_rules(path)


def test_from_env_reads_the_file_named_by_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("||ads.test^\n")

    engine = AdblockEngine.from_env({RULES_PATH_ENV: str(path)})

    assert engine.blocks("https://ads.test/a.js", PAGE, "Script")
    with pytest.raises(AdblockError, match=RULES_PATH_ENV):
        AdblockEngine.from_env({})


@pytest.mark.parametrize(
    ("url", "resource_type", "blocked"),
    [
        # A domain rule blocks every subresource type from the host and its subdomains.
        ("https://ads.test/banner.js", "Script", True),
        ("https://cdn.ads.test/pixel.png", "Image", True),
        ("http://ads.test:8080/x", "XHR", True),
        ("https://ads.test/x", "Fetch", True),
        ("https://ads.test/frame.html", "Document", True),  # in an iframe: see in_subframe
        # ... but not a host that merely ends with the same letters.
        ("https://notads.test/banner.js", "Script", False),
        # A path rule, on any host.
        ("https://news.example/banner/top.png", "Image", True),
        ("https://news.example/img/top.png", "Image", False),
        # An exception rule wins over the block rules.
        ("https://ads.test/allowed/lib.js", "Script", False),
        # Type options only match their own type.
        ("https://pics.test/a.png", "Image", True),
        ("https://pics.test/a.js", "Script", False),
        ("https://frames.test/ad.html", "Document", True),
        ("https://frames.test/ad.js", "Script", False),
        ("https://beacons.test/collect", "XHR", True),
        ("https://beacons.test/collect", "Fetch", True),
        ("https://beacons.test/collect", "Image", False),
        ("wss://sockets.test/live", "WebSocket", True),
        ("https://sockets.test/live", "Script", False),
        # $third-party: blocked from another site only.
        ("https://tracker.test/t.gif", "Image", True),
        # Non-web schemes are never checked.
        ("data:text/javascript,1", "Script", False),
        ("blob:https://ads.test/0d1e", "Script", False),
    ],
)
def test_engine_blocks_by_domain_path_exception_and_type(
    engine: AdblockEngine, url: str, resource_type: str, blocked: bool
) -> None:
    assert engine.blocks(url, PAGE, resource_type, in_subframe=True) is blocked


def test_third_party_rules_spare_the_site_itself(engine: AdblockEngine) -> None:
    assert engine.blocks("https://tracker.test/t.gif", PAGE, "Image")
    assert not engine.blocks("https://tracker.test/t.gif", "https://tracker.test/home", "Image")
    # An unknown source counts as third-party.
    assert engine.blocks("https://tracker.test/t.gif", "", "Image")


def test_a_tabs_own_navigation_is_never_blocked_but_an_ad_iframe_is(
    engine: AdblockEngine,
) -> None:
    url = "https://ads.test/landing"

    assert not engine.blocks(url, url, "Document")
    assert not engine.blocks(url, PAGE, "Document", in_subframe=False)
    assert engine.blocks(url, PAGE, "Document", in_subframe=True)


def test_only_the_given_rules_are_used_not_braveblocks_bundled_lists(
    engine: AdblockEngine,
) -> None:
    # In braveblock's bundled EasyList/EasyPrivacy, not in the test list.
    assert not engine.blocks(
        "https://www.google-analytics.com/analytics.js", PAGE, "Script", in_subframe=True
    )
    assert not engine.blocks(
        "https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", PAGE, "Script"
    )


@pytest.mark.parametrize(
    ("resource_type", "in_subframe", "request_type"),
    [
        ("Document", False, "document"),
        ("Document", True, "subdocument"),
        ("Script", False, "script"),
        ("Image", False, "image"),
        ("Stylesheet", False, "stylesheet"),
        ("Font", False, "font"),
        ("Media", False, "media"),
        ("XHR", False, "xmlhttprequest"),
        ("Fetch", False, "xmlhttprequest"),
        ("EventSource", False, "xmlhttprequest"),
        ("WebSocket", False, "websocket"),
        ("Ping", False, "ping"),
        ("CSPViolationReport", False, "csp_report"),
        ("Manifest", False, "web_manifest"),
        ("Prefetch", False, "other"),
        ("TextTrack", False, "other"),
        ("Other", False, "other"),
        ("SomethingNewInChromium", False, "other"),
    ],
)
def test_cdp_resource_types_map_to_adblock_request_types(
    resource_type: str, in_subframe: bool, request_type: str
) -> None:
    assert request_type_for(resource_type, in_subframe=in_subframe) == request_type


def test_every_cdp_network_resource_type_has_a_mapping() -> None:
    from typing import get_args

    from cdp_use.cdp.network.types import ResourceType

    assert set(get_args(ResourceType)) <= set(RESOURCE_TYPE_TO_REQUEST_TYPE)
