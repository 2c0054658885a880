"""Ctrl-C in `agenthost chat` and `run` (real processes): it cancels the run, not the chat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agenthost.config import load_config, open_sessions
from agenthost.core.events import summarize_runs
from agenthost.testing.fake_openai import FakeOpenAIServer

from .conftest import write_config

PROMPT = "you ›"


class Output:
    """Collects a pipe's text in a thread; `wait_for` waits until the text says something."""

    def __init__(self, stream: object) -> None:
        self.text = ""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: object) -> None:
        while chunk := os.read(stream.fileno(), 4096):  # type: ignore[attr-defined]
            with self._changed:
                self.text += chunk.decode(errors="replace")
                self._changed.notify_all()

    def join(self) -> None:
        self._thread.join(10)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 120) -> None:
        """`timeout` only keeps a broken test from hanging; nothing here is timed."""
        with self._changed:
            if not self._changed.wait_for(lambda: check(self.text), timeout):
                raise AssertionError(f"no {what}; output so far:\n{self.text}")


@contextmanager
def cli_process(
    tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Output, Output]]:
    """`agenthost ARGS` in a child process; killed if the test leaves it running."""
    command = [sys.executable, "-m", "agenthost.cli", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    ) as proc:
        out, errors = Output(proc.stdout), Output(proc.stderr)
        try:
            yield proc, out, errors
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            out.join()
            errors.join()


def send(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def test_ctrl_c_cancels_the_run_and_returns_to_the_prompt(env: Path, tmp_path: Path) -> None:
    # the model never answers within the test: only the cancel can end the run
    with FakeOpenAIServer.start_in_thread(latency=3600) as fake:
        config = write_config(tmp_path, fake.base_url)
        with cli_process(tmp_path, "chat", "-c", str(config), "-s", "sig1") as (proc, out, errors):
            out.wait_for(lambda t: PROMPT in t, "the first prompt")
            send(proc, "hello")
            # the run is waiting for the (silent) model once the server has the request
            fake.wait_for_requests(1)
            proc.send_signal(signal.SIGINT)
            out.wait_for(lambda t: "run cancelled" in t, "the run to be cancelled")
            out.wait_for(
                lambda t: PROMPT in t.split("run cancelled", 1)[1], "the prompt after cancelling"
            )
            assert proc.poll() is None  # still running, at the prompt
            send(proc, "/exit")
            assert proc.wait(timeout=30) == 0, errors.text
    assert "cancelled with Ctrl-C" in out.text
    assert "Traceback" not in out.text + errors.text

    async def runs() -> list[str]:
        async with open_sessions(load_config(config)) as runner:
            session = await runner.get_session("tester", "sig1")
            return [run.status for run in summarize_runs(session.events)]

    assert asyncio.run(runs()) == ["cancelled"]


def test_ctrl_c_at_the_prompt_quits(env: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer.start_in_thread() as fake:
        config = write_config(tmp_path, fake.base_url)
        with cli_process(tmp_path, "chat", "-c", str(config)) as (proc, out, errors):
            out.wait_for(lambda t: PROMPT in t, "the first prompt")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0, errors.text
    assert "Traceback" not in errors.text


def test_ctrl_c_cancels_a_one_shot_run(env: Path, tmp_path: Path) -> None:
    with FakeOpenAIServer.start_in_thread(latency=3600) as fake:
        config = write_config(tmp_path, fake.base_url)
        args = ("run", "-c", str(config), "-s", "once", "hello")
        with cli_process(tmp_path, *args) as (proc, _out, errors):
            fake.wait_for_requests(1)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 1
    assert "run cancelled: cancelled with Ctrl-C" in errors.text
    assert "Traceback" not in errors.text
