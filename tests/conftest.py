"""Shared fixtures. Tests never call real model APIs: `ALLOW_MODEL_REQUESTS`-style safety is
the test models themselves and the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.ports.sessions import SessionStore

os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)

# Nothing a test does lands in the user's ~/.agenthost (stores, knowledge bases, work
# directories, pid files): every test, and every process it starts, gets a private home.
_HOME = tempfile.mkdtemp(prefix="agenthost-test-home-")
os.environ["AGENTHOST_HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[SessionStore]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/runner.db"
    async with open_session_store(url) as opened:
        yield opened
