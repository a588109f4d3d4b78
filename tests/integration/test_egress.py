"""The egress guard against real Chromium: nothing reaches a disallowed host, by any route.

A "disallowed" host listens on 127.0.0.2 (one TCP and one UDP port per route, so every hit is
attributed: any TCP connection or datagram counts, even one that never sends a request). It is
also named: ``evil.test`` (mapped to 127.0.0.2 only where the guard is off, or by the upstream
proxy) and ``evil.localhost`` (which Chromium itself resolves to 127.0.0.1, where each route has
another listening port). The allowed host is 127.0.0.1; its pages try every route FINDINGS.md
lists against all three spellings of the disallowed host.
"""

import asyncio
import base64
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from browser_tasks.adapters.browser import (
    AllowlistProxy,
    browser_use_allowed_domains,
    egress_chromium_args,
    guarded_launch_args,
    verify_launch_args,
)

CHROMIUM = Path("/usr/lib/chromium/chromium")
ALLOWED_HOST = "127.0.0.1"
EVIL_IP = "127.0.0.2"
UPSTREAM_USER, UPSTREAM_PASSWORD = "proxy-user", "s3cret:pass"
SETTLE_SECONDS = 2.0

# --------------------------------------------------------------------------------------------
# Routes. Subresource routes all run in one page; navigation routes each get a top-level tab.
# Placeholders: {u} http URL, {host} {port} TCP endpoint, {udp} UDP port, {n} a unique id.
# --------------------------------------------------------------------------------------------
SUBRESOURCE_ROUTES: dict[str, str] = {
    "img": '<img src="{u}">',
    "img_via_302": '<img src="/redirect?to={q}">',
    "css": '<link rel="stylesheet" href="{u}">',
    "css_import": '<style>@import url("{u}");</style>',
    "css_background": "<div style=\"background-image:url('{u}')\">bg</div>",
    "font": '<style>@font-face{{font-family:f{n};src:url("{u}")}}</style>'
    '<span style="font-family:f{n}">font</span>',
    "script": '<script async src="{u}"></script>',
    "video": '<video src="{u}" preload="auto" muted autoplay></video>',
    "audio": '<audio src="{u}" preload="auto"></audio>',
    "svg_image": '<svg width="9" height="9"><image href="{u}" width="9" height="9"/></svg>',
    "object": '<object data="{u}" width="9" height="9"></object>',
    "iframe": '<iframe src="{u}"></iframe>',
    "iframe_srcdoc": "<iframe srcdoc=\"<img src='{u}'>\"></iframe>",
    "fetch": '<script>fetch("{u}",{{mode:"no-cors"}}).catch(()=>0)</script>',
    "xhr": '<script>try{{const x=new XMLHttpRequest();x.open("GET","{u}");x.send()}}catch(e){{}}</script>',
    "beacon": '<script>try{{navigator.sendBeacon("{u}","x")}}catch(e){{}}</script>',
    "eventsource": '<script>try{{keep.push(new EventSource("{u}"))}}catch(e){{}}</script>',
    "dynamic_import": '<script>import("{u}").catch(()=>0)</script>',
    "dedicated_worker": "<script>try{{keep.push(new Worker(URL.createObjectURL(new Blob("
    "['fetch(\"{u}\").catch(()=>0)']))))}}catch(e){{}}</script>",
    "shared_worker": "<script>try{{keep.push(new SharedWorker(URL.createObjectURL(new Blob("
    "['fetch(\"{u}\").catch(()=>0)']))))}}catch(e){{}}</script>",
    "service_worker": '<script>navigator.serviceWorker.register("/sw.js?u={q}",'
    '{{scope:"/sw-scope/{n}/"}}).catch(()=>0)</script>',
    "prefetch": '<link rel="prefetch" href="{u}">',
    "preload": '<link rel="preload" as="image" href="{u}">',
    "modulepreload": '<link rel="modulepreload" href="{u}">',
    "speculation_prefetch": '<script type="speculationrules">'
    '{{"prefetch":[{{"source":"list","urls":["{u}"],"eagerness":"immediate"}}]}}</script>',
    "speculation_prerender": '<script type="speculationrules">'
    '{{"prerender":[{{"source":"list","urls":["{u}"],"eagerness":"immediate"}}]}}</script>',
    "websocket": '<script>try{{keep.push(new WebSocket("ws://{host}:{port}/ws"))}}catch(e){{}}</script>',
    "webtransport": '<script>try{{new WebTransport("https://{host}:{udp}/wt").ready.catch(()=>0)}}'
    "catch(e){{}}</script>",
    "webrtc_stun": '<script>rtc({{urls:"stun:{host}:{udp}"}})</script>',
    "webrtc_turn_udp": '<script>rtc({{urls:"turn:{host}:{udp}?transport=udp",username:"u",'
    'credential:"p"}})</script>',
    "webrtc_turn_tcp": '<script>rtc({{urls:"turn:{host}:{port}?transport=tcp",username:"u",'
    'credential:"p"}})</script>',
    "window_open": '<script>try{{window.open("{u}")}}catch(e){{}}</script>',
    "target_blank": '<a id="b{n}" target="_blank" href="{u}">new tab</a>'
    '<script>document.getElementById("b{n}").click()</script>',
    "a_ping": '<a id="p{n}" ping="{u}" href="#x">ping</a>'
    '<script>document.getElementById("p{n}").click()</script>',
}
# Added to the page's response headers instead of its body.
HEADER_ROUTES: dict[str, str] = {
    "link_header_preload": "<{u}>; rel=preload; as=image",
}
# Preconnects get a page of their own: among the combined page's many loads Chromium skips them.
PRECONNECT_ROUTES: dict[str, str] = {
    "preconnect": '<link rel="preconnect" href="http://{host}:{port}">',
}
PRECONNECT_HEADER_ROUTES: dict[str, str] = {
    "link_header_preconnect": "<http://{host}:{port}>; rel=preconnect",
}
NAVIGATION_ROUTES: dict[str, str] = {
    "navigate": "",  # the tab is opened at the disallowed URL itself
    "redirect_302": "",  # the tab is opened at /redirect?to=<disallowed URL>
    "js_location": '<script>location.href="{u}"</script>',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url={u}">',
    "link_click": '<a id="a" href="{u}">go</a><script>document.getElementById("a").click()</script>',
    "form_post": '<form method="post" action="{u}"><input name="a" value="b"></form>'
    "<script>document.forms[0].submit()</script>",
    "download": '<a id="a" href="{u}" download>dl</a><script>document.getElementById("a").click()</script>',
    "iframe_top_navigation": "<iframe srcdoc=\"<script>top.location='{u}'</script>\"></iframe>",
}
ALL_ROUTES = [
    *SUBRESOURCE_ROUTES,
    *HEADER_ROUTES,
    *PRECONNECT_ROUTES,
    *PRECONNECT_HEADER_ROUTES,
    *NAVIGATION_ROUTES,
]
# How a page may spell the disallowed host: its IP, the same IP as IPv4-mapped IPv6, a name that
# only a MAP rule or the upstream resolves, and a name Chromium resolves itself.
TARGET_HOSTS = {
    "ip": EVIL_IP,
    "mapped": f"[::ffff:{EVIL_IP}]",
    "evil.test": "evil.test",
    "evil.localhost": "evil.localhost",
}
TARGETS = tuple(TARGET_HOSTS)
# Each navigation route costs a tab per spelling; the IPv6 spelling only gets the plain one.
NAVIGATION_TARGETS = ("ip", "evil.test", "evil.localhost")

COMBINED_HEAD = """<!doctype html><meta charset="utf-8"><title>allowed</title><script>
const keep = [];
function rtc(server) {
  try {
    const pc = new RTCPeerConnection({iceServers: [server], iceTransportPolicy: "all"});
    keep.push(pc); pc.createDataChannel("d");
    pc.createOffer().then((o) => pc.setLocalDescription(o)).catch(() => 0);
  } catch (e) {}
}
</script>
"""
COMBINED_TAIL = """<script>
async function check() {
  const r = {};
  try { r.fetch = await (await fetch("/ok")).text(); } catch (e) { r.fetch = String(e); }
  r.ws = await new Promise((resolve) => {
    try {
      const ws = new WebSocket(`ws://${location.host}/echo`);
      ws.onmessage = (m) => resolve(m.data); ws.onerror = () => resolve("error");
    } catch (e) { resolve(String(e)); }
    setTimeout(() => resolve("timeout"), 4000);
  });
  await fetch("/loaded/combined?" + new URLSearchParams(r));
}
check();
</script>"""
SERVICE_WORKER = """const u = new URL(location).searchParams.get("u");
self.addEventListener("install", (e) => e.waitUntil(fetch(u, {mode: "no-cors"}).catch(() => 0)));
"""
BENCH_PAGE = """<!doctype html><title>bench</title><script>
async function bench(n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await (await fetch("/ping?" + i)).text();
    times.push(performance.now() - start);
  }
  return times;
}
</script>"""


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------
async def _read_head(reader: asyncio.StreamReader, timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        return None


def _headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
    }


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with suppress(Exception):
        await writer.wait_closed()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TcpServers:
    """asyncio servers whose open connections end quietly when the servers stop."""

    def __init__(self) -> None:
        self.servers: list[asyncio.Server] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def listen(self, handler: Handler, host: str, port: int = 0) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await handler(reader, writer)
            except asyncio.CancelledError:
                pass  # the server is stopping
            finally:
                self.tasks.discard(task)
                writer.close()

        server = await asyncio.start_server(tracked, host, port)
        self.servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class DisallowedHost:
    """Counts every TCP connection and UDP datagram on its ports, attributed to a route."""

    tcp_ports: dict[str, int] = field(default_factory=dict)  # route -> port on 127.0.0.2
    udp_ports: dict[str, int] = field(default_factory=dict)
    name_ports: dict[str, int] = field(default_factory=dict)  # route -> port on 127.0.0.1
    name_udp_ports: dict[str, int] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    servers: TcpServers = field(default_factory=TcpServers)
    transports: list[asyncio.DatagramTransport] = field(default_factory=list)

    def port(self, route: str, target: str) -> int:
        return (self.name_ports if target == "evil.localhost" else self.tcp_ports)[route]

    def udp_port(self, route: str, target: str) -> int:
        return (self.name_udp_ports if target == "evil.localhost" else self.udp_ports)[route]

    def total(self) -> int:
        return sum(self.hits.values())

    async def start(self, routes: Iterable[str]) -> None:
        loop = asyncio.get_running_loop()
        for route in routes:
            for ip, ports, udp in (
                (EVIL_IP, self.tcp_ports, self.udp_ports),
                (ALLOWED_HOST, self.name_ports, self.name_udp_ports),
            ):
                ports[route] = await self.servers.listen(self._tcp_handler(route), ip)
                transport, _ = await loop.create_datagram_endpoint(
                    partial(_UdpCounter, self.hits, route), local_addr=(ip, 0)
                )
                self.transports.append(transport)
                udp[route] = transport.get_extra_info("sockname")[1]

    def _tcp_handler(self, route: str) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.hits[route] += 1
            head = await _read_head(reader, 1.0)
            if head is not None:
                extra = (
                    "Content-Disposition: attachment; filename=x.bin\r\n"
                    if "download" in route
                    else ""
                )
                body = b"hit"
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{extra}"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                with suppress(Exception):
                    await writer.drain()
            await _close(writer)

        return handle

    async def stop(self) -> None:
        await self.servers.stop()
        for transport in self.transports:
            transport.close()


class _UdpCounter(asyncio.DatagramProtocol):
    def __init__(self, hits: Counter[str], route: str) -> None:
        self.hits, self.route = hits, route

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.hits[self.route] += 1


@dataclass
class AllowedSite:
    """The allowed host: route pages, a redirector, a WebSocket echo, keep-alive, TCP_NODELAY."""

    evil: DisallowedHost
    requests: list[str] = field(default_factory=list)
    loaded: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    servers: TcpServers = field(default_factory=TcpServers)
    port: int = 0

    @property
    def origin(self) -> str:
        return f"http://{ALLOWED_HOST}:{self.port}"

    def target_url(self, route: str, target: str) -> str:
        host = TARGET_HOSTS[target]
        return f"http://{host}:{self.evil.port(route, target)}/hit/{route}/{target}"

    def _fill(self, template: str, route: str, target: str, n: int) -> str:
        url = self.target_url(route, target)
        host = TARGET_HOSTS[target]
        return template.format(
            u=url,
            q=quote(url, safe=""),
            host=host,
            port=self.evil.port(route, target),
            udp=self.evil.udp_port(route, target),
            n=n,
        )

    def route_page(
        self, body_routes: dict[str, str], header_routes: dict[str, str], head: str, tail: str
    ) -> tuple[str, list[str]]:
        parts = [head]
        n = 0
        for route, template in body_routes.items():
            for target in TARGETS:
                n += 1
                parts.append(self._fill(template, route, target, n))
        links = [
            self._fill(template, route, target, 0)
            for route, template in header_routes.items()
            for target in TARGETS
        ]
        return "\n".join([*parts, tail]), links

    def navigation_urls(self) -> list[str]:
        urls = []
        for route in NAVIGATION_ROUTES:
            for target in TARGETS if route == "navigate" else NAVIGATION_TARGETS:
                if route == "navigate":
                    urls.append(self.target_url(route, target))
                elif route == "redirect_302":
                    urls.append(
                        f"{self.origin}/redirect?to={quote(self.target_url(route, target))}"
                    )
                else:
                    urls.append(f"{self.origin}/nav/{route}/{target}")
        return urls

    async def start(self) -> None:
        self.port = await self.servers.listen(self._serve, ALLOWED_HOST)

    async def stop(self) -> None:
        await self.servers.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (head := await _read_head(reader, 30.0)) is not None:
                target = head.split(b" ", 2)[1]
                headers = _headers_of(head)
                if length := int(headers.get("content-length", "0")):
                    await reader.readexactly(length)
                path = target.decode()
                if path.startswith("http://"):  # absolute form would mean a proxy bug
                    path = "/" + path.split("/", 3)[3]
                self.requests.append(path)
                if path == "/echo":
                    await self._websocket(headers, writer)
                    return
                status, ctype, body, extra = self._respond(path)
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}"
                    f"\r\nCache-Control: no-store\r\n{extra}\r\n".encode()
                    + body
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await _close(writer)

    def _respond(self, path: str) -> tuple[str, str, bytes, str]:
        parts = urlsplit(path)
        html = "text/html; charset=utf-8"
        if parts.path in ("/combined", "/preconnect"):
            page, links = (
                self.route_page(SUBRESOURCE_ROUTES, HEADER_ROUTES, COMBINED_HEAD, COMBINED_TAIL)
                if parts.path == "/combined"
                else self.route_page(
                    PRECONNECT_ROUTES, PRECONNECT_HEADER_ROUTES, "<title>p</title>", ""
                )
            )
            return "200 OK", html, page.encode(), "".join(f"Link: {link}\r\n" for link in links)
        if parts.path.startswith("/nav/"):
            _, _, route, target = parts.path.split("/")
            page = '<!doctype html><meta charset="utf-8"><title>nav</title>'
            page += self._fill(NAVIGATION_ROUTES[route], route, target, 0)
            return "200 OK", html, page.encode(), ""
        if parts.path == "/redirect":
            location = parse_qs(parts.query)["to"][0]
            return "302 Found", "text/plain", b"", f"Location: {location}\r\n"
        if parts.path == "/sw.js":
            return "200 OK", "text/javascript", SERVICE_WORKER.encode(), ""
        if parts.path.startswith("/loaded/"):
            self.loaded[parts.path[len("/loaded/") :]] = parse_qs(parts.query)
            return "204 No Content", "text/plain", b"", ""
        if parts.path == "/bench":
            return "200 OK", html, BENCH_PAGE.encode(), ""
        if parts.path in ("/ok", "/ping"):
            return "200 OK", "text/plain", b"ok", ""
        if parts.path == "/page":
            return "200 OK", html, b"<!doctype html><title>allowed page</title><p>hello", ""
        return "404 Not Found", "text/plain", b"", ""

    async def _websocket(self, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        accept = base64.b64encode(
            hashlib.sha1((headers["sec-websocket-key"] + magic).encode()).digest()  # noqa: S324
        ).decode()
        writer.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            + b"\x81\x05hello"
        )
        await writer.drain()
        await asyncio.sleep(1.0)


@dataclass
class UpstreamRecord:
    method: str
    authority: str
    auth_ok: bool


class RecordingUpstream:
    """A stand-in for the task's upstream proxy: checks Basic auth, records, resolves names.

    It resolves ``evil.test`` and ``*.localhost`` itself, as a real proxy on the internet would
    resolve any name, so only the allowlisting proxy stands between Chromium and those hosts.
    """

    def __init__(self) -> None:
        pair = f"{UPSTREAM_USER}:{UPSTREAM_PASSWORD}".encode()
        self.expected = "Basic " + base64.b64encode(pair).decode()
        self.records: list[UpstreamRecord] = []
        self.servers = TcpServers()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{UPSTREAM_USER}:{quote(UPSTREAM_PASSWORD, safe='')}@127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.port = await self.servers.listen(self._serve, "127.0.0.1")

    async def stop(self) -> None:
        await self.servers.stop()

    @staticmethod
    def resolve(host: str) -> str:
        if host == "evil.test":
            return EVIL_IP
        if host == "localhost" or host.endswith(".localhost"):
            return "127.0.0.1"
        return host

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await _read_head(reader, 10.0)
            if head is None:
                return
            method, target, _ = head.decode("latin-1").split("\r\n", 1)[0].split(" ")
            headers = _headers_of(head)
            auth_ok = headers.get("proxy-authorization") == self.expected
            authority = target if method == "CONNECT" else urlsplit(target).netloc
            self.records.append(UpstreamRecord(method, authority, auth_ok))
            if not auth_ok:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                )
                await writer.drain()
                return
            host, _, port = authority.rpartition(":")
            remote_reader, remote_writer = await asyncio.open_connection(
                self.resolve(host.strip("[]")), int(port or 80)
            )
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                path = target.split("/", 3)[3] if target.count("/") >= 3 else ""
                lines = head.decode("latin-1").split("\r\n")
                kept = [line for line in lines[1:] if not line.lower().startswith("proxy-")]
                request = "\r\n".join([f"{method} /{path} HTTP/1.1", *kept])
                remote_writer.write(request.encode("latin-1"))
            await asyncio.gather(_pipe(reader, remote_writer), _pipe(remote_reader, writer))
        except (OSError, ValueError):
            pass
        finally:
            await _close(writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with suppress(Exception):
            writer.close()


# --------------------------------------------------------------------------------------------
# Chromium through browser-use
# --------------------------------------------------------------------------------------------
@pytest.fixture
def chromium_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chromium and browser-use present, quiet, and no proxy variables inherited."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed")
    pytest.importorskip("browser_use")
    for name, value in {
        "ANONYMIZED_TELEMETRY": "false",
        "BROWSER_USE_VERSION_CHECK": "false",
        "BROWSER_USE_LOGGING_LEVEL": "warning",
        "BROWSER_USE_CLOUD_SYNC": "false",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


class Browser:
    """Chromium started with browser-use's exact launch arguments, driven over raw CDP.

    ``BrowserProfile.get_args()`` is what browser-use would start Chromium with (its defaults,
    de-duplication and ``--disable-features`` merging included); driving the pages over a bare
    DevTools connection keeps the library's watchdogs out of the measurement (under a
    ``BrowserSession`` a page's ``window.open`` freezes its renderer, which hides that route).
    """

    def __init__(self, websocket: Any, launch_args: list[str]) -> None:
        self.websocket = websocket
        self.launch_args = launch_args
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with suppress(Exception):
            async for raw in self.websocket:
                message = json.loads(raw)
                future = self._pending.pop(message.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(message)

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self.websocket.send(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        result: dict[str, Any] = answer["result"]
        return result

    async def open_tabs(self, urls: list[str], *, background: bool = False) -> list[str]:
        created = await asyncio.gather(
            *(self.call("Target.createTarget", {"url": u, "background": background}) for u in urls)
        )
        return [tab["targetId"] for tab in created]

    async def evaluate(self, target_id: str, expression: str, timeout: float = 30) -> Any:
        attached = await self.call(
            "Target.attachToTarget", {"targetId": target_id, "flatten": True}
        )
        result = await self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session_id=attached["sessionId"],
            timeout=timeout,
        )
        return result["result"].get("value")


def browser_use_launch_args(
    args: list[str], allowed_domains: list[str] | None, user_data_dir: Path
) -> list[str]:
    from browser_use import BrowserProfile

    profile = BrowserProfile(
        executable_path=str(CHROMIUM),
        headless=True,
        chromium_sandbox=False,
        enable_default_extensions=False,
        args=args,
        allowed_domains=allowed_domains,
        user_data_dir=user_data_dir,
    )
    launch_args: list[str] = profile.get_args()
    return launch_args


@asynccontextmanager
async def chromium(args: list[str], allowed_domains: list[str] | None) -> AsyncIterator[Browser]:
    """Chromium started as browser-use would start it with ``args``, on a fresh profile."""
    import websockets

    user_data_dir = Path(tempfile.mkdtemp(prefix="egress-test-"))
    launch_args = browser_use_launch_args(args, allowed_domains, user_data_dir)
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        *launch_args,
        "--remote-debugging-port=0",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = user_data_dir / "DevToolsActivePort"
        assert await wait_for(port_file.exists, 15), "Chromium did not start"
        await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
            browser = Browser(ws, launch_args)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        with suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        for _ in range(20):  # its child processes may still be writing into the profile
            shutil.rmtree(user_data_dir, ignore_errors=True)
            if not user_data_dir.exists():
                break
            await asyncio.sleep(0.1)


async def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@dataclass
class RouteRun:
    hits: Counter[str]
    site: AllowedSite
    seconds: float


@asynccontextmanager
async def sites() -> AsyncIterator[tuple[DisallowedHost, AllowedSite]]:
    evil = DisallowedHost()
    await evil.start(ALL_ROUTES)
    site = AllowedSite(evil)
    await site.start()
    try:
        yield evil, site
    finally:
        await site.stop()
        await evil.stop()


async def try_every_route(browser: Browser, evil: DisallowedHost, site: AllowedSite) -> RouteRun:
    """Open the combined page and every navigation tab, wait for them, then settle."""
    start = time.monotonic()
    await browser.open_tabs([f"{site.origin}/preconnect"])
    await asyncio.sleep(0.5)
    await browser.open_tabs(site.navigation_urls(), background=True)
    await browser.open_tabs([f"{site.origin}/combined"])
    await wait_for(lambda: "combined" in site.loaded, 10)
    await asyncio.sleep(SETTLE_SECONDS)
    return RouteRun(hits=Counter(evil.hits), site=site, seconds=time.monotonic() - start)


def assert_allowed_site_works(site: AllowedSite) -> None:
    combined = site.loaded.get("combined")
    assert combined == {"fetch": ["ok"], "ws": ["hello"]}, combined
    served = {path.split("?")[0] for path in site.requests}
    expected = {
        f"/nav/{route}/{target}"
        for route in NAVIGATION_ROUTES
        if route not in ("navigate", "redirect_302")
        for target in NAVIGATION_TARGETS
    }
    assert expected <= served, sorted(expected - served)
    assert "/redirect" in served


# --------------------------------------------------------------------------------------------
# Tests with Chromium
# --------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("chromium_env")
def test_without_the_guard_most_routes_reach_the_disallowed_host() -> None:
    """Control: the same pages with only browser-use's allowed_domains do leak."""

    async def scenario() -> RouteRun:
        async with sites() as (evil, site):
            # Only for the control: let the name evil.test reach the disallowed host.
            args = [f"--host-resolver-rules=MAP evil.test {EVIL_IP}"]
            async with chromium(args, browser_use_allowed_domains([ALLOWED_HOST])) as browser:
                return await try_every_route(browser, evil, site)

    run = asyncio.run(scenario())
    leaked = {route for route in ALL_ROUTES if run.hits[route]}
    print(
        f"control: {len(leaked)}/{len(ALL_ROUTES)} routes leaked in {run.seconds:.1f}s;",
        "not leaking:",
        sorted(set(ALL_ROUTES) - leaked),
    )
    assert len(leaked) >= 0.75 * len(ALL_ROUTES), sorted(set(ALL_ROUTES) - leaked)
    for route in ("navigate", "websocket", "webrtc_stun", "webrtc_turn_udp"):
        assert run.hits[route], route


@pytest.mark.usefixtures("chromium_env")
def test_resolver_rules_keep_every_route_inside_allowed_domains() -> None:
    """Direct mode: Chromium resolves nothing but the allowed host."""

    async def scenario() -> RouteRun:
        async with sites() as (evil, site):
            egress = egress_chromium_args([ALLOWED_HOST])
            args = guarded_launch_args(["--proxy-server=http://198.51.100.1:1"], egress)
            async with chromium(args, browser_use_allowed_domains([ALLOWED_HOST])) as browser:
                verify_launch_args(browser.launch_args, egress)
                return await try_every_route(browser, evil, site)

    run = asyncio.run(scenario())
    print(f"resolver rules: hits {dict(run.hits)} in {run.seconds:.1f}s")
    assert run.hits == Counter()
    assert_allowed_site_works(run.site)


@pytest.mark.usefixtures("chromium_env")
def test_allowlist_proxy_keeps_every_route_inside_allowed_domains() -> None:
    """Upstream-proxy mode: the allowlisting proxy is Chromium's only way out."""

    async def scenario() -> tuple[RouteRun, AllowlistProxy, RecordingUpstream, int]:
        upstream = RecordingUpstream()
        await upstream.start()
        try:
            async with sites() as (evil, site):
                proxy = AllowlistProxy([ALLOWED_HOST], upstream=upstream.url)
                await proxy.start()
                egress = egress_chromium_args([ALLOWED_HOST], proxy_port=proxy.port)
                allowed = browser_use_allowed_domains([ALLOWED_HOST])
                async with chromium(guarded_launch_args([], egress), allowed) as browser:
                    verify_launch_args(browser.launch_args, egress)
                    run = await try_every_route(browser, evil, site)
                    # Fail closed: with the proxy gone, nothing goes direct.
                    await proxy.stop()
                    served_before = len(site.requests)
                    await browser.open_tabs([f"{site.origin}/page"])
                    await asyncio.sleep(1.0)
                    after_stop = len(site.requests) - served_before
                return run, proxy, upstream, after_stop
        finally:
            await upstream.stop()

    run, proxy, upstream, after_stop = asyncio.run(scenario())
    print(f"proxy: hits {dict(run.hits)} in {run.seconds:.1f}s; counters {proxy.counters}")
    assert run.hits == Counter()
    assert_allowed_site_works(run.site)
    assert upstream.records, "allowed traffic must go through the upstream proxy"
    assert all(record.auth_ok for record in upstream.records)
    assert {r.authority.rsplit(":", 1)[0] for r in upstream.records} == {ALLOWED_HOST}
    assert {"CONNECT", "GET"} <= {record.method for record in upstream.records}
    # Chromium's own background requests (update.googleapis.com, ...) are refused as well.
    evil_hosts = {EVIL_IP, "[::ffff:7f00:2]", "evil.test", "evil.localhost"}
    assert evil_hosts <= set(proxy.counters.denied_hosts)
    assert after_stop == 0


@pytest.mark.usefixtures("chromium_env")
def test_a_browser_use_session_with_the_guard_reaches_the_allowed_host_only() -> None:
    """The agent's path: BrowserSession with the guard, its own navigate, timings as usual."""

    async def scenario() -> tuple[str, list[str], Counter[str], float]:
        from browser_use import BrowserProfile, BrowserSession

        async with sites() as (evil, site):
            egress = egress_chromium_args([ALLOWED_HOST])
            profile = BrowserProfile(
                executable_path=str(CHROMIUM),
                headless=True,
                chromium_sandbox=False,
                enable_default_extensions=False,
                args=guarded_launch_args(["--no-proxy-server", "--disable-dev-shm-usage"], egress),
                allowed_domains=browser_use_allowed_domains([ALLOWED_HOST]),
            )
            session = BrowserSession(browser_profile=profile)
            # Before launch, on the session's own copy of the profile (it has the user_data_dir).
            verify_launch_args(session.browser_profile.get_args(), egress)
            started = time.monotonic()
            await session.start()
            launch_seconds = time.monotonic() - started
            try:
                await session.navigate_to(f"{site.origin}/page")
                cdp = await session.get_or_create_cdp_session()
                title = ""
                for _ in range(50):
                    answer = await cdp.cdp_client.send.Runtime.evaluate(
                        params={"expression": "document.title", "returnByValue": True},
                        session_id=cdp.session_id,
                    )
                    if (title := answer["result"].get("value", "")) == "allowed page":
                        break
                    await asyncio.sleep(0.1)
                blocked = []
                for target in TARGETS:
                    url = site.target_url("navigate", target)
                    with suppress(Exception):
                        await session.navigate_to(url)
                    blocked.append(await session.get_current_page_url())
                await asyncio.sleep(0.5)
                return title, blocked, Counter(evil.hits), launch_seconds
            finally:
                with suppress(Exception):
                    await asyncio.wait_for(session.kill(), 15)
                used = session.browser_profile
                for path in (used.user_data_dir, used.downloads_path):
                    if path and "browser-use" in str(path):
                        shutil.rmtree(path, ignore_errors=True)

    title, urls, hits, launch_seconds = asyncio.run(scenario())
    print(f"browser-use session: launch {launch_seconds:.1f}s, after blocked navigations {urls}")
    assert title == "allowed page"
    assert hits == Counter()


# --------------------------------------------------------------------------------------------
# The proxy on its own (no Chromium)
# --------------------------------------------------------------------------------------------
async def _exchange(port: int, request: bytes, *, read_timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        await _close(writer)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


@asynccontextmanager
async def proxy_stack(
    allowed: list[str] | None, *, with_upstream: bool = True
) -> AsyncIterator[tuple[AllowlistProxy, RecordingUpstream, AllowedSite]]:
    upstream = RecordingUpstream()
    await upstream.start()
    site = AllowedSite(DisallowedHost())
    await site.start()
    try:
        async with AllowlistProxy(
            allowed, upstream=upstream.url if with_upstream else None
        ) as proxy:
            yield proxy, upstream, site
    finally:
        await site.stop()
        await upstream.stop()


def test_proxy_denies_hosts_outside_the_allowlist_with_403() -> None:
    async def scenario() -> None:
        async with proxy_stack(["example.com", "*.allowed.test"]) as (proxy, upstream, _):
            for request in (
                b"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n",
                b"GET http://127.0.0.2:80/ HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n",
                b"GET http://example.com.evil.test/ HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET http://sub.example.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
                b"CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1\r\n\r\n",
                b"CONNECT notallowed.test:443 HTTP/1.1\r\n\r\n",
            ):
                assert _status(await _exchange(proxy.port, request)) == 403, request
            assert proxy.counters.denied == 6
            assert proxy.counters.allowed == 0
            assert upstream.records == []

    asyncio.run(scenario())


def test_proxy_chains_allowed_traffic_to_the_upstream_with_its_credentials() -> None:
    async def scenario() -> None:
        async with proxy_stack([ALLOWED_HOST]) as (proxy, upstream, site):
            # Chromium's own Proxy-Authorization (it has none; a forged one) is never passed on.
            response = await _exchange(
                proxy.port,
                f"GET {site.origin}/ok HTTP/1.1\r\nHost: {ALLOWED_HOST}:{site.port}\r\n"
                "Proxy-Authorization: Basic Zm9yZ2VkOng=\r\nConnection: keep-alive\r\n\r\n".encode(),
            )
            assert _status(response) == 200
            assert response.endswith(b"ok")
            assert b"\r\nConnection: close\r\n" in response
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(f"CONNECT {ALLOWED_HOST}:{site.port} HTTP/1.1\r\n\r\n".encode())
            assert _status(await reader.readuntil(b"\r\n\r\n")) == 200
            writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"ok")
            await _close(writer)
            assert [(r.method, r.auth_ok) for r in upstream.records] == [
                ("GET", True),
                ("CONNECT", True),
            ]
            assert proxy.counters.allowed == 2

    asyncio.run(scenario())


def test_proxy_forwards_one_request_per_connection_with_exact_bodies() -> None:
    async def scenario() -> None:
        async with proxy_stack([ALLOWED_HOST], with_upstream=False) as (proxy, _, site):
            smuggled = b"GET http://127.0.0.2:9/ HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n"
            for body_headers, body in (
                (b"Content-Length: 3\r\n", b"abc"),
                (b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
            ):
                request = (
                    f"POST {site.origin}/ok HTTP/1.1\r\nHost: {ALLOWED_HOST}\r\n".encode()
                    + body_headers
                    + b"\r\n"
                    + body
                    + smuggled
                )
                response = await _exchange(proxy.port, request)
                assert _status(response) == 200
                assert response.count(b"HTTP/1.1") == 1  # the pipelined request got nothing
            assert site.requests == ["/ok", "/ok"]
            assert (proxy.counters.allowed, proxy.counters.denied) == (2, 0)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # origin form: not a proxy request
        b"GET https://127.0.0.1/ HTTP/1.1\r\n\r\n",
        b"GET http://user@127.0.0.1/ HTTP/1.1\r\n\r\n",
        b"GET http://127.0.0.1\\@127.0.0.2/ HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1:99999 HTTP/1.1\r\n\r\n",
        b"POST http://127.0.0.1/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"POST http://127.0.0.1/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST http://127.0.0.1/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/2\r\n\r\n",
        b"GET http://127.0.0.1/a\tb HTTP/1.1\r\n\r\n",
        b"GET http://127.0.0.1/\xc3\xa9 HTTP/1.1\r\n\r\n",
    ],
)
def test_proxy_refuses_what_it_cannot_parse_strictly(request_bytes: bytes) -> None:
    async def scenario() -> None:
        async with proxy_stack(None) as (proxy, upstream, _):
            assert _status(await _exchange(proxy.port, request_bytes)) == 400
            assert upstream.records == []

    asyncio.run(scenario())


def test_proxy_fails_closed_when_the_upstream_refuses_or_is_gone() -> None:
    async def scenario() -> None:
        async with proxy_stack([ALLOWED_HOST]) as (_, upstream, site):
            wrong = upstream.url.replace(UPSTREAM_USER, "someone-else")
            async with AllowlistProxy([ALLOWED_HOST], upstream=wrong) as proxy:
                get = f"GET {site.origin}/ok HTTP/1.1\r\n\r\n".encode()
                connect = f"CONNECT {ALLOWED_HOST}:{site.port} HTTP/1.1\r\n\r\n".encode()
                # A 407 would make Chromium ask for credentials: it becomes a 502.
                assert _status(await _exchange(proxy.port, get)) == 502
                assert _status(await _exchange(proxy.port, connect)) == 502
            async with AllowlistProxy([ALLOWED_HOST], upstream="http://127.0.0.1:9") as proxy:
                assert _status(await _exchange(proxy.port, get)) == 502
                assert proxy.counters.upstream_failures == 1
            assert site.requests == []

    asyncio.run(scenario())


def test_stopping_the_proxy_ends_open_tunnels() -> None:
    async def scenario() -> None:
        async with proxy_stack([ALLOWED_HOST], with_upstream=False) as (proxy, _, site):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(f"CONNECT {ALLOWED_HOST}:{site.port} HTTP/1.1\r\n\r\n".encode())
            assert _status(await reader.readuntil(b"\r\n\r\n")) == 200
            await asyncio.wait_for(proxy.stop(), 5)
            assert await asyncio.wait_for(reader.read(), 5) == b""
            await _close(writer)

    asyncio.run(scenario())


# --------------------------------------------------------------------------------------------
# Cost (not a test by default): python tests/integration/test_egress.py
# --------------------------------------------------------------------------------------------
async def measure_fetch_medians(n: int = 200, rounds: int = 3) -> dict[str, list[float]]:
    """Median ms of ``n`` sequential same-origin fetches from a page, per guard mode and round.

    Modes are interleaved round by round so that load from other processes spreads evenly.
    """
    medians: dict[str, list[float]] = {}
    upstream = RecordingUpstream()
    await upstream.start()
    modes: list[tuple[str, str | None, bool]] = [
        ("none", None, False),
        ("resolver rules", None, True),
        ("allowlist proxy (direct)", "direct", True),
        ("allowlist proxy + upstream", "upstream", True),
    ]
    async with sites() as (_, site):
        for _ in range(rounds):
            for name, proxy_kind, guarded in modes:
                proxy = None
                if proxy_kind is not None:
                    chained = upstream.url if proxy_kind == "upstream" else None
                    proxy = AllowlistProxy([ALLOWED_HOST], upstream=chained)
                    await proxy.start()
                port = proxy.port if proxy else None
                args = egress_chromium_args([ALLOWED_HOST], proxy_port=port) if guarded else []
                async with chromium(args, browser_use_allowed_domains([ALLOWED_HOST])) as browser:
                    (tab,) = await browser.open_tabs([f"{site.origin}/bench"])
                    for _ in range(100):
                        if await browser.evaluate(tab, "typeof bench") == "function":
                            break
                        await asyncio.sleep(0.05)
                    await browser.evaluate(tab, "bench(20)")  # warm up
                    times = await browser.evaluate(tab, f"bench({n})", timeout=120)
                    medians.setdefault(name, []).append(round(statistics.median(times), 2))
                if proxy is not None:
                    await proxy.stop()
    await upstream.stop()
    return medians


if __name__ == "__main__":
    os.environ.update(ANONYMIZED_TELEMETRY="false", BROWSER_USE_VERSION_CHECK="false")
    os.environ.setdefault("BROWSER_USE_LOGGING_LEVEL", "warning")
    for mode, values in asyncio.run(measure_fetch_medians()).items():
        print(f"{mode:28} median {statistics.median(values):5.2f} ms  (rounds: {values})")
