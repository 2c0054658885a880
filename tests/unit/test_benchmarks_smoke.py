"""The benchmark suite runs end to end (`--quick`, per-turn workload, tiny counts) and writes
the JSON it promises. No timing is asserted: numbers depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW_KEYS = {
    "workload",
    "variant",
    "store",
    "value",
    "unit",
    "reference",
    "reference_name",
    "ratio",
    "target",
    "met",
    "note",
}


def test_quick_turn_workload_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--only", "turn"]
    cmd += ["--turns", "3", "--repeat", "1", "--output", str(output)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agenthost benchmarks" in done.stdout

    doc = json.loads(output.read_text())
    assert set(doc) == {"meta", "rows", "details", "notes"}
    assert doc["meta"]["quick"] is True
    assert doc["meta"]["workloads"] == ["turn"]
    assert doc["notes"] == []
    rows = doc["rows"]
    assert rows and all(set(row) == ROW_KEYS for row in rows)
    agent = {(r["variant"], r["store"]) for r in rows if r["variant"].startswith("agenthost")}
    assert agent == {
        ("agenthost", "memory"),
        ("agenthost", "sqlite"),
        ("agenthost stream", "memory"),
        ("agenthost stream", "sqlite"),
    }
    for row in rows:
        assert row["value"] > 0 and row["reference"] > 0 and row["ratio"] > 0
        if row["variant"].startswith("agenthost"):
            target = "<= 1.5x" if row["store"] == "sqlite" else "<= 1.3x"
            assert row["target"] == target and isinstance(row["met"], bool)
    details = doc["details"]["turn"]
    assert details["turns_per_repetition"] == 3
    assert set(details["wall_ms_per_turn_median"]) == {
        f"{r['variant']} [{r['store']}]" if r["store"] != "-" else r["variant"] for r in rows
    }


def test_quick_server_workload_writes_json(tmp_path: Path) -> None:
    """`--quick --only server` with tiny counts: a real `agenthost serve` child process, the
    SSE-overhead rows and the concurrent-runs rows, every run completed (no timing asserted)."""
    output = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--only", "server"]
    cmd += ["--turns", "3", "--repeat", "1", "--server-runs", "5", "--output", str(output)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr

    doc = json.loads(output.read_text())
    assert doc["meta"]["workloads"] == ["server"]
    assert doc["notes"] == []
    rows = doc["rows"]
    assert rows and all(set(row) == ROW_KEYS for row in rows)
    sse = [r for r in rows if r["workload"].startswith("server SSE")]
    assert {r["variant"] for r in sse} == {"agenthost per event", "agenthost stream per event"}
    assert all(r["unit"] == "µs" and isinstance(r["met"], bool) for r in sse)
    details = doc["details"]["server"]
    assert details["sse"]["bench"]["events_http"] == details["sse"]["bench"]["events_direct"] == 6
    runs = details["concurrent"]["agenthost"]
    assert runs["runs"] == runs["completed"] == 5
    assert runs["errors"] == 0 and not runs["timed_out"]
    assert all(runs[k] is not None for k in ("client_cpu_ms_per_run", "fake_cpu_ms_per_run"))
    (cold,) = [r for r in rows if r["variant"] == "agenthost, 5 runs: throughput"]
    assert cold["unit"] == "runs/s" and cold["target"] == "" and cold["met"] is None
    assert cold["note"].startswith("cold start: ")
    # the target row: the sustained loop (--quick: 8 clients, 16 warm-up runs, 40 counted)
    kept = details["sustained"]
    assert (kept["clients"], kept["warmup"], kept["runs"]) == (8, 16, 40)
    assert kept["completed"] == 40 and kept["errors"] == 0 and not kept["timed_out"]
    assert all(kept[k] > 0 for k in ("wall_s", "p50_s", "p99_s", "server_cpu_ms_per_run"))
    (rate,) = [r for r in rows if r["variant"] == "agenthost, 8 clients, 40 runs: throughput"]
    assert rate["workload"] == "server sustained runs (100 ms)"
    assert rate["unit"] == "runs/s" and rate["target"] == ">= 1000 runs/s"
    assert rate["met"] is (rate["value"] >= 1000)  # judged, never left out
    assert "server CPU" in rate["note"] and "load generator" in rate["note"]
    assert "p99" in rate["note"]
    assert [r["target"] for r in rows if r["met"] is not None].count(">= 1000 runs/s") == 1


def test_the_sustained_loop_counts_only_the_runs_after_its_warm_up() -> None:
    """Each client has a session of its own and runs one run at a time; the first `warmup`
    runs to end are left out (an error among them still counts), the window closes at the
    `runs`-th counted run, and the runs going on then end unmeasured."""
    import asyncio

    from benchmarks.server import sustained

    opened: list[list[int]] = []
    going = 0
    most = 0

    class Session:
        def __init__(self) -> None:
            self.runs: list[int] = []

        async def __aenter__(self) -> list[int]:
            opened.append(self.runs)
            return self.runs

        async def __aexit__(self, *_: object) -> None:
            pass

    async def run_one(session: list[int], client: int) -> str:
        nonlocal going, most
        assert session is opened[client]  # a client keeps its own session
        going += 1
        most = max(most, going)
        session.append(client)
        await asyncio.sleep(0)
        going -= 1
        if len(session) == 1 and client == 0:
            return "the first run failed"  # a warm-up run: every client's first ends first
        if len(session) == 5 and client == 1:
            raise ConnectionError("gone")
        return ""

    run_one.client = Session  # type: ignore[attr-defined]
    result = asyncio.run(sustained(run_one, 20, clients=3, warmup=6, timeout=30))
    assert len(opened) == 3 and most == 3
    assert result.runs == 20 and not result.timed_out
    assert result.errors == ["warm-up: the first run failed", "ConnectionError: gone"]
    assert result.ok == 19 and result.wall_s > 0
    assert 26 <= sum(len(runs) for runs in opened) <= 26 + 3  # at most one more per client


def test_the_server_s_port_is_read_from_its_banner() -> None:
    """`agenthost serve --port 0` binds a port the system chooses; the benchmark reads it from
    the banner (no port picked, released and bound again later, when another process may
    have taken it)."""
    from benchmarks.server import _SERVING

    from agenthost.server.banner import startup_banner

    banner = startup_banner(host="127.0.0.1", port=43117, agents=["bench"], auth=False)
    found = _SERVING.search("INFO something\n" + banner)
    assert found is not None and found.group(1) == "43117"


def test_the_load_generator_parses_sse_bodies_whole() -> None:
    from benchmarks.server import parse_sse

    body = (
        b": ping\n\nid: 1\nevent: message.received\ndata: {}\n\n"
        b'data: a\r\ndata: b\r\n\r\nid: 2\nevent: run.completed\ndata: {"x": 1}\n\n'
    )
    stream = parse_sse(body)
    assert stream.types == ["message.received", "message", "run.completed"]
    assert stream.last_data == '{"x": 1}'
    assert parse_sse(b"data: a\ndata: b").last_data == "a\nb"  # no blank line at the end


def test_the_lean_load_client_reads_chunked_and_sized_answers() -> None:
    """The load generator's own HTTP/1.1 reading: a chunked body is put back together, a sized
    one (an error answer) is read as is, and an answer is complete only at its end."""
    from benchmarks.server import _dechunk, _Exchange

    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nid: 1\r\n3\r\n\nab\r\n0\r\n\r\n"
    )
    assert _dechunk(chunked) == (200, b"id: 1\nab")
    sized = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}"
    assert _dechunk(sized) == (404, b"{}")

    import asyncio

    async def feed(answer: bytes, cut: int) -> bytes:
        conn = _Exchange(lambda _: None)
        conn.answer = asyncio.get_running_loop().create_future()
        conn.data_received(answer[:cut])
        assert not conn.answer.done()
        conn.data_received(answer[cut:])
        return await conn.answer

    assert asyncio.run(feed(chunked, len(chunked) - 3)) == chunked
    assert asyncio.run(feed(sized, len(sized) - 1)) == sized


def test_cpu_turn_runs_and_prints_every_variant() -> None:
    cmd = [sys.executable, "-m", "benchmarks.cpu_turn", "--turns", "2", "--reps", "1"]
    cmd += ["--history", "2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split(" wall ")[0].strip() for line in done.stdout.splitlines()]
    assert names == [
        "bare aiohttp",
        "agenthost memory",
        "agenthost sqlite",
        "bare aiohttp stream",
        "agenthost memory stream",
        "agenthost sqlite stream",
        "bare aiohttp, 2 turns",
        "agenthost memory, 2 turns",
        "agenthost sqlite, 2 turns",
    ]


def test_quick_approval_workload_reports_the_pause(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--only", "approval"]
    cmd += ["--turns", "3", "--repeat", "1", "--output", str(output)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(output.read_text())
    rows = doc["rows"]
    assert {(r["variant"], r["store"]) for r in rows} == {
        ("pause + approve", "memory"),
        ("pause + approve", "sqlite"),
    }
    assert all(r["value"] > 0 and r["reference"] > 0 and r["target"] == "" for r in rows)


def test_engine_turn_prints_cpu_and_gc_per_store() -> None:
    cmd = [sys.executable, "-m", "benchmarks.engine_turn", "--turns", "3", "--reps", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["memory", "sqlite"]
    assert all("µs/turn" in line and "collections/turn" in line for line in lines)


def test_store_micro_turns_and_schemas_print_every_line() -> None:
    base = [sys.executable, "-m", "benchmarks.store_micro", "--rounds", "2"]
    done = subprocess.run(
        [*base, "--turns-only"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["memory", "sqlite"]
    done = subprocess.run(
        [*base, "--schemas"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("now ") and all("µs CPU a commit" in line for line in lines)


def test_profile_server_prints_the_bursts_the_gc_and_the_profile() -> None:
    cmd = [sys.executable, "-m", "benchmarks.profile_server", "--runs", "5", "--bursts", "1"]
    cmd += ["--warmup", "2", "--latency", "0", "--top", "5"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("without the profiler: ")
    assert lines[1].startswith("burst: ") and lines[1].endswith(", 0 errors")
    assert lines[2].startswith("server CPU over the bursts: user ") and "system" in lines[2]
    assert lines[3].startswith("GC [400000, 20, 10]: passes by generation")
    assert "µs/run under cProfile" in lines[4] and len(lines) == 5 + 1 + 5
