"""The HTTP server: SSE overhead per event, and many concurrent streaming runs.

Every server is a real `agenthost serve` in a child process (a temp `agenthost.yaml` whose
provider's `base_url` is the fake OpenAI server, itself another process, store `memory://`,
`--log-level warning`), read by an aiohttp client in this process (the concurrent runs by
`LeanClient`, a lighter one: the load generator shares the server's cores).

- SSE overhead: the turn of `turn` (LLMAgent + one tool, fake model at 0 ms) run (a) with
  `Runner.run` directly in this process and (b) as `POST /v1/apps/{agent}/runs` read as SSE,
  one turn after another on a keep-alive connection; `repeat` round-robin repetitions of
  `warmup` + `turns` turns, median of the per-turn means. The value is (b - a) / the number of
  SSE events of a turn, in µs (target < 1 ms), for stream=False and stream=True agents.
- concurrent runs: `server_runs` streaming runs started at once against one server process,
  fake model at 100 ms (2 model calls per run: ideal 0.2 s). Every stream must end with
  `run.completed`; errors are counted. Wall time, runs/s, p50/p99 per-run latency. Bounded:
  the whole phase is cancelled after `server_timeout` seconds and the server killed.
- `--compare`: the same concurrent workload through Google ADK's `adk api_server` (`/run_sse`,
  LiteLlm `openai/` model) and AgentScope Runtime's `AgentApp` (`/process`, OpenAIChatModel),
  both from `benchmarks/.venv-compare` (made by `benchmarks/compare_setup.sh`), pointed at the
  same fake server. A framework that cannot be run gets a "not measured: <reason>" row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks._common import Outcome, Row, Settings, limited, median

WORKLOAD_SSE = "server SSE overhead (0 ms)"
WORKLOAD_CONC = "server concurrent runs (100 ms)"  # the cold burst
WORKLOAD_SUSTAINED = "server sustained runs (100 ms)"  # the closed loop: issue 9's target
MAX_US_PER_EVENT = 1000.0
MIN_RUNS_PER_S = 1000.0  # issue 9: one server process, streaming runs on the fake model
ROOT = Path(__file__).resolve().parents[1]
COMPARE_VENV = ROOT / "benchmarks" / ".venv-compare"
AGENTS = {"bench": False, "bench_stream": True}  # agent name -> LLMAgent stream
START_TIMEOUT = 180.0  # a server under valgrind (profile_server --callgrind) starts slowly


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, base_url: str, *, store: str = "memory://") -> Path:
    agents = "".join(
        f"  {name}:\n"
        f"    model: fake:fake-model\n"
        f'    tools: ["benchmarks._agent:search"]\n'
        f"    stream: {'true' if stream else 'false'}\n"
        for name, stream in AGENTS.items()
    )
    path = directory / "agenthost.yaml"
    path.write_text(
        "app: bench\n"
        f"store: {store}\n"
        "providers:\n"
        "  fake:\n"
        f"    base_url: {base_url}\n"
        "    api_key: sk-bench\n"
        f"agents:\n{agents}"
        "server:\n"
        "  host: 127.0.0.1\n"
        "  shutdown_grace: 1\n"
    )
    return path


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    path = extra.get("PYTHONPATH", os.environ.get("PYTHONPATH"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), path]))
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A server in a child process (its own process group), its log in a temp file."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux; 0 elsewhere)."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@contextlib.contextmanager
def child_server(
    name: str, cmd: list[str], *, port: int, ready_path: str, cwd: Path, env: dict[str, str]
) -> Iterator[Child]:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    child = Child(name, proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        if port == 0:
            child.url = f"http://127.0.0.1:{_bound_port(child, deadline)}"
        _wait_ready(child, child.url + ready_path, deadline)
        yield child
    finally:
        child.stop()


# `agenthost serve`'s banner, printed once it listens (the port it was given, or with
# `--port 0` the one the system chose)
_SERVING = re.compile(r"agenthost is serving \d+ agent\(s\) on http://127\.0\.0\.1:(\d+)")


def _bound_port(child: Child, deadline: float) -> int:
    """The port a child started with `--port 0` listens on, from its banner. A port picked
    here (`free_port`) and bound later by the child can be taken in between by any other
    process's connection or server on the machine: a bind error, or worse, another server
    answering the readiness probe."""
    while time.monotonic() < deadline:
        found = _SERVING.search(child.tail(100_000))
        if found is not None:
            return int(found.group(1))
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}: {child.tail()}")
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} printed no banner in {START_TIMEOUT:g} s: {child.tail()}")


def _wait_ready(child: Child, url: str, deadline: float) -> None:
    import urllib.error
    import urllib.request

    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}: {child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} in {START_TIMEOUT:g} s: {child.tail()}")


@contextlib.contextmanager
def agenthost_server(
    directory: Path,
    base_url: str,
    *,
    store: str = "memory://",
    env: dict[str, str] | None = None,
    log_level: str = "warning",
) -> Iterator[Child]:
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory, base_url, store=store)
    exe = Path(sys.executable).with_name("agenthost")
    cmd = [str(exe), "serve", "--config", str(config), "--port", "0"]  # the port: its banner
    cmd += ["--log-level", log_level]
    environ = _env(AGENTHOST_HOME=str(directory / "home"), **(env or {}))
    with child_server(
        "agenthost", cmd, port=0, ready_path="/readyz", cwd=directory, env=environ
    ) as c:
        yield c


# ----------------------------------------------------------------------------- clients


@dataclass
class Stream:
    """What one streamed run gave: SSE frames (event types), the last data, an error."""

    types: list[str] = field(default_factory=list)
    last_data: str = ""
    error: str = ""


async def read_sse(response: Any) -> Stream:
    """Frames of an SSE body (aiohttp response), read whole. A frame without `event:` is
    `message`."""
    return parse_sse(await response.read())


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def parse_sse(body: bytes) -> Stream:
    """The frames of an SSE body: the load generator shares the server's cores, so it parses
    a whole body at once (a line at a time as it arrives cost it 0.2 ms per run more)."""
    out = Stream()
    for block in _BLANK_LINE.split(body):
        event = ""
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip().decode())
        if data or event:
            out.types.append(event or "message")
            out.last_data = "\n".join(data)
    return out


def client_session(limit: int = 0) -> Any:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=120)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


def run_client(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a load generator's coroutine on uvloop (what the server runs on) when installed:
    the client shares the server's cores, and asyncio's own loop costs it more CPU per run."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with the `server` extra
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# A target: opens what it needs per client and returns `run_one(session, i) -> error or ""`.
RunOne = Callable[[Any, int], Awaitable[str]]
Target = Callable[[], contextlib.AbstractContextManager[tuple[RunOne, "Child"]]]


class _Exchange(asyncio.Protocol):
    """One keep-alive connection of `LeanClient`: a request written whole, its answer read
    until the end of the chunked body (or of `Content-Length`)."""

    def __init__(self, gone: Callable[[_Exchange], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[bytes] | None = None
        self.buffer = bytearray()
        self.length: int | None = None  # the whole answer's length, once known
        self.closed = False
        self.gone = gone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no asyncio.Transport

    def send(self, request: bytes) -> asyncio.Future[bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self.length = None
        self.transport.write(request)
        return self.answer

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.length is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            found = re.search(rb"\r\ncontent-length: *(\d+)", head)
            if found is not None:
                self.length = end + 4 + int(found.group(1))
            elif b"transfer-encoding: chunked" not in head:
                self.length = -1  # read to the end of the connection
        done = (
            len(buffer) >= self.length
            if self.length is not None and self.length >= 0
            else self.length is None and buffer.endswith(b"\r\n0\r\n\r\n")
        )
        if done and self.answer is not None and not self.answer.done():
            self.answer.set_result(bytes(buffer))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gone(self)
        if self.answer is not None and not self.answer.done():
            if self.length == -1:
                self.answer.set_result(bytes(self.buffer))
            else:
                self.answer.set_exception(ConnectionError(f"connection lost: {exc}"))


def _dechunk(answer: bytes) -> tuple[int, bytes]:
    """The status and body of an HTTP/1.1 answer (chunked or not)."""
    head, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" not in head.lower():
        return status, rest
    parts: list[bytes] = []
    at = 0
    while True:
        eol = rest.index(b"\r\n", at)
        size = int(rest[at:eol].split(b";", 1)[0], 16)
        if size == 0:
            return status, b"".join(parts)
        parts.append(rest[eol + 2 : eol + 2 + size])
        at = eol + 2 + size + 2


class LeanClient:
    """The load generator's HTTP client for the run routes: pre-built requests on a pool of
    keep-alive connections, each answer read whole and then parsed. It shares the machine's
    cores with the server and the fake model: aiohttp's client cost about 0.45-0.5 ms of CPU a
    run (the request and response objects, its stream reader), this one about a third of it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[_Exchange] = []

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()

    def _gone(self, conn: _Exchange) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; the answer's status and body."""
        if self.idle:
            conn = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(
                lambda: _Exchange(self._gone), self.host, self.port
            )
        answer = await conn.send(request)
        if not conn.closed:
            self.idle.append(conn)
        return _dechunk(answer)


def agenthost_run_one(url: str, agent: str) -> RunOne:
    """A streaming run through `LeanClient` (`burst` opens one per burst for it)."""
    from urllib.parse import urlsplit

    from benchmarks.bare_loops import USER_TEXT

    parts = urlsplit(url)
    body = orjson.dumps({"message": USER_TEXT})
    request = (
        b"POST /v1/apps/%s/runs HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (agent.encode(), parts.netloc.encode(), len(body), body)
    )

    async def one(client: LeanClient, _: int) -> str:
        status, answer = await client.exchange(request)
        if status != 200:
            return f"HTTP {status}: {answer[:200]!r}"
        stream = parse_sse(answer)
        if not stream.types or stream.types[-1] != "run.completed":
            return f"stream ended with {stream.types[-1:]}: {stream.last_data[:200]}"
        return ""

    assert parts.hostname is not None and parts.port is not None
    host, port = parts.hostname, parts.port
    one.client = lambda: LeanClient(host, port)  # type: ignore[attr-defined]
    return one


# ----------------------------------------------------------------------------- SSE overhead


async def _direct_rep(base_url: str, stream: bool, warmup: int, turns: int) -> tuple[float, int]:
    from benchmarks._agent import open_runner
    from benchmarks.bare_loops import USER_TEXT

    async with open_runner(base_url, "memory://", stream=stream) as runner:

        async def one() -> int:
            n = 0
            async for _ in runner.run("bench", None, USER_TEXT):
                n += 1
            return n

        for _ in range(warmup):
            await one()
        start = time.perf_counter()
        events = 0
        for _ in range(turns):
            events = await one()
        return (time.perf_counter() - start) / turns, events


async def _http_rep(url: str, agent: str, warmup: int, turns: int) -> tuple[float, int]:
    from benchmarks.bare_loops import USER_TEXT

    async with client_session(limit=1) as session:

        async def one() -> int:
            async with session.post(
                f"{url}/v1/apps/{agent}/runs", json={"message": USER_TEXT}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                stream = await read_sse(response)
            if stream.types[-1:] != ["run.completed"]:
                raise RuntimeError(f"stream ended with {stream.types[-1:]}: {stream.last_data}")
            return len(stream.types)

        for _ in range(warmup):
            await one()
        start = time.perf_counter()
        events = 0
        for _ in range(turns):
            events = await one()
        return (time.perf_counter() - start) / turns, events


def sse_overhead(settings: Settings, out: Outcome, tmp: Path) -> None:
    from agenthost.testing.fake_openai import FakeOpenAIServer

    direct: dict[str, list[float]] = {a: [] for a in AGENTS}
    http: dict[str, list[float]] = {a: [] for a in AGENTS}
    events: dict[str, tuple[int, int]] = {}
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as fake,
        agenthost_server(tmp, fake.base_url) as server,
    ):
        for _ in range(settings.repeat):
            for agent, stream in AGENTS.items():
                wall, n_direct = asyncio.run(
                    _direct_rep(fake.base_url, stream, settings.warmup, settings.turns)
                )
                direct[agent].append(wall)
                wall, n_http = asyncio.run(
                    _http_rep(server.url, agent, settings.warmup, settings.turns)
                )
                http[agent].append(wall)
                events[agent] = (n_direct, n_http)
    for agent, stream in AGENTS.items():
        a, b = median(direct[agent]) * 1e6, median(http[agent]) * 1e6
        n_direct, n_http = events[agent]
        per_event = (b - a) / n_http
        note = (
            f"direct {a / 1e3:.2f} ms, HTTP+SSE {b / 1e3:.2f} ms per turn, "
            f"{n_http} SSE events ({n_direct} from Runner.run)"
        )
        out.rows.append(
            limited(
                workload=WORKLOAD_SSE,
                variant=f"agenthost{' stream' if stream else ''} per event",
                store="memory",
                value=per_event,
                unit="µs",
                limit=MAX_US_PER_EVENT,
                strict=True,
                note=note,
            )
        )
        out.details.setdefault("sse", {})[agent] = {
            "stream": stream,
            "direct_s_per_turn": direct[agent],
            "http_s_per_turn": http[agent],
            "events_http": n_http,
            "events_direct": n_direct,
            "us_per_event": per_event,
        }


# ----------------------------------------------------------------------------- concurrency


@dataclass
class Burst:
    runs: int
    wall_s: float
    latencies: list[float]
    errors: list[str]
    timed_out: bool = False
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0  # this process: the load generator
    fake_cpu_s: float = 0.0  # the fake model's process
    served: int = 0  # the sustained loop: every run that ended, warm-up and drain included

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "runs": self.runs,
            "completed": self.ok,
            "errors": len(self.errors),
            "timed_out": self.timed_out,
            "wall_s": self.wall_s,
            "runs_per_s": self.ok / self.wall_s if self.wall_s > 0 else None,
            "p50_s": percentile(lat, 0.50),
            "p99_s": percentile(lat, 0.99),
            "max_s": lat[-1] if lat else None,
            "server_cpu_ms_per_run": self._per_run(self.server_cpu_s),
            "client_cpu_ms_per_run": self._per_run(self.client_cpu_s),
            "fake_cpu_ms_per_run": self._per_run(self.fake_cpu_s),
            "first_errors": sorted(set(self.errors))[:5],
        }

    def _per_run(self, cpu_s: float) -> float | None:
        return 1e3 * cpu_s / self.runs if self.runs else None


def percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _snapshot(server: Child | None, fake_pid: int | None) -> tuple[float, float, float, float]:
    """Wall clock, then the CPU seconds so far of the server, the fake model and this process
    (the client): a window's figures are the differences of two snapshots."""
    return (
        time.perf_counter(),
        server.cpu_seconds() if server else 0.0,
        cpu_seconds(fake_pid) if fake_pid else 0.0,
        time.process_time(),
    )


async def burst(
    run_one: RunOne,
    runs: int,
    *,
    warmup: int,
    timeout: float,
    server: Child | None = None,
    fake_pid: int | None = None,
) -> Burst:
    """`warmup` runs one after another, then `runs` at once; cancelled after `timeout` s.
    The CPU time of the server, of this process (the client) and of the fake model's process
    (`fake_pid`) over the burst is measured too: the three share the machine's cores."""
    opener = getattr(run_one, "client", None) or (lambda: client_session(limit=0))
    async with opener() as session:
        for i in range(warmup):
            error = await run_one(session, -1 - i)
            if error:
                return Burst(runs, 0.0, [], [f"warm-up: {error}"])
        latencies: list[float] = []
        errors: list[str] = []

        async def one(i: int) -> None:
            start = time.perf_counter()
            try:
                error = await run_one(session, i)
            except Exception as exc:  # counted, the others go on
                error = f"{type(exc).__name__}: {exc}"
            if error:
                errors.append(error)
            else:
                latencies.append(time.perf_counter() - start)

        before = _snapshot(server, fake_pid)
        tasks = [asyncio.create_task(one(i)) for i in range(runs)]
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        after = _snapshot(server, fake_pid)
        wall, cpu, fake_cpu, client_cpu = (b - a for a, b in zip(before, after, strict=True))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            errors.extend(["not finished in time"] * len(pending))
        return Burst(
            runs,
            wall,
            latencies,
            errors,
            timed_out=bool(pending),
            server_cpu_s=cpu,
            client_cpu_s=client_cpu,
            fake_cpu_s=fake_cpu,
        )


async def sustained(
    run_one: RunOne,
    runs: int,
    *,
    clients: int,
    warmup: int,
    timeout: float,
    server: Child | None = None,
    fake_pid: int | None = None,
) -> Burst:
    """A closed loop: `clients` clients, each running streaming runs one after another on its
    own keep-alive connection (what wrk, hey or locust do), until `warmup` + `runs` runs have
    ended. The first `warmup` runs to end are not counted; the window opens when the last of
    them ends and closes when the `runs`-th counted run ends, every client still busy: runs/s
    is `runs` over the window, the latencies those of the runs that ended in it, the CPU
    times the processes' over it. Runs still going when it closes end unmeasured. Cancelled
    after `timeout` s."""
    opener = getattr(run_one, "client", None) or (lambda: client_session(limit=0))
    latencies: list[float] = []
    errors: list[str] = []
    ended = served = 0
    closed = asyncio.Event()
    marks: list[tuple[float, float, float, float]] = []  # wall, server, fake, client CPU

    def mark() -> None:
        marks.append(_snapshot(server, fake_pid))

    async def client(k: int) -> None:
        nonlocal ended, served
        async with opener() as session:
            while not closed.is_set():
                start = time.perf_counter()
                try:
                    error = await run_one(session, k)
                except Exception as exc:  # counted, the others go on
                    error = f"{type(exc).__name__}: {exc}"
                served += 1
                if closed.is_set():
                    return
                ended += 1
                if ended <= warmup:
                    if error:
                        errors.append(f"warm-up: {error}")
                    if ended == warmup:
                        mark()
                    continue
                if error:
                    errors.append(error)
                else:
                    latencies.append(time.perf_counter() - start)
                if ended == warmup + runs:
                    mark()
                    closed.set()

    if warmup == 0:
        mark()
    tasks = [asyncio.create_task(client(k)) for k in range(clients)]
    timed_out = False
    try:
        await asyncio.wait_for(closed.wait(), timeout)
    except TimeoutError:
        timed_out = True
        closed.set()
        errors.extend(["not finished in time"] * max(0, warmup + runs - ended))
    _, pending = await asyncio.wait(tasks, timeout=30)  # the runs still going end
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if len(marks) < 2:
        return Burst(runs, 0.0, latencies, errors, timed_out=timed_out, served=served)
    (wall0, server0, fake0, client0), (wall1, server1, fake1, client1) = marks
    return Burst(
        runs,
        wall1 - wall0,
        latencies,
        errors,
        timed_out=timed_out,
        server_cpu_s=server1 - server0,
        client_cpu_s=client1 - client0,
        fake_cpu_s=fake1 - fake0,
        served=served,
    )


def burst_row(
    name: str,
    result: Burst,
    ideal: float,
    *,
    target: bool = False,
    workload: str = WORKLOAD_CONC,
    label: str = "",
) -> list[Row]:
    """The rows of a burst (or of the sustained loop: `workload`, and `label` instead of the
    run count); with `target`, the throughput row carries the issue's target."""
    s = result.summary()
    label = label or f"{result.runs} runs"
    note = (
        f"{s['completed']}/{s['runs']} ok, {s['errors']} errors, "
        f"{(s['runs_per_s'] or 0):.0f} runs/s, "
        f"p50 {fmt_s(s['p50_s'])}, p99 {fmt_s(s['p99_s'])}, ideal {ideal:.2f} s, "
        f"server CPU {s['server_cpu_ms_per_run'] or 0:.1f} ms/run"
    )
    if s["first_errors"]:
        note += f"; first error: {s['first_errors'][0][:160]}"
    rate = s["runs_per_s"] if s["errors"] == 0 else None  # runs/s only counts if all ended
    cpu = (
        ("" if target else "cold start: all at once, each on a new connection; ")
        + f"server CPU {s['server_cpu_ms_per_run'] or 0:.2f} ms/run (load generator "
        f"{s['client_cpu_ms_per_run'] or 0:.2f}, fake model "
        f"{s['fake_cpu_ms_per_run'] or 0:.2f}, same {os.cpu_count()} cores), "
        f"p99 {fmt_s(s['p99_s'])}"
    )
    return [
        Row(
            workload=workload,
            variant=f"{name}, {label}: wall",
            value=s["wall_s"],
            unit="s",
            target="0 errors",
            met=s["errors"] == 0,
            note=note,
        ),
        Row(
            workload=workload,
            variant=f"{name}, {label}: p99 latency",
            value=s["p99_s"],
            unit="s",
            note=f"p50 {fmt_s(s['p50_s'])}",
        ),
        Row(
            workload=workload,
            variant=f"{name}, {label}: throughput",
            value=s["runs_per_s"],
            unit="runs/s",
            target=f">= {MIN_RUNS_PER_S:g} runs/s" if target else "",
            met=(rate is not None and rate >= MIN_RUNS_PER_S) if target else None,
            note=cpu,
        ),
    ]


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def not_measured(name: str, runs: int, reason: str) -> Row:
    return Row(
        workload=WORKLOAD_CONC,
        variant=f"{name}, {runs} runs",
        value=None,
        unit="s",
        note=f"not measured: {reason}"[:400],
    )


def concurrent(settings: Settings, out: Outcome, tmp: Path) -> None:
    from agenthost.testing.fake_openai import FakeOpenAIServer

    ideal = 2 * settings.concurrent_latency
    with FakeOpenAIServer.start_in_process(latency=settings.concurrent_latency) as fake:
        targets: list[tuple[str, Target]] = [
            ("agenthost", lambda: _agenthost_target(tmp / "conc", fake.base_url))
        ]
        if settings.compare:
            from benchmarks import compare

            targets += [
                ("Google ADK api_server", lambda: compare.adk_target(tmp / "adk", fake.base_url)),
                (
                    "AgentScope Runtime",
                    lambda: compare.agentscope_target(tmp / "as", fake.base_url),
                ),
            ]
        for name, target in targets:
            print(f"  server: {name} x {settings.server_runs} ...", file=sys.stderr, flush=True)
            try:
                with target() as (run_one, child):
                    result = run_client(
                        burst(
                            run_one,
                            settings.server_runs,
                            warmup=3,
                            timeout=settings.server_timeout,
                            server=child,
                            fake_pid=fake.process.pid,
                        )
                    )
            except Exception as exc:  # a compared framework that cannot run: say why
                if name == "agenthost":
                    raise
                out.rows.append(not_measured(name, settings.server_runs, f"{exc}"))
                out.details.setdefault("concurrent", {})[name] = {"error": str(exc)}
                continue
            if result.wall_s == 0.0 and result.errors and name != "agenthost":
                reason = result.errors[0]
                out.rows.append(not_measured(name, settings.server_runs, reason))
                out.details.setdefault("concurrent", {})[name] = {"error": reason}
                continue
            out.rows.extend(burst_row(name, result, ideal))  # the cold start: no target
            out.details.setdefault("concurrent", {})[name] = result.summary()
    sustained_workload(settings, out, tmp)


def sustained_workload(settings: Settings, out: Outcome, tmp: Path) -> None:
    """Issue 9's "sustains 1,000 streaming runs per second": the closed loop (`sustained`)
    against a fresh server, the fake model at `concurrent_latency`."""
    from agenthost.testing.fake_openai import FakeOpenAIServer

    clients, runs = settings.sustained_clients, settings.sustained_runs
    label = f"{clients} clients, {runs} runs"
    print(f"  server: agenthost sustained, {label} ...", file=sys.stderr, flush=True)
    with (
        FakeOpenAIServer.start_in_process(latency=settings.concurrent_latency) as fake,
        _agenthost_target(tmp / "sustained", fake.base_url) as (run_one, child),
    ):
        result = run_client(
            sustained(
                run_one,
                runs,
                clients=clients,
                warmup=settings.sustained_warmup,
                timeout=settings.server_timeout,
                server=child,
                fake_pid=fake.process.pid,
            )
        )
    ideal = 2 * settings.concurrent_latency
    rows = burst_row(
        "agenthost", result, ideal, target=True, workload=WORKLOAD_SUSTAINED, label=label
    )
    out.rows.extend(rows)
    out.details["sustained"] = {
        "clients": clients,
        "warmup": settings.sustained_warmup,
        **result.summary(),
    }


@contextlib.contextmanager
def _agenthost_target(directory: Path, base_url: str) -> Iterator[tuple[RunOne, Child]]:
    with agenthost_server(directory, base_url) as server:
        yield agenthost_run_one(server.url, "bench"), server


def run(settings: Settings) -> Outcome:
    out = Outcome()
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-server-") as name:
        tmp = Path(name)
        sse_overhead(settings, out, tmp / "sse")
        concurrent(settings, out, tmp)
    out.details["settings"] = {
        "turns": settings.turns,
        "warmup": settings.warmup,
        "repeat": settings.repeat,
        "runs": settings.server_runs,
        "latency_s": settings.concurrent_latency,
        "timeout_s": settings.server_timeout,
        "compare": settings.compare,
        "sustained_clients": settings.sustained_clients,
        "sustained_warmup": settings.sustained_warmup,
        "sustained_runs": settings.sustained_runs,
    }
    return out


# ----------------------------------------------------------------------------- A/B


def ab(
    sources: list[str],
    *,
    runs: int,
    rounds: int,
    bursts: int,
    latency: float,
    clients: int = 0,
    warmup: int = 2000,
) -> list[dict[str, Any]]:
    """The concurrent workload against servers importing agenthost from each of `sources` (a
    `src` directory: e.g. a second worktree of main and this one), alternately, `rounds`
    times; each server warms up with 200 runs, then takes `bursts` bursts of `runs` runs.
    With `clients`, each burst is the sustained loop instead (`sustained`: that many clients
    on keep-alive connections, `warmup` runs, then `runs` counted)."""
    from agenthost.testing.fake_openai import FakeOpenAIServer

    results: list[dict[str, Any]] = []
    with FakeOpenAIServer.start_in_process(latency=latency) as fake:
        for _ in range(rounds):
            for source in sources:
                env = {"PYTHONPATH": source}  # the server imports agenthost from there
                with (
                    tempfile.TemporaryDirectory(prefix="agenthost-bench-ab-") as name,
                    agenthost_server(Path(name), fake.base_url, env=env) as server,
                ):
                    one = agenthost_run_one(server.url, "bench")
                    pid = fake.process.pid
                    run_client(burst(one, 200, warmup=3, timeout=60, server=server))
                    for _ in range(bursts):
                        measure = (
                            sustained(
                                one,
                                runs,
                                clients=clients,
                                warmup=warmup,
                                timeout=300,
                                server=server,
                                fake_pid=pid,
                            )
                            if clients
                            else burst(
                                one, runs, warmup=0, timeout=120, server=server, fake_pid=pid
                            )
                        )
                        result = run_client(measure)
                        summary = {"source": source, **result.summary()}
                        results.append(summary)
                        print(
                            f"{source}: {summary['completed']}/{runs} ok, "
                            f"{summary['runs_per_s'] or 0:.0f} runs/s, "
                            f"p99 {fmt_s(summary['p99_s'])}, "
                            f"server CPU {summary['server_cpu_ms_per_run'] or 0:.2f} ms/run "
                            f"(client {summary['client_cpu_ms_per_run'] or 0:.2f}, "
                            f"fake model {summary['fake_cpu_ms_per_run'] or 0:.2f}), "
                            f"{summary['errors']} errors",
                            flush=True,
                        )
    return results


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Concurrent streaming runs against servers of several agenthost sources, "
        "alternately (python -m benchmarks.server --src /tmp/base/src --src src)."
    )
    parser.add_argument("--src", action="append", default=[], help="a src directory")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.1, help="fake model latency, s")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="the sustained loop with this many keep-alive clients instead of bursts",
    )
    parser.add_argument("--warmup", type=int, default=2000, help="sustained loop: warm-up runs")
    args = parser.parse_args()
    sources = [str(Path(s).resolve()) for s in args.src] or [str(ROOT / "src")]
    results = ab(
        sources,
        runs=args.runs,
        rounds=args.rounds,
        bursts=args.bursts,
        latency=args.latency,
        clients=args.clients,
        warmup=args.warmup,
    )
    for source in sources:
        mine = [r for r in results if r["source"] == source]
        cpu = median([r["server_cpu_ms_per_run"] for r in mine])
        rate = median([r["runs_per_s"] or 0.0 for r in mine])
        p99 = median([r["p99_s"] or 0.0 for r in mine])
        print(f"median {source}: {rate:.0f} runs/s, p99 {p99:.2f} s, CPU {cpu:.2f} ms/run")


if __name__ == "__main__":
    main()
