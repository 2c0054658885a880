"""Where a served run's CPU goes in the server process: cProfile over 1,000-run bursts.

    .venv/bin/python -m benchmarks.profile_server [--runs 1000] [--bursts 3] [--warmup 200]
        [--latency 0.1] [--top 45] [--sort tottime|cumtime] [--out server.prof]
        [--no-profile] [--gc 400000,20,10] [--strace] [--callgrind [--callgrind-out DIR]]
        [--clients C]

A real `agenthost serve` (the `benchmarks/server.py` config, memory store) runs in a child
process under cProfile, the fake model in another; this process is the load generator
(`LeanClient`). The profiler is on only during the bursts (SIGUSR1 turns it on after the
warm-up, SIGUSR2 off and dumps it), so start-up is left out. The table gives, per function,
µs per run (own time and cumulative) and calls per run; the server's CPU per run without the
profiler is measured first, in the same way `benchmarks/server.py` does. cProfile inflates
small functions: read the table for where time goes, not for how much.

Also printed: the cyclic GC's passes during the bursts, their CPU and what they freed
(`gc.callbacks`). `--no-profile`: those and the CPU per run only. `--gc`: the server's GC
thresholds instead of `agenthost serve`'s. `--strace`: the server's system calls a run
(`strace -c`). `--callgrind`: the server's instructions a run (valgrind, switched on after the
warm-up with `callgrind_control`; about 50x slower: use `--runs 200 --bursts 1`), a count the
load of a shared machine does not move; `--callgrind-out DIR` keeps its dumps there (for
`callgrind_annotate`). `--clients C`: instead of bursts (every run on a new connection), the
sustained loop of `benchmarks/server.py` (C clients, each on its own keep-alive connection;
`--runs` counted runs a pass): per-request costs without the per-connection ones. Its figures
a run are over every run the server ran while measured (the loop's ramp-up and drain too).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from benchmarks.server import (
    ROOT,
    agenthost_run_one,
    burst,
    child_server,
    run_client,
    sustained,
    write_config,
)
from benchmarks.server import _env as child_env


class _GcClock:
    """The cyclic collector's passes while switched on: count, CPU (thread time) and objects
    freed, by generation."""

    def __init__(self) -> None:
        self.on = False
        self.started = 0.0
        self.passes = [0, 0, 0]
        self.cpu = [0.0, 0.0, 0.0]
        self.freed = [0, 0, 0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self.started = time.thread_time()
            return
        generation = info["generation"]
        self.passes[generation] += 1
        self.cpu[generation] += time.thread_time() - self.started
        self.freed[generation] += info["collected"]


def _serve_profiled(out: str, argv: list[str]) -> None:
    """The child: `agenthost <argv>`; SIGUSR1 switches cProfile (unless BENCH_NO_PROFILE) and
    the GC clock on, SIGUSR2 off and writes them to `out` and `out.gc.json`.
    BENCH_GC_THRESHOLDS="young,middle,old" replaces `agenthost serve`'s thresholds."""
    profile = cProfile.Profile() if not os.environ.get("BENCH_NO_PROFILE") else None
    clock = _GcClock()
    gc.callbacks.append(clock)

    def on(_sig: int, _frame: FrameType | None) -> None:
        clock.__init__()  # type: ignore[misc] # a fresh count
        clock.on = True
        if profile is not None:
            profile.enable()

    def off(_sig: int, _frame: FrameType | None) -> None:
        clock.on = False
        if profile is not None:
            profile.disable()
            profile.dump_stats(out + ".part")
            os.replace(out + ".part", out)
        report = {"passes": clock.passes, "cpu_s": clock.cpu, "freed": clock.freed}
        report["thresholds"] = list(gc.get_threshold())
        Path(out + ".gc.part").write_text(json.dumps(report))
        os.replace(out + ".gc.part", out + ".gc.json")  # whole, for the parent that waits

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    thresholds = os.environ.get("BENCH_GC_THRESHOLDS")
    if thresholds:
        from agenthost.cli import _serve

        young, middle, old = (int(x) for x in thresholds.split(","))
        _serve.GC_THRESHOLDS = (young, middle, old)
    from agenthost.cli.app import main

    sys.argv = ["agenthost", *argv]
    with contextlib.suppress(SystemExit):
        main()


def _table(path: Path, runs: int, top: int, sort: str) -> str:
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, name), (_cc, calls, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({name})" if line else name
        rows.append((tt, ct, calls, where))
    key = 0 if sort == "tottime" else 1
    rows.sort(key=lambda r: r[key], reverse=True)
    total = sum(r[0] for r in rows)
    lines = [f"total {1e6 * total / runs:.0f} µs/run under cProfile", "own µs  cum µs  calls  fn"]
    for tt, ct, calls, where in rows[:top]:
        lines.append(f"{1e6 * tt / runs:6.1f} {1e6 * ct / runs:7.1f} {calls / runs:6.2f}  {where}")
    return "\n".join(lines)


_CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=no"]


def _instructions(tmp: Path, runs: int) -> str:
    """The instructions of the dumps callgrind_control -d wrote (its `summary:` lines)."""
    total = 0
    for dump in tmp.glob("callgrind.out*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("summary:"):
                total += int(line.split()[1])
    return f"instructions a run (callgrind): {total / runs / 1e6:.3f} M"


def _user_system(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (Linux; zeros elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _strace(pid: int, out: Path) -> subprocess.Popen[bytes]:
    tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", str(out)])
    time.sleep(1.0)  # attached to every thread before the first burst
    return tracer


def _syscalls(path: Path, runs: int) -> str:
    """strace -c's table as calls per run (the busiest ten)."""
    counts: list[tuple[int, str]] = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            counts.append((int(fields[3]), fields[-1]))
    counts.sort(reverse=True)
    total = sum(n for n, _ in counts)
    top = ", ".join(f"{name} {n / runs:.2f}" for n, name in counts[:10])
    return f"system calls a run: {total / runs:.1f} ({top})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="runs at once before measuring")
    parser.add_argument("--latency", type=float, default=0.1, help="fake model latency, s")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", choices=["tottime", "cumtime"], default="tottime")
    parser.add_argument("--out", default="", help="keep the .prof file here")
    parser.add_argument(
        "--no-profile", action="store_true", help="no cProfile: server CPU and GC passes only"
    )
    parser.add_argument("--gc", default="", help="young,middle,old thresholds for the server")
    parser.add_argument(
        "--strace", action="store_true", help="count the server's system calls (strace -c)"
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count the server's instructions during the bursts (valgrind; slow: use --runs 200)",
    )
    parser.add_argument(
        "--callgrind-out", default="", help="keep callgrind's dumps in this directory"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="instead of bursts, the sustained loop with this many keep-alive clients "
        "(benchmarks.server.sustained; --runs counted runs a pass, --bursts passes)",
    )
    args = parser.parse_args()
    from agenthost.testing.fake_openai import FakeOpenAIServer

    with (
        tempfile.TemporaryDirectory(prefix="agenthost-profile-server-") as name,
        FakeOpenAIServer.start_in_process(latency=args.latency) as fake,
    ):
        tmp = Path(name)
        prof = Path(args.out).resolve() if args.out else tmp / "server.prof"
        config = write_config(tmp, fake.base_url)
        port = 0  # child_server reads the bound port from the server's banner
        cmd = [sys.executable, "-m", "benchmarks.profile_server", "--child", str(prof), "--"]
        cmd += ["serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
        if args.callgrind:
            args.no_profile = True
            cmd = [*_CALLGRIND, f"--callgrind-out-file={tmp / 'callgrind.out'}", *cmd]
        extra = {"BENCH_NO_PROFILE": "1"} if args.no_profile else {}
        if args.gc:
            extra["BENCH_GC_THRESHOLDS"] = args.gc
        env = child_env(AGENTHOST_HOME=str(tmp / "home"), **extra)
        gc_report = Path(str(prof) + ".gc.json")
        with child_server("agenthost", cmd, port=port, ready_path="/readyz", cwd=tmp, env=env) as c:
            one = agenthost_run_one(c.url, "bench")
            run_client(burst(one, args.warmup, warmup=3, timeout=60, server=c))
            if not args.no_profile:
                plain = run_client(burst(one, args.runs, warmup=0, timeout=120, server=c))
                cpu = plain.summary()["server_cpu_ms_per_run"]
                print(f"without the profiler: {cpu:.2f} ms/run")
            os.kill(c.proc.pid, signal.SIGUSR1)
            tracer = _strace(c.proc.pid, tmp / "strace.txt") if args.strace else None
            if args.callgrind:
                subprocess.run(["callgrind_control", "-i", "on", str(c.proc.pid)], check=True)
            user, system = _user_system(c.proc.pid)
            served = 0  # runs the server ran while measured
            for _ in range(args.bursts):
                measure = (
                    sustained(one, args.runs, clients=args.clients, warmup=0, timeout=600, server=c)
                    if args.clients
                    else burst(one, args.runs, warmup=0, timeout=300, server=c)
                )
                result = run_client(measure)
                served += result.served or args.runs
                s = result.summary()
                print(
                    f"burst: {s['runs_per_s'] or 0:.0f} runs/s, p99 {s['p99_s'] or 0:.2f} s, "
                    f"server CPU {s['server_cpu_ms_per_run']:.2f} ms/run, {s['errors']} errors",
                    flush=True,
                )
            user_after, system_after = _user_system(c.proc.pid)
            per_run = 1e3 / served
            print(
                f"server CPU over the bursts: user {(user_after - user) * per_run:.3f}, "
                f"system {(system_after - system) * per_run:.3f} ms/run"
            )
            if args.callgrind:
                subprocess.run(["callgrind_control", "-d", str(c.proc.pid)], check=True)
                print(_instructions(tmp, served))
                if args.callgrind_out:
                    keep = Path(args.callgrind_out)
                    keep.mkdir(parents=True, exist_ok=True)
                    for dump in tmp.glob("callgrind.out*"):
                        shutil.copy(dump, keep / dump.name)
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(30)
                print(_syscalls(tmp / "strace.txt", served))
            os.kill(c.proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not gc_report.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        runs = served
        report = json.loads(gc_report.read_text())
        print(
            f"GC {report['thresholds']}: passes by generation {report['passes']}, "
            f"CPU {1e6 * sum(report['cpu_s']) / runs:.1f} µs/run "
            f"({', '.join(f'{1e3 * t:.1f}' for t in report['cpu_s'])} ms), "
            f"freed {report['freed']}"
        )
        if not args.no_profile:
            print(_table(prof, runs, args.top, args.sort))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        _serve_profiled(sys.argv[2], sys.argv[4:])
    else:
        main()
