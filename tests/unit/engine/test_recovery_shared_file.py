"""Two processes on one SQLite file (the CLI and a server) judging the same dead run: the
store closes it once (`close_run`: the check for a stored end and the write are one
transaction), and the one that came second sees the first one's end."""

from __future__ import annotations

from pathlib import Path

from agenthost.backends.sessions import open_session_store
from agenthost.backends.sessions.sqlite import SQLiteSessionStore
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message
from agenthost.core.session import SessionKey
from agenthost.engine.convert import new_event
from agenthost.engine.recovery import Recovery

KEY = SessionKey("t", "u", "s")


def received(run_id: str) -> Event:
    # an owner record that is surely gone: another machine, no lease
    owner = {"host": "gone", "machine": "elsewhere", "pid": 1, "start": 1, "holder": "h"}
    return Event(
        id=new_id(),
        run_id=run_id,
        author="user",
        type="message.received",
        message=Message.user("hi"),
        timestamp=1.0,
        data={"owner": owner},
    )


async def test_a_dead_run_is_closed_once_by_two_stores_on_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with open_session_store(url) as cli, open_session_store(url) as server:
        assert isinstance(cli, SQLiteSessionStore)
        await cli.append(await cli.create(KEY), [received("run_dead")])
        seen_by_cli, seen_by_server = await cli.get(KEY), await server.get(KEY)
        assert seen_by_cli is not None and seen_by_server is not None
        assert not seen_by_cli.events[-1].is_terminal  # both judge it open
        assert not seen_by_server.events[-1].is_terminal
        await Recovery(None).close_dangling(cli, seen_by_cli, ())
        await Recovery(None).close_dangling(server, seen_by_server, ())
        stored = await server.get(KEY)
        assert stored is not None
        assert [e.type for e in stored.events] == ["message.received", "run.interrupted"]
        # the second judge's session now shows the first one's end
        assert [e.type for e in seen_by_server.events][-1] == "run.interrupted"
        assert seen_by_server.last_seq == 2


async def test_close_run_stores_only_the_first_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with open_session_store(url) as one, open_session_store(url) as two:
        assert isinstance(one, SQLiteSessionStore) and isinstance(two, SQLiteSessionStore)
        await one.append(await one.create(KEY), [received("r1")])
        a, b = await one.get(KEY), await two.get(KEY)
        assert a is not None and b is not None
        end = new_event("run.interrupted", "r1", "runner", KEY, data={"status": "interrupted"})
        assert await one.close_run(a, end)
        again = new_event("run.failed", "r1", "runner", KEY, data={"status": "failed"})
        assert not await two.close_run(b, again)
        other = new_event("run.interrupted", "r2", "runner", KEY)  # another run: stored
        assert await two.close_run(b, other)
        stored = await one.get(KEY)
        assert stored is not None
        assert [(e.run_id, e.type) for e in stored.events] == [
            ("r1", "message.received"),
            ("r1", "run.interrupted"),
            ("r2", "run.interrupted"),
        ]
