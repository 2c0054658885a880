"""The soak test's checks catch what they claim to (no server, no timing): the flaky model
fails one call in ten, and a run left open, an event not stored or a stream cut short each
make the verdict fail."""

from __future__ import annotations

import argparse
from typing import Any

from benchmarks._flaky_fake import flaky_responder
from benchmarks.soak import Report, Sample, Seen, check_session, parse, verdict

from agenthost.testing.fake_openai import ErrorReply, TextReply

REQUEST = {"messages": [{"role": "user", "content": "hi"}]}


def test_the_flaky_model_fails_one_call_in_ten() -> None:
    respond = flaky_responder(10)
    replies = [respond(REQUEST) for _ in range(40)]
    failures = [(i, r) for i, r in enumerate(replies, 1) if isinstance(r, ErrorReply)]
    assert [i for i, _ in failures] == [10, 20, 30, 40]
    assert [r.status for _, r in failures] == [500, 400, 500, 400]  # retried, then not
    assert all(isinstance(r, TextReply) for r in replies if not isinstance(r, ErrorReply))


def event(run: str, kind: str, eid: str, status: str | None = None) -> dict[str, Any]:
    data = {"status": status} if status else None
    return {"id": eid, "run_id": run, "type": kind, "data": data}


def seen(run: str, ids: list[str], last: str = "run.completed") -> Seen:
    return Seen("native", "u", "bench", "s1", run, ids, last, read_to_end=True)


def clean_report() -> Report:
    report = Report(duration=1.0, runs=1)
    report.baselines = [Sample(80.0, 50)]
    report.end = Sample(81.0, 50)
    report.exit_code = 0
    return report


def failed(report: Report, args: argparse.Namespace) -> list[str]:
    return [name for name, _, ok in verdict(report, args) if not ok]


def test_checks_pass_on_a_clean_run() -> None:
    report = clean_report()
    stored = [event("r1", "message.received", "e1"), event("r1", "run.completed", "e2")]
    check_session(stored, [seen("r1", ["e1", "e2"])], report)
    assert report.statuses == {"completed": 1}
    assert failed(report, parse([])) == []


def test_an_open_run_and_a_lost_event_are_violations() -> None:
    report = clean_report()
    stored = [
        event("r1", "message.received", "e1"),
        event("r2", "message.received", "e3"),
        event("r2", "run.failed", "e4", "interrupted"),
    ]
    check_session(stored, [seen("r1", ["e1", "e2"]), seen("r2", ["e3", "e4"])], report)
    assert report.statuses == {"open (last event message.received)": 1, "interrupted": 1}
    assert report.not_stored == ["run r1: 1 events not stored"]
    assert failed(report, parse([])) == [
        "every run completed, failed or interrupted",
        "every event a client received is stored",
    ]


def test_cut_streams_memory_growth_and_leaked_descriptors_are_violations() -> None:
    report = clean_report()
    report.tally.cut.append("native run r1 ended with 'message.delta'")
    report.end = Sample(100.0, 60)
    assert failed(report, parse([])) == [
        "no stream ended without a terminal event",
        "RSS back near its baseline",
        "open descriptors back near their baseline",
    ]
