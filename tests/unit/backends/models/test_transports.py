"""One contract over both HTTP transports of OpenAICompatibleModel (lean and aiohttp).

Each test runs once per transport against a raw HTTP server (`raw_http.py`) whose bytes it
controls: chunked and sized bodies, keep-alive, a server closing an idle connection or cutting
an answer, 429 with Retry-After, TLS with a self-signed certificate. Then how "auto" chooses.
(test_openai_compat.py runs the fake OpenAI server's cases over both transports too.)
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import aiohttp
import orjson
import pytest

from agenthost.backends.common.aiohttp_transport import AiohttpTransport
from agenthost.backends.common.h1_pool import H1Client
from agenthost.backends.common.transport import NotAnswered, choose_transport, proxy_applies
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.backends.models.providers import Provider, ProviderSettings, resolve_provider
from agenthost.core.errors import (
    ConfigError,
    ModelHTTPError,
    ModelResponseError,
    ModelUnavailable,
)
from agenthost.core.messages import Message
from agenthost.ports.models import ResponseDone, StreamEvent, TextDelta
from tests.unit.backends.common.raw_http import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    RawConnection,
    RawHTTPServer,
    chunk,
    self_signed,
    server_tls,
    sized,
)

HI = [Message.user("hi")]
COMPLETION = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


def sse(*pieces: str) -> list[bytes]:
    """The SSE events of a streamed answer: text pieces, the finish, usage, [DONE]."""
    events = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    return [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


@pytest.fixture(params=["lean", "aiohttp"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def model_at(server: RawHTTPServer, kind: str, **options: object) -> OpenAICompatibleModel:
    provider = Provider("raw", base_url=server.url(), transport=kind, **options)  # type: ignore[arg-type]
    return OpenAICompatibleModel("m", provider=provider)


async def stream_text(model: OpenAICompatibleModel) -> tuple[str, ResponseDone]:
    events: list[StreamEvent] = [e async for e in model.stream(HI)]
    assert isinstance(events[-1], ResponseDone)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, events[-1]


async def test_the_chosen_transport_is_used(kind: str) -> None:
    async def answer(conn: RawConnection) -> None:
        await conn.request()
        conn.write(sized(COMPLETION))
        await conn.request()

    async with RawHTTPServer(answer) as server, model_at(server, kind) as model:
        assert (await model.request(HI)).message.text == "hi"
        expected = H1Client if kind == "lean" else AiohttpTransport
        assert isinstance(model.provider.client, expected)
        head, body = server.connections[0].requests[0]
    assert b"POST /v1/chat/completions HTTP/1.1\r\n" in head
    assert orjson.loads(body)["model"] == "m"


async def test_sized_and_chunked_answers_streamed_or_whole(kind: str) -> None:
    """Whole JSON: sized, then chunked; SSE: chunked, then sized; all on one connection."""
    events = sse("Hel", "lo")

    async def answer(conn: RawConnection) -> None:
        await conn.request()
        conn.write(sized(COMPLETION))
        await conn.request()
        conn.write(CHUNKED_HEAD + chunk(COMPLETION[:10]) + chunk(COMPLETION[10:]) + LAST_CHUNK)
        await conn.request()
        conn.write(CHUNKED_HEAD + b"".join(chunk(e) for e in events) + LAST_CHUNK)
        await conn.request()
        conn.write(sized(b"".join(events), headers=["Cache-Control: no-cache"]))
        await conn.request()

    async with RawHTTPServer(answer) as server, model_at(server, kind) as model:
        for _ in range(2):
            response = await model.request(HI)
            assert response.message.text == "hi" and response.usage.input_tokens == 3
        for _ in range(2):
            text, done = await stream_text(model)
            assert text == "Hello" and done.response.usage.output_tokens == 2
        assert len(server.connections) == 1  # kept alive throughout


async def test_an_idle_connection_the_server_closed_is_retried(kind: str) -> None:
    async def one_answer(conn: RawConnection) -> None:
        """Answer one request, then close when the next comes (an idle keep-alive connection
        the server dropped while the client reused it: llama.cpp, vLLM, Ollama)."""
        await conn.request()
        conn.write(sized(COMPLETION))
        await conn.request()

    async with RawHTTPServer(one_answer) as server, model_at(server, kind) as model:
        for _ in range(3):
            assert (await model.request(HI)).message.text == "hi"
        assert len(server.connections) >= 3


@pytest.mark.parametrize("stream", [False, True])
async def test_a_connection_cut_mid_answer_is_a_response_error(kind: str, stream: bool) -> None:
    async def cut(conn: RawConnection) -> None:
        await conn.request()
        if stream:
            conn.write(CHUNKED_HEAD + chunk(sse("partial")[0]))
        else:
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + COMPLETION[:20])
        await conn.drain()
        conn.close()

    async with RawHTTPServer(cut) as server, model_at(server, kind) as model:
        with pytest.raises(ModelResponseError, match="broke off"):
            if stream:
                await stream_text(model)
            else:
                await model.request(HI)


async def test_no_answer_at_all_is_unavailable(kind: str) -> None:
    async def hang_up(conn: RawConnection) -> None:
        await conn.request()

    async with RawHTTPServer(hang_up) as server, model_at(server, kind) as model:
        with pytest.raises(ModelUnavailable) as info:
            await model.request(HI)
        assert info.value.retryable


async def test_a_refused_connection_is_tried_once() -> None:
    """No connection made: nothing to resend on (aiohttp's ClientConnectorError is a
    ClientOSError, which a stale pooled connection raises too)."""
    attempts: list[object] = []

    async def count(*_: object) -> None:
        attempts.append(None)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(count)
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            transport = AiohttpTransport(session)
            with pytest.raises(NotAnswered, match="ClientConnectorError"):
                await transport.post(url, body=b"{}", headers={})
    assert len(attempts) == 1


async def test_429_with_retry_after(kind: str) -> None:
    async def limited(conn: RawConnection) -> None:
        while True:
            await conn.request()
            conn.write(
                sized(
                    b'{"error": "slow down"}',
                    status="429 Too Many Requests",
                    headers=["Retry-After: 7"],
                )
            )

    async with RawHTTPServer(limited) as server, model_at(server, kind) as model:
        for call in ("request", "stream"):
            with pytest.raises(ModelHTTPError) as info:
                if call == "stream":
                    await stream_text(model)
                else:
                    await model.request(HI)
            assert info.value.status_code == 429 and info.value.retry_after == 7.0
            assert "slow down" in info.value.body
        assert len(server.connections) == 1  # an error's body is read: the connection is kept


async def test_tls_with_a_self_signed_certificate(kind: str, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)

    async def answer(conn: RawConnection) -> None:
        while True:
            await conn.request()
            conn.write(sized(COMPLETION))

    async with RawHTTPServer(answer, ssl_context=server_tls(cert, key)) as server:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with model_at(server, kind, ssl_context=trusting) as model:
            assert (await model.request(HI)).message.text == "hi"
            assert (await model.request(HI)).message.text == "hi"
        settings = ProviderSettings(base_url=server.url(), transport=kind, ca_file=str(cert))  # type: ignore[arg-type]
        provider = resolve_provider("raw", settings)
        async with OpenAICompatibleModel("m", provider=provider) as model:
            assert (await model.request(HI)).message.text == "hi"
        async with model_at(server, kind) as model:  # the system's CAs do not know it
            with pytest.raises(ModelUnavailable):
                await model.request(HI)


# ---- choosing -----------------------------------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def test_auto_is_aiohttp_when_a_proxy_applies(no_proxy_env: pytest.MonkeyPatch) -> None:
    url = "http://model-box:8000/v1"
    assert choose_transport("auto", url) == "lean"
    no_proxy_env.setenv("HTTP_PROXY", "http://proxy:3128")
    assert proxy_applies(url) and choose_transport("auto", url) == "aiohttp"
    assert not proxy_applies("https://api.openai.com/v1")  # HTTPS_PROXY is not set
    assert choose_transport("lean", url) == "lean"
    provider = Provider("p", base_url=url)
    assert isinstance(provider.client, AiohttpTransport)
    await provider.aclose()
    no_proxy_env.setenv("NO_PROXY", "localhost,model-box")
    assert not proxy_applies(url) and choose_transport("auto", url) == "lean"
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert proxy_applies("https://api.openai.com/v1")


def test_transport_and_ca_file_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="transport must be one of auto, aiohttp, lean"):
        Provider("p", base_url="http://x/v1", transport="curl")  # type: ignore[arg-type]
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"ca_file .*nope\.pem"):
        resolve_provider("vllm", ProviderSettings(ca_file=str(missing)))


async def test_aiohttp_trusts_the_environment_only_when_a_proxy_applies(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    for proxied in (False, True):
        if proxied:
            no_proxy_env.setenv("HTTP_PROXY", "http://proxy:3128")
        provider = Provider("p", base_url="http://model-box:8000/v1", transport="aiohttp")
        client = provider.client
        assert isinstance(client, AiohttpTransport)
        assert client.session.trust_env is proxied
        await provider.aclose()


def test_a_base_url_override_keeps_the_declared_transport() -> None:
    from agenthost.backends.models import infer_model

    declared = {"lab": ProviderSettings(base_url="http://a/v1", transport="aiohttp")}
    model = infer_model("lab:m", providers=declared, base_url="http://b/v1")
    assert isinstance(model, OpenAICompatibleModel)
    assert model.provider.transport == "aiohttp" and model.provider.base_url == "http://b/v1"


async def test_a_request_on_a_kept_connection_asks_for_the_running_loop_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each look-up of the running loop is a `getpid` system call in CPython 3.11: a request
    (whole or streamed) on a pooled lean connection asks once, in `Provider.bound`; the
    connection's futures are made on the pool's loop."""
    import asyncio
    import sys

    async def answer(conn: RawConnection) -> None:
        for _ in range(3):
            await conn.request()
            conn.write(sized(COMPLETION))
        await conn.request()
        conn.write(CHUNKED_HEAD + b"".join(chunk(e) for e in sse("Hel", "lo")) + LAST_CHUNK)
        await conn.request()

    asked: list[str] = []
    real = asyncio.get_running_loop

    def counted() -> asyncio.AbstractEventLoop:
        caller = sys._getframe(1).f_globals["__name__"]
        if caller.startswith("agenthost.backends"):
            asked.append(caller)
        return real()

    async with RawHTTPServer(answer) as server, model_at(server, "lean") as model:
        assert (await model.request(HI)).message.text == "hi"  # opens the connection
        monkeypatch.setattr(asyncio, "get_running_loop", counted)
        assert (await model.request(HI)).message.text == "hi"
        assert asked == ["agenthost.backends.models.providers"]
        client, loop = model.provider.bound()
        assert client is model.provider.client and loop is real()
        asked.clear()
        assert (await model.request(HI)).message.text == "hi"
        assert (await stream_text(model))[0] == "Hello"
        assert asked == ["agenthost.backends.models.providers"] * 2
        assert len(server.connections) == 1
