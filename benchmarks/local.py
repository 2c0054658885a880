"""Tool-calling accuracy of the embedded local model (20 questions).

Runs `benchmarks.local_tool_accuracy.run_accuracy()` when that module exists; when it or the
model is missing the workload is skipped with a note (`--skip-local` skips it outright).
"""

from __future__ import annotations

import importlib
from typing import Any

from benchmarks._common import Outcome, Row, Settings

WORKLOAD = "local model tool accuracy"


def run(settings: Settings) -> Outcome:
    out = Outcome()
    try:
        module = importlib.import_module("benchmarks.local_tool_accuracy")
    except ImportError as exc:
        return _skipped(out, f"benchmarks/local_tool_accuracy.py is not available ({exc})")
    try:
        result: dict[str, Any] = module.run_accuracy()
    except Exception as exc:  # a missing model or extra must not sink the whole suite
        return _skipped(out, f"run_accuracy() failed: {type(exc).__name__}: {exc}")
    out.details = result
    accuracy = _accuracy(result)
    out.rows.append(
        Row(
            workload=WORKLOAD,
            variant=str(result.get("model", "local model")),
            value=None if accuracy is None else accuracy * 100,
            unit="%",
            note=_describe(result),
        )
    )
    return out


def _accuracy(result: dict[str, Any]) -> float | None:
    value = result.get("accuracy")
    if isinstance(value, int | float):
        return float(value) / 100 if value > 1 else float(value)
    correct, total = result.get("correct"), result.get("total")
    if isinstance(correct, int) and isinstance(total, int) and total:
        return correct / total
    return None


def _describe(result: dict[str, Any]) -> str:
    correct, total = result.get("correct"), result.get("total")
    return f"{correct}/{total} questions" if correct is not None and total else ""


def _skipped(out: Outcome, why: str) -> Outcome:
    out.notes.append(f"{WORKLOAD}: skipped: {why}")
    out.rows.append(Row(workload=WORKLOAD, variant="skipped", value=None, unit="%", note=why))
    return out
