"""POSTing a webhook delivery: to the address that was checked, briefly, never redirected.

The host is resolved once and, in AWS, refused unless every address is public; the request
then goes to that address with the URL's host in ``Host`` and in TLS (SNI and the
certificate check), so a second DNS answer cannot steer it elsewhere (rebinding). Redirects
are not followed: a 3xx is not a delivery, and its target was never checked.
"""

from urllib.parse import urlsplit

import urllib3

from browser_tasks.adapters.network_addresses import DestinationRefused, checked_addresses
from browser_tasks.errors import WebhookDeliveryFailed
from browser_tasks.models.webhooks import host_and_port


class HttpWebhookSender:
    def __init__(self, *, refuse_private: bool, timeout_seconds: float) -> None:
        self._refuse_private = refuse_private
        # Connect and read each get the whole budget at most, the pair no more than it.
        self._timeout = urllib3.Timeout(total=timeout_seconds)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        host, port = host_and_port(url)
        try:
            address = checked_addresses(host, port, refuse_private=self._refuse_private)[0]
        except DestinationRefused as refused:
            raise WebhookDeliveryFailed(str(refused)) from refused
        pool: urllib3.HTTPConnectionPool
        if parts.scheme.lower() == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, port, server_hostname=host, assert_hostname=host, maxsize=1
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, maxsize=1)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers={**headers, "Host": parts.netloc, "User-Agent": "browser-tasks-webhooks"},
                redirect=False,
                retries=False,  # the queue retries, with backoff
                timeout=self._timeout,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as error:
            # The class name only: the message can repeat the URL, which may carry a token.
            raise WebhookDeliveryFailed(
                f"the webhook could not be reached ({type(error).__name__})"
            ) from error
        finally:
            pool.close()
        return int(response.status)
