"""What a sandbox is given (`SandboxLimits`) and what one call gives back (`CodeResult`)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Language = Literal["python", "shell"]
LANGUAGES: tuple[Language, ...] = ("python", "shell")
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Bounds of one `run_code` call (bytes unless said otherwise)."""

    timeout: float = 30.0  # wall-clock seconds; past it every process of the call is killed
    cpu_seconds: int = 10  # CPU time per process: SIGXCPU at the limit, SIGKILL a second later
    memory: int = 512 * MiB  # address space per process (RLIMIT_AS)
    processes: int = 64  # processes and threads of the call at once
    file_size: int = 64 * MiB  # one file written (RLIMIT_FSIZE)
    disk: int = 100 * MiB  # all files of the work directory during the call (a tmpfs)
    tmp_size: int = 16 * MiB  # /tmp (a tmpfs)
    open_files: int = 256  # file descriptors per process
    max_output: int = 64 * 1024  # of stdout and of stderr kept for the model; the rest is counted
    max_code: int = 100_000  # characters of code


@dataclass(slots=True)
class Stream:
    """One output stream, read while the program runs: its first `limit` bytes are kept,
    the rest only counted (memory stays bounded whatever the program prints)."""

    limit: int
    head: bytearray = field(default_factory=bytearray)
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        self.total += len(chunk)

    @property
    def dropped(self) -> int:
        return self.total - len(self.head)

    def text(self) -> str:
        shown = bytes(self.head).decode("utf-8", "replace")
        if self.dropped:
            shown += (
                f"\n[output truncated: {self.dropped} more bytes of {self.total}; write large "
                f"results to a file and read it in parts with read_file]"
            )
        return shown


@dataclass(slots=True)
class CodeResult:
    """One call: exit status, bounded output, why it was stopped, files it changed."""

    exit_code: int | None  # None: killed by us (timeout) before it ended
    stdout: Stream
    stderr: Stream
    stopped: str | None = None  # why the call was stopped, if it was
    files: list[str] = field(default_factory=list)  # changed or new files (work-dir paths)
    notes: list[str] = field(default_factory=list)  # e.g. files not copied back
    duration: float = 0.0  # seconds, start to end
    first_output: float | None = None  # seconds from the start to the first byte of output

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped is None

    def render(self) -> str:
        """The text the model reads."""
        lines = [f"exit code: {self.exit_code if self.exit_code is not None else 'none'}"]
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        if self.stdout.total:
            lines += ["--- stdout ---", self.stdout.text().rstrip("\n")]
        if self.stderr.total:
            lines += ["--- stderr ---", self.stderr.text().rstrip("\n")]
        if not self.stdout.total and not self.stderr.total:
            lines.append("(no output)")
        if self.files:
            shown = ", ".join(self.files[:20])
            more = f" and {len(self.files) - 20} more" if len(self.files) > 20 else ""
            lines.append(f"files written: {shown}{more} (read them with read_file)")
        lines += self.notes
        return "\n".join(lines)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def why_killed(code: int, limits: SandboxLimits) -> str | None:
    """Why a program that ended with `code` (a shell's 128+N for signal N) was killed."""
    if code <= 128 or code > 128 + 64:
        return None
    number = code - 128
    if number == signal.SIGXCPU or number == signal.SIGKILL:
        return (
            f"killed by {signal_name(number)}: it reached its CPU time limit of "
            f"{limits.cpu_seconds}s (or was killed for another reason)"
            if number == signal.SIGKILL
            else f"killed by SIGXCPU: it reached its CPU time limit of {limits.cpu_seconds}s"
        )
    if number == signal.SIGXFSZ:
        return f"killed by SIGXFSZ: a file grew past the limit of {limits.file_size} bytes"
    return f"killed by {signal_name(number)}"


class Sandbox(Protocol):
    """Runs code in isolation over a copy of (or a view on) a work directory."""

    async def run(
        self, language: Language, code: str, *, workdir: Path, limits: SandboxLimits
    ) -> CodeResult: ...
