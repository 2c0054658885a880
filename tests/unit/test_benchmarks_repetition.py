"""`benchmarks.repetition` streams its texts through the loop guard without tripping it and
reports CPU per delta and per check (no timing asserted)."""

from __future__ import annotations

from benchmarks.repetition import TEXTS, run_repetition


def test_the_repetition_benchmark_reports_every_text() -> None:
    result = run_repetition(rounds=1)
    for name in TEXTS:
        row = result[name]
        assert isinstance(row, dict) and row["chars"] == len(TEXTS[name]) >= 1500
        assert row["us_per_delta"] >= 0 and row["us_per_check"] >= 0
    calls = result["us_per_test_call"]
    assert isinstance(calls, dict) and set(calls) == {"exact", "near", "words"}
