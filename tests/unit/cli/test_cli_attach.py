"""`agenthost run --file` and `/attach` in chat: the files reach the model as content parts
and are kept as artifacts of the session (files under $AGENTHOST_HOME/artifacts)."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from agenthost.cli.app import app
from agenthost.testing.fake_openai import TextReply, ThreadedFakeServer

cli = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(16))


def test_run_with_files(config: Path, fake: ThreadedFakeServer, env: Path, tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("remember the milk")
    fake.server.add(TextReply("a cat and a note"))
    args = ["run", "-a", "plain", "what are these?", "-s", "f1"]
    result = cli.invoke(
        app, [*args, "--file", str(tmp_path / "cat.png"), "-f", str(tmp_path / "notes.txt")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "a cat and a note\n"
    content = fake.server.bodies[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what are these?"}
    assert (
        content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    )
    assert content[2]["file"]["filename"] == "notes.txt"
    with sqlite3.connect(config.parent / "cli.db") as conn:  # artifacts follow store.url
        kept = [r[0] for r in conn.execute("SELECT data FROM agenthost_artifacts")]
    assert sorted(kept) == sorted([PNG, b"remember the milk"])


def test_run_with_a_missing_file_fails_before_running(
    config: Path, fake: ThreadedFakeServer, tmp_path: Path
) -> None:
    result = cli.invoke(app, ["run", "-a", "plain", "hi", "--file", str(tmp_path / "nope.png")])
    assert result.exit_code != 0
    assert "--file" in result.output and "nope.png" in result.output
    assert fake.server.bodies == []


def test_chat_attach(config: Path, fake: ThreadedFakeServer, tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    fake.server.add(TextReply("a cat"), TextReply("plain"))
    script = f"/attach {tmp_path / 'cat.png'}\n/attach {tmp_path / 'gone.png'}\nlook\nagain\n"
    result = cli.invoke(app, ["chat", "-a", "plain", "-s", "c9"], input=script)
    assert result.exit_code == 0, result.output
    assert "attached" in result.stdout and "gone.png" in result.stdout
    first, second = (b["messages"][-1]["content"] for b in fake.server.bodies[-2:])
    assert [p["type"] for p in first] == ["text", "image_url"]
    assert second == "again"  # an attachment goes with one message only
