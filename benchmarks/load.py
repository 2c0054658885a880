"""Load test: streaming runs through one and two replicas, on SQLite, Postgres and Redis.

    python -m benchmarks.load                      # every store, 1 and 2 replicas, 15 s each
    python -m benchmarks.load --stores postgres --duration 20 --clients 32

127.0.0.1 only, bounded: each phase sends runs for `--duration` seconds from `--clients`
concurrent aiohttp clients (each starts its next run when the last one ended), then stops;
the whole benchmark is cancelled after `--timeout` seconds. Every server is a real `agenthost
serve` (`--log-level warning`); the model is the fake OpenAI server in a child process (0 ms,
streamed). A run is `POST /v1/apps/helper/runs` (a new session) read as SSE to its terminal
event; two replicas get the clients round-robin (the load balancer's part).

Reported per phase: sustained runs/s (runs that ended `run.completed` / duration), time to
the first event p50/p99 (request sent -> first SSE frame), errors (HTTP errors, broken
streams, runs not completed), and the server processes' CPU seconds per run. The target of
issue 13 (two replicas >= 1.3x one replica's runs/s on Postgres where one replica is
CPU-bound) is checked and printed; on a 2-core machine the client, the fake model and
Postgres share the cores with the replicas, so the ratio shown is what this machine allows.
Results go to benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from agenthost.testing.fake_openai import ProcessFakeServer

ROOT = Path(__file__).resolve().parents[1]
STORES = {
    "sqlite": "sqlite:///{tmp}/load.db",
    "postgres": os.environ.get("AGENTHOST_TEST_POSTGRES_URL")
    or "postgresql://postgres@127.0.0.1:5432/test",
    "redis": os.environ.get("AGENTHOST_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0",
}
TERMINAL = (b"event: run.completed", b"event: run.failed")


@dataclass
class Phase:
    store: str
    replicas: int
    duration: float
    clients: int
    runs: int = 0
    errors: int = 0
    first_event_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        ttfe = sorted(self.first_event_ms)

        def pct(p: float) -> float | None:
            return round(ttfe[min(len(ttfe) - 1, int(p * len(ttfe)))], 2) if ttfe else None

        return {
            "store": self.store,
            "replicas": self.replicas,
            "clients": self.clients,
            "duration_s": self.duration,
            "runs": self.runs,
            "runs_per_s": round(self.runs / self.duration, 1),
            "first_event_p50_ms": pct(0.50),
            "first_event_p99_ms": pct(0.99),
            "errors": self.errors,
            "server_cpu_ms_per_run": round(1000 * self.cpu_seconds / self.runs, 2)
            if self.runs
            else None,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _store_url(store: str, tmp: Path) -> tuple[str, str]:
    base = STORES[store].replace("{tmp}", str(tmp))
    if store == "sqlite":
        return base, ""
    prefix = f"load{uuid.uuid4().hex[:8]}_"
    option = "key_prefix" if store == "redis" else "table_prefix"
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{option}={prefix}&migrate=true", prefix


@contextlib.contextmanager
def servers(config: Path, count: int, tmp: Path) -> Iterator[list[tuple[str, int]]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[tuple[str, int]] = []
    try:
        for i in range(count):
            port = _free_port()
            log = (tmp / f"server-{i}.log").open("wb")
            cmd = [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config)]
            cmd += ["--port", str(port), "--log-level", "warning"]
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env()))
            urls.append((f"http://127.0.0.1:{port}", procs[-1].pid))
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def _ready(http: aiohttp.ClientSession, base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(base + "/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server at {base} did not become ready")


async def _one_run(http: aiohttp.ClientSession, base: str, phase: Phase) -> None:
    sent = time.perf_counter()
    try:
        async with http.post(
            base + "/v1/apps/helper/runs", json={"message": "hello, load"}
        ) as response:
            if response.status != 200:
                phase.errors += 1
                return
            first = True
            ended = False
            async for chunk in response.content.iter_any():
                if first:
                    phase.first_event_ms.append((time.perf_counter() - sent) * 1000)
                    first = False
                if TERMINAL[0] in chunk:
                    ended = True
                elif TERMINAL[1] in chunk:
                    break
            if ended:
                phase.runs += 1
            else:
                phase.errors += 1
    except (TimeoutError, aiohttp.ClientError):
        phase.errors += 1


async def _client(
    http: aiohttp.ClientSession, bases: list[str], index: int, phase: Phase, until: float
) -> None:
    turn = index
    while time.monotonic() < until:
        await _one_run(http, bases[turn % len(bases)], phase)
        turn += 1


async def run_phase(store: str, replicas: int, model_url: str, args: argparse.Namespace) -> Phase:
    phase = Phase(store, replicas, args.duration, args.clients)
    with tempfile.TemporaryDirectory(prefix="agenthost-load-") as name:
        tmp = Path(name)
        url, _ = _store_url(store, tmp)
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
                cluster: {{leases: {args.leases}}}
                """
            )
        )
        with servers(config, replicas, tmp) as urls:
            timeout = aiohttp.ClientTimeout(total=60)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
                for base, _ in urls:
                    await _ready(http, base, time.monotonic() + 120)
                bases = [base for base, _ in urls]
                warm = Phase(store, replicas, 1.0, args.clients)  # connections, caches
                await asyncio.gather(
                    *(_client(http, bases, i, warm, time.monotonic() + 1.0) for i in range(4))
                )
                cpu_before = sum(_cpu_seconds(pid) for _, pid in urls)
                until = time.monotonic() + args.duration
                await asyncio.gather(
                    *(_client(http, bases, i, phase, until) for i in range(args.clients))
                )
                phase.cpu_seconds = sum(_cpu_seconds(pid) for _, pid in urls) - cpu_before
        if store != "sqlite":
            await _drop(url)
    return phase


async def _drop(url: str) -> None:
    from agenthost.backends.sessions import open_session_store

    store = open_session_store(url)
    await store.drop_tables()  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def bounded(seconds: float) -> AsyncIterator[None]:
    async with asyncio.timeout(seconds):
        yield


async def main(args: argparse.Namespace) -> int:
    results: list[dict[str, object]] = []
    with ProcessFakeServer(latency=0.0, port=0, extra_args=[]) as model:
        async with bounded(args.timeout):
            for store in args.stores:
                for replicas in args.replicas:
                    phase = await run_phase(store, replicas, model.base_url, args)
                    row = phase.summary()
                    results.append(row)
                    print(json.dumps(row), flush=True)
    by = {(r["store"], r["replicas"]): r for r in results}
    print("\nstore     replicas  runs/s  first event p50/p99 ms  errors  server CPU ms/run")
    for r in results:
        print(
            f"{r['store']:<9} {r['replicas']:>8}  {r['runs_per_s']:>6}  "
            f"{r['first_event_p50_ms']!s:>9} / {r['first_event_p99_ms']!s:<10}  "
            f"{r['errors']:>6}  {r['server_cpu_ms_per_run']}"
        )
    checks = {}
    one, two = by.get(("postgres", 1)), by.get(("postgres", 2))
    if one and two and one["runs_per_s"]:
        ratio = float(two["runs_per_s"]) / float(one["runs_per_s"])  # type: ignore[arg-type]
        checks["postgres_two_vs_one"] = round(ratio, 2)
        cores = os.cpu_count()
        print(f"\nPostgres: two replicas / one = {ratio:.2f}x (target >= 1.3x, cores: {cores})")
    out = ROOT / "benchmarks" / "results" / "load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"phases": results, "checks": checks, "cores": os.cpu_count()}, indent=2)
    )
    errors = sum(int(r["errors"]) for r in results)  # type: ignore[call-overload]
    return 1 if errors else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--leases", choices=["auto", "local"], default="auto", help="cluster.leases (see docs)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="the whole benchmark")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
