"""The soak test: a server under sustained mixed load, one SIGTERM and restart, then checks.

    python -m benchmarks.soak                 # 180 s (make soak)
    python -m benchmarks.soak --duration 40   # shorter

Everything on 127.0.0.1, bounded in time, stops by itself:

- the fake OpenAI server in a child process, failing every 10th model call (500 and 400 in
  turn: the model chain retries the 500, the 400 fails the run), `--latency` per call;
- `agenthost serve` in a child process on a temp SQLite file (`shutdown_grace: 1`);
- `--clients` concurrent clients, each looping until the deadline over: a streamed native run
  in a new session (a streaming agent and a plain one), a second run in one of its sessions, a
  native run it DISCONNECTS from after two frames, a streamed OpenAI chat completion;
- halfway through, SIGTERM to the server; the clients keep going (refused or 503 meanwhile);
  the server is started again on the same port and the file, and the load goes on.

At the end, through the API (`GET .../sessions/{sid}/events`, every page), for every run a
client saw: its last stored event is terminal (completed, failed or interrupted), and every
non-partial event a client received (by id) is stored. Every stream a client read to the end
ended with a terminal event (`run.completed`/`run.failed`, or `[DONE]`). The restarted
server's RSS and open descriptors, once idle, are within `--rss-tolerance` and
`--fd-tolerance` of their values after its first `--warmup` runs. A verdict table is printed;
the exit status is 1 when an invariant was violated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.server import Child, _env, child_server, free_port, write_config
from benchmarks.server_memory import USER_TEXT, open_fds, rss_bytes

AGENTS = ("bench", "bench_stream")  # write_config's agents: stream off / on
TERMINAL = {"run.completed", "run.failed", "run.interrupted"}
FINAL_STATUSES = {"completed", "failed", "interrupted"}
LOG_LEVEL = ["--log-level", "warning"]


# ----------------------------------------------------------------------------- records


class Refused(Exception):
    """The server did not take the request (down, or stopping)."""


@dataclass
class Seen:
    """One run as a client saw it."""

    api: str
    user: str
    agent: str
    session_id: str
    run_id: str
    event_ids: list[str] = field(default_factory=list)  # non-partial events received
    last: str = ""  # the last frame's event type (native) or data (OpenAI)
    read_to_end: bool = False  # False when the client left on purpose


@dataclass
class Tally:
    seen: list[Seen] = field(default_factory=list)
    refused: int = 0  # connection refused / 503 while the server restarted
    cut: list[str] = field(default_factory=list)  # streams that ended without a terminal
    errors: list[str] = field(default_factory=list)  # anything else unexpected
    finished: int = 0  # runs whose stream the client read to the end

    def add(self, item: Seen) -> None:
        self.seen.append(item)
        if item.read_to_end:
            self.finished += 1


@dataclass
class Sample:
    rss_mb: float
    fds: int


# ----------------------------------------------------------------------------- SSE


async def frames(response: Any) -> AsyncIterator[tuple[str, str]]:
    """(event type, data) of each SSE frame as it arrives; comments are skipped."""
    event, data = "", []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data or event:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip().decode())


# ----------------------------------------------------------------------------- clients


class Client:
    """One simulated user: loops over the four behaviours until the deadline."""

    def __init__(self, n: int, url: str, session: Any, tally: Tally, deadline: float) -> None:
        self.user = f"soak-{n}"
        self.url = url
        self.http = session
        self.tally = tally
        self.deadline = deadline
        self.rng = random.Random(n)
        self.sessions: list[tuple[str, str]] = []  # (agent, session id) of its runs

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Agenthost-User": self.user}

    async def loop(self) -> None:
        import aiohttp

        while time.monotonic() < self.deadline:
            roll = self.rng.random()
            try:
                if roll < 0.2:
                    await self.openai_run()
                elif roll < 0.35 and self.sessions:
                    await self.native_run(*self.rng.choice(self.sessions[-20:]))
                elif roll < 0.5:
                    await self.native_run(self.rng.choice(AGENTS), None, leave_after=2)
                else:
                    await self.native_run(self.rng.choice(AGENTS), None)
            except Refused:
                self.tally.refused += 1
                await asyncio.sleep(0.1)
            except (aiohttp.ClientError, ConnectionError) as exc:  # after the response head
                self.tally.cut.append(f"{type(exc).__name__}: {exc}"[:200])
            except Exception as exc:  # counted; the soak goes on
                self.tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    @contextlib.asynccontextmanager
    async def post(self, path: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        """POST; a connection error before the response head is a refusal (`Refused`): the
        server was down or closed an idle keep-alive connection while stopping."""
        import aiohttp

        request = self.http.post(self.url + path, json=body, headers=self.headers)
        try:
            response = await request.__aenter__()
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise Refused(str(exc)) from exc
        try:
            yield response
        finally:
            await request.__aexit__(None, None, None)

    async def _refused(self, response: Any, what: str) -> bool:
        """True (and counted) when the server refused the run: 503 while restarting."""
        if response.status == 200:
            return False
        text = (await response.text())[:200]
        if response.status == 503:
            self.tally.refused += 1
            await asyncio.sleep(0.1)
        else:
            self.tally.errors.append(f"{what}: HTTP {response.status}: {text}")
        return True

    async def native_run(self, agent: str, session_id: str | None, leave_after: int = 0) -> None:
        path = f"/v1/apps/{agent}/runs"
        if session_id is not None:
            path = f"/v1/apps/{agent}/sessions/{session_id}/runs"
        body = {"message": USER_TEXT}
        async with self.post(path, body) as response:
            if await self._refused(response, "native run"):
                return
            seen = Seen(
                "native",
                self.user,
                agent,
                response.headers["X-Session-Id"],
                response.headers["X-Run-Id"],
            )
            count = 0
            async for kind, data in frames(response):
                seen.last = kind
                if kind not in ("error", "message"):
                    event = orjson.loads(data)
                    if not event.get("partial"):
                        seen.event_ids.append(event["id"])
                count += 1
                if leave_after and count >= leave_after:
                    break  # the client goes away; the run goes on in the server
            else:
                seen.read_to_end = True
        self._record(seen)

    async def openai_run(self) -> None:
        agent = self.rng.choice(AGENTS)
        body = {"model": agent, "messages": [{"role": "user", "content": USER_TEXT}]}
        body["stream"] = True
        async with self.post("/v1/chat/completions", body) as response:
            if await self._refused(response, "chat completion"):
                return
            seen = Seen(
                "openai",
                self.user,
                agent,
                response.headers["X-Session-Id"],
                response.headers["X-Run-Id"],
            )
            async for _, data in frames(response):
                seen.last = data[:200]
            seen.read_to_end = True
        self._record(seen)

    def _record(self, seen: Seen) -> None:
        self.tally.add(seen)
        if seen.api == "native":
            self.sessions.append((seen.agent, seen.session_id))
        if seen.read_to_end and not _ended_well(seen):
            self.tally.cut.append(f"{seen.api} run {seen.run_id} ended with {seen.last!r}")


def _ended_well(seen: Seen) -> bool:
    if seen.api == "native":
        return seen.last in TERMINAL
    return seen.last == "[DONE]"


# ----------------------------------------------------------------------------- processes


@contextlib.contextmanager
def flaky_fake(latency: float, fail_every: int, stream_delay: float) -> Iterator[str]:
    cmd = [sys.executable, "-m", "benchmarks._flaky_fake", "--latency", str(latency)]
    cmd += ["--fail-every", str(fail_every), "--stream-delay", str(stream_delay)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the flaky fake did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def server_cmd(config: Path, port: int) -> list[str]:
    exe = Path(sys.executable).with_name("agenthost")
    return [str(exe), "serve", "--config", str(config), "--port", str(port), *LOG_LEVEL]


def sample(child: Child) -> Sample:
    return Sample(rss_bytes(child.proc.pid) / 2**20, open_fds(child.proc.pid))


# ----------------------------------------------------------------------------- the soak


@dataclass
class Report:
    duration: float
    runs: int = 0
    tally: Tally = field(default_factory=Tally)
    baselines: list[Sample] = field(default_factory=list)  # per server process
    before_sigterm: Sample | None = None
    end: Sample | None = None
    exit_code: int | None = None
    restart_s: float = 0.0
    not_terminal: list[str] = field(default_factory=list)
    not_stored: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


async def wait_runs(tally: Tally, count: int, until: float) -> None:
    while tally.finished < count and time.monotonic() < until:  # noqa: ASYNC110 - a poll
        await asyncio.sleep(0.2)


async def idle_sample(child: Child, baseline: Sample, seconds: float = 10.0) -> Sample:
    """The server's RSS and fds once its descriptors settle (or after `seconds`)."""
    end = time.monotonic() + seconds
    last = sample(child)
    while time.monotonic() < end and last.fds > baseline.fds:
        await asyncio.sleep(0.5)
        last = sample(child)
    return last


async def soak(args: argparse.Namespace, directory: Path, fake_url: str) -> Report:
    from benchmarks.server import client_session

    config = write_config(directory, fake_url, store=f"sqlite:///{directory / 'soak.db'}")
    port = free_port()
    env = _env(AGENTHOST_HOME=str(directory / "home"))
    report = Report(duration=args.duration)
    start = time.monotonic()
    deadline = start + args.duration
    stack = contextlib.ExitStack()
    child = stack.enter_context(
        child_server(
            "server1",
            server_cmd(config, port),
            port=port,
            ready_path="/readyz",
            cwd=directory,
            env=env,
        )
    )
    url = child.url
    async with client_session(limit=0) as http:
        clients = [Client(n, url, http, report.tally, deadline) for n in range(args.clients)]
        tasks = [asyncio.create_task(c.loop()) for c in clients]
        await wait_runs(report.tally, args.warmup, start + args.duration / 2)
        report.baselines.append(sample(child))
        await asyncio.sleep(max(0.0, start + args.duration / 2 - time.monotonic()))
        report.before_sigterm = sample(child)
        child, report.exit_code, report.restart_s = await restart(
            stack, child, config, port, directory, env
        )
        warm = report.tally.finished + args.warmup
        await wait_runs(report.tally, warm, deadline)
        report.baselines.append(sample(child))
        await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()) + 60)
        report.end = await idle_sample(child, report.baselines[-1])
        await verify(http, url, report)
    stack.close()
    report.runs = len(report.tally.seen)
    return report


async def restart(
    stack: contextlib.ExitStack,
    child: Child,
    config: Path,
    port: int,
    directory: Path,
    env: dict[str, str],
) -> tuple[Child, int | None, float]:
    """SIGTERM the server, wait for it to exit, start it again on the same port."""
    began = time.monotonic()
    print(f"  SIGTERM to the server (pid {child.proc.pid})", file=sys.stderr, flush=True)
    os.killpg(child.proc.pid, signal.SIGTERM)
    code = await asyncio.to_thread(child.proc.wait, 60)
    stack.close()
    new = await asyncio.to_thread(
        lambda: stack.enter_context(
            child_server(
                "server2",
                server_cmd(config, port),
                port=port,
                ready_path="/readyz",
                cwd=directory,
                env=env,
            )
        )
    )
    print(f"  restarted (pid {new.proc.pid})", file=sys.stderr, flush=True)
    return new, code, time.monotonic() - began


async def verify(http: Any, url: str, report: Report) -> None:
    """Through the API: every run seen is terminal, every event received is stored."""
    by_session: dict[tuple[str, str, str], list[Seen]] = {}
    for seen in report.tally.seen:
        by_session.setdefault((seen.agent, seen.session_id, seen.user), []).append(seen)
    queue = iter(by_session.items())

    async def worker() -> None:
        for (agent, session_id, user), seens in queue:
            events = await stored_events(http, url, agent, session_id, user)
            check_session(events, seens, report)

    await asyncio.gather(*(worker() for _ in range(16)))


async def stored_events(
    http: Any, url: str, agent: str, session_id: str, user: str
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        path = f"{url}/v1/apps/{agent}/sessions/{session_id}/events?after={after}&limit=1000"
        async with http.get(path, headers={"X-Agenthost-User": user}) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status}")
            page = orjson.loads(await response.read())
        events += page["events"]
        if not page["has_more"]:
            return events
        after = page["next_after"]


def check_session(events: list[dict[str, Any]], seens: list[Seen], report: Report) -> None:
    ids = {e["id"] for e in events}
    last: dict[str, dict[str, Any]] = {}
    for event in events:
        last[event["run_id"]] = event
    for seen in seens:
        end = last.get(seen.run_id)
        status = _status(end)
        report.statuses[status] = report.statuses.get(status, 0) + 1
        if status not in FINAL_STATUSES:
            report.not_terminal.append(f"{seen.api} run {seen.run_id}: {status}")
        missing = [i for i in seen.event_ids if i not in ids]
        if missing:
            report.not_stored.append(f"run {seen.run_id}: {len(missing)} events not stored")


def _status(event: dict[str, Any] | None) -> str:
    if event is None:
        return "not stored"
    if event["type"] not in TERMINAL:
        return f"open (last event {event['type']})"
    return str((event.get("data") or {}).get("status") or event["type"].removeprefix("run."))


# ----------------------------------------------------------------------------- verdict


def verdict(report: Report, args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    tally = report.tally
    base = report.baselines[-1] if report.baselines else None
    end = report.end
    rss_ok = bool(base and end and end.rss_mb <= base.rss_mb * (1 + args.rss_tolerance))
    fds_ok = bool(base and end and end.fds <= base.fds + args.fd_tolerance)
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.statuses.items()))
    return [
        ("runs seen by clients", f"{report.runs} ({statuses})", report.runs > 0),
        (
            "every run completed, failed or interrupted",
            _first(report.not_terminal),
            not report.not_terminal,
        ),
        (
            "every event a client received is stored",
            _first(report.not_stored),
            not report.not_stored,
        ),
        ("no stream ended without a terminal event", _first(tally.cut), not tally.cut),
        ("no unexpected client error", _first(tally.errors), not tally.errors),
        (
            "server exited cleanly on SIGTERM",
            f"exit {report.exit_code}, back in {report.restart_s:.1f} s, {tally.refused} refused",
            report.exit_code in (0, -signal.SIGTERM),
        ),
        (
            "RSS back near its baseline",
            _pair(base.rss_mb if base else None, end.rss_mb if end else None, "MB"),
            rss_ok,
        ),
        (
            "open descriptors back near their baseline",
            _pair(base.fds if base else None, end.fds if end else None, ""),
            fds_ok,
        ),
    ]


def _first(items: list[str]) -> str:
    return "none" if not items else f"{len(items)}, e.g. {items[0]}"


def _pair(base: float | None, end: float | None, unit: str) -> str:
    if base is None or end is None:
        return "not measured"
    return f"baseline {base:.1f}{unit} -> idle at the end {end:.1f}{unit}"


def print_verdict(rows: list[tuple[str, str, bool]], report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"soak: {report.duration:g} s, {report.runs} runs")
    table.add_column("invariant")
    table.add_column("observed")
    table.add_column("ok")
    for name, observed, ok in rows:
        table.add_row(name, observed, "yes" if ok else "[bold red]NO[/]")
    Console(width=160).print(table)
    for i, sample_ in enumerate(report.baselines, 1):
        print(f"server {i} after warm-up: RSS {sample_.rss_mb:.1f} MB, {sample_.fds} fds")
    if report.before_sigterm:
        s = report.before_sigterm
        print(f"server 1 before SIGTERM: RSS {s.rss_mb:.1f} MB, {s.fds} fds")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--latency", type=float, default=0.05, help="fake model seconds/call")
    parser.add_argument("--fail-every", type=int, default=10, help="1 model call in N fails")
    parser.add_argument(
        "--stream-delay",
        type=float,
        default=0.1,
        help="fake model seconds per streamed chunk: streamed runs outlast the 1 s shutdown "
        "grace, so the SIGTERM interrupts some",
    )
    parser.add_argument("--warmup", type=int, default=1000, help="runs before the baseline")
    parser.add_argument("--rss-tolerance", type=float, default=0.10)
    parser.add_argument("--fd-tolerance", type=int, default=5)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with (
        tempfile.TemporaryDirectory(prefix="agenthost-soak-") as name,
        flaky_fake(args.latency, args.fail_every, args.stream_delay) as fake_url,
    ):
        report = asyncio.run(soak(args, Path(name), fake_url))
    rows = verdict(report, args)
    print_verdict(rows, report)
    return 0 if all(ok for _, _, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
