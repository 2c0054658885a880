"""Session store micro benchmark: what storing a turn costs, per backend.

    PYTHONPATH=src python benchmarks/store_micro.py [--history 600] [--rounds 2000] [--json]

For `memory://` and `sqlite:///<tmp>/bench.db` (a real file, WAL): µs per cached `get` of a
session with `history` events, per `append` of a batch of 3 events (median, mean, p99: the
mean and p99 include the WAL auto-checkpoints), per agent turn (one get and 7 events in
3 appends), and the CPU of a runner's new-session turn's store calls (`--turns-only`: just
that, for quick before/after runs). For SQLite also: a cold get (decode the whole session),
the refresh after another connection appended 3 events, what re-reading app/user state on
every get would cost (the alternative to updating cached sessions on append), and the same
3-event transaction on a bare sqlite3 connection on the loop vs. through a thread
(`asyncio.to_thread`). `--schemas`: a commit of the same appends on a bare connection with
the store's schema and the alternatives evaluated in docs/benchmarks.md.

`run_store_micro()` returns the numbers as a dict for the main benchmark suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agenthost.backends.sessions import SessionBackend, open_session_store
from agenthost.core.events import Event
from agenthost.core.ids import new_id
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.core.session import SessionKey
from agenthost.core.usage import Usage

ANSWER = "Here is what I found about that: " + "a reasonably long sentence of an answer. " * 4


def _event(type: Any, message: Message | None = None, **extra: Any) -> Event:
    return Event(
        id=new_id(), run_id="run_bench", author="agent", type=type, message=message, **extra
    )


def batch3() -> list[Event]:
    call = ToolCallPart(id="call_1", name="search", arguments='{"query": "news"}')
    return [
        _event(
            "message.completed",
            Message.assistant("", tool_calls=(call,)),
            usage=Usage(input_tokens=812, output_tokens=23, requests=1),
        ),
        _event("tool.call.started", data={"tool": "search", "call_id": "call_1"}),
        _event(
            "tool.call.completed",
            Message.tool(ToolResultPart(tool_call_id="call_1", name="search", content="42 hits")),
            data={"tool": "search", "call_id": "call_1", "elapsed": 0.002},
        ),
    ]


def turn_batches() -> list[list[Event]]:
    """One agent turn with a tool round trip: 7 events stored in 3 appends."""
    return [
        [
            _event("message.received", Message.user("What is new today?")),
            _event("run.started"),
        ],
        batch3(),
        [
            _event(
                "message.completed",
                Message.assistant(ANSWER),
                usage=Usage(input_tokens=860, output_tokens=120, requests=1),
            ),
            _event("run.completed", data={"status": "completed"}),
        ],
    ]


def _us(ns: float) -> float:
    return round(ns / 1000, 2)


def _summary(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "median_us": _us(statistics.median(ordered)),
        "mean_us": _us(statistics.fmean(ordered)),
        "p99_us": _us(ordered[int(len(ordered) * 0.99) - 1]),
        "max_us": _us(ordered[-1]),
    }


async def _mean_ns(fn: Callable[[], Awaitable[Any]], rounds: int) -> float:
    for _ in range(min(rounds, 100)):
        await fn()
    start = time.perf_counter_ns()
    for _ in range(rounds):
        await fn()
    return (time.perf_counter_ns() - start) / rounds


async def _fill(store: SessionBackend, key: SessionKey, history: int) -> None:
    session = await store.create(key, state={"user:name": "bench", "step": 0})
    for _ in range(history // 3):
        await store.append(session, batch3())


async def bench_store(url: str, *, history: int, rounds: int, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with open_session_store(url, **options) as store:
        key = SessionKey("bench", "u1", "history")
        await _fill(store, key, history)

        async def get() -> None:
            await store.get(key)

        result["get_cached_us"] = _us(await _mean_ns(get, rounds * 5))

        session = await store.create(SessionKey("bench", "u1", "appends"))
        samples = []
        for _ in range(rounds):
            events = batch3()
            start = time.perf_counter_ns()
            await store.append(session, events)
            samples.append(time.perf_counter_ns() - start)
        result["append3"] = _summary(samples)

        turn_key = SessionKey("bench", "u1", "turns")
        await store.create(turn_key)
        samples = []
        for _ in range(max(rounds // 4, 50)):  # grows to rounds/4 turns of history
            batches = turn_batches()
            start = time.perf_counter_ns()
            current = await store.get(turn_key)
            assert current is not None
            for events in batches:
                await store.append(current, events)
            samples.append(time.perf_counter_ns() - start)
        result["turn_7_events"] = _summary(samples)

        # The same turns with 0.5 ms pauses where the model calls would be: the store's share
        # of the loop's time, with background work (checkpoints) overlapping the pauses.
        paced_key = SessionKey("bench", "u1", "paced")
        await store.create(paced_key)
        samples = []
        for _ in range(max(rounds // 4, 50)):
            spent = 0
            start = time.perf_counter_ns()
            current = await store.get(paced_key)
            assert current is not None
            spent += time.perf_counter_ns() - start
            for events in turn_batches():
                await asyncio.sleep(0.0005)
                start = time.perf_counter_ns()
                await store.append(current, events)
                spent += time.perf_counter_ns() - start
            samples.append(spent)
        result["turn_7_events_paced"] = _summary(samples)
        result["new_session_turn_cpu_us"] = await new_session_turn_cpu(store, rounds)
    return result


async def new_session_turn_cpu(store: SessionBackend, rounds: int) -> float:
    """CPU µs (every thread: the checkpoints too) of the store calls of a runner's new-session
    turn with a tool call: `create_with_events` with the user's message, then the tool call,
    its result, the answer with the run's end (4 writes, as `benchmarks.engine_turn`). Each
    write in a loop tick of its own, as in a turn (the model calls in between): written back
    to back in one tick, a turn's create would join the next turns' writes in a group commit
    (sqlite.py), which no single turn does."""
    create = getattr(store, "create_with_events", None)
    assert create is not None
    tick = asyncio.sleep
    turns = max(rounds, 200)
    spent = 0.0
    for n in range(turns + 100):  # the first 100 warm up
        first, tool, answer = turn_batches()
        start = time.process_time()
        session = await create(SessionKey("bench", "u1", new_id()), first)
        await tick(0)
        await store.append(session, tool[:2])
        await tick(0)
        await store.append(session, tool[2:])
        await tick(0)
        await store.append(session, answer)
        await tick(0)
        if n >= 100:
            spent += time.process_time() - start
    return spent / turns * 1e6


async def bench_sqlite_extras(path: Path, *, history: int, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    url = f"sqlite:///{path}"
    key = SessionKey("bench", "u1", "history")
    async with open_session_store(url) as store, open_session_store(url) as other:
        found = await other.get(key)
        assert found is not None

        async def cold() -> None:
            await store.aclose()
            await store.open()  # empty cache
            await store.get(key)

        result["get_cold_us"] = _us(await _mean_ns(cold, max(rounds // 20, 20)))

        samples = []
        for _ in range(max(rounds // 10, 50)):
            await store.get(key)  # cached
            await other.append(found, batch3())  # another connection writes
            start = time.perf_counter_ns()
            await store.get(key)  # refresh: the 3 new events + state
            samples.append(time.perf_counter_ns() - start)
        result["get_after_other_connection_appended"] = _summary(samples)

        conn = store._conn  # type: ignore[attr-defined]

        async def reread_shared() -> None:
            store._read_shared(conn, "bench", "u1")  # type: ignore[attr-defined]

        result["reread_app_user_state_us"] = _us(await _mean_ns(reread_shared, rounds))
    result.update(await _bare_sqlite(path.with_name("bare.db"), rounds=rounds))
    return result


async def _bare_sqlite(path: Path, *, rounds: int) -> dict[str, Any]:
    """The append transaction on a bare connection: on the loop vs. through a thread."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer = ThreadPoolExecutor(1)  # a dedicated writer thread
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE e (s TEXT, seq INTEGER, data BLOB, PRIMARY KEY (s, seq))")
        conn.execute("CREATE TABLE s (s TEXT PRIMARY KEY, last INTEGER)")
        conn.execute("INSERT INTO s VALUES ('x', 0)")
        blob = b"x" * 400
        seq = 0

        def transaction() -> None:
            nonlocal seq
            conn.execute("BEGIN IMMEDIATE")
            rows = [("x", seq + i, blob) for i in (1, 2, 3)]
            seq += 3
            conn.executemany("INSERT INTO e VALUES (?, ?, ?)", rows)
            conn.execute("UPDATE s SET last = ? WHERE s = 'x'", (seq,))
            conn.execute("COMMIT")

        async def on_loop() -> None:
            transaction()

        async def in_thread() -> None:
            await asyncio.to_thread(transaction)

        async def in_writer() -> None:
            await asyncio.get_running_loop().run_in_executor(writer, transaction)

        def statement() -> None:
            conn.execute("SELECT last FROM s WHERE s = 'x'").fetchone()

        async def statement_on_loop() -> None:
            statement()

        async def statement_in_thread() -> None:
            await asyncio.to_thread(statement)

        return {
            "bare_append3_on_loop_us": _us(await _mean_ns(on_loop, rounds)),
            "bare_append3_via_thread_us": _us(await _mean_ns(in_thread, rounds)),
            "bare_append3_via_writer_thread_us": _us(await _mean_ns(in_writer, rounds)),
            "bare_select_on_loop_us": _us(await _mean_ns(statement_on_loop, rounds)),
            "bare_select_via_thread_us": _us(await _mean_ns(statement_in_thread, rounds)),
        }
    finally:
        writer.shutdown()
        conn.close()


_EVENTS_BY_KEY = """CREATE TABLE events (app TEXT NOT NULL, user_id TEXT NOT NULL,
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, invocation_id TEXT NOT NULL,
    type TEXT NOT NULL, timestamp REAL NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (app, user_id, session_id, seq))"""
_EVENTS_WITHOUT_ROWID = """CREATE TABLE events (sid INTEGER NOT NULL, seq INTEGER NOT NULL,
    id TEXT NOT NULL, invocation_id TEXT NOT NULL, type TEXT NOT NULL, timestamp REAL NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (sid, seq)) WITHOUT ROWID"""


def bare_schema_commits(directory: Path, *, turns: int) -> dict[str, float]:
    """CPU µs per commit of a turn's appends (1, 1, 1 and 2 events of 600 bytes, each in
    `BEGIN IMMEDIATE`, `PRAGMA data_version`, the insert, `COMMIT`) on a bare connection, for
    the store's schema (version 2: events keyed by the rowid `sid << 32 | seq`, no session-row
    update) and the alternatives evaluated in docs/benchmarks.md: version 1's session-row
    update, version 1's events keyed by (app, user_id, session_id, seq), `WITHOUT ROWID`, one
    autocommit insert instead of the transaction, other page sizes. A checkpoint every 300
    turns."""
    from agenthost.backends.sessions import _sqlite_sql as sql
    from agenthost.backends.sessions._sqlite_schema import SCHEMA

    base = [s for s in SCHEMA if "TABLE IF NOT EXISTS events" not in s]
    blob = b'{"x":"' + b"a" * 600 + b'"}'
    now_row = (lambda _k, s, q: ((s << 32) | q, "i", "r", "t", 1.0, 2.0, blob),)
    update = "UPDATE sessions SET updated_at = ? WHERE sid = ?"
    # name: schema, insert, row(key, sid, seq), extra statement a commit, pragmas
    variants: dict[str, tuple[Any, ...]] = {
        "now": (SCHEMA, sql.INSERT_EVENT, *now_row, None),
        "now + session-row update (v1)": (SCHEMA, sql.INSERT_EVENT, *now_row, update),
        "events by session key (v1)": (
            [*base, _EVENTS_BY_KEY],
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            lambda k, _s, q: (*k, q, "i", "r", "t", 1.0, blob),
            None,
        ),
        "events WITHOUT ROWID (sid, seq)": (
            [*base, _EVENTS_WITHOUT_ROWID],
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            lambda _k, s, q: (s, q, "i", "r", "t", 1.0, blob),
            None,
        ),
        "now, autocommit (no BEGIN/COMMIT)": (SCHEMA, sql.INSERT_EVENT, *now_row, None),
        "now, page_size 8192": (
            SCHEMA,
            sql.INSERT_EVENT,
            *now_row,
            None,
            "PRAGMA page_size = 8192",
        ),
        "now, page_size 1024": (
            SCHEMA,
            sql.INSERT_EVENT,
            *now_row,
            None,
            "PRAGMA page_size = 1024",
        ),
    }
    out: dict[str, float] = {}
    for n, (name, (schema, insert, row, extra, *pragmas)) in enumerate(variants.items()):
        conn = sqlite3.connect(directory / f"schema{n}.db", isolation_level=None)
        try:
            for pragma in pragmas:
                conn.execute(pragma)
            for statement in (
                "journal_mode = WAL",
                "synchronous = NORMAL",
                "wal_autocheckpoint = 0",
            ):
                conn.execute(f"PRAGMA {statement}")
            for statement in schema:
                conn.execute(statement)
            out[name] = _commits(conn, (insert, row, extra), turns, "autocommit" in name)
        finally:
            conn.close()
    return out


def _commits(
    conn: sqlite3.Connection,
    spec: tuple[str, Callable[[tuple[str, str, str], int, int], tuple[Any, ...]], str | None],
    turns: int,
    autocommit: bool,
) -> float:
    """CPU µs a commit of `turns` turns of 4 appends (bare_schema_commits)."""
    from agenthost.backends.sessions import _sqlite_sql as sql

    insert, row, extra = spec
    spent = 0.0
    for t in range(turns):
        key = ("app", "user", f"s{t}")
        sid = conn.execute(sql.INSERT_SESSION, (*key, b"{}", 1.0, 1.0)).lastrowid or 0
        seq = 0
        start = time.process_time()
        for count in (1, 1, 1, 2):
            if not autocommit:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("PRAGMA data_version").fetchone()
            for i in range(1, count + 1):  # one event each: autocommit then means one commit
                conn.execute(insert, row(key, sid, seq + i))
                if autocommit:
                    break
            seq += count
            if extra is not None:
                conn.execute(extra, (2.0, sid))
            if autocommit:
                conn.execute("PRAGMA data_version").fetchone()
            else:
                conn.execute("COMMIT")
        spent += time.process_time() - start
        if t % 300 == 299:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return spent / turns / 4 * 1e6


async def run_store_micro_async(*, history: int = 600, rounds: int = 2000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        return {
            "history_events": history,
            "memory": await bench_store("memory://", history=history, rounds=rounds),
            "sqlite": {
                **await bench_store(f"sqlite:///{path}", history=history, rounds=rounds),
                **await bench_sqlite_extras(path, history=history, rounds=rounds),
            },
            "sqlite_inline_checkpoint": await bench_store(
                f"sqlite:///{path.with_name('inline.db')}",
                history=history,
                rounds=rounds,
                background_checkpoint=False,
            ),
        }


def run_store_micro(*, history: int = 600, rounds: int = 2000) -> dict[str, Any]:
    """The numbers as a dict (µs); starts its own event loop."""
    return asyncio.run(run_store_micro_async(history=history, rounds=rounds))


def _print(results: dict[str, Any]) -> None:
    print(f"session store micro benchmark ({results['history_events']} events of history)")
    for backend in ("memory", "sqlite", "sqlite_inline_checkpoint"):
        print(f"\n{backend}")
        for name, value in results[backend].items():
            if isinstance(value, dict):
                cells = ", ".join(f"{k.removesuffix('_us')} {v:.1f}" for k, v in value.items())
                print(f"  {name:<40} {cells} µs")
            else:
                print(f"  {name:<40} {value:.1f} µs")


async def _turns_only(url: str, rounds: int) -> list[float]:
    """`new_session_turn_cpu` in blocks of 300 turns (their spread shows the machine's noise)."""
    async with open_session_store(url) as store:
        return [await new_session_turn_cpu(store, 300) for _ in range(max(rounds // 300, 1))]


async def _fixed_turns(url: str, turns: int, warmup: int = 300, most: int = 1000) -> None:
    """`warmup` + `turns` new-session turns as `new_session_turn_cpu` writes them, the events
    of `warmup` + `most` turns built first whatever `turns` is (so two runs differ only in the
    store calls): for instruction counts (`--instructions`)."""
    if not 0 <= turns <= most:
        raise SystemExit(f"--instructions takes 0 to {most} turns")
    made = [(SessionKey("bench", "u1", new_id()), turn_batches()) for _ in range(warmup + most)]
    async with open_session_store(url) as store:
        create = getattr(store, "create_with_events", None)
        assert create is not None
        for key, (first, tool, answer) in made[: warmup + turns]:
            session = await create(key, first)
            await asyncio.sleep(0)
            for batch in (tool[:2], tool[2:], answer):
                await store.append(session, batch)
                await asyncio.sleep(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--history", type=int, default=600, help="events in the cached session")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--turns-only",
        action="store_true",
        help="only the new-session turn's CPU (memory, then SQLite), `rounds` turns each",
    )
    parser.add_argument(
        "--schemas",
        action="store_true",
        help="only the bare-connection commit of other schemas (`rounds` turns each)",
    )
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="N",
        help="only 300 + N store-only new-session turns on SQLite, with 300 + 1,000 turns' "
        "events built first (N <= 1000), printing nothing: run it under "
        "`valgrind --tool=callgrind` with N and with 0, and divide the difference by N",
    )
    args = parser.parse_args()
    if args.instructions is not None:
        with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
            asyncio.run(_fixed_turns(f"sqlite:///{tmp}/turns.db", args.instructions))
        return
    if args.schemas:
        with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
            for name, us in bare_schema_commits(Path(tmp), turns=args.rounds).items():
                print(f"{name:<40} {us:5.1f} µs CPU a commit")
        return
    if args.turns_only:
        with tempfile.TemporaryDirectory(prefix="agenthost-bench-") as tmp:
            for url in ("memory://", f"sqlite:///{tmp}/turns.db"):
                cpu = sorted(asyncio.run(_turns_only(url, args.rounds)))
                print(
                    f"{url.split(':')[0]:<7} new-session turn, store calls: µs CPU min "
                    f"{cpu[0]:.1f}, median {statistics.median(cpu):.1f} ({len(cpu)} blocks)"
                )
        return
    results = run_store_micro(history=args.history, rounds=args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)


if __name__ == "__main__":
    main()
