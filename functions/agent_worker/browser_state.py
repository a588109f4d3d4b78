"""Moving cookies in and out of a running browser over CDP.

``Storage.getCookies`` on the browser target returns every cookie, HttpOnly and session ones
included (browser-use's ``user_data_dir`` does not keep them: Chromium is killed before it
writes them; FINDINGS.md).
"""

from typing import Any

from browser_use import BrowserSession

# The fields CDP's Storage.setCookies takes (CookieParam); getCookies returns more.
_COOKIE_PARAMS = (
    "name",
    "value",
    "domain",
    "path",
    "secure",
    "httpOnly",
    "sameSite",
    "expires",
    "priority",
    "sourceScheme",
    "sourcePort",
    "partitionKey",
)


async def export_cookies(session: BrowserSession) -> list[dict[str, Any]]:
    result = await session.cdp_client.send.Storage.getCookies()
    return [dict(cookie) for cookie in result["cookies"]]


async def import_cookies(session: BrowserSession, cookies: list[dict[str, Any]]) -> None:
    params = []
    for cookie in cookies:
        param = {k: cookie[k] for k in _COOKIE_PARAMS if k in cookie}
        if param.get("expires", 0) < 0:  # a session cookie: it has no expiry to set
            param.pop("expires")
        params.append(param)
    if params:
        await session.cdp_client.send.Storage.setCookies(params={"cookies": params})  # type: ignore[typeddict-item]
