"""Run the benchmark workloads, print the table, write the JSON file.

    .venv/bin/python -m benchmarks                      # everything (a few minutes)
    .venv/bin/python -m benchmarks --quick              # small counts: a smoke test
    .venv/bin/python -m benchmarks --only turn,history  # some workloads
    .venv/bin/python -m benchmarks --skip-local         # without the embedded model
    .venv/bin/python -m benchmarks --only server --compare  # + Google ADK, AgentScope Runtime

Workloads: turn, concurrency, history, startup, server, memory, local, approval, channels,
knowledge, mcp, run_code, compaction, load (streaming runs through 1 and 2 replicas on SQLite,
Postgres and Redis: benchmarks/load.py). `--compare` needs benchmarks/.venv-compare
(benchmarks/compare_setup.sh). The exit status is 0 even when a target is missed (the table
says so); it is 1 only when a workload could not run.

Each workload runs in a fresh child process (multiprocessing "spawn"): one workload's leftovers
(a heap grown by the previous ones, imported clients, collector generations) must not weigh on
the next one's per-turn figures. Run in one process, the history workload's turns cost every
variant (the bare loops too) 150-470 µs more CPU after `turn` and `concurrency` than alone
(docs/benchmarks.md, "SQLite turn, second pass"). `--same-process` runs them all in this one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import (
    approval,
    channels,
    compaction,
    concurrency,
    history,
    knowledge,
    load,
    local,
    mcp_overhead,
    run_code,
    server,
    server_memory,
    startup,
    turn,
)
from benchmarks._common import Outcome, Settings
from benchmarks.report import document, print_table, write_json

WORKLOADS: dict[str, Callable[[Settings], Outcome]] = {
    "turn": turn.run,
    "concurrency": concurrency.run,
    "history": history.run,
    "startup": startup.run,
    "server": server.run,
    "memory": server_memory.run,
    "local": local.run,
    "approval": approval.run,
    "channels": channels.run,
    "knowledge": knowledge.run,
    "mcp": mcp_overhead.run,
    "run_code": run_code.run,
    "compaction": compaction.run,
    "load": load.run,
}
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def _names(values: Sequence[str]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload {unknown[0]!r}; known: {', '.join(WORKLOADS)}")
    return names


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="agenthost benchmark suite"
    )
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these workloads (repeatable or comma-separated): {', '.join(WORKLOADS)}",
    )
    parser.add_argument("--skip-local", action="store_true", help="skip the local model")
    parser.add_argument("--turns", type=int, help="timed turns per repetition (turn workload)")
    parser.add_argument("--repeat", type=int, help="repetitions of every workload")
    parser.add_argument("--sessions", type=int, help="concurrent sessions (default 500)")
    parser.add_argument("--server-runs", type=int, help="concurrent server runs (default 1000)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="server workload: also Google ADK and AgentScope Runtime (benchmarks/.venv-compare)",
    )
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run every workload in this process (default: each in a fresh child process)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON file")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.quick_settings() if args.quick else Settings()
    if args.turns is not None:
        settings.turns = args.turns
        settings.warmup = min(settings.warmup, max(args.turns // 5, 1))
    if args.repeat is not None:
        settings.repeat = settings.concurrent_repeat = args.repeat
        settings.history_repeat = settings.startup_repeat = args.repeat
    if args.sessions is not None:
        settings.sessions = args.sessions
    if args.server_runs is not None:
        settings.server_runs = args.server_runs
    settings.compare = args.compare
    return settings


def run_workload(
    workload: Callable[[Settings], Outcome], settings: Settings, *, fresh: bool = True
) -> Outcome:
    """A workload's outcome, measured in a fresh child process unless `fresh` is False (the
    workload must be a module-level function: the child imports it by name)."""
    if not fresh:
        return workload(settings)
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(workload, (settings,))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    settings = settings_from(args)
    names = _names(args.only) or list(WORKLOADS)
    if args.skip_local and "local" in names:
        names.remove("local")
    outcomes: dict[str, Outcome] = {}
    failed = False
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            outcomes[name] = run_workload(WORKLOADS[name], settings, fresh=not args.same_process)
        except Exception as exc:  # report it (traceback on stderr), go on with the other workloads
            failed = True
            traceback.print_exc(file=sys.stderr)
            outcomes[name] = Outcome(notes=[f"{name}: FAILED: {type(exc).__name__}: {exc}"])
        print(f"  {name} took {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    doc = document(settings, outcomes)
    print_table([row for o in outcomes.values() for row in o.rows], doc["notes"])
    write_json(doc, args.output)
    print(f"wrote {args.output}")
    if failed:
        raise SystemExit(1)
