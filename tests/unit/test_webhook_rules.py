"""Webhook rules without AWS: which URLs pass, which addresses are public, the retry schedule
and its agreement with the queue's dead-letter policy, and the signature against v1's own
published example of how a receiver computes it."""

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from browser_tasks.adapters.network_addresses import is_public_address
from browser_tasks.domain.webhooks import (
    MAX_DELIVERY_ATTEMPTS,
    canonical_json,
    retry_delay_seconds,
    webhook_signature,
)
from browser_tasks.local.template import load_template
from browser_tasks.models.webhooks import WebhookRegistration, host_and_port
from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://hooks.example.com/a?b=1#c", "hooks.example.com", 443),
        ("HTTP://Hooks.Example.com:8080/", "hooks.example.com", 8080),
        ("http://[2001:db8::1]:9000/hook", "2001:db8::1", 9000),
        ("https://93.184.216.34", "93.184.216.34", 443),
    ],
)
def test_http_and_https_urls_with_a_host_are_accepted(url: str, host: str, port: int) -> None:
    assert WebhookRegistration(url=url).url == url
    assert host_and_port(url) == (host, port)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://x/",
        "//hooks.example.com/a",
        "https://a:b@hooks.example.com/",
        "https://hooks.example.com/\n",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com:0x50/",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        WebhookRegistration(url=url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
    ],
)
def test_only_globally_routable_addresses_are_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_retries_wait_twice_as_long_each_time_and_stop_after_the_last_attempt() -> None:
    delays = [retry_delay_seconds(attempt, 30) for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 2)]

    assert delays == [60, 120, 240, 480, None, None]


def test_the_attempts_match_the_webhook_queues_dead_letter_policy() -> None:
    template = load_template(PROJECT_ROOT / "template.yaml")
    redrive = template["Resources"]["WebhookQueue"]["Properties"]["RedrivePolicy"]

    # The notifier gives up on the try after which SQS dead-letters the event, no sooner.
    assert redrive["maxReceiveCount"] == MAX_DELIVERY_ATTEMPTS


def test_the_signature_is_what_a_v1_receiver_computes_from_the_body_it_got() -> None:
    body = {
        "type": "agent.task.status_update",
        "timestamp": "2025-01-15T10:30:00.000000Z",
        "payload": {"task_id": "task_1", "status": "finished", "metadata": {"b": "2", "a": "1"}},
    }
    received = canonical_json(body).encode()

    # browser-use's published receiver: json.loads the request, dump it sorted, no spaces.
    message = (
        f"1736937000.{json.dumps(json.loads(received), separators=(',', ':'), sort_keys=True)}"
    )
    expected = hmac.new(b"whsec_test", message.encode(), hashlib.sha256).hexdigest()

    assert webhook_signature("whsec_test", "1736937000", body) == expected
    assert received.startswith(b'{"payload":{"metadata":{"a":"1","b":"2"}')
