"""Load test: streaming runs through one and two replicas, on SQLite, Postgres and Redis.

    python -m benchmarks --only load            # in the suite (`make bench` runs it too)
    python -m benchmarks.load                   # standalone: every store, 1 and 2 replicas
    python -m benchmarks.load --stores postgres --duration 20 --clients 32

127.0.0.1 only, bounded: each phase sends runs for `duration` seconds from `clients`
concurrent clients (each starts its next run when its last one ended; a run is
`POST /v1/apps/helper/runs`, a new session, read as SSE to its end), lets the runs in flight
end, then stops; the whole workload is cancelled after `timeout` seconds. Every replica is a
real `agenthost serve` (`--log-level warning`); two replicas get the runs round-robin (the
load balancer's part). The model is the fake OpenAI server in a child process (uvloop, 0 ms,
streamed). The client (benchmarks/_load_client.py) is raw HTTP/1.1 on keep-alive connections:
it costs little CPU per run, which matters on a small machine where it shares the cores.

Reported per phase: sustained runs/s (runs completed within the window / the window), time to
the first event p50/p99 (request sent -> first SSE frame), errors (HTTP errors, broken
streams, runs not completed), lost and duplicated events, and where the CPU went (ms per run
of the replicas, the client, the fake model, Postgres, Redis, and everything else on the
machine), with each replica's CPU as a share of one core: a replica near 100 % is CPU-bound.

Lost and duplicated events: every stream is checked (no frame id twice, stored seqs
contiguous, ends `run.completed`), and the stored events of up to `verify` runs per phase are
read back through the *other* replica (`GET .../sessions/{sid}/events`) and compared with the
stream, id by id. The target of issue 13, two replicas >= 1.3x one replica's runs/s on
Postgres where one replica is CPU-bound, is a row of the table (met or missed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks._common import Outcome, Row, Settings, limited
from benchmarks._load_client import Client, RunFailed, Streamed, request_bytes

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = "load: streaming runs, replicas"
MIN_SCALE = 1.3  # issue 13: two Postgres replicas >= 1.3x one replica's runs/s
CPU_BOUND = 0.85  # a replica on CPU or waiting for one this share of the time is CPU-bound
STORES = ("sqlite", "postgres", "redis")


@dataclass(slots=True, kw_only=True)
class LoadSettings:
    stores: Sequence[str] = STORES
    replicas: Sequence[int] = (1, 2)
    duration: float = 12.0  # seconds per phase (the sum of its windows)
    runs: int | None = None  # instead of a duration: this many runs per phase
    clients: int = 32
    rounds: int = 4  # windows per replica count, alternated (1, 2, 1, 2, ...): see the doc
    warmup: float = 1.0  # seconds of runs before the windows (connections, pools, caches)
    verify: int = 200  # runs per phase whose stored events are read back and compared
    timeout: float = 600.0  # the whole workload
    leases: str = "auto"
    src: Path | None = None  # the code the replicas run (default: this checkout's src/)


@dataclass
class Phase:
    store: str
    replicas: int
    clients: int
    window: float = 0.0
    runs: int = 0  # completed within the window
    started: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    duplicated: int = 0
    lost: int = 0
    verified: int = 0
    first_event_ms: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # component -> CPU seconds (window)
    replica_cpu: list[float] = field(default_factory=list)  # each replica's CPU seconds
    replica_wait: list[float] = field(default_factory=list)  # seconds runnable, not running
    streamed: list[Streamed] = field(default_factory=list)
    served: dict[int, int] = field(default_factory=dict)  # replica -> runs it streamed

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.window if self.window else 0.0

    def pct(self, p: float) -> float | None:
        ttfe = sorted(self.first_event_ms)
        return round(ttfe[min(len(ttfe) - 1, int(p * len(ttfe)))], 2) if ttfe else None

    def core_share(self) -> list[float]:
        """Each replica's CPU as a share of one core over the window."""
        return [round(c / self.window, 3) if self.window else 0.0 for c in self.replica_cpu]

    def wants_share(self) -> list[float]:
        """Each replica's CPU plus its time waiting for a CPU (runnable: it had work), as a
        share of one core: near 1.0, the replica could use a whole core (CPU-bound)."""
        return [
            round((c + w) / self.window, 3) if self.window else 0.0
            for c, w in zip(self.replica_cpu, self.replica_wait, strict=True)
        ]

    def split_ms(self) -> tuple[float, float]:
        """(s, o): CPU ms per run of the replicas, and of everything else this run needs
        (client, model, Postgres backends and background processes, Redis); not `other`."""
        if not self.runs:
            return 0.0, 0.0
        replicas = self.cpu.get("replicas", 0.0)
        rest = sum(v for k, v in self.cpu.items() if k not in ("replicas", "other"))
        return 1000 * replicas / self.runs, 1000 * rest / self.runs

    def summary(self) -> dict[str, Any]:
        per_run = {
            k: round(1000 * v / self.runs, 3) if self.runs else None for k, v in self.cpu.items()
        }
        return {
            "store": self.store,
            "replicas": self.replicas,
            "clients": self.clients,
            "window_s": round(self.window, 3),
            "runs": self.runs,
            "runs_per_s": round(self.runs_per_s, 1),
            "first_event_p50_ms": self.pct(0.50),
            "first_event_p99_ms": self.pct(0.99),
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "lost_events": self.lost,
            "duplicated_events": self.duplicated,
            "runs_verified": self.verified,
            "runs_per_replica": [self.served.get(i, 0) for i in range(self.replicas)],
            "replica_core_share": self.core_share(),
            "replica_wants_share": self.wants_share(),
            "cpu_ms_per_run": per_run,
        }


# ----------------------------------------------------------------------------- CPU accounting


def _ticks(pid: int | str) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
    return pids


_PG_AUX = (b"walwriter", b"checkpointer", b"background writer", b"autovacuum", b"archiver")


def _postgres_aux() -> list[int]:
    """Postgres' own background processes (WAL writer, checkpointer, ...): no backend of a
    client, so they are not found by `application_name`; they write what every backend
    committed (ours and anyone else's on the server)."""
    pids = []
    for pid in _named("postgres"):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
            if title.startswith(b"postgres: ") and any(name in title for name in _PG_AUX):
                pids.append(pid)
    return pids


def _run_wait_ns(pid: int) -> int:
    """Nanoseconds the process's threads were runnable but waiting for a CPU (schedstat)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int((task / "schedstat").read_text().split()[1])
    return total


def _machine_busy() -> int:
    """Busy jiffies of the whole machine (every core): all but idle and iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


@dataclass
class CpuMeter:
    """CPU seconds of each component between `start()` and `stop()` (Linux /proc).

    Postgres is this phase's backends only (`application_name`, set in the store URL), and
    `postgres_aux` the server's background processes (WAL writer, checkpointer, ...: shared
    with anyone else using the server); other clients' backends count as `other`, with every
    other process on the machine."""

    replicas: list[int]
    model: int
    postgres_app: str | None = None  # the store URL's application_name (Postgres phases)
    hz: float = field(default_factory=lambda: float(os.sysconf("SC_CLK_TCK")))
    _before: dict[str, int] = field(default_factory=dict)
    _pg_before: dict[int, int] = field(default_factory=dict)

    def _sample(self) -> tuple[dict[str, int], dict[int, int]]:
        sample = {f"replica{i}": _ticks(pid) for i, pid in enumerate(self.replicas)}
        sample |= {f"wait{i}": _run_wait_ns(pid) for i, pid in enumerate(self.replicas)}
        sample["client"] = _ticks("self")
        sample["model"] = _ticks(self.model)
        sample["redis"] = sum(_ticks(pid) for pid in _named("redis-server"))
        sample["postgres_aux"] = sum(_ticks(pid) for pid in _postgres_aux())
        sample["machine"] = _machine_busy()
        return sample, {pid: _ticks(pid) for pid in _named("postgres")}

    def start(self) -> None:
        self._before, self._pg_before = self._sample()

    async def stop(self, phase: Phase) -> None:
        """Add the CPU since `start()` to the phase (its replicas: the first `replicas`)."""
        after, pg_after = self._sample()
        delta = {k: (after[k] - self._before.get(k, 0)) / self.hz for k in after}
        ours_pg = await _backends(self.postgres_app) if self.postgres_app else []
        postgres = sum(pg_after.get(p, 0) - self._pg_before.get(p, 0) for p in ours_pg)
        n = phase.replicas
        if not phase.replica_cpu:
            phase.replica_cpu, phase.replica_wait = [0.0] * n, [0.0] * n
        for i in range(n):
            phase.replica_cpu[i] += delta[f"replica{i}"]
            phase.replica_wait[i] += (after[f"wait{i}"] - self._before[f"wait{i}"]) / 1e9
        ours = {
            "replicas": sum(delta[f"replica{i}"] for i in range(len(self.replicas))),
            "client": delta["client"],
            "model": delta["model"],
            "postgres": postgres / self.hz,
            "postgres_aux": delta["postgres_aux"],
            "redis": delta["redis"],
        }
        ours["other"] = max(0.0, delta["machine"] - sum(ours.values()))
        for key, value in ours.items():
            phase.cpu[key] = phase.cpu.get(key, 0.0) + value


async def _backends(application_name: str) -> list[int]:
    """The pids of the Postgres backends serving this phase's replicas."""
    import asyncpg

    conn = await asyncpg.connect(_postgres_base())
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", application_name
        )
    finally:
        await conn.close()
    return [int(r[0]) for r in rows]


def _postgres_base() -> str:
    return os.environ.get("AGENTHOST_TEST_POSTGRES_URL") or (
        "postgresql://postgres@127.0.0.1:5432/test"
    )


# ----------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(src: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    first = str(src or ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [first, env.get("PYTHONPATH")]))
    return env


def store_url(store: str, tmp: Path) -> str:
    """A fresh place for one phase: a new SQLite file, or a new table/key prefix."""
    if store == "sqlite":
        return f"sqlite:///{tmp}/load.db"
    prefix = f"load{uuid.uuid4().hex[:8]}_"
    if store == "postgres":
        base = _postgres_base()
        option = f"application_name={prefix}load&table_prefix"
    elif store == "redis":
        base = os.environ.get("AGENTHOST_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
        option = "key_prefix"
    else:
        raise ValueError(f"unknown store {store!r}: one of {', '.join(STORES)}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{option}={prefix}&migrate=true"


def _app_name(url: str) -> str | None:
    found = re.search(r"application_name=([a-z0-9_]+)", url)
    return found.group(1) if found else None


def write_config(tmp: Path, url: str, model_url: str, leases: str) -> Path:
    config = tmp / "agenthost.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            app: load
            store: "{url}"
            providers:
              fake: {{base_url: "{model_url}", api_key: "x"}}
            agents:
              helper: {{model: "fake:m"}}
            server: {{shutdown_grace: 1}}
            cluster: {{leases: {leases}}}
            """
        )
    )
    return config


@dataclass(slots=True)
class Replica:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def servers(
    config: Path, count: int, tmp: Path, src: Path | None = None
) -> Iterator[list[Replica]]:
    """`count` replicas of `agenthost serve` on the config, stopped on exit."""
    replicas: list[Replica] = []
    try:
        for i in range(count):
            port = _free_port()
            log = tmp / f"server-{i}.log"
            with log.open("wb") as out:
                cmd = [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config)]
                cmd += ["--port", str(port), "--log-level", "warning"]
                proc = subprocess.Popen(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_env(src),
                    start_new_session=True,  # its own scheduling group: see the module doc
                )
            replicas.append(Replica(port, proc, log))
        yield replicas
    finally:
        for replica in replicas:
            replica.proc.terminate()
        for replica in replicas:
            try:
                replica.proc.wait(30)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait(10)


async def _ready(replica: Replica, deadline: float) -> None:
    """Wait for `GET /readyz` to answer 200 (raw HTTP, like the client)."""
    while time.monotonic() < deadline and replica.proc.poll() is None:
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", replica.port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            if answer.startswith(b"HTTP/1.1 200"):
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(
        f"the replica on port {replica.port} did not become ready:\n{_tail(replica)}"
    )


def _tail(replica: Replica) -> str:
    return replica.log.read_text(errors="replace")[-2000:] if replica.log.exists() else ""


# ----------------------------------------------------------------------------- one phase


class _Budget:
    """When clients stop: at a time, or after a number of runs started."""

    def __init__(self, *, until: float | None = None, runs: int | None = None) -> None:
        self.until, self.left = until, runs

    def take(self) -> bool:
        if self.until is not None:
            return time.perf_counter() < self.until
        assert self.left is not None
        self.left -= 1
        return self.left >= 0


async def _client(client: Client, phase: Phase, budget: _Budget) -> None:
    while budget.take():
        replica = phase.started % phase.replicas  # round-robin, as a load balancer would
        phase.started += 1
        try:
            run = await client.run(replica)
        except (RunFailed, OSError) as exc:
            phase.error(str(exc).split(":")[0])
            continue
        phase.streamed.append(run)
        phase.served[run.replica] = phase.served.get(run.replica, 0) + 1
        phase.duplicated += run.duplicated
        phase.lost += run.gaps
        if not run.completed:
            phase.error("run not completed")
            continue
        if budget.until is None or time.perf_counter() <= budget.until:
            phase.runs += 1
            phase.first_event_ms.append(run.first_event_ms)


async def _drive(clients: list[Client], phase: Phase, budget: _Budget) -> None:
    await asyncio.gather(*(_client(c, phase, budget) for c in clients))


async def _verify(ports: list[int], phase: Phase, limit: int) -> None:
    """Compare the stored events of up to `limit` runs, read through another replica than the
    one that streamed them (the same one when there is one), with the stream."""
    step = max(1, len(phase.streamed) // max(limit, 1))
    for index in range(0, len(phase.streamed), step)[:limit]:
        run = phase.streamed[index]
        if not run.session_id:
            phase.error("no X-Session-Id")
            continue
        port = ports[(run.replica + 1) % len(ports)]
        stored = await _stored_events(port, run.session_id)
        streamed = set(run.stored)
        phase.lost += len(set(stored) ^ streamed)
        phase.verified += 1


async def _stored_events(port: int, session_id: str) -> list[tuple[int, str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        path = f"/v1/apps/helper/sessions/{session_id}/events?limit=1000"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"reading session {session_id}: {head[:100]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return [(e["seq"], e["id"]) for e in json.loads(body)["events"]]


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2 :]
    return bytes(out)


async def run_store(store: str, model: Any, settings: LoadSettings, tmp: Path) -> list[Phase]:
    """The phases of one store: as many replicas as the most asked for, started once; the
    windows of each replica count alternate (1, 2, 1, 2, ...), so that a machine whose other
    load drifts weighs on every count alike. With fewer replicas than started, the runs go
    to the first ones only; the others stay idle."""
    counts = sorted(set(settings.replicas))
    phases = {n: Phase(store, n, settings.clients) for n in counts}
    url = store_url(store, tmp)
    config = write_config(tmp, url, model.base_url, settings.leases)
    try:
        with servers(config, counts[-1], tmp, settings.src) as procs:
            deadline = time.monotonic() + 120
            for replica in procs:
                await _ready(replica, deadline)
            bases = [("127.0.0.1", r.port) for r in procs]
            request = request_bytes("helper")
            clients = [Client(bases, request) for _ in range(settings.clients)]
            meter = CpuMeter([r.proc.pid for r in procs], model.pid, _app_name(url))
            try:
                if settings.warmup > 0:
                    warm = Phase(store, counts[-1], settings.clients)
                    await _drive(
                        clients, warm, _Budget(until=time.perf_counter() + settings.warmup)
                    )
                    phases[counts[-1]].errors += warm.errors
                for _ in range(settings.rounds):
                    for n in counts:
                        await _window(clients, phases[n], settings, meter)
                for n in counts:
                    await _verify([r.port for r in procs[:n]], phases[n], settings.verify)
            finally:
                for client in clients:
                    client.close()
    finally:
        if store != "sqlite":
            await _drop(url)
    for phase in phases.values():
        phase.streamed.clear()  # ids of every run: not for the JSON
    return list(phases.values())


async def _window(
    clients: list[Client], phase: Phase, settings: LoadSettings, meter: CpuMeter
) -> None:
    """One timed window of the phase (a share of its duration or of its runs)."""
    meter.start()
    start = time.perf_counter()
    if settings.runs is not None:
        await _drive(clients, phase, _Budget(runs=settings.runs // settings.rounds))
        phase.window += time.perf_counter() - start
        await meter.stop(phase)
        return
    until = start + settings.duration / settings.rounds
    drain = asyncio.ensure_future(_drive(clients, phase, _Budget(until=until)))
    await asyncio.sleep(max(0.0, until - time.perf_counter()))
    phase.window += time.perf_counter() - start
    await meter.stop(phase)
    await drain  # the runs in flight end (checked, not counted)


async def _drop(url: str) -> None:
    """Drop the phase's tables or keys: all under its prefix (the session store's, and on
    Postgres also what the replicas made beside it: usage, artifacts, ...)."""
    from agenthost.backends.sessions import open_session_store

    store = open_session_store(url)
    await store.drop_tables()  # type: ignore[attr-defined]
    if url.startswith("postgresql"):
        await _drop_prefixed(url)


async def _drop_prefixed(url: str) -> None:
    await _each_prefixed(url, lambda tables: f"DROP TABLE IF EXISTS {', '.join(tables)} CASCADE")


async def _each_prefixed(url: str, statement: Callable[[list[str]], str]) -> None:
    """Run `statement(the tables under the URL's prefix)`, if there are any."""
    import asyncpg

    prefix = url.split("table_prefix=", 1)[1].split("&", 1)[0]
    conn = await asyncpg.connect(url.split("?", 1)[0])
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND starts_with(tablename, $1)",
            prefix,
        )
        if rows:
            await conn.execute(statement([r[0] for r in rows]))
    finally:
        await conn.close()


async def measure(settings: LoadSettings) -> list[Phase]:
    """Every phase (store x replicas) against one fake model, bounded by `timeout`."""
    from agenthost.testing.fake_openai import ProcessFakeServer

    phases: list[Phase] = []
    with ProcessFakeServer(latency=0.0, port=0, extra_args=[]) as model:
        model.pid = model.process.pid  # type: ignore[attr-defined]
        async with asyncio.timeout(settings.timeout):
            for store in settings.stores:
                with tempfile.TemporaryDirectory(prefix="agenthost-load-") as name:
                    phases += await run_store(store, model, settings, Path(name))
    return phases


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed (the client's CPU per run is then lower)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# ----------------------------------------------------------------------------- rows


def _note(phase: Phase) -> str:
    per_run = phase.summary()["cpu_ms_per_run"]
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in per_run.items() if v)
    shares = "/".join(f"{100 * s:.0f}%" for s in phase.core_share())
    wants = "/".join(f"{100 * s:.0f}%" for s in phase.wants_share())
    kinds = f" {phase.error_kinds}" if phase.errors else ""
    return (
        f"first event p50 {phase.pct(0.5)} ms, p99 {phase.pct(0.99)} ms; "
        f"errors {phase.errors}{kinds}; "
        f"replica on CPU {shares} of a core, on CPU or runnable {wants}; CPU ms/run: {cpu}"
    )


def core_bound(one: Phase, two: Phase, cores: int | None = None) -> str:
    """The most two replicas could do over one on `cores` cores given to this benchmark
    alone, from each phase's CPU per run: one replica does at most min(1/s1, n/(s1 + o1))
    runs per ms (a core of its own, everything else on the rest), two at most
    min(2/s2, n/(s2 + o2)) (s: the replicas' ms per run, o: everything else's; `split_ms`).
    And what the same CPU per run gives where each replica has a core and the store, client
    and model run elsewhere (as on separate hosts): 2 s1 / s2."""
    n = cores or os.cpu_count() or 1
    (s1, o1), (s2, o2) = one.split_ms(), two.split_ms()
    if not (s1 and s2):
        return "no runs"
    best_one = min(1 / s1, n / (s1 + o1))
    best_two = min(2 / s2, n / (s2 + o2))
    return (
        f"{n}-core bound from CPU per run: 1 replica s {s1:.2f} + o {o1:.2f} ms, 2 replicas "
        f"s {s2:.2f} + o {o2:.2f} ms: at most {best_two / best_one:.2f}x; with a core per "
        f"replica and the rest elsewhere, 2 s1 / s2 = {2 * s1 / s2:.2f}x"
    )


def rows_of(phases: Sequence[Phase]) -> list[Row]:
    rows = [
        Row(
            workload=WORKLOAD,
            variant=f"{p.replicas} replica{'s' if p.replicas > 1 else ''}, {p.clients} clients",
            store=p.store,
            value=round(p.runs_per_s, 1),
            unit="runs/s",
            note=_note(p),
        )
        for p in phases
    ]
    by = {(p.store, p.replicas): p for p in phases}
    one, two = by.get(("postgres", 1)), by.get(("postgres", 2))
    if one is not None and two is not None and one.runs_per_s > 0:
        ratio = two.runs_per_s / one.runs_per_s
        got, wanted = max(one.core_share(), default=0.0), max(one.wants_share(), default=0.0)
        bound = wanted >= CPU_BOUND
        ceiling = core_bound(one, two)
        rows.append(
            Row(
                workload=WORKLOAD,
                variant="2 replicas / 1 replica, runs/s",
                store="postgres",
                value=round(ratio, 2),
                unit="x",
                ratio=ratio,
                target=f">= {MIN_SCALE:g}x",
                met=ratio >= MIN_SCALE,
                note=(
                    f"1 replica: on CPU {100 * got:.0f}% of a core, with its waits for a CPU "
                    f"{100 * wanted:.0f}% ({'CPU-bound' if bound else 'NOT CPU-bound'}); "
                    f"{os.cpu_count()} cores shared by replicas, client, model, stores and the "
                    f"machine's other processes; {ceiling}"
                ),
            )
        )
    faults = sum(p.errors + p.lost + p.duplicated for p in phases)
    rows.append(
        limited(
            workload=WORKLOAD,
            variant="errors + lost + duplicated events, every phase",
            value=float(faults),
            unit="events",
            limit=0,
            note=f"{sum(p.verified for p in phases)} runs read back through another replica",
        )
    )
    return rows


def run(settings: Settings) -> Outcome:
    """The suite's workload (`python -m benchmarks --only load`)."""
    load = (
        LoadSettings(duration=3.0, verify=50, timeout=300.0) if settings.quick else LoadSettings()
    )
    phases = run_async(measure(load))
    out = Outcome(rows=rows_of(phases))
    out.details = {"phases": [p.summary() for p in phases], "settings": _settings_dict(load)}
    return out


def _settings_dict(load: LoadSettings) -> dict[str, Any]:
    values = {k: getattr(load, k) for k in LoadSettings.__dataclass_fields__}
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


# ----------------------------------------------------------------------------- standalone


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    load = LoadSettings(
        stores=args.stores,
        replicas=args.replicas,
        duration=args.duration,
        clients=args.clients,
        leases=args.leases,
        timeout=args.timeout,
        verify=args.verify,
        src=args.src,
    )
    phases = run_async(measure(load))
    for phase in phases:
        print(json.dumps(phase.summary()), flush=True)
    for row in rows_of(phases):
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        print(f"{row.store:<9} {row.variant:<48} {row.value} {row.unit} {verdict}  {row.note}")
    out = args.out or ROOT / "benchmarks" / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    doc = {"phases": [p.summary() for p in phases], "cores": os.cpu_count()}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if any(p.errors or p.lost or p.duplicated for p in phases) else 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--verify", type=int, default=200, help="runs read back per phase")
    parser.add_argument(
        "--leases", choices=["auto", "local"], default="auto", help="cluster.leases (see docs)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="the whole benchmark")
    parser.add_argument(
        "--src", type=Path, default=None, help="the code the replicas run (e.g. main's src/)"
    )
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: results/)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
