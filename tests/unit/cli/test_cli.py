"""The CLI end to end against the fake OpenAI-compatible server (Typer's CliRunner)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner, Result

from agenthost.cli.app import app
from agenthost.core.events import Event
from agenthost.testing.fake_openai import ErrorReply, TextReply, ThreadedFakeServer

cli = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return cli.invoke(app, list(args), input=input)


def json_events(output: str) -> list[Event]:
    return [msgspec.json.decode(line, type=Event) for line in output.splitlines() if line]


def test_run_json_prints_every_event(config: Path) -> None:
    result = invoke("run", "--json", "find it", "--session", "s1")
    assert result.exit_code == 0, result.output
    events = json_events(result.stdout)
    stored = [e.type for e in events if not e.partial]
    assert stored == [
        "message.received",
        "message.completed",
        "tool.call.started",
        "tool.call.completed",
        "message.completed",
        "run.completed",
    ]
    assert any(e.type == "message.delta" and e.partial for e in events)
    tool = next(e for e in events if e.type == "tool.call.completed")
    assert tool.message is not None and tool.message.parts[0].content == "found fake"  # type: ignore[union-attr]
    assert {e.session_id for e in events} == {"s1"} and {e.user_id for e in events} == {"tester"}
    assert events[-1].message is None and events[-1].data is not None
    assert events[-1].data["status"] == "completed"


def test_run_streams_the_reply_to_stdout_and_tools_to_stderr(config: Path) -> None:
    result = invoke("run", "find it")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Done: found fake\n"
    assert "tool · lookup" in result.stderr and "found fake" in result.stderr
    assert '"query": "fake"' in result.stderr
    assert "continue with --session s_" in result.stderr


def test_run_reads_the_message_from_stdin(config: Path, fake: ThreadedFakeServer) -> None:
    result = invoke("run", "-a", "plain", "-", input="from stdin\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Echo: from stdin\n"


def test_a_failed_run_exits_1(config: Path, fake: ThreadedFakeServer) -> None:
    fake.server.add(ErrorReply(401))
    result = invoke("run", "hi")
    assert result.exit_code == 1
    assert "run failed (model_http_error)" in result.stderr
    assert "Check the API key" in result.stderr
    fake.server.add(ErrorReply(401))
    result = invoke("run", "--json", "hi")
    assert result.exit_code == 1
    assert json_events(result.stdout)[-1].type == "run.failed"


def test_model_override(config: Path, fake: ThreadedFakeServer) -> None:
    result = invoke("run", "-a", "plain", "-m", "fake:other-model", "hi")
    assert result.exit_code == 0, result.output
    assert fake.server.bodies[-1]["model"] == "other-model"


def test_sessions_list_show_rm(config: Path, fake: ThreadedFakeServer) -> None:
    assert invoke("run", "find it", "-s", "s1").exit_code == 0
    fake.server.add(ErrorReply(401))
    assert invoke("run", "again", "-s", "s1").exit_code == 1
    assert invoke("run", "-a", "plain", "other", "-s", "s2").exit_code == 0

    listed = invoke("sessions", "list")
    assert listed.exit_code == 0, listed.output
    assert "s1" in listed.stdout and "s2" not in listed.stdout  # s2 is the other agent's
    assert "1 completed, 1 failed" in listed.stdout and "find it" in listed.stdout
    other = invoke("sessions", "list", "-a", "plain")
    assert "s2" in other.stdout and "s1" not in other.stdout

    shown = invoke("sessions", "show", "s1")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "session s1" in out and "you › find it" in out and "helper › Done: found fake" in out
    assert "tool · lookup" in out and "found fake" in out
    assert "completed" in out and "failed" in out and "run failed (model_http_error)" in out

    picture = config.parent / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert invoke("run", "what is this?", "--file", str(picture), "-s", "s1").exit_code == 0
    # the artifacts follow store.url: a table in the session store's SQLite file
    db = config.parent / "cli.db"

    def saved() -> list[str]:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM agenthost_artifacts")]

    assert [name for name in saved() if name.startswith("uploads/")]
    assert not (Path(os.environ["AGENTHOST_HOME"]) / "artifacts").exists()
    assert invoke("sessions", "rm", "s1").stdout == "deleted session s1\n"
    assert not saved()  # the session's files went with it
    gone = invoke("sessions", "show", "s1")
    assert gone.exit_code == 2 and "Session 's1' was not found" in gone.stderr
    assert invoke("sessions", "rm", "s1").exit_code == 2
    assert "no sessions for user nobody" in invoke("sessions", "list", "-u", "nobody").stdout


def store_events(config: Path, session_id: str, *events: Event) -> None:
    """Writes `events` straight into session `session_id` of user tester with agent helper,
    as a process that died (or was cut off) would have left them."""
    import asyncio

    from agenthost.config import load_config, open_store
    from agenthost.core.session import SessionKey

    async def write() -> None:
        async with open_store(load_config(config)) as store:
            session = await store.create(SessionKey("clitest/helper", "tester", session_id))
            await store.append(session, list(events))

    asyncio.run(write())


def test_sessions_show_marks_a_run_a_dead_process_left_open(config: Path) -> None:
    from agenthost.core.messages import Message

    asked = Message.user("are you there?")
    store_events(
        config,
        "dead",
        Event(id="e1", run_id="run_dead", author="user", type="message.received", message=asked),
    )
    shown = invoke("sessions", "show", "dead")
    assert shown.exit_code == 0, shown.output
    assert "interrupted" in shown.stdout and "run_dead" in shown.stdout


def test_sessions_show_marks_a_cut_off_reply_incomplete(config: Path) -> None:
    from agenthost.core.messages import Message

    store_events(
        config,
        "cut",
        Event(
            id="e1",
            run_id="run_cut",
            author="user",
            type="message.received",
            message=Message.user("tell me a story"),
        ),
        Event(
            id="e2",
            run_id="run_cut",
            author="helper",
            type="message.completed",
            message=Message.assistant("Once upon a"),
            data={"incomplete": True},
        ),
    )
    shown = invoke("sessions", "show", "cut")
    assert shown.exit_code == 0, shown.output
    assert "Once upon a" in shown.stdout and "(incomplete" in shown.stdout


def test_chat_through_stdin(config: Path, fake: ThreadedFakeServer) -> None:
    fake.server.add(TextReply("plain answer"))
    script = "hi there\nfind it\n/history\n/new\n/history\n/bogus\n/exit\nnever sent\n"
    result = invoke("chat", "--session", "c1", input=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "agent helper · model fake:fake-model · session c1" in out
    assert "plain answer" in out
    assert "tool · lookup" in out and '"query": "fake"' in out and "Done: found fake" in out
    history = out.split("── session c1 ──")[1]
    assert "you › hi there" in history and "helper › plain answer" in history
    assert "you › find it" in history
    assert "new session s_" in out and "(no messages yet)" in out
    assert "unknown command /bogus" in out
    assert len(fake.server.bodies) == 3  # 'never sent' was not


def test_chat_continues_a_session_and_ends_at_eof(config: Path) -> None:
    assert invoke("run", "-a", "plain", "first", "-s", "c2").exit_code == 0
    result = invoke("chat", "-a", "plain", "-s", "c2", input="/history\n")
    assert result.exit_code == 0, result.output
    assert "continuing a session with 1 messages" in result.stdout
    assert "you › first" in result.stdout and "plain › Echo: first" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "-a", "helpr", "hi"], "Unknown agent 'helpr'; did you mean 'helper'?"),
        (["run", "-m", "gpt", "hi"], "--model (model_override): 'gpt' is neither"),
        (["run", "-c", "missing.yaml", "hi"], "Config file 'missing.yaml' was not found"),
        (["chat", "-a", "nobody"], "Unknown agent 'nobody'"),
    ],
)
def test_usage_and_config_errors_exit_2_without_a_traceback(
    config: Path, args: list[str], expected: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert expected in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output


def test_a_config_typo_is_shown_with_its_field(env: Path, tmp_path: Path) -> None:
    (tmp_path / "agenthost.yaml").write_text("agents:\n  helper:\n    modle: fake:x\n")
    result = invoke("run", "hi")
    assert result.exit_code == 2
    assert "agenthost.yaml:3: agents.helper.modle: unknown field; did you mean 'model'?" in (
        result.stderr.replace("\n", " ")
    )


def test_empty_message_is_a_usage_error(config: Path) -> None:
    result = invoke("run", "  ")
    assert result.exit_code == 2


def test_log_file_has_the_run_id(config: Path, env: Path) -> None:
    result = invoke("run", "--json", "hi")
    run_id = json_events(result.stdout)[0].run_id
    log = (env / "logs" / "agenthost.log").read_text()
    assert f"run={run_id} run ended: completed" in log


def test_help_and_version() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("chat", "run", "sessions", "version"):
        assert command in result.stdout
    assert "--agent" in invoke("chat", "--help").stdout
    assert invoke("version").stdout.startswith("agenthost ")
    assert invoke("sessions", "--help").exit_code == 0


def test_agent_option_with_agenthost_model_and_no_default_agent(
    config: Path, fake: ThreadedFakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # several agents, no default_agent: AGENTHOST_MODEL must not stop --agent from working
    config.write_text(config.read_text().replace("default_agent: helper\n", ""))
    monkeypatch.setenv("AGENTHOST_MODEL", "fake:from-env")
    ran = invoke("run", "-a", "plain", "hi", "-s", "s1")
    assert ran.exit_code == 0, ran.output
    shown = invoke("sessions", "show", "s1", "--agent", "plain")
    assert shown.exit_code == 0, shown.output
    assert "you › hi" in shown.stdout
    unnamed = invoke("sessions", "show", "s1")
    assert unnamed.exit_code == 2 and "pick one with --agent" in unnamed.stderr


def test_an_old_config_loads_with_a_plain_deprecation_note(tmp_path: Path) -> None:
    # a flat-struct file: a tool-loop setting on a dify agent is dropped with a note naming
    # the file, line and field, printed as one line (not Python's warning format)
    path = tmp_path / "old.yaml"
    path.write_text(
        "agents:\n  d:\n    kind: dify\n    api_key: app-x\n    instructions: be nice\n"
    )
    result = invoke("sessions", "list", "-c", str(path))
    assert result.exit_code == 0, result.output
    note = f"warning: {path}:5: agents.d.instructions: not a setting of kind 'dify'"
    assert note in result.stderr
    assert "FutureWarning" not in result.stderr and "source.warn" not in result.stderr


def test_a_reply_cut_at_its_length_limit_is_marked_cut(
    config: Path, fake: ThreadedFakeServer
) -> None:
    # finish_reason "length" (the token cap; the embedded model's repetition stop) on
    # run.completed: `run` says so after the reply, and `sessions show` in the transcript
    fake.server.add(TextReply("Once upon a time there", finish_reason="length"))
    ran = invoke("run", "-a", "plain", "tell me a story", "-s", "capped")
    assert ran.exit_code == 0, ran.output
    assert ran.stdout == "Once upon a time there\n"
    assert "(cut: the reply reached its length limit)" in ran.stderr
    shown = invoke("sessions", "show", "capped", "-a", "plain")
    assert shown.exit_code == 0, shown.output
    assert "Once upon a time there\n(cut: the reply reached its length limit)" in shown.stdout
