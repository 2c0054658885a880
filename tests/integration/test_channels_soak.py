"""The channel soak test (bounded in time): 200 conversations over three inputs (webhook,
stdin, cron), an output that fails every fifth send, and one `kill -9` of the runtime in the
middle. Every message gets exactly one reply in its conversation, in order; nothing accepted
is lost, and after the restart nothing is answered twice (the receiver drops a repeated
Idempotency-Key, as a platform does; raw repeats can only be sends the kill cut off before
they were recorded)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from agenthost.channels.signing import sign

from .net import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILD = Path(__file__).with_name("channels_soak_child.py")
SRC = str(Path(__file__).resolve().parents[2] / "src")
WEB_CONVERSATIONS = 190
WEB_MESSAGES = 3
STDIN_CONVERSATIONS = 5
STDIN_MESSAGES = 4
CRON_CONVERSATIONS = 5  # 190 + 5 + 5 = 200 conversations
CRASH_AFTER = 200  # replies received before the kill


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.first: dict[str, dict[str, Any]] = {}  # idempotency key -> first body
        self.order: dict[str, list[str]] = defaultdict(list)  # conversation -> texts
        self.repeats = 0
        self.failed = 0
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = msgspec.json.decode(await request.read())
        self.count += 1
        if self.count % 5 == 0:  # a fifth of the sends fail
            self.failed += 1
            return web.Response(status=503)
        key = request.headers["Idempotency-Key"]
        async with self.changed:
            if key in self.first:
                self.repeats += 1
            else:
                self.first[key] = body
                self.order[body["conversation"]].append(body["text"])
            self.changed.notify_all()
        return web.Response(status=204)

    async def wait(self, predicate: Any) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)


@contextlib.asynccontextmanager
async def child(db: Path, port: int, url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(db),
        str(port),
        url,
        str(CRON_CONVERSATIONS),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.strip() == b"READY", line
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def stdin_lines() -> bytes:
    lines = [
        msgspec.json.encode({"id": f"s{c}-{k}", "conversation": f"s{c}", "text": f"s{c} {k}"})
        for k in range(STDIN_MESSAGES)
        for c in range(STDIN_CONVERSATIONS)
    ]
    return b"\n".join(lines) + b"\n"


async def send_conversation(session: aiohttp.ClientSession, port: int, conv: int) -> None:
    """Send a conversation's messages in order, each until it is accepted (as a platform
    retries a webhook that did not answer 2xx)."""
    for k in range(WEB_MESSAGES):
        body = msgspec.json.encode(
            {"id": f"w{conv}-{k}", "conversation": f"w{conv}", "text": f"w{conv} {k}"}
        )
        while True:
            try:
                async with session.post(
                    f"http://127.0.0.1:{port}/", data=body, headers=sign("soak", body)
                ) as response:
                    if response.status in (200, 202):
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def test_channels_soak(tmp_path: Path) -> None:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    db, port = tmp_path / "soak.db", free_port()
    expected_web = WEB_CONVERSATIONS * WEB_MESSAGES + STDIN_CONVERSATIONS * STDIN_MESSAGES
    try:
        async with asyncio.timeout(240), aiohttp.ClientSession() as session:
            async with child(db, port, url) as first:
                assert first.stdin is not None
                first.stdin.write(stdin_lines())
                await first.stdin.drain()
                limit = asyncio.Semaphore(32)

                async def one(conv: int) -> None:
                    async with limit:
                        await send_conversation(session, port, conv)

                senders = [asyncio.create_task(one(c)) for c in range(WEB_CONVERSATIONS)]
                await rec.wait(lambda: len(rec.first) >= CRASH_AFTER)
                first.send_signal(signal.SIGKILL)  # the crash, in the middle of everything
                await first.wait()
            crashed_at = len(rec.first)
            async with child(db, port, url) as second:
                assert second.stdin is not None
                second.stdin.write(stdin_lines())  # the lines the first one may not have read
                await second.stdin.drain()
                await asyncio.gather(*senders)

                def all_answered() -> bool:
                    texts = [
                        t
                        for conv, ts in rec.order.items()
                        if not conv.startswith("cron")
                        for t in ts
                    ]
                    return len(texts) >= expected_web and all(
                        len(rec.order[f"cron{i}"]) >= 2 for i in range(CRON_CONVERSATIONS)
                    )

                await rec.wait(all_answered)
                second.send_signal(signal.SIGTERM)  # a graceful stop: in-flight replies flushed
                assert await second.wait() == 0
    finally:
        await runner.cleanup()

    # every webhook and stdin message: one reply, in its conversation, in order
    for c in range(WEB_CONVERSATIONS):
        assert rec.order[f"w{c}"] == [f"echo: w{c} {k}" for k in range(WEB_MESSAGES)]
    for c in range(STDIN_CONVERSATIONS):
        assert rec.order[f"s{c}"] == [f"echo: s{c} {k}" for k in range(STDIN_MESSAGES)]
    # every accepted cron tick: exactly one reply; nothing pending or failed in the store
    conn = sqlite3.connect(db)
    inbox = conn.execute(
        "SELECT input, conversation, message_id, state FROM channel_inbox"
    ).fetchall()
    outbox = dict(
        conn.execute("SELECT status, count(*) FROM channel_outbox GROUP BY status").fetchall()
    )
    conn.close()
    assert {state for *_, state in inbox} == {"done"}
    # a reply whose send failed just before the stop (a cron tick keeps coming) stays pending
    # in the outbox for the next start: kept, not lost; nothing ever failed or went twice
    assert set(outbox) <= {"delivered", "pending"} and outbox.get("pending", 0) <= 2, outbox
    assert sum(outbox.values()) == len(inbox)
    replied = [
        (b["in_reply_to"]["input"], b["in_reply_to"]["conversation"], b["in_reply_to"]["id"])
        for b in rec.first.values()
    ]
    assert len(replied) == outbox["delivered"]  # one each, no more
    assert set(replied) <= {(i, c, m) for i, c, m, _ in inbox}
    for i in range(CRON_CONVERSATIONS):
        ticks = [
            b["in_reply_to"]["id"] for b in rec.first.values() if b["conversation"] == f"cron{i}"
        ]
        assert ticks == sorted(ticks)  # in tick order
    print(  # the run's numbers, for `pytest -s`
        f"soak: {len(inbox)} messages, {rec.count} sends ({rec.failed} failed), crash after "
        f"{crashed_at} replies, {rec.repeats} repeated keys dropped by the receiver"
    )
    assert rec.failed > 0 and crashed_at < len(rec.first)
    assert rec.repeats <= 16, rec.repeats  # only sends the kill cut off (output concurrency)
