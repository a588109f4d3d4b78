"""An allowlisting forward proxy between Chromium and the task's upstream proxy.

Behind an upstream proxy, Chromium's resolver rules never see target hosts (the proxy resolves
them), so the allowlist has to be enforced where the requests pass: here. Chromium is started with
``--proxy-server=http://127.0.0.1:<port>`` (see :func:`.egress_chromium_args`); this proxy answers
``403`` for a host outside the allowlist, and sends allowed traffic on to the upstream proxy with
its ``Proxy-Authorization`` header, so Chromium never holds the upstream's credentials. Without an
upstream it connects to allowed hosts itself.

It speaks what Chromium sends to an HTTP proxy: ``CONNECT host:port`` for HTTPS and WebSockets,
and absolute-form requests (``GET http://host/path``) for plain HTTP. A plain-HTTP connection
carries one request: the request body is framed exactly (``Content-Length`` or chunked), the
response tells Chromium ``Connection: close``, and the connection ends, so a kept-alive
connection cannot carry a second request to another host. Anything it cannot parse strictly is
refused; any failure closes the connection. If the proxy itself stops, Chromium's requests fail
with ``ERR_PROXY_CONNECTION_FAILED`` rather than going direct.
"""

import asyncio
import base64
import contextlib
import logging
import re
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

from browser_tasks.adapters.browser.egress import PROXY_HOST, HostAllowlist
from browser_tasks.adapters.network_addresses import is_public_address

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
_COPY_CHUNK = 64 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_AUTHORITY = re.compile(r"^(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$")
_CHUNK_SIZE = re.compile(rb"^([0-9a-fA-F]{1,16})(?:;[^\r\n]*)?\r\n$")
_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 504: "Gateway Timeout"}


class _Refused(Exception):
    """A request answered with an error status and no forwarding."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class UpstreamProxy:
    """An HTTP proxy to chain allowed traffic to, and the header that authenticates to it."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> "UpstreamProxy":
        """Read ``http://user:pass@host:port`` (credentials optional, percent-decoded).

        Raises
        ------
        ValueError
            For another scheme (HTTPS and SOCKS upstreams are not supported) or a missing host.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError("the upstream proxy must be http://[user:pass@]host:port")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(host=parts.hostname, port=parts.port or 80, authorization=authorization)


@dataclass
class ProxyCounters:
    """What the proxy did, for tests and logs: one count per request (CONNECT or HTTP)."""

    allowed: int = 0
    denied: int = 0
    bad_requests: int = 0
    upstream_failures: int = 0
    private_refused: int = 0  # passed the allowlist, but resolved to a non-public address
    denied_hosts: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    authority: str


class AllowlistProxy:
    """Forward proxy that lets through only the allowed hosts (ports are not restricted).

    Use from async code::

        async with AllowlistProxy(["example.com"], upstream="http://u:p@proxy:8080") as proxy:
            args = egress_chromium_args(["example.com"], proxy_port=proxy.port)

    Parameters
    ----------
    allowed_hosts
        Normalized host patterns as for :func:`.egress_chromium_args`; ``None`` allows every
        host (the proxy then only keeps the upstream's credentials away from Chromium).
    upstream
        ``http://user:pass@host:port`` of the proxy to chain to, or ``None`` to connect directly.
    host, port
        Where to listen; port 0 picks a free one (read :attr:`port` after starting).
    connect_timeout
        Seconds to reach the upstream or the target and, through an upstream, to get its answer.
    idle_timeout
        Seconds a client connection may wait before sending its request.
    refuse_private_addresses
        Resolve each direct target and refuse it (403) if any address is loopback, link-local,
        private, reserved or unspecified, then connect to the address that was checked (so a
        second lookup cannot answer differently). In Lambda this keeps pages away from the
        Runtime API on 127.0.0.1:9001 and from the VPC, even through a public name that resolves
        to such an address, which hostname rules cannot see.
    """

    def __init__(
        self,
        allowed_hosts: Sequence[str] | None,
        upstream: str | None = None,
        *,
        host: str = PROXY_HOST,
        port: int = 0,
        connect_timeout: float = 15.0,
        idle_timeout: float = 300.0,
        refuse_private_addresses: bool = False,
    ) -> None:
        self._allowlist = (
            None if allowed_hosts is None else HostAllowlist.from_patterns(allowed_hosts)
        )
        self._upstream = None if upstream is None else UpstreamProxy.parse(upstream)
        self._listen = (host, port)
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._refuse_private = refuse_private_addresses
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.counters = ProxyCounters()

    @property
    def port(self) -> int:
        """The port Chromium should use (``--proxy-server=http://127.0.0.1:<port>``)."""
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen; return once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._stopping = False
        self._server = await asyncio.start_server(
            self._serve, *self._listen, limit=MAX_HEAD_BYTES, reuse_address=True
        )

    async def stop(self) -> None:
        """Stop listening and end every open connection and tunnel."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping = True
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def allows(self, host: str) -> bool:
        """Whether a request to ``host`` would be forwarded."""
        return self._allowlist is None or self._allowlist.allows(host)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except _Refused as refused:
            if refused.status == 400:
                self.counters.bad_requests += 1
            elif refused.status in (502, 504):
                self.counters.upstream_failures += 1
            logger.debug("proxy refused a request: %s %s", refused.status, refused)
            await _send_status(writer, refused.status)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            logger.debug("proxy connection ended", exc_info=True)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cancelled by stop(): end quietly (asyncio logs a cancelled connection callback).
        except Exception:
            logger.exception("proxy connection failed; closing it")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one request; raise :class:`_Refused` before anything was sent to the client."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._idle_timeout)
        except asyncio.LimitOverrunError as error:
            raise _Refused(400, "request head too large") from error
        except (asyncio.IncompleteReadError, TimeoutError):
            return  # the client went away (or stayed idle) before asking anything
        method, target, headers = _parse_request_head(head)
        destination = _parse_target(method, target)
        if not self.allows(destination.host):
            self.counters.denied += 1
            self.counters.denied_hosts[destination.host] += 1
            logger.info("proxy denied %s %s", method, destination.authority)
            raise _Refused(403, f"{destination.host} is not in allowed_domains")
        self.counters.allowed += 1
        if method == "CONNECT":
            await self._tunnel(destination, reader, writer)
        else:
            await self._forward(method, target, destination, headers, reader, writer)

    async def _open(
        self, destination: _Target
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = (
            (self._upstream.host, self._upstream.port)
            if self._upstream
            else (destination.host.strip("[]"), destination.port)
        )
        if self._refuse_private and not self._upstream:
            host = await self._public_address(host, port)
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=MAX_HEAD_BYTES), self._connect_timeout
            )
        except TimeoutError as error:
            raise _Refused(504, f"timed out connecting to {host}:{port}") from error
        except OSError as error:
            raise _Refused(502, f"cannot connect to {host}:{port}: {error}") from error

    async def _public_address(self, host: str, port: int) -> str:
        """The first address ``host`` resolves to, if every one of them is public."""
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                self._connect_timeout,
            )
        except (OSError, TimeoutError) as error:
            raise _Refused(502, f"cannot resolve {host}: {error}") from error
        addresses = [str(info[4][0]) for info in infos]
        if not all(is_public_address(address) for address in addresses):
            self.counters.private_refused += 1
            raise _Refused(403, f"{host} resolves to a non-public address")
        return addresses[0]

    async def _tunnel(
        self, destination: _Target, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        remote_reader, remote_writer = await self._open(destination)
        try:
            if self._upstream is not None:
                request = [f"CONNECT {destination.authority} HTTP/1.1"]
                request.append(f"Host: {destination.authority}")
                if self._upstream.authorization:
                    request.append(f"Proxy-Authorization: {self._upstream.authorization}")
                remote_writer.write(("\r\n".join(request) + "\r\n\r\n").encode("latin-1"))
                status = await self._upstream_status(remote_reader)
                if not 200 <= status < 300:
                    raise _Refused(502, f"upstream answered CONNECT with {status}")
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await _splice(reader, writer, remote_reader, remote_writer)
        finally:
            remote_writer.close()

    async def _upstream_status(self, remote_reader: asyncio.StreamReader) -> int:
        try:
            head = await asyncio.wait_for(
                remote_reader.readuntil(b"\r\n\r\n"), self._connect_timeout
            )
        except TimeoutError as error:
            raise _Refused(504, "the upstream proxy did not answer") from error
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as error:
            raise _Refused(502, "the upstream proxy closed or sent garbage") from error
        return _status_of(head)

    async def _forward(
        self,
        method: str,
        target: str,
        destination: _Target,
        headers: list[tuple[str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        body_length, chunked = _body_framing(headers)
        path = target[len("http://") + len(destination.authority) :]
        if not path.startswith("/"):
            path = "/" + path
        if self._upstream is not None:
            request_line = f"{method} http://{destination.authority}{path} HTTP/1.1"
        else:
            request_line = f"{method} {path} HTTP/1.1"
        lines = [request_line, f"Host: {destination.authority}"]
        dropped = _HOP_BY_HOP | _connection_tokens(headers) | {"host", "content-length"}
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in dropped]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif body_length is not None:
            lines.append(f"Content-Length: {body_length}")
        if self._upstream is not None and self._upstream.authorization:
            lines.append(f"Proxy-Authorization: {self._upstream.authorization}")
        lines.append("Connection: close")

        remote_reader, remote_writer = await self._open(destination)
        try:
            remote_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if chunked:
                await _copy_chunked(reader, remote_writer)
            elif body_length:
                await _copy_exactly(reader, remote_writer, body_length)
            await remote_writer.drain()
            try:
                response_head = await remote_reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                raise _Refused(502, "no valid response head") from error
            status = _status_of(response_head)
            if self._upstream is not None and status == 407:
                raise _Refused(502, "the upstream proxy refused our credentials")
            writer.write(_closing_response_head(response_head))
            await _relay_response_body(remote_reader, writer, reader)
        finally:
            remote_writer.close()


def _parse_request_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refused(400, "malformed request line")
    if not all("!" <= char <= "~" for char in parts[1]):
        raise _Refused(400, "request target must be printable ASCII")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name) or any(ord(c) < 32 and c != "\t" for c in value):
            raise _Refused(400, "malformed header line")
        headers.append((name, value.strip()))
    return parts[0], parts[1], headers


def _parse_target(method: str, target: str) -> _Target:
    if method == "CONNECT":
        authority = target.lower()
        match = _AUTHORITY.match(authority)
        if not match or match["port"] is None:
            raise _Refused(400, "CONNECT needs host:port")
        default_port = 443
    else:
        if not target.lower().startswith("http://"):
            raise _Refused(400, "only absolute http:// requests are proxied")
        rest = target[len("http://") :]
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority = rest[:end]
        if authority != authority.lower() or "#" in rest:
            raise _Refused(400, "not a canonical URL")
        match = _AUTHORITY.match(authority)
        if not match:
            raise _Refused(400, "malformed host in URL")
        default_port = 80
    port = int(match["port"]) if match["port"] else default_port
    if not 0 < port < 65536:
        raise _Refused(400, "port out of range")
    return _Target(host=match["host"], port=port, authority=authority)


def _body_framing(headers: list[tuple[str, str]]) -> tuple[int | None, bool]:
    """``(content_length, chunked)``; refuse anything two parsers could read differently."""
    lengths = [value for name, value in headers if name.lower() == "content-length"]
    encodings = [value.lower() for name, value in headers if name.lower() == "transfer-encoding"]
    if encodings:
        if encodings != ["chunked"] or lengths:
            raise _Refused(400, "unsupported Transfer-Encoding")
        return None, True
    if not lengths:
        return None, False
    if len(lengths) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 15:
        raise _Refused(400, "bad Content-Length")
    return int(lengths[0]), False


def _connection_tokens(headers: list[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() in ("connection", "proxy-connection"):
            tokens.update(token.strip().lower() for token in value.split(","))
    return tokens


def _status_of(response_head: bytes) -> int:
    parts = response_head.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _Refused(502, "malformed status line")
    return int(parts[1])


def _closing_response_head(response_head: bytes) -> bytes:
    """The response head with ``Connection: close`` so Chromium does not reuse the connection."""
    lines = response_head[:-4].split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name not in (b"connection", b"proxy-connection", b"keep-alive"):
            kept.append(line)
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n"


async def _send_status(writer: asyncio.StreamWriter, status: int) -> None:
    text = _STATUS_TEXT.get(status, "Error")
    body = f"{status} {text}\n".encode()
    head = (
        f"HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(Exception):
        writer.write(head.encode("ascii") + body)
        await writer.drain()


async def _copy_exactly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int
) -> None:
    remaining = length
    while remaining:
        data = await reader.readexactly(min(remaining, _COPY_CHUNK))
        writer.write(data)
        remaining -= len(data)
        await writer.drain()


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one chunked body as it is, stopping exactly after its last chunk and trailers."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        match = _CHUNK_SIZE.match(size_line)
        if not match:
            raise _Refused(400, "bad chunk size")
        size = int(match[1], 16)
        writer.write(size_line)
        if size == 0:
            break
        await _copy_exactly(reader, writer, size)
        if await reader.readexactly(2) != b"\r\n":
            raise _Refused(400, "bad chunk end")
        writer.write(b"\r\n")
    while True:  # trailers, then the empty line
        line = await reader.readuntil(b"\r\n")
        writer.write(line)
        if line == b"\r\n":
            break
    await writer.drain()


async def _copy_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_COPY_CHUNK):
        writer.write(data)
        await writer.drain()


async def _relay_response_body(
    remote_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    client_reader: asyncio.StreamReader,
) -> None:
    """Copy the response until the server closes or the client does.

    Whatever else the client sends (a pipelined request) is read and dropped, never forwarded:
    a connection carries one request.
    """

    async def drain_client() -> None:
        while await client_reader.read(_COPY_CHUNK):
            pass

    pumps = [
        asyncio.create_task(_copy_until_eof(remote_reader, client_writer)),
        asyncio.create_task(drain_client()),
    ]
    await _until_first_ends(pumps)


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    remote_reader: asyncio.StreamReader,
    remote_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side closes, then end both."""
    pumps = [
        asyncio.create_task(_copy_until_eof(client_reader, remote_writer)),
        asyncio.create_task(_copy_until_eof(remote_reader, client_writer)),
    ]
    await _until_first_ends(pumps)


async def _until_first_ends(pumps: list[asyncio.Task[None]]) -> None:
    """Wait for the first copy to end (one side closed), then end the others."""
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
