import pytest

from browser_tasks.models.host_patterns import normalize_host_pattern, normalize_secret_scope


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("example.com", "example.com"),
        ("*.Example.COM", "*.example.com"),
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("sub-domain.a1.example.co.uk", "sub-domain.a1.example.co.uk"),
        ("  padded.example.com ", "padded.example.com"),
    ],
)
def test_accepts_hosts_and_leftmost_wildcards(given: str, expected: str) -> None:
    assert normalize_host_pattern(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "empty"),
        ("*", "wildcard"),
        ("example.*", "TLD wildcards"),
        ("*.com", "top-level domain"),
        ("a.*.example.com", "leftmost"),
        ("https://example.com", "URL"),
        ("example.com/path", "URL"),
        ("example.com:443", "port"),
        ("-bad.example.com", "not a valid host"),
        ("bad-.example.com", "not a valid host"),
        ("a..b.com", "not a valid host"),
        ("exa mple.com", "not a valid host"),
        ("*.10.0.0.1", "IP address takes no wildcard"),
        ("300.1.1.1", "not a valid host"),
        ("x" * 64 + ".com", "not a valid host"),
        ("a." * 127 + "com", "at most 253"),
    ],
)
def test_rejects_non_hosts_with_a_reason(given: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_host_pattern(given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://*.Example.com", "https://*.example.com"),
        ("http*://example.com", "http*://example.com"),
        ("example.com", "example.com"),
    ],
)
def test_secret_scopes_keep_their_scheme(given: str, expected: str) -> None:
    assert normalize_secret_scope(given) == expected


def test_secret_scope_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="URL"):
        normalize_secret_scope("ftp://example.com")
