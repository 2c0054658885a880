"""`benchmarks.deadlines` runs every variant and reports CPU per block (no timing asserted)."""

from __future__ import annotations

from benchmarks.deadlines import VARIANTS, run_deadlines


def test_the_deadline_benchmark_reports_every_variant() -> None:
    result = run_deadlines(blocks=20, reps=1)
    assert list(result) == list(VARIANTS)
    assert all(row["cpu_us"] >= 0 for row in result.values())
    assert result["no scope"]["over_bare_us"] == 0
