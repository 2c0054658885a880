"""The official AG-UI client (`@ag-ui/client` HttpAgent, tests/js: `npm ci --prefix tests/js`)
against a real server on 127.0.0.1. Skipped, loudly, only when node is missing and CI is not
set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agenthost.config import parse_config
from agenthost.server import create_app
from agenthost.testing.fake_openai import ErrorReply, FakeOpenAIServer, Reply, echo_tool_responder

from .live import KEY, TOOLS, live_server

JS = Path(__file__).resolve().parents[2] / "js"

PAY = '''
from agenthost import function_tool

@function_tool(requires_approval=True)
def send(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"
'''


def responder(request: dict[str, Any]) -> Reply:
    """The fake's usual replies, but a 400 for a user message starting with 'fail'."""
    last = (request.get("messages") or [{}])[-1]
    if last.get("role") == "user" and str(last.get("content", "")).startswith("fail"):
        return ErrorReply(400, "scripted failure")
    return echo_tool_responder(request)


def agui_config(base_url: str, folder: Path) -> object:
    (folder / "agui_tools_mod.py").write_text(TOOLS + PAY)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return parse_config(
        {
            "app": "agui",
            "store": "memory://",
            "providers": {"fake": {"base_url": base_url}},
            "agents": {
                "helper": {"model": "fake:fake-model", "tools": ["agui_tools_mod:lookup"]},
                "payer": {"model": "fake:fake-model", "tools": ["agui_tools_mod:send"]},
                "plain": {"model": "fake:fake-model"},
            },
        },
        env={},
    )


def test_the_official_agui_client_works_unchanged(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing in CI: install Node.js 22+ to run the AG-UI client test")
        pytest.skip("NODE IS MISSING: the AG-UI JavaScript client test did not run")
    if not (JS / "node_modules" / "@ag-ui" / "client").is_dir():
        pytest.fail(f"@ag-ui/client is not installed: run `npm ci --prefix {JS}`")
    with FakeOpenAIServer.start_in_thread(responder=responder) as fake:
        app = create_app(agui_config(fake.base_url, tmp_path), api_keys=[f"{KEY}:sdk"])
        with live_server(app) as url:
            done = subprocess.run(
                [node, str(JS / "agui_client.mjs")],
                env={**os.environ, "AGENTHOST_URL": url, "AGENTHOST_API_KEY": KEY},
                capture_output=True,
                text=True,
                timeout=90,
            )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    first = seen["first"]
    assert first["types"][:3] == ["RUN_STARTED", "STATE_SNAPSHOT", "MESSAGES_SNAPSHOT"]
    assert first["types"][-1] == "RUN_FINISHED" and first["finished"] == "success"
    assert first["toolCalls"] == [{"name": "lookup", "args": {"query": "fake"}}]
    assert first["toolResults"] == ["found fake"]
    assert first["text"] == "Done: found fake"
    assert seen["second"]["text"] == "Done: found fake"
    # the client's messages are the session's: each turn is user, the call, its result, answer
    turn = ["user", "assistant", "tool", "assistant"]
    assert [m["role"] for m in seen["messages"]] == turn + turn
    assert seen["messages"][0]["content"] == "hello from ag-ui"
    assert seen["state"] == {"theme": "dark"}  # sent by the client, kept by the session
    assert seen["third"]["error"]["code"] == "model_http_error"
    assert "scripted failure" in seen["third"]["error"]["message"]
    assert seen["plain"]["text"] == "Echo: just text"
    assert seen["paused"]["finished"] == "interrupt"
    [interrupt] = seen["paused"]["interrupts"]
    assert interrupt["reason"] == "tool_approval" and interrupt["toolCallId"]
    assert seen["paused"]["toolCalls"][0]["name"] == "send"
    assert seen["resumeError"] is None
    assert seen["resumed"]["toolResults"][0].startswith("sent")
    assert seen["resumed"]["finished"] == "success"
    assert seen["refused"] is not None and "404" in seen["refused"]
