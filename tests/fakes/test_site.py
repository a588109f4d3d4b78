"""A small local web site for browser tests: login, forms, upload, download, a table, cookies, ads.

Stdlib only. ``TestSite`` serves plain HTML (no external resources) over HTTP/1.1 with
Content-Length and TCP_NODELAY on a free loopback port, and records every request it receives.

    with TestSite() as site:
        site.url("/login")          # http://127.0.0.1:PORT/login
        site.hits_for("/login")     # [Hit(method, path, headers, body), ...]
        site.logins                 # [{"username": ..., "password": ...}, ...]

Pages: ``/`` (index), ``/login`` (GET form, POST sets an HttpOnly ``session`` cookie and redirects
to ``/account``), ``/account``, ``/logout``, ``/form-text`` (a secret in a ``type=text`` field),
``/upload``, ``/download`` (links ``/files/report.csv``, an attachment), ``/products`` (a table of
three products), ``/set-cookie?name=&value=``, ``/show-cookies``, ``/ads`` (an image and a script
from ``ad_host``), ``/ads/banner.js`` and ``/ads/banner.png`` (what an ad host serves: run a second
``TestSite`` on another loopback address as the ad host), ``/page?title=&text=``.
"""

from __future__ import annotations

import base64
import html
import secrets
import threading
from email import message_from_bytes
from email.message import Message
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

PRODUCTS: list[dict[str, Any]] = [
    {"name": "Widget", "price": 9.99},
    {"name": "Gadget", "price": 24.5},
    {"name": "Gizmo", "price": 105.0},
]
# A JSON Schema describing /products, as a caller would ask for it.
PRODUCTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "products": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
            },
        }
    },
    "required": ["products"],
}

REPORT_CSV = b"region,revenue\nnorth,1200\nsouth,950\n"

# A 1x1 transparent PNG.
BANNER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
BANNER_JS = (
    b"document.addEventListener('DOMContentLoaded', function () {\n"
    b"  var el = document.getElementById('ad-status');\n"
    b"  if (el) { el.textContent = 'Ad status: loaded'; }\n"
    b"});\n"
    b"window.adLoaded = true;\n"
)


class Hit(NamedTuple):
    """One request the site received. ``path`` includes the query string."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


class TestSite:
    """The site on ``host`` (default 127.0.0.1), a free port, in a daemon thread."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ad_host: str | None = None) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._sessions: dict[str, str] = {}
        self.logins: list[dict[str, str]] = []
        self.form_submissions: list[dict[str, str]] = []
        self.uploads: list[tuple[str, bytes]] = []
        handler = type("_BoundHandler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self.ad_host = (ad_host or self.base_url).rstrip("/")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"TestSite:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- public API -------------------------------------------------------------------------

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    @property
    def hits(self) -> list[Hit]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._hits)

    def hits_for(self, path_prefix: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path.startswith(path_prefix)]

    def session_user(self, token: str) -> str | None:
        with self._lock:
            return self._sessions.get(token)

    def clear(self) -> None:
        """Forget hits and recorded submissions (sessions stay valid)."""
        with self._lock:
            self._hits.clear()
            self.logins.clear()
            self.form_submissions.clear()
            self.uploads.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TestSite:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler ----------------------------------------------------------------

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def _new_session(self, username: str) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._sessions[token] = username
        return token


class _Handler(BaseHTTPRequestHandler):
    site: TestSite
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no ~40 ms delayed-ACK stall per response

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing ---------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        status: int,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _redirect(self, location: str, headers: list[tuple[str, str]] | None = None) -> None:
        self._send(
            HTTPStatus.SEE_OTHER, b"", "text/plain", [("Location", location), *(headers or [])]
        )

    def _cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def _handle(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        self.site._record(Hit(self.command, self.path, dict(self.headers.items()), body))
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = _ROUTES.get((self.command if self.command != "HEAD" else "GET", parts.path))
        if route is None:
            self._send(HTTPStatus.NOT_FOUND, _page("Not Found", "<h1>Not Found</h1>"))
            return
        route(self, query, body)

    def do_GET(self) -> None:
        self._handle(b"")

    def do_HEAD(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        self._handle(self._read_body())

    # -- pages ------------------------------------------------------------------------------

    def index(self, query: dict[str, str], body: bytes) -> None:
        links = [
            ("/login", "Log in"),
            ("/account", "Account"),
            ("/form-text", "Text form"),
            ("/upload", "Upload a file"),
            ("/download", "Downloads"),
            ("/products", "Products"),
            ("/show-cookies", "Show cookies"),
            ("/ads", "Ads"),
        ]
        items = "\n".join(f"<li><a href='{href}'>{label}</a></li>" for href, label in links)
        self._send(200, _page("Test Site Home", f"<h1>Test Site Home</h1>\n<ul>\n{items}\n</ul>"))

    def login_form(self, query: dict[str, str], body: bytes) -> None:
        self._send(
            200,
            _page(
                "Log in",
                "<h1>Log in</h1>\n<form method='post' action='/login'>\n"
                "<label for='username'>Username</label> "
                "<input type='text' id='username' name='username' autocomplete='username'><br>\n"
                "<label for='password'>Password</label> "
                "<input type='password' id='password' name='password' "
                "autocomplete='current-password'><br>\n"
                "<button type='submit'>Submit</button>\n</form>",
            ),
        )

    def login_submit(self, query: dict[str, str], body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        username = form.get("username", "")
        with self.site._lock:
            self.site.logins.append({"username": username, "password": form.get("password", "")})
        if not username:
            self._send(400, _page("Log in", "<h1>Log in failed</h1><p>Username missing.</p>"))
            return
        token = self.site._new_session(username)
        self._redirect(
            "/account", [("Set-Cookie", f"session={token}; Path=/; HttpOnly; SameSite=Lax")]
        )

    def account(self, query: dict[str, str], body: bytes) -> None:
        user = self.site.session_user(self._cookies().get("session", ""))
        if user is None:
            self._send(
                200,
                _page("Account", "<h1>Account</h1><p>Please log in</p><a href='/login'>Log in</a>"),
            )
            return
        self._send(
            200,
            _page(
                "Account",
                f"<h1>Account</h1><p id='welcome'>Welcome, {_e(user)}</p>"
                "<a href='/logout'>Log out</a>",
            ),
        )

    def logout(self, query: dict[str, str], body: bytes) -> None:
        self._redirect("/account", [("Set-Cookie", "session=; Path=/; Max-Age=0; HttpOnly")])

    def form_text(self, query: dict[str, str], body: bytes) -> None:
        self._send(
            200,
            _page(
                "Text form",
                "<h1>API settings</h1>\n<form method='post' action='/form-text'>\n"
                "<label for='account'>Account</label> "
                "<input type='text' id='account' name='account'><br>\n"
                "<label for='api_key'>API key</label> "
                "<input type='text' id='api_key' name='api_key' placeholder='API key'><br>\n"
                "<button type='submit'>Save</button>\n</form>",
            ),
        )

    def form_text_submit(self, query: dict[str, str], body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        with self.site._lock:
            self.site.form_submissions.append(form)
        self._send(200, _page("Saved", f"<h1>Saved</h1><p>{len(form)} fields saved.</p>"))

    def upload_form(self, query: dict[str, str], body: bytes) -> None:
        self._send(
            200,
            _page(
                "Upload",
                "<h1>Upload a document</h1>\n"
                "<form method='post' action='/upload' enctype='multipart/form-data'>\n"
                "<label for='document'>Document</label> "
                "<input type='file' id='document' name='document'><br>\n"
                "<button type='submit'>Submit</button>\n</form>",
            ),
        )

    def upload_submit(self, query: dict[str, str], body: bytes) -> None:
        content_type = self.headers.get("Content-Type", "")
        message: Message = message_from_bytes(
            f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
        )
        received: list[tuple[str, bytes]] = []
        if message.is_multipart():
            for part in message.get_payload():
                assert isinstance(part, Message)
                if part.get_param("name", header="content-disposition") != "document":
                    continue
                filename = part.get_filename() or ""
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                if filename:
                    received.append((filename, data))
        with self.site._lock:
            self.site.uploads.extend(received)
        if not received:
            self._send(400, _page("Upload", "<h1>Upload failed</h1><p>No file received.</p>"))
            return
        name, data = received[0]
        self._send(
            200,
            _page(
                "Upload", f"<h1>Upload complete</h1><p>Received {_e(name)} ({len(data)} bytes)</p>"
            ),
        )

    def download_page(self, query: dict[str, str], body: bytes) -> None:
        self._send(
            200,
            _page(
                "Downloads",
                "<h1>Downloads</h1>\n<p><a href='/files/report.csv' id='report-link'>"
                "Download report</a></p>",
            ),
        )

    def report_csv(self, query: dict[str, str], body: bytes) -> None:
        self._send(
            200,
            REPORT_CSV,
            "text/csv",
            [("Content-Disposition", 'attachment; filename="report.csv"')],
        )

    def products(self, query: dict[str, str], body: bytes) -> None:
        rows = "\n".join(
            f"<tr><td>{_e(p['name'])}</td><td>${p['price']:.2f}</td></tr>" for p in PRODUCTS
        )
        self._send(
            200,
            _page(
                "Products",
                "<h1>Products</h1>\n<table id='products'>\n"
                "<thead><tr><th>Name</th><th>Price</th></tr></thead>\n"
                f"<tbody>\n{rows}\n</tbody>\n</table>",
            ),
        )

    def set_cookie(self, query: dict[str, str], body: bytes) -> None:
        name = query.get("name") or "test_cookie"
        value = query.get("value", "")
        jar: SimpleCookie = SimpleCookie()
        try:
            jar[name] = value
        except CookieError:
            self._send(400, _page("Cookie", "<h1>Bad cookie name</h1>"))
            return
        jar[name]["path"] = "/"
        jar[name]["max-age"] = 86400
        self._send(
            200,
            _page("Cookie set", f"<h1>Cookie set</h1><p id='cookie'>{_e(name)}={_e(value)}</p>"),
            headers=[("Set-Cookie", jar[name].OutputString())],
        )

    def show_cookies(self, query: dict[str, str], body: bytes) -> None:
        cookies = self._cookies()
        items = "\n".join(
            f"<li>{_e(name)}={_e(value)}</li>" for name, value in sorted(cookies.items())
        )
        self._send(
            200,
            _page(
                "Cookies",
                f"<h1>Cookies</h1>\n<p>{len(cookies)} cookies</p>\n<ul id='cookies'>\n{items}\n</ul>",
            ),
        )

    def ads(self, query: dict[str, str], body: bytes) -> None:
        ad = self.site.ad_host
        self._send(
            200,
            _page(
                "Ads",
                "<h1>Article with ads</h1>\n<p id='ad-status'>Ad status: blocked</p>\n"
                f"<img src='{_e(ad)}/ads/banner.png' alt='banner ad' width='1' height='1'>\n"
                f"<script src='{_e(ad)}/ads/banner.js'></script>\n"
                "<p>Article text.</p>",
            ),
        )

    def banner_js(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, BANNER_JS, "application/javascript")

    def banner_png(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, BANNER_PNG, "image/png")

    def escape(self, query: dict[str, str], body: bytes) -> None:
        """A page that tries many ways to reach ``?target=`` (a base URL on another host):
        subresources, scripts' requests, a worker, a socket, hints, then two navigations."""
        target = _e(query.get("target", ""))
        host = target.split("://", 1)[-1]
        self._send(
            200,
            _page(
                "Escape attempts",
                "<h1>Escape attempts</h1>\n"
                f"<meta http-equiv='refresh' content='3;url={target}/meta-refresh'>\n"
                f"<link rel='prefetch' href='{target}/prefetch'>\n"
                f"<link rel='preconnect' href='{target}'>\n"
                f"<link rel='stylesheet' href='{target}/style.css'>\n"
                f"<img src='{target}/image.png' alt='x'>\n"
                f"<iframe src='{target}/frame'></iframe>\n"
                f"<form id='f' method='post' action='{target}/form' target='sink'>"
                "<input name='a' value='b'></form><iframe name='sink'></iframe>\n"
                f"<script src='{target}/script.js'></script>\n"
                "<script>\n"
                f"fetch('{target}/fetch').catch(() => {{}});\n"
                f"const xhr = new XMLHttpRequest(); xhr.open('GET', '{target}/xhr'); xhr.send();\n"
                f"navigator.sendBeacon('{target}/beacon', 'x');\n"
                f"try {{ new EventSource('{target}/events'); }} catch (e) {{}}\n"
                f"try {{ new WebSocket('ws://{host}/socket'); }} catch (e) {{}}\n"
                "new Worker(URL.createObjectURL(new Blob("
                f"[\"fetch('{target}/worker').catch(() => {{}})\"])));\n"
                "document.getElementById('f').submit();\n"
                f"setTimeout(() => {{ location.href = '{target}/js-location'; }}, 2000);\n"
                "</script>\n<p>Tried.</p>",
            ),
        )

    def storage(self, query: dict[str, str], body: bytes) -> None:
        """``?set=k=v`` stores k=v in localStorage; the page always shows what localStorage
        and document.cookie hold (rendered by script, so only a browser sees them)."""
        script = (
            "<script>\n"
            "const wanted = new URLSearchParams(location.search).get('set');\n"
            "if (wanted) { const i = wanted.indexOf('=');"
            " localStorage.setItem(wanted.slice(0, i), wanted.slice(i + 1)); }\n"
            "const stored = Object.keys(localStorage).sort()"
            ".map(k => k + '=' + localStorage.getItem(k)).join('; ');\n"
            "document.getElementById('stored').textContent = 'Stored: ' + (stored || 'nothing');\n"
            "document.getElementById('cookies').textContent ="
            " 'Cookies: ' + (document.cookie || 'none');\n"
            "</script>"
        )
        self._send(
            200,
            _page(
                "Storage",
                "<h1>Storage</h1><p id='stored'>Stored: ?</p><p id='cookies'>Cookies: ?</p>"
                + script,
            ),
        )

    def generic_page(self, query: dict[str, str], body: bytes) -> None:
        title = query.get("title") or "Page"
        text = query.get("text", "")
        self._send(200, _page(title, f"<h1>{_e(title)}</h1>\n<p>{_e(text)}</p>"))


_ROUTES: dict[tuple[str, str], Any] = {
    ("GET", "/"): _Handler.index,
    ("GET", "/login"): _Handler.login_form,
    ("POST", "/login"): _Handler.login_submit,
    ("GET", "/account"): _Handler.account,
    ("GET", "/logout"): _Handler.logout,
    ("GET", "/form-text"): _Handler.form_text,
    ("POST", "/form-text"): _Handler.form_text_submit,
    ("GET", "/upload"): _Handler.upload_form,
    ("POST", "/upload"): _Handler.upload_submit,
    ("GET", "/download"): _Handler.download_page,
    ("GET", "/files/report.csv"): _Handler.report_csv,
    ("GET", "/products"): _Handler.products,
    ("GET", "/set-cookie"): _Handler.set_cookie,
    ("GET", "/show-cookies"): _Handler.show_cookies,
    ("GET", "/storage"): _Handler.storage,
    ("GET", "/ads"): _Handler.ads,
    ("GET", "/ads/banner.js"): _Handler.banner_js,
    ("GET", "/ads/banner.png"): _Handler.banner_png,
    ("GET", "/page"): _Handler.generic_page,
    ("GET", "/escape"): _Handler.escape,
}
