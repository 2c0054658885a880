"""`python -m benchmarks` runs each workload in a fresh child process (benchmarks/suite.py):
one workload's leftovers must not weigh on the next one's per-turn figures."""

from __future__ import annotations

import os

from benchmarks._common import Outcome, Settings
from benchmarks.suite import parse, run_workload


def _where(settings: Settings) -> Outcome:
    """A stand-in workload: which process ran it, with which settings."""
    return Outcome(details={"pid": os.getpid(), "turns": settings.turns})


def test_a_workload_runs_in_a_fresh_child_process_by_default() -> None:
    first = run_workload(_where, Settings(turns=7))
    second = run_workload(_where, Settings(turns=8))

    assert first.details["turns"] == 7 and second.details["turns"] == 8
    pids = {first.details["pid"], second.details["pid"], os.getpid()}
    assert len(pids) == 3  # two children, neither of them this process


def test_same_process_runs_it_here() -> None:
    assert run_workload(_where, Settings(), fresh=False).details["pid"] == os.getpid()
    assert parse(["--same-process"]).same_process is True
    assert parse([]).same_process is False
