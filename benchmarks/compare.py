"""Other agent servers for the `server` workload's `--compare` rows, on the same fake model.

They run from `benchmarks/.venv-compare` (ADK) and `benchmarks/.venv-compare-agentscope` (see
`compare_setup.sh`: their dependencies would change the versions agenthost uses, and litellm's
mcp 2.x conflicts with agentscope 1.x's mcp 1.x), in a child process, with the same agent: one tool
`search(query) -> TOOL_RESULT`, no real instructions, a fresh session per run, in memory.

- Google ADK: `adk api_server --session_service_uri memory:// --auto_create_session` over an
  agents dir with `LlmAgent(model=LiteLlm("openai/fake-model"))` (`OPENAI_API_BASE` = the fake
  server); a run is `POST /run_sse` (`streaming: false`, i.e. one SSE frame per ADK event).
- AgentScope Runtime: an `AgentApp` whose `@query(framework="agentscope")` runs a ReActAgent
  (agentscope 1.x, `OpenAIChatModel(stream=False)` with `base_url` = the fake server, one model
  shared by all requests); a run is `POST /process` (SSE), done when the last frame is the
  response with `status: completed`.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.bare_loops import TOOL_RESULT, USER_TEXT
from benchmarks.server import (
    COMPARE_VENV,
    Child,
    RunOne,
    _env,
    child_server,
    free_port,
    read_sse,
)

# agentscope 1.x wants mcp 1.x, the litellm that ADK uses wants mcp 2.x: two venvs
AGENTSCOPE_VENV = COMPARE_VENV.with_name(".venv-compare-agentscope")

ADK_AGENT = f'''
from google.adk.agents import LlmAgent
from google.adk.models.lite_llm import LiteLlm


def search(query: str) -> str:
    """Search the web."""
    return {TOOL_RESULT!r}


root_agent = LlmAgent(
    name="bench", model=LiteLlm(model="openai/fake-model"), instruction="", tools=[search]
)
'''

AGENTSCOPE_APP = f'''
import sys

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import InMemoryMemory
from agentscope.message import TextBlock
from agentscope.model import OpenAIChatModel
from agentscope.pipeline import stream_printing_messages
from agentscope.tool import Toolkit, ToolResponse
from agentscope_runtime.engine import AgentApp

BASE_URL = sys.argv[2]


async def search(query: str) -> ToolResponse:
    """Search the web.

    Args:
        query (str): what to search for
    """
    return ToolResponse(content=[TextBlock(type="text", text={TOOL_RESULT!r})])


MODEL = OpenAIChatModel(
    model_name="fake-model", api_key="sk-bench", stream=False, client_args={{"base_url": BASE_URL}}
)
TOOLKIT = Toolkit()
TOOLKIT.register_tool_function(search)
app = AgentApp(app_name="bench")


@app.query(framework="agentscope")
async def query_func(self, msgs, request=None, **kwargs):
    agent = ReActAgent(
        name="bench",
        sys_prompt="You are a helpful assistant.",
        model=MODEL,
        formatter=OpenAIChatFormatter(),
        toolkit=TOOLKIT,
        memory=InMemoryMemory(),
    )
    async for msg, last in stream_printing_messages(agents=[agent], coroutine_task=agent(msgs)):
        yield msg, last


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''


def _venv_bin(name: str, venv: Path = COMPARE_VENV) -> Path:
    exe = venv / "bin" / name
    if not exe.exists():
        raise RuntimeError(f"{exe} is missing: run benchmarks/compare_setup.sh first")
    return exe


@contextlib.contextmanager
def adk_target(directory: Path, base_url: str) -> Iterator[tuple[RunOne, Child]]:
    adk = _venv_bin("adk")
    agent_dir = directory / "agents" / "bench"
    agent_dir.mkdir(parents=True, exist_ok=True)
    (agent_dir / "__init__.py").write_text("from . import agent  # noqa: F401\n")
    (agent_dir / "agent.py").write_text(ADK_AGENT)
    port = free_port()
    cmd = [str(adk), "api_server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--session_service_uri", "memory://", "--auto_create_session"]
    cmd += ["--log_level", "warning", str(directory / "agents")]
    env = _env(
        OPENAI_API_BASE=base_url,
        OPENAI_API_KEY="sk-bench",
        LITELLM_LOG="ERROR",
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no fetch from GitHub at start
    )
    env.pop("PYTHONPATH", None)
    with child_server("adk", cmd, port=port, ready_path="/list-apps", cwd=directory, env=env) as c:
        yield _adk_run_one(c.url), c


def _adk_run_one(url: str) -> RunOne:
    async def one(session: Any, _: int) -> str:
        body = {
            "app_name": "bench",
            "user_id": "bench",
            "session_id": uuid.uuid4().hex,
            "new_message": {"role": "user", "parts": [{"text": USER_TEXT}]},
            "streaming": False,
        }
        async with session.post(f"{url}/run_sse", json=body) as response:
            if response.status != 200:
                return f"HTTP {response.status}: {(await response.text())[:200]}"
            stream = await read_sse(response)
        try:
            last = json.loads(stream.last_data) if stream.last_data else {}
        except ValueError:
            return f"bad last frame: {stream.last_data[:200]}"
        if "error" in last or last.get("errorCode"):
            return f"error frame: {stream.last_data[:200]}"
        texts = [p.get("text") or "" for p in (last.get("content") or {}).get("parts") or ()]
        if not any(t.startswith("Done:") for t in texts):
            return f"unexpected last frame ({len(stream.types)} frames): {stream.last_data[:200]}"
        return ""

    return one


@contextlib.contextmanager
def agentscope_target(directory: Path, base_url: str) -> Iterator[tuple[RunOne, Child]]:
    python = _venv_bin("python", AGENTSCOPE_VENV)
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "agentscope_app.py"
    script.write_text(AGENTSCOPE_APP)
    port = free_port()
    cmd = [str(python), str(script), str(port), base_url]
    env = _env()
    env.pop("PYTHONPATH", None)
    with child_server("agentscope", cmd, port=port, ready_path="/", cwd=directory, env=env) as c:
        yield _agentscope_run_one(c.url), c


def _agentscope_run_one(url: str) -> RunOne:
    async def one(session: Any, _: int) -> str:
        body = {
            "input": [{"role": "user", "content": [{"type": "text", "text": USER_TEXT}]}],
            "session_id": uuid.uuid4().hex,
            "stream": True,
        }
        async with session.post(f"{url}/process", json=body) as response:
            if response.status != 200:
                return f"HTTP {response.status}: {(await response.text())[:200]}"
            stream = await read_sse(response)
        try:
            last = json.loads(stream.last_data) if stream.last_data else {}
        except ValueError:
            return f"bad last frame: {stream.last_data[:200]}"
        if last.get("status") != "completed" or last.get("error"):
            return f"last frame ({len(stream.types)} frames): {stream.last_data[:300]}"
        if "Done:" not in stream.last_data:
            return f"no answer in the last frame: {stream.last_data[:300]}"
        return ""

    return one
