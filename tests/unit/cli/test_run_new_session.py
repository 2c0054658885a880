"""`agenthost run` without `--session` leaves the id to the runner (`session_id=None`): the
session is created with the message in one store call, without a `get` first; with
`--session` it is looked up (it may exist)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.cli._options import Options
from agenthost.cli._run import _drive
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner
from agenthost.testing.scripted import ScriptedModel
from tests.unit.server.test_new_session_runs import Logged


@pytest.mark.parametrize(("session", "first"), [(None, "create_with_events"), ("mine", "get")])
async def test_a_one_shot_run_without_a_session_creates_it_without_a_get(
    session: str | None, first: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_session_store("memory://") as store:
        log = Logged(store)
        runner = Runner(LLMAgent(model=ScriptedModel(["hello"])), store=log, app="t")  # type: ignore[arg-type]
        rt: Any = SimpleNamespace(runner=runner)
        last = await _drive(rt, Options(session=session), "hi", "run_1", False)
    assert last is not None and (last.data or {}).get("status") == "completed"
    assert log.calls[0] == first
    assert "session" in capsys.readouterr().err
