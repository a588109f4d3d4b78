"""In Lambda the browser must not reach the worker's own network: the Runtime API on
127.0.0.1:9001, link-local or private addresses, even through a name that resolves there."""

import asyncio
from collections.abc import Iterator

import pytest

from browser_tasks.adapters.browser.allowlist_proxy import AllowlistProxy
from tests.fakes import ScriptedLLM, TestSite
from tests.support import InProcessStack, first_chunk, in_process_stack

CHROMIUM = "/usr/lib/chromium/chromium"


async def _ask(proxy_port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(200), 10)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "target",
    ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.0.0.2", "169.254.169.254", "10.0.0.1"],
)
def test_the_proxy_refuses_targets_that_resolve_to_non_public_addresses(target: str) -> None:
    async def scenario() -> tuple[bytes, bytes, int]:
        with TestSite() as site:
            async with AllowlistProxy(None, refuse_private_addresses=True) as proxy:
                connect = await _ask(
                    proxy.port, f"CONNECT {target}:{site.port} HTTP/1.1\r\n\r\n".encode()
                )
                plain = await _ask(
                    proxy.port,
                    f"GET http://{target}:{site.port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                )
                return connect, plain, proxy.counters.private_refused

    connect, plain, refused = asyncio.run(scenario())

    assert connect.startswith(b"HTTP/1.1 403")
    assert plain.startswith(b"HTTP/1.1 403")
    assert refused == 2


def test_without_the_setting_the_same_proxy_reaches_loopback() -> None:
    async def scenario() -> bytes:
        with TestSite() as site:
            async with AllowlistProxy(None) as proxy:
                return await _ask(
                    proxy.port,
                    f"GET http://127.0.0.1:{site.port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                )

    assert asyncio.run(scenario()).startswith(b"HTTP/1.1 200")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


def test_a_worker_set_up_as_in_lambda_cannot_reach_a_loopback_site(
    stack: InProcessStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chunk_runner
    from worker_settings import OperatorSecrets, WorkerSettings
    from worker_wiring import ports

    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "false")
    monkeypatch.setenv("BROWSER_USE_VERSION_CHECK", "false")
    with ScriptedLLM() as llm, TestSite() as site:
        llm.set_script(
            [
                [{"navigate": {"url": site.url("/page?title=Runtime+API")}}],
                [{"done": {"text": "Done", "success": True}}],
            ]
        )
        task_id = stack.call("POST", "/api/v1/run-task", body={"task": "Open the page"}).json()[
            "id"
        ]
        runner = chunk_runner.ChunkRunner(
            ports(),
            WorkerSettings(chrome_path=CHROMIUM, openai_base_url=llm.base_url),  # Lambda's defaults
            lambda: OperatorSecrets(provider_keys={"OPENAI_API_KEY": "k"}, proxy_urls={}),
        )
        message = first_chunk(task_id, "alice", 5, 300)

        result = asyncio.run(runner.run(message))

    assert result.state == "done"
    assert site.hits == []
