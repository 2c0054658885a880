"""MCP tools against real, maintained MCP servers run as subprocesses, not mocks:
`mcp-server-time` (PyPI, stdio) and `@modelcontextprotocol/server-everything` (npm, over stdio
and streamable HTTP; tests/js). The node tests skip loudly outside CI, never under CI=true."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.backends.tools.mcp import McpServer
from agenthost.config import build_runtime, parse_config
from agenthost.config.build import build_agent
from agenthost.core.errors import ConfigError, ToolError, ToolTimeout
from agenthost.core.messages import ImagePart
from agenthost.engine.runner import collect, final_text
from agenthost.testing.fake_openai import FakeOpenAIServer

from .net import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = ROOT / "tests/js/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
TIME_ARGS = ["-m", "mcp_server_time", "--local-timezone", "UTC"]


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing in CI: install Node.js to run the MCP server tests")
        pytest.skip("NODE IS MISSING: the MCP server-everything tests did not run")
    if not EVERYTHING.is_file():
        pytest.fail("server-everything is not installed: run `npm ci --prefix tests/js`")
    return found


def children() -> set[int]:
    """This process's live child processes (Linux /proc)."""
    me = str(os.getpid())
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def time_server(**options: object) -> McpServer:
    return McpServer("time", command=sys.executable, args=TIME_ARGS, **options)  # type: ignore[arg-type]


def everything(**options: object) -> McpServer:
    return McpServer("every", command=node(), args=[str(EVERYTHING), "stdio"], **options)  # type: ignore[arg-type]


# ---- stdio: mcp-server-time (PyPI) -----------------------------------------------------------


async def test_a_python_server_over_stdio_lists_and_calls_its_tools() -> None:
    before = children()
    async with time_server() as server:
        assert children() - before  # the server runs as our subprocess
        tools = {t.spec.name: t for t in server.tools()}
        assert set(tools) == {"time__get_current_time", "time__convert_time"}
        spec = tools["time__get_current_time"].spec
        assert spec.parameters["required"] == ["timezone"]
        assert "timezone" in spec.description.lower()
        out = await tools["time__get_current_time"].call({"timezone": "Europe/Paris"})
        assert not out.is_error
        assert '"timezone": "Europe/Paris"' in out.content
        bad = await tools["time__get_current_time"].call({"timezone": "Mars/Olympus"})
        assert bad.is_error
        assert "Mars/Olympus" in bad.content
    assert children() - before == set()  # the subprocess is gone


async def test_filters_pick_tools_by_mcp_name() -> None:
    async with time_server() as server:
        assert [t.tool for t in server.tools(allow=["get_*"])] == ["get_current_time"]
        assert [t.tool for t in server.tools(deny=["get_current_time"])] == ["convert_time"]
        assert server.tools(allow=["nothing"]) == []


async def test_a_server_that_dies_at_start_is_an_error_and_leaves_no_process() -> None:
    before = children()
    broken = McpServer("dead", command=sys.executable, args=["-c", "import sys; sys.exit(3)"])
    with pytest.raises(ToolError, match="'dead' could not be started"):
        async with broken:
            pass
    assert children() - before == set()


async def test_a_missing_command_is_an_error_naming_the_server() -> None:
    with pytest.raises(ToolError, match="'nope'"):
        async with McpServer("nope", command="/nonexistent/mcp-server"):
            pass


# ---- stdio: server-everything (npm) ---------------------------------------------------------


async def test_results_map_images_resources_and_errors() -> None:
    async with everything() as server:
        image = await server.call("get-tiny-image", {})
        assert not image.is_error
        assert "[image: image/png" in image.content
        (part,) = image.parts
        assert isinstance(part, ImagePart)
        assert part.data is not None and part.data.startswith(b"\x89PNG")

        text = await server.call(
            "get-resource-reference", {"resourceType": "Text", "resourceId": 2}
        )
        assert "[resource demo://resource/dynamic/text/2]" in text.content
        assert "Resource 2" in text.content

        blob = await server.call(
            "get-resource-reference", {"resourceType": "Blob", "resourceId": 3}
        )
        assert "[resource demo://resource/dynamic/blob/3" in blob.content
        assert blob.parts and blob.parts[0].data

        wrong = await server.call("get-sum", {"a": "one", "b": 2})
        assert wrong.is_error
        assert "get-sum" in wrong.content


async def test_the_tool_list_is_refreshed_on_list_changed(tmp_path: Path) -> None:
    # with roots offered, the server registers get-roots-list after the handshake and sends
    # notifications/tools/list_changed: the listing is fetched again after it
    async with everything(roots=[tmp_path]) as server:
        await asyncio.wait_for(server.wait_changed(1), 30)
        assert server.notices >= 1
        assert "every__get-roots-list" in [t.spec.name for t in server.tools()]
        roots = await server.call("get-roots-list", {})
        assert tmp_path.as_uri() in roots.content


async def test_a_call_past_its_timeout_stops_and_the_session_goes_on() -> None:
    async with everything(timeout=0.5) as server:
        with pytest.raises(ToolTimeout, match="every__trigger-long-running-operation"):
            await server.call("trigger-long-running-operation", {"duration": 30, "steps": 3})
        echo = await server.call("echo", {"message": "still here"})
        assert echo.content == "Echo: still here"


async def test_cancelling_a_call_leaves_the_session_usable_and_closes_cleanly() -> None:
    before = children()
    async with everything() as server:
        call = asyncio.create_task(
            server.call("trigger-long-running-operation", {"duration": 30, "steps": 3})
        )
        await asyncio.sleep(0)  # let the request go out
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        echo = await server.call("echo", {"message": "after cancel"})
        assert echo.content == "Echo: after cancel"
    assert children() - before == set()


# ---- streamable HTTP: server-everything (npm) -----------------------------------------------


@pytest.fixture
def everything_http() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [node(), str(EVERYTHING), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # waits for the server to say it listens
            if "listening on port" in line:
                break
        else:
            pytest.fail(f"server-everything did not start (exit {process.wait()})")
        drain = threading.Thread(target=process.stderr.read, daemon=True)  # never a full pipe
        drain.start()
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


async def test_a_server_over_streamable_http(everything_http: str) -> None:
    async with McpServer("web", url=everything_http, headers={"X-Test": "1"}) as server:
        names = [t.spec.name for t in server.tools()]
        assert "web__echo" in names and "web__get-tiny-image" in names
        echo = await server.call("echo", {"message": "over http"})
        assert echo.content == "Echo: over http"
        image = await server.call("get-tiny-image", {})
        assert isinstance(image.parts[0], ImagePart)
        wrong = await server.call("get-sum", {"a": "x"})
        assert wrong.is_error
    with pytest.raises(ToolError, match="is not open"):
        await server.call("echo", {"message": "closed"})


async def test_an_unreachable_url_is_an_error_naming_the_server() -> None:
    server = McpServer("gone", url=f"http://127.0.0.1:{free_port()}/mcp", connect_timeout=10)
    with pytest.raises(ToolError, match="'gone'"):
        async with server:
            pass


# ---- from agenthost.yaml --------------------------------------------------------------------


def _config(base_url: str, agent: dict[str, object]) -> object:
    return parse_config(
        {
            "store": "memory://",
            "providers": {"fake": {"base_url": base_url}},
            "mcp_servers": {"time": {"command": sys.executable, "args": TIME_ARGS}},
            "agents": {"helper": {"model": "fake:m", **agent}},
        },
        env={},
    )


async def test_an_agent_of_the_config_calls_mcp_tools_and_the_runtime_closes_them() -> None:
    before = children()
    with FakeOpenAIServer.start_in_thread() as fake:
        config = _config(fake.base_url, {"mcp": {"time": {"allow": ["get_current_time"]}}})
        async with build_runtime(config) as rt:  # type: ignore[arg-type]
            assert children() - before
            assert [t.spec.name for t in rt.agent.tools] == ["time__get_current_time"]  # type: ignore[attr-defined]
            events = await collect(rt.runner.run("u", None, "what time is it?"))
    assert children() - before == set()
    done = [e for e in events if e.type == "tool.call.completed"]
    assert done and done[0].data is not None
    assert done[0].data["tool_name"] == "time__get_current_time"
    answer = final_text(events)
    assert answer.startswith("Done:") and "fake" in answer  # the time server's own error text


async def test_a_plugin_is_granted_the_mcp_tools_of_its_config() -> None:
    config = parse_config(
        {
            "mcp_servers": {"time": {"command": sys.executable, "args": TIME_ARGS}},
            "agents": {
                "p": {"kind": "plugin", "command": ["true"], "tools": ["mcp:time"]},
            },
        },
        env={},
    )
    async with time_server() as server:
        agent, _ = build_agent(config, "p", mcp_servers={"time": server})
        granted = agent.catalog().tools  # type: ignore[attr-defined]
        assert set(granted) == {"time__get_current_time", "time__convert_time"}


def test_an_unknown_server_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"agents.helper.tools\[0\].*no MCP server 'tme'"):
        parse_config(
            {
                "mcp_servers": {"time": {"command": "x"}},
                "agents": {"helper": {"model": "openai:x", "tools": ["mcp:tme"]}},
            },
            env={},
        )


async def test_a_server_that_dies_mid_session_fails_calls_and_still_closes() -> None:
    before = children()
    async with time_server() as server:
        (pid,) = children() - before
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ToolError, match="MCP server 'time', tool 'get_current_time'"):
            await server.call("get_current_time", {"timezone": "UTC"}, timeout=30)
    assert children() - before == set()
