"""Host patterns as v1 callers write them in ``allowed_domains`` and domain-scoped secrets.

The browser's egress guard works on host names (Chromium's resolver rules), so a pattern is a
host, not a URL: ``example.com``, ``*.example.com``, ``localhost`` or an IPv4 literal. Ports,
paths and wildcards anywhere but the leftmost label are rejected rather than half-honoured.
"""

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SCHEME_PREFIX = re.compile(r"^(https?|http\*)://", re.IGNORECASE)
MAX_HOST_LENGTH = 253


def normalize_host_pattern(value: str) -> str:
    """Return ``value`` lower-cased if it is a host pattern, else raise ``ValueError``.

    Parameters
    ----------
    value
        ``example.com``, ``*.example.com``, ``localhost`` or an IPv4 address.

    Raises
    ------
    ValueError
        With a message that says what is wrong and what is expected.
    """
    host = value.strip().lower()
    if not host:
        raise ValueError("must not be empty")
    if "://" in host or "/" in host:
        raise ValueError(f"{value!r} is a URL; give a host name like example.com or *.example.com")
    if ":" in host:
        raise ValueError(f"{value!r} has a port; patterns match host names on any port")
    if len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"host names are at most {MAX_HOST_LENGTH} characters")
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if "*" in name:
        raise ValueError(
            f"{value!r}: a wildcard may only be the leftmost label, as in *.example.com "
            "(TLD wildcards like example.* are not allowed)"
        )
    if _is_ipv4(name):
        if wildcard:
            raise ValueError(f"{value!r}: an IP address takes no wildcard")
        return host
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a valid host name (letters, digits and hyphens, dot-separated)"
        )
    if wildcard and len(labels) < 2:
        raise ValueError(f"{value!r} would match a whole top-level domain")
    if labels[-1].isdigit():
        raise ValueError(f"{value!r} is not a valid host name or IPv4 address")
    return host


def normalize_secret_scope(value: str) -> str:
    """Validate the key of a domain-scoped secrets group (``https://*.example.com``).

    browser-use matches these keys against the page URL, so an optional ``http://``,
    ``https://`` or ``http*://`` prefix is kept; the rest must be a host pattern.
    """
    match = _SCHEME_PREFIX.match(value.strip())
    prefix = match.group(0).lower() if match else ""
    return prefix + normalize_host_pattern(value.strip()[len(prefix) :])


def _is_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True
