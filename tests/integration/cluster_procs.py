"""Processes of a cluster on 127.0.0.1 for the scale-out tests: a slow fake model, `agenthost
serve` replicas and `agenthost worker`s sharing one store, Redis run streams and a broker.

Every process writes to a log file under the test's tmp dir (shown when a wait fails), is
waited for on what it prints (the server's banner, the worker's ready line), and is stopped
by `Cluster.close()` (SIGTERM, then SIGKILL after a while): no test leaves one behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from agenthost.backends.streams import open_run_streams
from agenthost.testing.fake_openai import ProcessFakeServer

from ..contract.server_stores import drop, private_url, server_url

BROKERS = {
    "amqp": ("AGENTHOST_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "redis": ("AGENTHOST_TEST_BROKER_REDIS_URL", "redis://127.0.0.1:6379/3"),
}
_SERVING = re.compile(r"on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 120.0  # seconds a busy 2-core machine may take to start a process


def broker_url(kind: str) -> str:
    env, default = BROKERS[kind]
    url = os.environ.get(env) or default
    if kind == "amqp":
        import socket

        try:
            with socket.create_connection(("127.0.0.1", 5672), timeout=2):
                pass
        except OSError as exc:
            message = f"!!! RabbitMQ at 127.0.0.1:5672 is unreachable ({exc}); set {env}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
    else:
        server_url("redis")
    return url


def _env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.pop("AGENTHOST_EVENTS_URL", None)
    env.pop("AGENTHOST_BROKER_URL", None)
    return env


def _exe() -> list[str]:
    return [sys.executable, "-m", "agenthost.cli"]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(30)


@dataclass
class Cluster:
    """The processes of one test; `close()` stops all of them."""

    tmp: Path
    config: Path
    prefix: str
    procs: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            args, stdout=handle, stderr=subprocess.STDOUT, env={**_env(), **(env or {})}
        )
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    async def _wait_for(self, proc: Proc, pattern: re.Pattern[str] | str) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            found = regex.search(proc.text())
            if found is not None:
                return found
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{proc.name} did not start:\n{proc.text()[-4000:]}")
            await asyncio.sleep(0.1)

    async def server(self, name: str) -> Proc:
        args = [*_exe(), "serve", "--config", str(self.config), "--port", "0"]
        proc = self._spawn(name, [*args, "--log-format", "text", "--log-level", "WARNING"])
        proc.url = (await self._wait_for(proc, _SERVING)).group(1)
        return proc

    async def worker(self, name: str, concurrency: int = 4, metrics_port: int = 0) -> Proc:
        """A worker; with `metrics_port` it serves /metrics there (`proc.url`)."""
        args = [*_exe(), "worker", "--config", str(self.config), "-n", str(concurrency)]
        env = {"AGENTHOST_METRICS_PORT": str(metrics_port)} if metrics_port else {}
        proc = self._spawn(name, [*args, "--log-format", "text", "--log-level", "WARNING"], env)
        await self._wait_for(proc, "agenthost worker ready")
        if metrics_port:
            proc.url = f"http://127.0.0.1:{metrics_port}"
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()


async def stop_cluster(procs: Cluster, events: str, store: str) -> None:
    """Stop the processes, then drop the cluster's run streams and its store's tables."""
    procs.close()
    async with open_run_streams(f"{events}?key_prefix={procs.prefix}") as streams:
        await streams.drop()
    await drop(store)


@asynccontextmanager
async def two_servers_two_workers(
    tmp: Path, broker: str, worker: Callable[[], dict[str, Any]] = dict
) -> AsyncIterator[tuple[Cluster, str]]:
    """The scale-out cluster: `server-a` and `server-b`, then `worker-1` and `worker-2` (each
    given `worker()`'s options), on a private Postgres store, Redis run streams and `broker`,
    over a slow fake model (a chunk every 0.05 s). Yields it and its store's URL; stops every
    process and drops the streams and tables afterwards."""
    store, _ = private_url("postgres")
    events = server_url("redis")
    with slow_model(0.05) as model:
        config, prefix = write_config(
            tmp, store=store, events=events, broker=broker, model_url=model.base_url
        )
        procs = Cluster(tmp, config, prefix)
        try:
            await asyncio.gather(
                procs.server("server-a"),
                procs.server("server-b"),
                procs.worker("worker-1", **worker()),
                procs.worker("worker-2", **worker()),
            )
            yield procs, store
        finally:
            await stop_cluster(procs, events, store)


def write_config(
    tmp: Path,
    *,
    store: str,
    events: str,
    broker: str | None,
    model_url: str,
    lease_seconds: float = 3.0,
) -> tuple[Path, str]:
    """A config for the cluster (returns it and the Redis key prefix of its run streams)."""
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    sep = "&" if "?" in events else "?"
    lines = f"""
        app: cluster
        store: "{store}"
        providers:
          fake: {{base_url: "{model_url}", api_key: "x"}}
        agents:
          helper: {{model: "fake:m"}}
        server: {{shutdown_grace: 5}}
        cluster:
          events: "{events}{sep}key_prefix={prefix}"
          queue: "{prefix.rstrip(":")}"
          lease_seconds: {lease_seconds}
          visibility_timeout: 10
        """
    if broker is not None:
        lines += f'  broker: "{broker}"\n'
    path = tmp / "agenthost.yaml"
    path.write_text(textwrap.dedent(lines))
    return path, prefix


def slow_model(stream_delay: float = 0.05) -> ProcessFakeServer:
    return ProcessFakeServer(latency=0.0, port=0, extra_args=["--stream-delay", str(stream_delay)])


# ---- a client that reads SSE frames and resumes -------------------------------------------


@dataclass
class Seen:
    """What one client saw of one run, across reconnects."""

    run_id: str = ""
    session_id: str = ""
    ids: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0

    @property
    def last_id(self) -> str | None:
        return self.ids[-1] if self.ids else None

    @property
    def terminal(self) -> dict[str, Any] | None:
        last = self.events[-1] if self.events else None
        if last is not None and last["type"] in ("run.completed", "run.failed", "run.interrupted"):
            return last
        return None


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, str, str]]:
    """(id, event, data) of each frame."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in frame:
                yield frame.get("id", ""), frame.get("event", ""), frame["data"]
            frame = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        frame[key] = value


async def read_run(
    client: httpx.AsyncClient,
    response: httpx.Response,
    seen: Seen,
    *,
    stop_after: int = 0,
    going: asyncio.Event | None = None,
) -> bool:
    """Read frames into `seen` until the terminal event (True) or the connection breaks
    (False); `stop_after` > 0: leave after that many frames (False); `going` is set once
    three frames came."""
    count = 0
    try:
        async for frame_id, kind, data in sse(response):
            seen.ids.append(frame_id)
            if kind != "error":
                seen.events.append(orjson.loads(data))
            count += 1
            if going is not None and count >= 3:
                going.set()
            if seen.terminal is not None:
                return True
            if stop_after and count >= stop_after:
                return False
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout):
        return False
    return seen.terminal is not None


def events_path(seen: Seen) -> str:
    return f"/v1/apps/helper/sessions/{seen.session_id}/runs/{seen.run_id}/events"


async def resume(client: httpx.AsyncClient, base: str, seen: Seen) -> bool:
    """Follow the run through `base` from the last frame seen (Last-Event-ID)."""
    headers = {"Last-Event-ID": seen.last_id} if seen.last_id else {}
    seen.reconnects += 1
    try:
        async with client.stream("GET", base + events_path(seen), headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            return await read_run(client, response, seen)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return False
