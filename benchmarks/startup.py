"""Start-up time: `python -c "import agenthost"` and `agenthost --help`, in subprocesses.

Median wall time of `startup_repeat` runs after one untimed run (warm OS caches, compiled
bytecode). `python -c pass` is measured alongside as the interpreter's own floor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import MAX_HELP_SECONDS, Outcome, Settings, compared, limited, median

WORKLOAD = "start-up"
CLI_MODULE = Path(__file__).resolve().parents[1] / "src" / "agenthost" / "cli" / "app.py"


def wall(cmd: list[str], repeat: int) -> float:
    """Median seconds of `repeat` runs of `cmd` (after one untimed run); raises if it fails."""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, timeout=60)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {done.stderr.decode(errors='replace')[-500:]}")
        if i:
            times.append(elapsed)
    return median(times)


def run(settings: Settings) -> Outcome:
    out = Outcome()
    python = sys.executable
    floor = wall([python, "-c", "pass"], settings.startup_repeat)
    imported = wall([python, "-c", "import agenthost"], settings.startup_repeat)
    out.rows.append(
        compared(
            workload=WORKLOAD,
            variant="import agenthost",
            value=imported,
            unit="s",
            reference=floor,
            reference_name="python -c pass",
            max_ratio=None,
        )
    )
    script = Path(python).with_name("agenthost")
    help_s: float | None = None
    note = ""
    if not CLI_MODULE.exists() or not script.exists():
        note = f"n/a: {CLI_MODULE if not CLI_MODULE.exists() else script} is missing"
        out.notes.append(f"{WORKLOAD}: agenthost --help {note}")
    else:
        try:
            help_s = wall([str(script), "--help"], settings.startup_repeat)
        except RuntimeError as exc:
            note = "n/a: the command failed"
            out.notes.append(f"{WORKLOAD}: agenthost --help failed: {exc}")
    out.rows.append(
        limited(
            workload=WORKLOAD,
            variant="agenthost --help",
            value=help_s,
            unit="s",
            limit=MAX_HELP_SECONDS,
            strict=True,
            note=note,
        )
    )
    out.details = {
        "repeat": settings.startup_repeat,
        "python_pass_s": floor,
        "import_agenthost_s": imported,
        "agenthost_help_s": help_s,
    }
    return out
