"""Where a host name leads, and whether we may go there.

In Lambda, a request we make to a URL a caller chose (the browser's, a webhook's) must not
reach the function's own neighbourhood: loopback (the Runtime API on 127.0.0.1:9001),
link-local (instance metadata) or private networks. A host name can point anywhere, so the
check is made on the addresses it resolves to, and the connection then goes to the address
that was checked (a second lookup could answer differently). ``BLOCK_PRIVATE_NETWORKS`` turns
the refusal off where the targets live on loopback (``browser-tasks local``, tests).
"""

import ipaddress
import socket


class DestinationRefused(Exception):
    """The host does not resolve, or resolves to an address we may not call."""


def is_public_address(address: str) -> bool:
    """True for a globally routable address (an IPv4-mapped IPv6 address is judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_global


def checked_addresses(host: str, port: int, *, refuse_private: bool) -> list[str]:
    """The addresses ``host`` resolves to, first the one to connect to.

    Raises
    ------
    DestinationRefused
        It does not resolve, or (with ``refuse_private``) any of its addresses is not public:
        one private answer is enough to refuse, since a later lookup may pick it.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise DestinationRefused(f"{host} does not resolve") from error
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise DestinationRefused(f"{host} does not resolve")
    if refuse_private and not all(is_public_address(a) for a in addresses):
        raise DestinationRefused(f"{host} resolves to a non-public address")
    return addresses


class ResolvedHosts:
    """The registration-time check of a webhook's host (the domain's ``HostCheck``)."""

    def refusal(self, host: str, port: int) -> str | None:
        try:
            checked_addresses(host, port, refuse_private=True)
        except DestinationRefused as refused:
            return str(refused)
        return None
