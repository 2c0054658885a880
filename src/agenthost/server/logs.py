"""Structured logs: one JSON object per line, with the run id (and trace id) of the run.

The run id comes from a context variable the server sets in each run's task, so engine and
backend records made during that run carry it too; the trace id is OpenTelemetry's current
one when a tracer provider is configured. `agenthost serve` calls `setup_logging()`;
an embedding application keeps its own logging (add `RunContextFilter` and `JsonFormatter`
to its handlers to get the same fields).

    {"ts": "2026-01-02T10:11:12.345Z", "level": "INFO", "logger": "agenthost.server",
     "message": "run finished", "run_id": "run_0196...", "trace_id": null, "status": "completed"}
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any, Literal

import orjson

from agenthost.engine import tracing

current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "agenthost_server_run", default=None
)

# attributes every LogRecord has: what is not among them came in through `extra=`
_STANDARD = frozenset(
    set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
    | {"message", "asctime", "run_id", "trace_id", "taskName", "color_message", "run_part"}
)


class RunContextFilter(logging.Filter):
    """Sets `record.run_id` and `record.trace_id` (None outside a run / without tracing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = current_run.get()
        if not hasattr(record, "trace_id"):
            record.trace_id = tracing.current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra=` fields are kept as top-level keys."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1  # the whole second of the last record, and its formatted time
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # a busy server logs many records a second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "trace_id": getattr(record, "trace_id", None),
        }
        standard = _STANDARD
        for key, value in record.__dict__.items():
            if key not in standard and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(run_part)s %(message)s"


class TextFormatter(logging.Formatter):
    """Text lines; ` run=<id>` only on records made during a run."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None)
        record.run_part = f" run={run_id}" if run_id else ""
        return super().format(record)


def setup_logging(level: str = "INFO", fmt: Literal["json", "text"] = "json") -> None:
    """Log everything (agenthost, uvicorn, libraries) to stderr at `level`, as JSON lines or
    text; replaces the root logger's handlers.

    Records are made without the caller's file and line and the thread and process names
    (logging's own switches for it, its HOWTO's "Optimization"): neither format shows them,
    and a busy server at INFO logs two records a run (11 of 46 µs a run measured, with the
    formatter's cached second another 9).
    """
    logging._srcfile = None  # no stack walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = level.upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
        # the root's level set on them too (the level they had by inheritance): uvicorn's
        # protocol asks `logger.level <= TRACE` on every connection made and lost, and with
        # the level unset (0) formats a trace record logging then drops
        uv.setLevel(root.level)
