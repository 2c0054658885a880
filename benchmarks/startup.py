"""Start-up time: `python -c "import agenthost"` and `agenthost --help`, in subprocesses.

Each command runs `startup_repeat` times after one untimed run. The rows are the median wall
time and the median CPU time (the child's user + system time), which a busy machine disturbs
less. `python -c pass` is measured alongside as the interpreter's own floor.

The children cache their bytecode even when PYTHONDONTWRITEBYTECODE is set (as it is on the CI
machine), in a temporary PYTHONPYCACHEPREFIX so that the checkout is left alone: pip compiles an
installed agenthost's bytecode, so a user never waits for it, while without a cache every run
would compile agenthost's own modules again (about 10 ms of `agenthost --help` on 2 cores).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import MAX_HELP_SECONDS, Outcome, Row, Settings, compared, limited, median

WORKLOAD = "start-up"
CLI_MODULE = Path(__file__).resolve().parents[1] / "src" / "agenthost" / "cli" / "app.py"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` runs of `cmd` (after one untimed run).

    Raises RuntimeError if a run fails.
    """
    walls: list[float] = []
    cpus: list[float] = []
    for i in range(repeat + 1):
        cpu = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, timeout=60, env=env)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {done.stderr.decode(errors='replace')[-500:]}")
        if i:
            walls.append(elapsed)
            cpus.append(_children_cpu() - cpu)
    return median(walls), median(cpus)


def cpu_row(variant: str, value: float | None, note: str = "") -> Row:
    return Row(workload=WORKLOAD, variant=f"{variant} (CPU)", value=value, unit="s", note=note)


def run(settings: Settings) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="agenthost-pycache-") as pycache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pycache
        return _measure(settings, env)


def _measure(settings: Settings, env: dict[str, str]) -> Outcome:
    out = Outcome()
    python = sys.executable
    repeat = settings.startup_repeat
    floor, floor_cpu = timed([python, "-c", "pass"], repeat, env)
    imported, imported_cpu = timed([python, "-c", "import agenthost"], repeat, env)
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
    out.rows.append(cpu_row("import agenthost", imported_cpu))
    script = Path(python).with_name("agenthost")
    help_s: float | None = None
    help_cpu: float | None = None
    note = ""
    if not CLI_MODULE.exists() or not script.exists():
        note = f"n/a: {CLI_MODULE if not CLI_MODULE.exists() else script} is missing"
        out.notes.append(f"{WORKLOAD}: agenthost --help {note}")
    else:
        try:
            help_s, help_cpu = timed([str(script), "--help"], repeat, env)
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
    out.rows.append(cpu_row("agenthost --help", help_cpu, note))
    out.details = {
        "repeat": repeat,
        "bytecode": "cached (PYTHONPYCACHEPREFIX, a temporary directory)",
        "python_pass_s": floor,
        "python_pass_cpu_s": floor_cpu,
        "import_agenthost_s": imported,
        "import_agenthost_cpu_s": imported_cpu,
        "agenthost_help_s": help_s,
        "agenthost_help_cpu_s": help_cpu,
    }
    return out
