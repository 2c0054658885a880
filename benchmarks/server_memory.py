"""Server memory under sustained load: RSS and open descriptors per 1,000 runs.

A real `agenthost serve` in a child process (store: a temp SQLite file by default, so the
sessions live on disk and whatever stays in memory is cache or leak), the fake OpenAI server
in another process (0 ms), and `runs` streaming runs, each in a NEW session, `concurrency` at
a time, alternating the native API (`POST /v1/apps/{agent}/runs`) and the OpenAI-compatible
one (`POST /v1/chat/completions`, stream). After every `round` runs: the server's RSS
(`/proc/PID/status` VmRSS) and open descriptors (`/proc/PID/fd`).

Target (issue 9): RSS after all the runs within 10 % of its value after the first round.
With `store=memory://` the sessions themselves are in memory: RSS grows with them by design.

    python -m benchmarks.server_memory --runs 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import Outcome, Row, Settings
from benchmarks.server import Child, agenthost_server, client_session, read_sse

WORKLOAD = "server memory (0 ms)"
MAX_GROWTH = 0.10  # RSS after all runs vs after the first round
USER_TEXT = "What is new?"


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def native_run(session: Any, url: str, agent: str) -> str:
    """One streamed native run in a new session; "" or what went wrong."""
    body = {"message": USER_TEXT}
    async with session.post(f"{url}/v1/apps/{agent}/runs", json=body) as response:
        if response.status != 200:
            return f"native HTTP {response.status}: {(await response.text())[:200]}"
        stream = await read_sse(response)
    if stream.types[-1:] != ["run.completed"]:
        return f"native stream ended with {stream.types[-1:]}: {stream.last_data[:200]}"
    return ""


async def openai_run(session: Any, url: str, agent: str) -> str:
    """One streamed chat completion in a new session; "" or what went wrong."""
    body = {
        "model": agent,
        "messages": [{"role": "user", "content": USER_TEXT}],
        "stream": True,
    }
    async with session.post(f"{url}/v1/chat/completions", json=body) as response:
        if response.status != 200:
            return f"openai HTTP {response.status}: {(await response.text())[:200]}"
        stream = await read_sse(response)
    if stream.last_data != "[DONE]" or '"error"' in stream.last_data:
        return f"openai stream ended with {stream.last_data[:200]!r}"
    return ""


@dataclass
class Sample:
    runs: int
    rss_mb: float
    fds: int
    seconds: float


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def growth(self) -> float | None:
        """RSS at the end relative to after the first round (0.05 = +5 %)."""
        if len(self.samples) < 2:
            return None
        first, last = self.samples[0].rss_mb, self.samples[-1].rss_mb
        return (last - first) / first


async def drive(
    server: Child, *, runs: int, round_size: int, concurrency: int, apis: tuple[str, ...]
) -> Soak:
    out = Soak()
    pid = server.proc.pid
    start = time.perf_counter()
    async with client_session(limit=concurrency) as session:
        done = 0
        while done < runs:
            count = min(round_size, runs - done)
            queue = iter(range(done, done + count))

            async def worker(queue: Iterator[int]) -> None:
                for i in queue:
                    api = apis[i % len(apis)]
                    run = native_run if api == "native" else openai_run
                    try:
                        error = await run(session, server.url, "bench")
                    except Exception as exc:  # counted, the others go on
                        error = f"{type(exc).__name__}: {exc}"
                    if error:
                        out.errors.append(error)

            await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
            done += count
            sample = Sample(
                done, rss_bytes(pid) / 2**20, open_fds(pid), time.perf_counter() - start
            )
            out.samples.append(sample)
            print(
                f"  {sample.runs:>6} runs: RSS {sample.rss_mb:6.1f} MB, {sample.fds} fds, "
                f"{sample.seconds:5.1f} s, {len(out.errors)} errors",
                flush=True,
            )
    return out


def measure(
    tmp: Path,
    *,
    runs: int,
    round_size: int = 1000,
    concurrency: int = 50,
    store: str = "sqlite",
    apis: tuple[str, ...] = ("native", "openai"),
    env: dict[str, str] | None = None,
) -> Soak:
    from agenthost.testing.fake_openai import FakeOpenAIServer

    url = f"sqlite:///{tmp / 'soak.db'}" if store == "sqlite" else "memory://"
    with (
        FakeOpenAIServer.start_in_process(latency=0.0) as fake,
        agenthost_server(tmp / "server", fake.base_url, store=url, env=env) as server,
    ):
        return asyncio.run(
            drive(server, runs=runs, round_size=round_size, concurrency=concurrency, apis=apis)
        )


def rows(result: Soak, runs: int) -> list[Row]:
    growth = result.growth()
    first = result.samples[0] if result.samples else None
    last = result.samples[-1] if result.samples else None
    note = (
        f"RSS {first.rss_mb:.1f} MB after {first.runs} runs, {last.rss_mb:.1f} MB after "
        f"{last.runs}; fds {first.fds} -> {last.fds}; {len(result.errors)} errors"
        if first and last
        else "no sample"
    )
    return [
        Row(
            workload=WORKLOAD,
            variant=f"agenthost sqlite, {runs} runs: RSS growth after the first 1,000",
            store="sqlite",
            value=None if growth is None else 100 * growth,
            unit="%",
            target=f"<= {100 * MAX_GROWTH:g} %, 0 errors",
            met=None if growth is None else growth <= MAX_GROWTH and not result.errors,
            note=note,
        )
    ]


def run(settings: Settings) -> Outcome:
    """The suite's `memory` workload (20,000 runs; 3,000 with --quick)."""
    runs = 3000 if settings.quick else 20000
    out = Outcome()
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-memory-") as name:
        result = measure(Path(name), runs=runs)
    out.rows.extend(rows(result, runs))
    out.details["memory"] = {
        "samples": [s.__dict__ for s in result.samples],
        "errors": sorted(set(result.errors))[:5],
        "growth": result.growth(),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--round", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--api", choices=["native", "openai", "both"], default="both")
    args = parser.parse_args()
    apis = ("native", "openai") if args.api == "both" else (args.api,)
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-memory-") as name:
        result = measure(
            Path(name),
            runs=args.runs,
            round_size=args.round,
            concurrency=args.concurrency,
            store=args.store,
            apis=apis,
        )
    growth = result.growth()
    print(json.dumps({"growth": growth, "errors": sorted(set(result.errors))[:5]}, indent=1))


if __name__ == "__main__":
    main()
