"""The JSON log lines: the time of each record (the formatter keeps the formatted second),
and what `setup_logging` writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from agenthost.server.logs import JsonFormatter, setup_logging


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("agenthost.x", logging.INFO, __file__, 1, "hi %s", ("there",), None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


def test_each_record_has_its_own_time_across_seconds() -> None:
    formatter = JsonFormatter()
    stamps = [
        orjson.loads(formatter.format(_record(t)))["ts"] for t in (0.5, 0.9, 1.25, 86_400.001, 2.0)
    ]
    assert stamps == [
        "1970-01-01T00:00:00.500Z",
        "1970-01-01T00:00:00.900Z",
        "1970-01-01T00:00:01.250Z",
        "1970-01-02T00:00:00.001Z",
        "1970-01-01T00:00:02.000Z",
    ]


UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    flags = (logging._srcfile, logging.logThreads, logging.logProcesses)  # type: ignore[attr-defined]
    multi = logging.logMultiprocessing
    uvicorn = {name: logging.getLogger(name).level for name in UVICORN}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, uv_level in uvicorn.items():
            logging.getLogger(name).setLevel(uv_level)
        logging._srcfile, logging.logThreads, logging.logProcesses = flags  # type: ignore[attr-defined]
        logging.logMultiprocessing = multi


def test_setup_logging_writes_json_lines_with_the_extras(
    logging_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO", "json")
    logging.getLogger("agenthost.server.runs").info("run finished", extra={"status": "completed"})
    line = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "run finished" and line["status"] == "completed"
    assert line["logger"] == "agenthost.server.runs" and line["level"] == "INFO"
    assert line["run_id"] is None and line["trace_id"] is None
    assert "lineno" not in line and "thread" not in line


@pytest.mark.parametrize(("level", "expected"), [("warning", logging.WARNING), ("debug", 10)])
def test_uvicorns_loggers_have_the_level_they_inherited_set_on_them(
    logging_restored: None, level: str, expected: int
) -> None:
    """uvicorn's protocol reads `logger.level` (not the effective level) on every connection:
    set, it is no longer 0, and a connection formats no trace record."""
    setup_logging(level, "text")
    for name in UVICORN:
        logger = logging.getLogger(name)
        assert logger.level == expected == logger.getEffectiveLevel()
        assert logger.propagate and not logger.handlers
