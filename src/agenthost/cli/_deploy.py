"""`agenthost deploy local|status|stop|logs`: `agenthost serve` as a background daemon.

Files, under `--dir` (default `$AGENTHOST_HOME`):

    server.pid          the daemon's process id (written when it starts, removed when it stops)
    server.json         its URL, command line and start time (for `status`)
    logs/server.log     everything it writes: the banner and its JSON log lines

`local` starts `agenthost serve` in a session of its own (it survives the terminal), waits
until it listens (its banner names the URL) or exits (then the end of its log is shown), and
returns. A pid file whose process is gone, or is no longer an agenthost server (the pid was
reused), is stale: `status` says so and removes it, `local` replaces it. `stop` sends SIGTERM
(the server lets running runs finish for `server.shutdown_grace` seconds), waits, and sends
SIGKILL when `--timeout` passes.

Only Typer and the stdlib are imported here, so `agenthost --help` stays fast.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from agenthost.cli._options import ConfigOption

EXIT_NOT_RUNNING = 3  # `status` of a daemon that is not running (as LSB init scripts do)
_POLL = 0.1  # seconds between looks at a starting or stopping daemon
_BANNER = re.compile(r"agenthost is serving \d+ agent\(s\) on (http://\S+?):? ")

# its commands; app.py adds them as a group (with its help) that imports this module when used
deploy_app = typer.Typer(add_completion=False)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Where the pid and log files are (default: $AGENTHOST_HOME).",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class Files:
    """The daemon's files under one folder."""

    root: Path

    @classmethod
    def at(cls, folder: Path | None) -> Files:
        if folder is None:
            from agenthost.config.paths import home_dir

            folder = home_dir()
        return cls(folder.expanduser().absolute())

    @property
    def pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def state(self) -> Path:
        return self.root / "server.json"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "server.log"

    def read_pid(self) -> int | None:
        try:
            return int(self.pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def read_state(self) -> dict[str, object]:
        import json

        try:
            state = json.loads(self.state.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def clear(self) -> None:
        self.pid.unlink(missing_ok=True)
        self.state.unlink(missing_ok=True)


def is_server(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) `agenthost ... serve` process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's: not ours
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no procfs (macOS): trust the signal check
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):  # exited, not yet reaped
        return False
    return b"serve" in cmdline and any(b"agenthost" in part for part in cmdline)


def running_pid(files: Files) -> tuple[int | None, int | None]:
    """(the live daemon's pid, the stale pid found in the pid file): one of them is None."""
    pid = files.read_pid()
    if pid is None:
        return None, None
    return (pid, None) if is_server(pid) else (None, pid)


def _healthy(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:] if lines > 0 else text.splitlines()


def _serve_command(
    config: Path | None, host: str | None, port: int | None, insecure: bool, log_format: str
) -> list[str]:
    command = [sys.executable, "-m", "agenthost.cli", "serve", "--log-format", log_format]
    if config is not None:
        command += ["--config", str(config.expanduser().absolute())]
    if host is not None:
        command += ["--host", host]
    if port is not None:
        command += ["--port", str(port)]
    if insecure:
        command.append("--insecure")
    return command


def start(files: Files, command: list[str], *, wait: float) -> int:
    """Start the daemon; wait until it listens. Exit code 0, or 1 (the reason printed)."""
    import json
    import subprocess

    pid, stale = running_pid(files)
    if pid is not None:
        url = files.read_state().get("url", "?")
        _err(
            f"an agenthost server is already running (pid {pid}, {url}) with its files in "
            f"{files.root}. Stop it with `agenthost deploy stop`, or use another --dir."
        )
        return 1
    if stale is not None:
        typer.echo(f"removed a stale pid file (process {stale} is gone)")
        files.clear()
    files.log.parent.mkdir(parents=True, exist_ok=True)
    start_at = files.log.stat().st_size if files.log.exists() else 0
    with files.log.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # no SIGHUP or Ctrl-C from this terminal
            close_fds=True,
        )
    files.pid.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + wait
    while True:
        url = _listening_url(files.log, start_at)
        if url is not None:
            state = {"pid": process.pid, "url": url, "command": command, "started": time.time()}
            files.state.write_text(json.dumps(state, indent=2) + "\n")
            typer.echo(f"agenthost server started: pid {process.pid}, {url}")
            typer.echo(f"  logs: {files.log} (agenthost deploy logs)")
            typer.echo("  stop: agenthost deploy stop")
            return 0
        code = process.poll()
        if code is not None or time.monotonic() > deadline:
            if code is None:
                process.kill()
                process.wait()
            files.clear()
            why = f"exited with code {code}" if code is not None else f"did not listen in {wait}s"
            _err(f"the server {why}; the end of its log ({files.log}):")
            for line in _tail(files.log, 15):
                typer.echo(f"  {line}", err=True)
            return 1
        time.sleep(_POLL)


def _listening_url(log: Path, offset: int) -> str | None:
    """The URL in the banner the server printed since `offset` of its log, if it has."""
    with log.open("rb") as file:
        file.seek(offset)
        match = _BANNER.search(file.read().decode(errors="replace"))
    return match.group(1) if match else None


def status(files: Files) -> int:
    pid, stale = running_pid(files)
    if pid is None:
        if stale is not None:
            files.clear()
            typer.echo(f"not running (removed a stale pid file: process {stale} is gone)")
        else:
            typer.echo(f"not running (no pid file in {files.root})")
        return EXIT_NOT_RUNNING
    url = str(files.read_state().get("url", ""))
    health = "healthy" if url and _healthy(url) else "not answering /healthz"
    typer.echo(f"running: pid {pid}, {url or 'URL unknown'}, {health}")
    typer.echo(f"  logs: {files.log}")
    return 0


def stop(files: Files, *, timeout: float) -> int:
    pid, stale = running_pid(files)
    if pid is None:
        files.clear()
        note = f" (removed a stale pid file: process {stale} is gone)" if stale else ""
        typer.echo(f"not running{note}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_server(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            typer.echo(f"pid {pid} did not stop within {timeout}s after SIGTERM: killed")
            break
        time.sleep(_POLL)
    else:
        typer.echo(f"stopped (pid {pid})")
    files.clear()
    return 0


def logs(files: Files, *, lines: int, follow: bool) -> int:
    if not files.log.exists():
        _err(f"no log at {files.log}: start the server with `agenthost deploy local`")
        return 1
    with files.log.open("r", errors="replace") as file:
        # what is there now, read in one go: following starts exactly where it ends
        shown = file.read().splitlines()
        for line in shown[-lines:] if lines > 0 else shown:
            typer.echo(line)
        if not follow:
            return 0
        try:
            while True:
                line = file.readline()
                if line:
                    typer.echo(line, nl=False)
                else:
                    time.sleep(_POLL * 2)
        except KeyboardInterrupt:
            return 0


def _err(message: str) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)


@deploy_app.command("local")
def local(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address (default: server.host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=0, max=65535, help="Port (default: server.port; 0: any)."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow listening beyond 127.0.0.1 without API keys."),
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines as 'json' or 'text'.")
    ] = "json",
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="Seconds to wait for the server to listen.")
    ] = 60,
    folder: DirOption = None,
) -> None:
    """Start `agenthost serve` in the background (pid and log files under --dir)."""
    if log_format not in ("json", "text"):
        raise typer.BadParameter("use 'json' or 'text'", param_hint="--log-format")
    command = _serve_command(config, host, port, insecure, log_format)
    raise typer.Exit(start(Files.at(folder), command, wait=wait))


@deploy_app.command("status")
def status_command(folder: DirOption = None) -> None:
    """Is the daemon running, where, and does it answer? Exit 0 if running, else 3."""
    raise typer.Exit(status(Files.at(folder)))


@deploy_app.command("stop")
def stop_command(
    folder: DirOption = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0, help="Seconds after SIGTERM before SIGKILL."),
    ] = 45,
) -> None:
    """Stop the daemon: SIGTERM (running runs get the shutdown grace), SIGKILL after --timeout."""
    raise typer.Exit(stop(Files.at(folder), timeout=timeout))


@deploy_app.command("logs")
def logs_command(
    folder: DirOption = None,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="Show the last N lines (0: all).")
    ] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
) -> None:
    """Print the daemon's log (its banner and JSON log lines)."""
    raise typer.Exit(logs(Files.at(folder), lines=lines, follow=follow))
