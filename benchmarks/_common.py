"""What every workload shares: the settings, a result row, medians, the GC's time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_RATIO = 1.3  # every runtime-vs-bare target of the issue, in memory
MAX_RATIO_SQLITE = 1.5  # the same targets with the SQLite store (four commits a turn)
MAX_RSS_MB = 150.0
MAX_HELP_SECONDS = 0.3


@dataclass(slots=True, kw_only=True)
class Settings:
    """Counts for one suite run (`quick()` for a smoke test)."""

    quick: bool = False
    turns: int = 600  # timed turns per repetition (per-turn workload)
    warmup: int = 100  # untimed turns before them
    repeat: int = 5  # repetitions of the per-turn workload (median)
    sessions: int = 500  # concurrent sessions
    concurrent_latency: float = 0.1
    concurrent_repeat: int = 3
    history_lengths: tuple[int, ...] = (1, 150)
    history_samples: int = 6  # sessions timed per repetition and length
    history_repeat: int = 3
    startup_repeat: int = 11  # a median of 11: one start-up is a few hundred ms of a busy machine
    clients: tuple[str, ...] = ("httpx2", "aiohttp", "httpx")
    server_runs: int = 1000  # concurrent streaming runs against one server (server workload)
    server_timeout: float = 120.0  # seconds before the rest of those runs are cancelled
    # the sustained loop (issue 9's runs/s target): clients each running streaming runs one
    # after another on a keep-alive connection; 400 clients keep 2x the 1,000 runs/s x 0.2 s
    # (two 100 ms model calls) = 200 runs in flight that the target needs (Little's law), so
    # the rate is the server's, not the loop's; warm-up runs, then the counted ones
    sustained_clients: int = 400
    sustained_warmup: int = 2000
    sustained_runs: int = 6000
    compare: bool = False  # also run Google ADK and AgentScope Runtime (server workload)

    @classmethod
    def quick_settings(cls) -> Settings:
        return cls(
            quick=True,
            turns=100,
            warmup=20,
            repeat=2,
            sessions=50,
            concurrent_repeat=1,
            history_lengths=(1, 20),
            history_samples=3,
            history_repeat=1,
            startup_repeat=2,
            server_runs=50,
            server_timeout=60.0,
            sustained_clients=8,
            sustained_warmup=16,
            sustained_runs=40,
        )


@dataclass(slots=True, kw_only=True)
class Row:
    """One line of the table. `reference` is the fastest bare loop's value (same unit)."""

    workload: str
    variant: str
    store: str = "-"
    value: float | None
    unit: str
    reference: float | None = None
    reference_name: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target, or not measured
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "variant": self.variant,
            "store": self.store,
            "value": self.value,
            "unit": self.unit,
            "reference": self.reference,
            "reference_name": self.reference_name,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def max_ratio_for(store: str) -> float:
    """The runtime-vs-bare target for a store: 1.3x in memory, 1.5x with SQLite."""
    return MAX_RATIO_SQLITE if store == "sqlite" else MAX_RATIO


def compared(
    *,
    workload: str,
    variant: str,
    store: str = "-",
    value: float,
    unit: str,
    reference: float,
    reference_name: str,
    max_ratio: float | None = MAX_RATIO,
    note: str = "",
) -> Row:
    """A row compared with a reference; met when value / reference <= max_ratio."""
    ratio = value / reference if reference > 0 else None
    return Row(
        workload=workload,
        variant=variant,
        store=store,
        value=value,
        unit=unit,
        reference=reference,
        reference_name=reference_name,
        ratio=ratio,
        target="" if max_ratio is None else f"<= {max_ratio:g}x",
        met=None if max_ratio is None or ratio is None else ratio <= max_ratio,
        note=note,
    )


def limited(
    *,
    workload: str,
    variant: str,
    store: str = "-",
    value: float | None,
    unit: str,
    limit: float,
    strict: bool = False,
    note: str = "",
) -> Row:
    """A row with an absolute target: value <= limit (value < limit when `strict`)."""
    met = None if value is None else (value < limit if strict else value <= limit)
    return Row(
        workload=workload,
        variant=variant,
        store=store,
        value=value,
        unit=unit,
        target=f"{'<' if strict else '<='} {limit:g} {unit}",
        met=met,
        note=note,
    )


@dataclass(slots=True)
class Outcome:
    """What one workload produced: table rows, raw numbers for the JSON, notes."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fastest(medians: dict[str, float]) -> tuple[str, float]:
    """The name and value of the smallest entry."""
    name = min(medians, key=medians.__getitem__)
    return name, medians[name]


class GCTime:
    """The cyclic GC's thread time and collections while it is in `gc.callbacks`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._start = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._start
            self.collections += 1
