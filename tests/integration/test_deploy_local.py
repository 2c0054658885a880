"""`agenthost deploy local|status|stop|logs` with real processes: the CLI starts a detached
`agenthost serve`, finds it by its pid file, stops it with SIGTERM; stale pid files are
recognized; a server that cannot start leaves no pid file and shows its log."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenthost.cli._deploy import is_server

pytestmark = pytest.mark.integration

CLI = (sys.executable, "-m", "agenthost.cli", "deploy")


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AGENTHOST_", "OPENAI_", "OTEL_"))
    }
    env.update(
        AGENTHOST_HOME=str(home),
        AGENTHOST_MODEL="openai:gpt-4o-mini",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # never called: no run is made
    )
    yield env
    pid_file = home / "server.pid"
    if pid_file.exists():  # a failed test must not leave a server behind
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_local_status_logs_stop(env: dict[str, str]) -> None:
    home = Path(env["AGENTHOST_HOME"])
    started = cli(env, "local", "--port", "0")
    assert started.returncode == 0, started.stderr
    state = json.loads((home / "server.json").read_text())
    pid = int((home / "server.pid").read_text())
    assert state["pid"] == pid and state["url"].startswith("http://127.0.0.1:")
    assert f"pid {pid}, {state['url']}" in started.stdout
    with urllib.request.urlopen(state["url"] + "/healthz", timeout=10) as response:
        assert response.status == 200  # a real server, detached from the CLI that started it

    status = cli(env, "status")
    assert status.returncode == 0 and f"running: pid {pid}" in status.stdout
    assert "healthy" in status.stdout

    again = cli(env, "local", "--port", "0")
    assert again.returncode == 1 and "already running" in again.stderr
    assert int((home / "server.pid").read_text()) == pid  # the running one is kept

    logs = cli(env, "logs", "-n", "0")
    assert logs.returncode == 0 and f"on {state['url']}" in logs.stdout  # the banner
    assert r"\"GET /healthz HTTP/1.1\" 200" in logs.stdout  # and the JSON access log

    stopped = cli(env, "stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
    assert not (home / "server.pid").exists() and not (home / "server.json").exists()
    assert not is_server(pid)  # gone (or a zombie until whoever adopted it reaps it)
    status = cli(env, "status")
    assert status.returncode == 3 and "not running" in status.stdout
    assert cli(env, "stop").returncode == 0  # stopping what is not running is fine


def test_stale_pid_files_are_recognized(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["AGENTHOST_HOME"])
    home.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (home / "server.pid").write_text(gone.stdout)
    status = cli(env, "status")
    assert status.returncode == 3 and "stale pid file" in status.stdout
    assert not (home / "server.pid").exists()

    # a live process that is not an agenthost server (the pid was reused): also stale
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, text=True
    )
    try:
        (home / "server.pid").write_text(f"{other.pid}\n")
        stop = cli(env, "stop")
        assert stop.returncode == 0 and f"process {other.pid} is gone" in stop.stdout
        assert other.poll() is None  # never signalled

        (home / "server.pid").write_text(f"{other.pid}\n")
        started = cli(env, "local", "--port", "0")
        assert started.returncode == 0 and "removed a stale pid file" in started.stdout
        assert int((home / "server.pid").read_text()) != other.pid
        assert cli(env, "stop").returncode == 0
    finally:
        other.communicate(input="")


def test_a_server_that_cannot_start_leaves_no_pid_file(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  a:\n    kind: nonsense\n")
    folder = tmp_path / "daemon"
    started = cli(env, "local", "--config", str(bad), "--dir", str(folder))
    assert started.returncode == 1
    assert "exited with code 2" in started.stderr and "nonsense" in started.stderr  # the log
    assert not (folder / "server.pid").exists()
    assert (folder / "logs" / "server.log").exists()


def test_logs_follow_prints_new_lines(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "daemon"
    assert cli(env, "local", "--port", "0", "--dir", str(folder)).returncode == 0
    url = json.loads((folder / "server.json").read_text())["url"]
    follow = subprocess.Popen(
        [*CLI, "logs", "-f", "-n", "1", "--dir", str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        follow.stdout.readline()  # the last line so far: following has begun after it
        with urllib.request.urlopen(url + "/readyz", timeout=10) as response:
            assert response.status == 200
        for line in follow.stdout:  # blocks until the server logs the request
            if "GET /readyz" in line:
                break
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it failed: leave nothing running
            follow.kill()
            follow.communicate()
            raise
        assert cli(env, "stop", "--dir", str(folder)).returncode == 0


def test_the_docs_example_script(env: dict[str, str], tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "local.sh"
    path = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", str(script)],
        env={**env, "AGENTHOST_PORT": "0", "PATH": path},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agenthost server started" in done.stdout and "healthy" in done.stdout
    assert "stopped (pid" in done.stdout
