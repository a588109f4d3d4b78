import base64
import json
from urllib.parse import quote_plus

from browser_tasks.domain.redaction import Redactor, secret_values

SECRETS: dict[str, str | dict[str, str]] = {
    "user": "alice",
    "password": "p@ss word&1",
    "https://*.bank.example": {"pin": "4242", "long": "4242-and-more"},
}


def test_values_of_flat_and_scoped_secrets_are_collected() -> None:
    assert secret_values(SECRETS) == {
        "alice": "user",
        "p@ss word&1": "password",
        "4242": "pin",
        "4242-and-more": "long",
    }


def test_every_encoding_of_a_value_is_replaced_by_its_placeholder() -> None:
    redactor = Redactor(SECRETS)
    url = f"https://x.example/login?pw={quote_plus('p@ss word&1')}&u=alice"
    document = json.dumps({"typed": 'p@ss word&1"'})

    assert redactor.text(url) == (
        "https://x.example/login?pw=<secret>password</secret>&u=<secret>user</secret>"
    )
    assert "p@ss" not in redactor.text(document)
    assert redactor.text(base64.b64encode(b"p@ss word&1").decode()) == "<secret>password</secret>"


def test_longer_values_win_over_the_values_they_contain() -> None:
    assert Redactor(SECRETS).text("4242-and-more / 4242") == (
        "<secret>long</secret> / <secret>pin</secret>"
    )


def test_structures_are_redacted_deeply_keys_included() -> None:
    data = {"alice": ["ok", {"note": "pin is 4242"}], "n": 3}

    assert Redactor(SECRETS).data(data) == {
        "<secret>user</secret>": ["ok", {"note": "pin is <secret>pin</secret>"}],
        "n": 3,
    }


def test_binary_bytes_pass_and_text_bytes_are_redacted() -> None:
    redactor = Redactor(SECRETS)
    assert redactor.bytes(b"user=alice") == b"user=<secret>user</secret>"
    assert redactor.bytes(b"\xff\xfealice") == b"\xff\xfealice"


def test_no_secrets_means_no_change() -> None:
    redactor = Redactor(None)
    assert not redactor
    assert redactor.text("alice") == "alice"
