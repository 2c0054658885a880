"""Shared fixtures. Tests never call real model APIs: `ALLOW_MODEL_REQUESTS`-style safety is
the test models themselves and the fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.ports.sessions import SessionStore
from agenthost.testing.fake_openai import FakeOpenAIServer
from tests.example_runs import example_env

# A suite started as a background job (`make test-stress &`, nohup, a CI step) inherits SIGINT
# ignored, and so would every process it starts: the tests that stop a child with Ctrl-C need
# it delivered (a handled signal is reset to its default in a child that execs).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


@pytest.fixture
def fake_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of an example run as a subprocess (tests/example_runs.py): the model
    `openai:gpt-4o-mini` served by a fake OpenAI server on 127.0.0.1, a private home."""
    with FakeOpenAIServer.start_in_thread() as server:
        yield example_env(server.base_url, tmp_path / "home")
