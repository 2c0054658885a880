"""`host.artifacts` from a plugin agent in a real subprocess (stdio and HTTP): save, load,
list, versions and delete over JSON-RPC, bytes as base64, with the same authorization as an
in-process agent (the manifest must declare `artifacts`, the run must be granted them)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.plugins import PluginAgent
from agenthost.backends.sessions import MemorySessionStore
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.ports.protocol import ArtifactsResource, Permissions, Resources

pytestmark = pytest.mark.integration

FILES = Path(__file__).with_name("plugins") / "artifacts_plugin.py"
ALLOWED = Permissions(artifacts=True)


async def ask(runner: Runner, text: str, session: str = "s") -> dict[str, Any]:
    events = await asyncio.wait_for(collect(runner.run("ann", session, text)), 30)
    assert events[-1].type == "run.completed", events[-1]
    answer: dict[str, Any] = orjson.loads(final_text(events))
    return answer


@pytest.fixture
def http_files() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(FILES), "--http", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        url = next(
            (line.split()[-1] for line in proc.stderr if line.startswith("listening on ")), None
        )
        assert url is not None, "the plugin did not start"
        yield url
    finally:
        proc.kill()
        proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_plugin_saves_loads_lists_and_deletes(transport: str, request: Any) -> None:
    if transport == "http":
        agent = PluginAgent(url=request.getfixturevalue("http_files"), allowed_permissions=ALLOWED)
    else:
        agent = PluginAgent(command=[sys.executable, str(FILES)], allowed_permissions=ALLOWED)
    store = MemoryArtifactStore()
    async with Runner(agent, store=MemorySessionStore(), app="t", artifacts=store) as runner:
        answer = await ask(runner, "save")
        other_session = await ask(runner, "read notes/plan.md", session="other")
        user = await ask(runner, "user")
    assert answer == {
        "saved": [0, 1],
        "old": "# plan\n",
        "old_type": "text/markdown",
        "new_is_binary": True,
        "metadata": {"step": 2},
        "versions": [0, 1],
        "deleted": True,
        "deleted_again": False,
        "missing": None,
        "listed": ["notes/plan.md"],
    }
    # what the plugin saved is in the host's store, under the run's own session
    saved = await store.load(app="t", user_id="ann", session_id="s", name="notes/plan.md")
    assert saved is not None and saved.data == bytes(range(256))
    assert other_session == {"read": "none"}  # another session's run sees none of them
    assert user == {"saved": "user:prefs.json"}


async def test_the_runs_grant_and_the_manifest_authorize() -> None:
    command = [sys.executable, str(FILES)]
    no_user = Resources(artifacts=ArtifactsResource(user_scope=False))
    store = MemoryArtifactStore()
    agent = PluginAgent(command=command, allowed_permissions=ALLOWED)
    async with Runner(
        agent, store=MemorySessionStore(), app="t", artifacts=store, resources=no_user
    ) as runner:
        refused = await ask(runner, "user")
    assert refused["refused"] == "unauthorized" and "user:prefs.json" in refused["message"]
    # no artifact store: no grant, so the call is refused (the run goes on)
    agent = PluginAgent(command=command, allowed_permissions=ALLOWED)
    async with Runner(agent, store=MemorySessionStore(), app="t") as runner:
        refused = await ask(runner, "save")
    assert refused["refused"] == "unauthorized"
    # a plugin that did not declare artifacts in its manifest is refused, whatever the grant
    agent = PluginAgent(command=[*command, "--undeclared"], allowed_permissions=ALLOWED)
    async with Runner(agent, store=MemorySessionStore(), app="t", artifacts=store) as runner:
        refused = await ask(runner, "save")
    assert refused["refused"] == "unauthorized"
    assert "did not declare the permission 'artifacts'" in refused["message"]
    # a plugin whose manifest asks for artifacts does not start unless they are allowed
    agent = PluginAgent(command=command)
    async with Runner(agent, store=MemorySessionStore(), app="t", artifacts=store) as runner:
        events = await collect(runner.run("ann", "s", "save"))
    assert events[-1].type == "run.failed" and events[-1].error is not None
    assert "artifacts" in events[-1].error.message
