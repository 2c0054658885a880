"""A Dify app runs through the same CLI as LLMAgent: only the config changes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .fake_platform import FakePlatform
from .test_dify import CHAT, HELLO


async def test_agenthost_run_with_a_dify_agent(fake: FakePlatform, tmp_path: Path) -> None:
    fake.add(CHAT, HELLO)
    config = tmp_path / "agenthost.yaml"
    config.write_text(
        "agents:\n"
        "  support:\n"
        "    kind: dify\n"
        f"    base_url: {fake.base_url}/v1\n"
        "    api_key_env: TEST_DIFY_KEY\n"
    )
    env = {**os.environ, "AGENTHOST_HOME": str(tmp_path / "home"), "TEST_DIFY_KEY": "app-k"}
    cli = Path(sys.executable).parent / "agenthost"
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        "-c",
        str(config),
        "--session",
        "s1",
        "hi there",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "Hello" in out.decode()
    (call,) = fake.calls(CHAT)
    assert call.headers["Authorization"] == "Bearer app-k"
    assert call.body["query"] == "hi there"
