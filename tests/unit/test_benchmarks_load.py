"""The load workload (benchmarks/load.py) runs end to end in a tiny configuration: 20 runs
through one and two real `agenthost serve` replicas on one SQLite file, every stream read to
its end and every run's stored events read back through the other replica. No timing is
asserted; the checks are errors, lost and duplicated events, and the rows it reports."""

from __future__ import annotations

from benchmarks._load_client import Streamed, checked
from benchmarks.load import LoadSettings, Phase, core_bound, measure, rows_of, run_async
from benchmarks.suite import WORKLOADS

RUNS = 20


def test_load_runs_through_one_and_two_replicas_without_faults() -> None:
    settings = LoadSettings(
        stores=("sqlite",), replicas=(1, 2), runs=RUNS, clients=4, warmup=0, verify=RUNS
    )
    phases = run_async(measure(settings))

    assert [(p.store, p.replicas) for p in phases] == [("sqlite", 1), ("sqlite", 2)]
    for phase in phases:
        assert phase.errors == 0, phase.error_kinds
        assert (phase.started, phase.runs, len(phase.first_event_ms)) == (RUNS, RUNS, RUNS)
        assert phase.lost == 0 and phase.duplicated == 0
        assert phase.verified == RUNS  # each run's stored events == its streamed ones
        assert sum(phase.served.values()) == RUNS
    assert sorted(phases[1].served.values()) == [RUNS // 2, RUNS // 2]  # round-robin
    faults = rows_of(phases)[-1]
    assert faults.variant.startswith("errors + lost + duplicated") and faults.met is True
    assert "load" in WORKLOADS  # `python -m benchmarks` (and `make bench`) runs it


def _frame(frame_id: str, kind: str, event_id: str) -> bytes:
    return f'id: {frame_id}\nevent: {kind}\ndata: {{"id":"{event_id}","x":1}}\n\n'.encode()


def _checked(*frames: bytes) -> Streamed:
    head = b"HTTP/1.1 200 OK\r\nx-session-id: s_1\r\ntransfer-encoding: chunked\r\n\r\n"
    return checked(head + b"".join(frames) + b"\r\n0\r\n\r\n", sent=0.0, first=0.1, ended=0.2)


def test_the_stream_check_finds_duplicates_gaps_and_unfinished_runs() -> None:
    good = _checked(
        _frame("1", "message.received", "a"),
        _frame("1.1", "message.delta", "b"),
        _frame("2", "message.completed", "c"),
        _frame("3", "run.completed", "d"),
    )
    assert (good.session_id, good.completed, good.duplicated, good.gaps) == ("s_1", True, 0, 0)
    assert good.stored == [(1, "a"), (2, "c"), (3, "d")]
    assert round(good.first_event_ms) == 100

    bad = _checked(
        _frame("1", "message.received", "a"),
        _frame("1", "message.received", "a"),
        _frame("3", "run.failed", "d"),
    )
    assert (bad.completed, bad.duplicated, bad.gaps) == (False, 1, 1)


def test_the_scaling_row_is_met_only_at_1_3x() -> None:
    def phase(replicas: int, runs: int) -> Phase:
        p = Phase("postgres", replicas, 32, window=10.0, runs=runs)
        p.replica_cpu = [6.0] * replicas  # 60 % of a core each on CPU,
        p.replica_wait = [3.5] * replicas  # and 35 % waiting for one: CPU-bound
        return p

    for two, met in ((130, True), (129, False)):
        row = rows_of([phase(1, 100), phase(2, two)])[2]
        assert row.target == ">= 1.3x" and row.met is met
        assert "(CPU-bound)" in row.note


def test_the_core_bound_comes_from_cpu_per_run_without_the_machines_other_load() -> None:
    def phase(replicas: int, replica_s: float) -> Phase:
        p = Phase("postgres", replicas, 32, window=10.0, runs=1000)
        p.cpu = {"replicas": replica_s, "client": 0.1, "model": 0.1, "postgres": 0.8, "other": 9.0}
        return p

    one, two = phase(1, 1.0), phase(2, 1.25)  # s1 1 ms + o 1 ms; s2 1.25 ms + o 1 ms
    assert (one.split_ms(), two.split_ms()) == ((1.0, 1.0), (1.25, 1.0))
    # one replica: min(1/1, 2/2) = 1 run/ms; two: min(2/1.25, 2/2.25) = 0.89
    assert core_bound(one, two, cores=2).endswith(
        "at most 0.89x; with a core per replica and the rest elsewhere, 2 s1 / s2 = 1.60x"
    )
    # on 4 cores the replicas' own CPU is the limit: min(1, 4/2) = 1 against min(1.6, 1.78)
    assert "at most 1.60x" in core_bound(one, two, cores=4)
