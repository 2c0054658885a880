"""A run in a new session costs Postgres five statements (benchmarks/pg_roundtrips.py, one real
`agenthost serve` replica): lease acquire, the session created with the user's message, the
answer with `run.completed`, the usage record, lease release. Main before this was seven (a
`get` and a `create` before the message). Counted by the server (`pg_stat_database`), not
timed. Skips without Postgres (fails under CI=true)."""

from __future__ import annotations

from benchmarks.load import ROOT, run_async
from benchmarks.pg_roundtrips import measure

from ..contract.server_stores import server_url


def test_a_run_in_a_new_session_is_five_statements() -> None:
    server_url("postgres")
    result = run_async(measure(runs=100, clients=2, src=ROOT / "src"))
    assert 4.5 <= result["statements_per_run"] < 6, result


def test_the_five_statements_are_counted_by_the_replica_itself() -> None:
    """benchmarks/pg_statements.py, counted on the client (asyncpg in the replica): the same
    five, each once a run, and the release commits asynchronously (synchronous_commit off)."""
    from benchmarks.pg_statements import measure as count

    server_url("postgres")
    result = run_async(count(runs=40, clients=2, src=ROOT / "src"))
    assert result["statements_per_run"] == 5, result
    assert result["round_trips_per_run"] < 5.2, result
    counts = result["client_counts"]
    assert sorted(counts.values()) == [1.0] * 5, counts
    release = [text for text in counts if text.startswith("UPDATE {p}leases SET expires_at = 0")]
    assert release and "synchronous_commit" in release[0], counts
