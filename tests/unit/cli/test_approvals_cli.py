"""`agenthost approvals ls`, `agenthost approve`, and the approval prompt of `chat`, end to end
against the fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner, Result

from agenthost.cli.app import app
from agenthost.core.events import Event
from agenthost.testing.fake_openai import ThreadedFakeServer

from .conftest import write_config

cli = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return cli.invoke(app, list(args), input=input)


@pytest.fixture
def config(env: Path, tmp_path: Path, fake: ThreadedFakeServer) -> Path:
    careful = """
    careful:
      model: fake:fake-model
      tools: ["cli_tools_mod:lookup"]
      approval: ["lookup"]
    """
    return write_config(tmp_path, fake.base_url, agents=careful, default=None)


def events_of(output: str) -> list[Event]:
    return [msgspec.json.decode(line, type=Event) for line in output.splitlines() if line]


def paused(session: str) -> str:
    result = invoke("run", "--json", "find it", "--session", session)
    assert result.exit_code == 0  # paused: not a failure
    events = [e for e in events_of(result.stdout) if not e.partial]
    assert events[-1].data is not None and events[-1].data["status"] == "paused"
    [request] = [e for e in events if e.type == "approval.requested"]
    return str((request.data or {})["approval_id"])


def test_ls_then_approve_with_arguments(config: Path, fake: ThreadedFakeServer) -> None:
    approval_id = paused("s1")
    listed = invoke("approvals", "ls")
    assert listed.exit_code == 0, listed.output
    assert approval_id in listed.stdout and "lookup" in listed.stdout and "s1" in listed.stdout
    assert "no approvals" in invoke("approvals", "ls", "--user", "someone").stdout

    done = invoke("approve", approval_id, "--args", '{"query": "edited"}')
    assert done.exit_code == 0, done.output
    assert "found edited" in done.stderr  # the tool panel: the call ran with the new arguments
    assert done.stdout.startswith("Done: note: the user approved this call with other argum")
    assert "lookup: approved by tester" in done.stderr
    assert "no approvals" in invoke("approvals", "ls").stdout

    twice = invoke("approve", approval_id, "--reject")
    assert twice.exit_code == 2 and "already answered" in twice.stderr


def test_reject_and_bad_arguments(config: Path) -> None:
    approval_id = paused("s2")
    bad = invoke("approve", approval_id, "--args", "[1]")
    assert bad.exit_code == 2 and "--args: must be a JSON object" in bad.stderr
    result = invoke("approve", approval_id, "--reject", "--message", "no", "--json")
    assert result.exit_code == 0, result.output
    events = [e for e in events_of(result.stdout) if not e.partial]
    assert [e.type for e in events][:2] == ["approval.answered", "tool.call.completed"]
    assert "rejected" in events[1].text and events[-1].type == "run.completed"
    unknown = invoke("approve", "nope")
    assert unknown.exit_code == 2 and "was not found" in unknown.stderr


def test_chat_asks_y_n(config: Path, fake: ThreadedFakeServer) -> None:
    result = invoke("chat", "--session", "c1", input="find it\ny\nfind more\nn\n/exit\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "approval needed · lookup" in out and "approve lookup?" in out
    assert "Done: found fake" in out  # approved: the call ran, the model answered
    assert "lookup: approved by tester" in out and "lookup: rejected by tester" in out
    assert "Done: error: not run: the user rejected this call" in out


def test_chat_skip_leaves_it_waiting(config: Path) -> None:
    result = invoke("chat", "--session", "c2", input="find it\ns\n/exit\n")
    assert result.exit_code == 0, result.output
    assert "left waiting: agenthost approve" in result.stdout
    assert "lookup" in invoke("approvals", "ls", "-s", "c2").stdout
