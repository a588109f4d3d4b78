"""The fakes proven against the real thing: browser-use's Agent and ChatOpenAI, Debian Chromium.

A ``ScriptedLLM`` plays the model over HTTP (the real OpenAI client path), a ``TestSite`` plays
the web. Nothing leaves 127.0.0.1. Each browser test starts its own Chromium (~1 s of the ~3-5 s
a test takes): sharing one across tests would carry cookies and downloads from test to test.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from tests.fakes import ScriptedLLM, TestSite, latest_user_text
from tests.fakes.test_site import PRODUCTS, PRODUCTS_SCHEMA, REPORT_CSV

if TYPE_CHECKING:
    from collections.abc import Iterator

    from browser_use.agent.views import AgentHistoryList

CHROMIUM = "/usr/lib/chromium/chromium"


@pytest.fixture(autouse=True)
def _offline_browser_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No telemetry or version check; the library's temp folders land in the test's tmp_path.

    Only Python's temp dir moves: Chromium's own TMPDIR must stay short, or its singleton socket
    path passes the 108-byte limit and it exits at launch."""
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "false")
    monkeypatch.setenv("BROWSER_USE_VERSION_CHECK", "false")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))


@pytest.fixture
def site() -> Iterator[TestSite]:
    with TestSite() as s:
        yield s


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as fake:
        yield fake


def run_agent(
    task: str,
    llm: ScriptedLLM,
    tmp_path: Path,
    *,
    max_steps: int = 8,
    **agent_kwargs: Any,
) -> AgentHistoryList[Any]:
    """Run the real Agent on a fresh headless Chromium, the scripted model behind ChatOpenAI."""
    from browser_use import Agent, BrowserProfile, BrowserSession, ChatOpenAI

    profile = BrowserProfile(
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        enable_default_extensions=False,
        user_data_dir=None,
        downloads_path=tmp_path / "downloads",
        args=[
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
        ],
        minimum_wait_page_load_time=0.1,
        wait_for_network_idle_page_load_time=0.1,
    )

    async def go() -> AgentHistoryList[Any]:
        session = BrowserSession(browser_profile=profile)
        agent = Agent(
            task=task,
            llm=ChatOpenAI(model="gpt-4.1", base_url=llm.base_url, api_key="test"),
            browser_session=session,
            use_judge=False,
            file_system_path=str(tmp_path / "agent_fs"),
            **agent_kwargs,
        )
        try:
            return await asyncio.wait_for(agent.run(max_steps=max_steps), timeout=90)
        finally:
            await session.kill()

    return asyncio.run(go())


# -- the real Agent and Chromium -------------------------------------------------------------


def test_login_types_the_secret_into_the_site_but_never_sends_it_to_the_model(
    site: TestSite, llm: ScriptedLLM, tmp_path: Path
) -> None:
    # Given a login script that only ever names the secrets by placeholder
    canary = f"canary-{secrets.token_hex(12)}"
    llm.set_script(
        [
            [{"navigate": {"url": site.url("/login")}}],
            [
                {"input": {"field": "username", "text": "<secret>x_user</secret>"}},
                {"input": {"field": "password", "text": "<secret>x_password</secret>"}},
                {"click": {"text": "Submit"}},
            ],
            [{"done": {"text": "Logged in", "success": True}}],
        ]
    )

    # When the agent runs it with the real values in sensitive_data
    history = run_agent(
        "Log in to the test site",
        llm,
        tmp_path,
        sensitive_data={"x_user": "alice", "x_password": canary},
    )

    # Then the site received the real values and let the browser in with its session cookie
    assert history.is_successful() is True
    assert llm.errors == []
    assert site.logins == [{"username": "alice", "password": canary}]
    account_hits = site.hits_for("/account")
    assert account_hits
    assert "session=" in account_hits[-1].headers.get("Cookie", "")
    # And the model saw the logged-in page, the username replaced by its placeholder
    assert "Welcome, <secret>x_user</secret>" in latest_user_text(llm.agent_requests[-1])
    # And no request to the model ever carried the password
    texts = llm.request_texts()
    assert len(texts) == len(llm.agent_requests) == 3
    assert not [t for t in texts if canary in t]
    assert llm.requests_containing(canary) == []
    assert llm.requests_containing("<secret>x_password</secret>") != []


def test_done_returns_the_three_products_as_structured_output(
    site: TestSite, llm: ScriptedLLM, tmp_path: Path
) -> None:
    from browser_use.tools.extraction.schema_utils import schema_dict_to_pydantic_model

    # Given a script that extracts the product table, then reports what the extraction found
    def finish_with_extracted(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        if step == 1:
            return [{"extract": {"query": "all products", "output_schema": PRODUCTS_SCHEMA}}]
        history = latest_user_text(request)
        start = history.rindex("<structured_result>") + len("<structured_result>")
        found = json.loads(history[start : history.index("</structured_result>", start)])
        return [{"done": {"data": found, "success": True}}]

    llm.set_script(finish_with_extracted)

    # When the agent runs with the schema as its output model
    history = run_agent(
        f"List the products on {site.url('/products')}",
        llm,
        tmp_path,
        output_model_schema=schema_dict_to_pydantic_model(PRODUCTS_SCHEMA),
    )

    # Then the structured output is the site's three products and satisfies the JSON Schema
    assert history.is_successful() is True
    final = json.loads(history.final_result() or "null")
    jsonschema.validate(final, PRODUCTS_SCHEMA)
    assert final == {"products": PRODUCTS}
    assert history.structured_output is not None
    assert history.structured_output.model_dump() == {"products": PRODUCTS}
    # And the extraction call was answered from the page the browser rendered
    extraction_requests = llm.requests_of_kind("extraction")
    assert len(extraction_requests) == 1
    assert "Gizmo" in latest_user_text(extraction_requests[0])
    assert llm.errors == []


def test_upload_sends_an_available_file_to_the_site(
    site: TestSite, llm: ScriptedLLM, tmp_path: Path
) -> None:
    # Given a file the agent is allowed to upload
    document = tmp_path / "notes.txt"
    content = secrets.token_hex(100).encode()
    document.write_bytes(content)
    llm.set_script(
        [
            [{"upload_file": {"field": "document", "path": str(document)}}],
            [{"click": {"text": "Submit"}}],
            [{"done": {"text": "Uploaded", "success": True}}],
        ]
    )

    # When the agent uploads it on the upload page
    history = run_agent(
        f"Upload notes.txt at {site.url('/upload')}",
        llm,
        tmp_path,
        available_file_paths=[str(document)],
    )

    # Then the site received exactly those bytes under that name, and the model saw it say so
    assert history.is_successful() is True
    assert llm.errors == []
    assert site.uploads == [("notes.txt", content)]
    assert f"Received notes.txt ({len(content)} bytes)" in latest_user_text(llm.agent_requests[-1])


def test_clicking_the_download_link_saves_the_file_in_the_downloads_path(
    site: TestSite, llm: ScriptedLLM, tmp_path: Path
) -> None:
    # Given a script that clicks the report link
    llm.set_script(
        [
            [{"click": {"text": "Download report"}}],
            [{"done": {"text": "Downloaded", "success": True}}],
        ]
    )

    # When the agent runs on the download page
    history = run_agent(f"Download the report from {site.url('/download')}", llm, tmp_path)

    # Then the file the site served is in the downloads path
    assert history.is_successful() is True
    assert llm.errors == []
    assert (tmp_path / "downloads" / "report.csv").read_bytes() == REPORT_CSV
    assert site.hits_for("/files/report.csv")


def test_an_element_the_page_lacks_ends_the_run_with_a_failure_naming_it(
    site: TestSite, llm: ScriptedLLM, tmp_path: Path
) -> None:
    # Given a script that clicks a button the page does not have
    llm.set_script([[{"click": {"text": "Delete account"}}], [{"done": {"text": "never"}}]])

    # When the agent runs it
    history = run_agent(
        f"Delete the account at {site.url('/page?title=Plain&text=Nothing+here')}", llm, tmp_path
    )

    # Then the run ends at once, unsuccessful, saying what was missing
    assert history.is_done() is True
    assert history.is_successful() is False
    assert "Delete account" in (history.final_result() or "")
    assert len(llm.agent_requests) == 1
    assert len(llm.errors) == 1


# -- the fakes on their own (no browser) -----------------------------------------------------


def _chat(llm: ScriptedLLM, **kwargs: Any) -> Any:
    from browser_use import ChatOpenAI

    return ChatOpenAI(model="gpt-4o", base_url=llm.base_url, api_key="test", **kwargs)


def _judge_call(chat: Any) -> Any:
    from browser_use.agent.views import JudgementResult
    from browser_use.llm.messages import SystemMessage, UserMessage

    messages = [
        SystemMessage(content="You are an expert judge evaluating browser automation agent"),
        UserMessage(content="Was it done?"),
    ]
    return asyncio.run(chat.ainvoke(messages, output_format=JudgementResult))


def test_server_errors_are_retried_by_the_client_and_logged(llm: ScriptedLLM) -> None:
    # Given the next two requests fail with 503 (and ask for a short retry delay)
    llm.fail_next(2, status=503, retry_after=0.01)

    # When a judge-shaped call is made through the real client
    result = _judge_call(_chat(llm))

    # Then the client retried past both errors and every attempt is in the log
    assert result.completion.verdict is True
    assert result.usage is not None
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert len(llm.requests) == 3
    assert [k for k, _ in llm.replies] == ["judge"]


def test_garbage_and_unretried_errors_surface_as_provider_errors(llm: ScriptedLLM) -> None:
    from browser_use.llm.exceptions import ModelProviderError, ModelRateLimitError

    chat = _chat(llm, max_retries=0)
    # Given a rate limit, then an unparsable answer
    llm.fail_next(1, status=429)
    llm.garbage_next(1)

    # When two calls are made, Then each fails the way a real provider failure would
    with pytest.raises(ModelRateLimitError):
        _judge_call(chat)
    with pytest.raises(ModelProviderError):
        _judge_call(chat)
    # And the server is fine afterwards
    assert _judge_call(chat).completion.verdict is True


def test_any_model_name_is_answered_and_a_configured_one_echoed() -> None:
    with ScriptedLLM(model="scripted-model") as fake:
        body = json.dumps(
            {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Hi"}]}
        ).encode()
        request = urllib.request.Request(
            fake.base_url + "/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.loads(response.read())
        with urllib.request.urlopen(fake.base_url + "/models", timeout=5) as response:
            models = json.loads(response.read())

    assert answer["model"] == "scripted-model"
    assert answer["choices"][0]["message"]["content"] == fake.text_answer
    assert answer["usage"]["total_tokens"] > 0
    assert [m["id"] for m in models["data"]] == ["scripted-model"]
    assert fake.request_texts() == [body.decode()]


def test_site_sessions_and_cookies_work_without_a_browser(site: TestSite) -> None:
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    # Given no session, the account page asks to log in
    with opener.open(site.url("/account"), timeout=5) as response:
        assert "Please log in" in response.read().decode()
    # When logging in and setting a persistent cookie
    with opener.open(site.url("/login"), data=b"username=bob&password=pw", timeout=5) as response:
        assert response.url == site.url("/account")
        assert "Welcome, bob" in response.read().decode()
    opener.open(site.url("/set-cookie?name=theme&value=dark"), timeout=5).close()
    # Then both cookies come back, the session one HttpOnly
    with opener.open(site.url("/show-cookies"), timeout=5) as response:
        page = response.read().decode()
    assert "theme=dark" in page
    assert "session=" in page
    session = next(c for c in jar if c.name == "session")
    assert session.has_nonstandard_attr("HttpOnly")
    assert site.logins == [{"username": "bob", "password": "pw"}]
