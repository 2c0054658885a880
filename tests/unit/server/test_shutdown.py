"""`agenthost serve` stopped (SIGTERM) while streams are open: once `shutdown_grace` runs out,
every open stream ends with its run's terminal `run.failed` (code `interrupted`), and the log
has no traceback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from agenthost.server.sse import SSEResponse
from agenthost.testing.fake_openai import FakeOpenAIServer, TextReply

KEY = "shutdown-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
# the fake model streams a word every 2 s: 100 s for the whole reply
WORDS = "first " + " ".join(f"w{i}" for i in range(50))


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with FakeOpenAIServer.start_in_thread(
        responder=lambda request: TextReply(WORDS), stream_delay=2
    ) as fake:
        path = tmp_path / "agenthost.yaml"
        body = {
            "app": "shutdown",
            "store": f"sqlite:///{tmp_path}/s.db",
            "providers": {"fake": {"base_url": fake.base_url}},
            "agents": {"plain": {"model": "fake:fake-model"}},
            "server": {"shutdown_grace": 1},
        }
        path.write_text(yaml.safe_dump(body))
        yield path


def _banner_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"agent\(s\) on (http://\S+):", line)
        if match:
            return match.group(1)
    raise AssertionError("no banner; stderr: " + (proc.stderr.read() if proc.stderr else ""))


class Stream:
    """A streaming request in a thread: its frames, and an event set at its first delta."""

    def __init__(self, url: str, path: str, body: dict[str, Any], first: str) -> None:
        self.first = first  # a line of the first delta
        self.lines: list[str] = []
        self.first_delta = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(url, path, body), daemon=True)
        self.thread.start()

    def _run(self, url: str, path: str, body: dict[str, Any]) -> None:
        try:
            with (
                httpx.Client(base_url=url, headers=AUTH, timeout=60) as client,
                client.stream("POST", path, json=body) as response,
            ):
                for line in response.iter_lines():
                    self.lines.append(line)
                    if self.first in line:
                        self.first_delta.set()
        except BaseException as exc:
            self.error = exc
        finally:
            self.first_delta.set()


def test_streams_end_with_run_failed_interrupted(config: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTHOST_API_KEYS": f"{KEY}:me"},
    )
    try:
        url = _banner_url(proc)
        native = Stream(url, "/v1/apps/plain/runs", {"message": "go"}, "event: message.delta")
        chat = {"model": "plain", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        openai = Stream(url, "/v1/chat/completions", chat, '"content":"firs')
        assert native.first_delta.wait(30) and openai.first_delta.wait(30)
        proc.send_signal(signal.SIGTERM)
        native.thread.join(60)
        openai.thread.join(60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert native.error is None and openai.error is None, (native.error, openai.error)

    frames = [line for line in native.lines if line]
    assert frames[-2] == "event: run.failed"
    failed = orjson.loads(frames[-1].removeprefix("data: "))
    assert failed["type"] == "run.failed" and failed["error"]["code"] == "interrupted"
    ids = [line for line in frames if line.startswith("id: ")]
    assert len(set(ids)) == len(ids)
    assert "event: error" in frames

    chunks = [line.removeprefix("data: ") for line in openai.lines if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    assert orjson.loads(chunks[-2])["error"]["code"] == "interrupted"

    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err and "Exception in ASGI application" not in err, err


async def test_a_stream_cut_by_the_server_ends_its_body_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the server's own graceful timeout cancels a response that is still streaming,
    the response ends its body and returns: no "Exception in ASGI application"."""

    async def frames() -> AsyncGenerator[bytes, None]:
        yield b"data: 1\n\n"
        await asyncio.Event().wait()  # a run that never ends

    sent: list[dict[str, Any]] = []
    streaming = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body"):
            streaming.set()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    scope = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "headers": []}
    task = asyncio.create_task(SSEResponse(frames())(scope, receive, send))
    await streaming.wait()
    task.cancel()
    await task  # returns: the cancellation was the server's way to stop it
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert any("cut short" in r.getMessage() for r in caplog.records)
