"""The CLI's log: `$AGENTHOST_HOME/logs/agenthost.log`, every line with the run id.

The run id comes from a context variable the CLI sets while it drives a run, so engine and
backend log records made during that run carry it too (tool threads inherit the context).
Level: `AGENTHOST_LOG_LEVEL` (default INFO). Nothing is logged to the terminal.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import os
from pathlib import Path

current_run: contextvars.ContextVar[str] = contextvars.ContextVar("agenthost_run", default="-")

FORMAT = "%(asctime)s %(levelname)-7s %(name)s run=%(run_id)s %(message)s"


class RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = current_run.get()
        return True


_saved: list[tuple[int, bool]] = []


def setup_logging(log_file: Path) -> Path | None:
    """Send the `agenthost` loggers to `log_file` (rotated at 5 MB); None if it cannot be
    written (the CLI still works, unlogged). `teardown_logging()` undoes it."""
    logger = logging.getLogger("agenthost")
    teardown_logging()
    _saved.append((logger.level, logger.propagate))
    level = os.environ.get("AGENTHOST_LOG_LEVEL", "INFO").upper()
    logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    logger.propagate = False
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler._agenthost_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RunIdFilter())
    logger.addHandler(handler)
    return log_file


def teardown_logging() -> None:
    """Close the CLI's log handler and restore the logger (for tests and embedding)."""
    logger = logging.getLogger("agenthost")
    for handler in list(logger.handlers):
        if getattr(handler, "_agenthost_cli", False):
            logger.removeHandler(handler)
            handler.close()
    if _saved:
        level, propagate = _saved.pop()
        logger.setLevel(level)
        logger.propagate = propagate
