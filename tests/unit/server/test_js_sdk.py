"""The official OpenAI JavaScript SDK (tests/js: `npm ci --prefix tests/js`) against a real
server. Skipped, loudly, only when node is missing and CI is not set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agenthost.testing.fake_openai import FakeOpenAIServer

from .live import KEY, live_agents

JS = Path(__file__).resolve().parents[2] / "js"


def test_the_openai_js_sdk_works_unchanged(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing in CI: install Node.js 22+ to run the JS SDK test")
        pytest.skip("NODE IS MISSING: the OpenAI JavaScript SDK test did not run (install Node.js)")
    if not (JS / "node_modules" / "openai").is_dir():
        pytest.fail(f"the JS SDK is not installed: run `npm ci --prefix {JS}` (make install does)")
    with FakeOpenAIServer.start_in_thread() as fake, live_agents(fake.base_url, tmp_path) as url:
        done = subprocess.run(
            [node, str(JS / "openai_sdk.mjs")],
            env={**os.environ, "AGENTHOST_URL": url, "AGENTHOST_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["models"] == ["helper", "plain"]
    assert seen["reply"] == "Echo: hello from js"
    assert seen["streamed"] == "Done: found fake"
    assert seen["usage"]["total_tokens"] > 0
    assert seen["response"] == "Echo: responses from js"
    assert seen["events"] == ["response.created", "response.completed"]
    assert seen["deltas"] == "Echo: streamed"
    assert seen["notFound"] == {"status": 404, "code": "agent_not_found"}
