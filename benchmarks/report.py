"""The table (Rich) and the JSON file of a suite run."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks._common import Outcome, Row, Settings


def meta(settings: Settings, workloads: Sequence[str]) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": load,
        "quick": settings.quick,
        "workloads": list(workloads),
        "settings": dataclasses.asdict(settings),
    }


def document(settings: Settings, outcomes: dict[str, Outcome]) -> dict[str, Any]:
    return {
        "meta": meta(settings, list(outcomes)),
        "rows": [row.as_dict() for o in outcomes.values() for row in o.rows],
        "details": {name: o.details for name, o in outcomes.items()},
        "notes": [note for o in outcomes.values() for note in o.notes],
    }


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:.1f} {unit}"


def _verdict(row: Row) -> str:
    if row.met is None:
        return "" if not row.target else "n/a"
    return "[green]met[/]" if row.met else "[bold red]missed[/]"


def print_table(rows: Sequence[Row], notes: Sequence[str], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
            console = Console(width=220)
    table = Table(title="agenthost benchmarks", show_lines=False, header_style="bold")
    for column in ("workload", "variant", "store", "value", "reference", "ratio", "target"):
        table.add_column(column, justify="right" if column in ("value", "ratio") else "left")
    table.add_column("result")
    table.add_column("note", style="dim")
    previous = ""
    for row in rows:
        reference = ""
        if row.reference is not None:
            reference = f"{_number(row.reference, row.unit)} ({row.reference_name})"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        workload = row.workload if row.workload != previous else ""
        if workload and previous:
            table.add_section()
        previous = row.workload
        table.add_row(
            workload,
            row.variant,
            row.store,
            _number(row.value, row.unit),
            reference,
            ratio,
            row.target,
            _verdict(row),
            row.note,
        )
    console.print(table)
    print_targets(rows, console)
    for note in notes:
        console.print(f"note: {note}", style="yellow")


def print_targets(rows: Sequence[Row], console: Console) -> None:
    """One line per target after the table: what was measured against what, met or missed."""
    judged = [row for row in rows if row.met is not None]
    if not judged:
        return
    met = sum(1 for row in judged if row.met)
    console.print(f"targets: {met} met, {len(judged) - met} missed")
    for row in judged:
        store = "" if row.store == "-" else escape(f" [{row.store}]")
        measured = f"{row.ratio:.2f}x" if row.ratio is not None else _number(row.value, row.unit)
        console.print(
            f"  {_verdict(row)}  {row.workload}: {row.variant}{store}: {measured} "
            f"(target {row.target})"
        )
