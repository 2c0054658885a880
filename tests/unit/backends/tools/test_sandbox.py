"""run_code's parts that need no sandbox: bounded output, the text the model reads, the
backend chosen from the environment, the Docker command line; the Docker backend itself when
a daemon answers (skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agenthost.backends.tools.sandbox import (
    BwrapSandbox,
    CodeResult,
    DockerSandbox,
    SandboxLimits,
    sandbox_from_env,
)
from agenthost.backends.tools.sandbox._process import start
from agenthost.backends.tools.sandbox._types import Stream, why_killed
from agenthost.core.errors import ConfigError, SandboxUnavailable


def test_a_stream_keeps_its_head_and_counts_the_rest() -> None:
    stream = Stream(limit=10)
    for _ in range(1000):
        stream.feed(b"0123456789abcdef")
    assert bytes(stream.head) == b"0123456789" and stream.total == 16000
    assert stream.dropped == 15990
    assert "[output truncated: 15990 more bytes of 16000;" in stream.text()


def test_the_result_text() -> None:
    out, err = Stream(100), Stream(100)
    out.feed(b"hello\n")
    result = CodeResult(exit_code=0, stdout=out, stderr=err, files=["a.txt"])
    assert result.ok
    assert result.render() == (
        "exit code: 0\n--- stdout ---\nhello\nfiles written: a.txt (read them with read_file)"
    )
    stopped = CodeResult(exit_code=None, stdout=Stream(1), stderr=Stream(1), stopped="timed out")
    assert not stopped.ok
    assert stopped.render() == "exit code: none\nstopped: timed out\n(no output)"


def test_why_a_program_was_killed() -> None:
    limits = SandboxLimits(cpu_seconds=3)
    assert why_killed(0, limits) is None and why_killed(1, limits) is None
    assert "CPU time limit of 3s" in (why_killed(128 + 24, limits) or "")
    assert "SIGKILL" in (why_killed(128 + 9, limits) or "")
    assert "SIGXFSZ" in (why_killed(128 + 25, limits) or "")


def test_the_backend_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTHOST_SANDBOX", raising=False)
    assert isinstance(sandbox_from_env(), BwrapSandbox)
    monkeypatch.setenv("AGENTHOST_SANDBOX_UID", "1234")
    chosen = sandbox_from_env()
    assert isinstance(chosen, BwrapSandbox) and chosen.uid == 1234
    monkeypatch.setenv("AGENTHOST_SANDBOX_UID", "0")
    with pytest.raises(ConfigError, match="AGENTHOST_SANDBOX_UID"):
        sandbox_from_env()
    monkeypatch.setenv("AGENTHOST_SANDBOX", "docker")
    monkeypatch.setenv("AGENTHOST_SANDBOX_IMAGE", "python:3.13-alpine")
    docker = sandbox_from_env()
    assert isinstance(docker, DockerSandbox) and docker.image == "python:3.13-alpine"
    monkeypatch.setenv("AGENTHOST_SANDBOX", "firecracker")
    with pytest.raises(ConfigError, match="'bwrap' and 'docker'"):
        sandbox_from_env()


def test_the_docker_command_line(tmp_path: Path) -> None:
    limits = SandboxLimits(processes=7, memory=300, cpu_seconds=4, file_size=99, tmp_size=55)
    argv = DockerSandbox(image="img").argv("python", "print(1)", limits, tmp_path, "box")
    joined = " ".join(argv)
    for part in (
        "run --rm --interactive --name box",
        "--network none --read-only --cap-drop ALL --security-opt no-new-privileges",
        f"--user {os.getuid()}:{os.getgid()}",
        "--pids-limit 7 --memory 300 --memory-swap 300",
        "--ulimit cpu=4:5 --ulimit fsize=99 --ulimit nofile=256:256",
        "--tmpfs /tmp:rw,nosuid,nodev,size=55",
        f"--mount type=bind,source={tmp_path},target=/work --workdir /work",
    ):
        assert part in joined
    assert argv[-4:] == ["img", "python3", "-c", "print(1)"]


async def test_a_missing_docker_cli_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="AGENTHOST_SANDBOX=bwrap"):
        await DockerSandbox(docker="no-such-docker").run(
            "python", "print(1)", workdir=tmp_path, limits=SandboxLimits()
        )


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


@pytest.mark.integration
@pytest.mark.skipif(not _docker_answers(), reason="no Docker daemon answers `docker version`")
async def test_the_docker_backend_runs_code_without_network(tmp_path: Path) -> None:
    sandbox = DockerSandbox()
    code = (
        "import socket\nopen('out.txt', 'w').write('hi')\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=3)\n    print('CONNECTED')\n"
        "except OSError:\n    print('no network')"
    )
    result = await sandbox.run("python", code, workdir=tmp_path, limits=SandboxLimits())
    assert result.ok and result.stdout.text() == "no network\n"
    assert (tmp_path / "out.txt").read_text() == "hi" and result.files == ["out.txt"]
    slow = await sandbox.run(
        "shell", "sleep 600", workdir=tmp_path, limits=SandboxLimits(timeout=5)
    )
    assert slow.stopped is not None and "timed out" in slow.stopped
    await asyncio.sleep(0)


async def test_a_start_cancelled_meanwhile_returns_the_started_process() -> None:
    """The process is started whole and handed back with `cancelled`: the caller kills it."""
    task = asyncio.create_task(start(sys.executable, "-c", "pass", start_new_session=True))
    await asyncio.sleep(0)  # the task waits for the spawn, which has not run yet
    task.cancel()
    process, cancelled = await task
    assert cancelled and await process.wait() == 0


async def test_a_start_cancelled_before_its_spawn_failed_ends_cancelled() -> None:
    task = asyncio.create_task(start("/nonexistent/agenthost-no-such-program"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(FileNotFoundError):  # not cancelled: the error itself
        await start("/nonexistent/agenthost-no-such-program")
