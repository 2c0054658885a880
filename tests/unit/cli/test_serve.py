"""`agenthost serve`: a real process, its banner, a request, a graceful stop; the bind guard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _serve(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agenthost.cli", "serve", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _banner_url(proc: subprocess.Popen[str]) -> tuple[str, list[str]]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"agent\(s\) on (http://\S+):", line)
        if match:
            while not lines[-1].startswith("  print(reply") and lines[-1]:  # the banner's end
                lines.append(proc.stdout.readline())
            return match.group(1), lines
    proc.kill()
    raise AssertionError(
        "no banner: " + "".join(lines) + (proc.stderr.read() if proc.stderr else "")
    )


def test_serve_answers_and_stops_gracefully(config: Path) -> None:
    proc = _serve(config, "--port", "0", env={"AGENTHOST_API_KEYS": "cli-key-0123456789:me"})
    try:
        url, banner = _banner_url(proc)
        text = "".join(banner)
        assert "helper, plain" in text and "curl -N" in text and "OpenAI(base_url=" in text
        assert "Authorization: Bearer $AGENTHOST_API_KEY" in text
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/v1/models").status_code == 401
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"Authorization": "Bearer cli-key-0123456789"},
            json={"model": "plain", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "Echo: hi"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    finished = [entry for entry in logs if entry["message"] == "run finished"]
    assert finished and finished[0]["run_id"].startswith("run_")
    assert finished[0]["status"] == "completed" and finished[0]["agent"] == "plain"


def test_serve_refuses_to_listen_everywhere_without_keys(config: Path) -> None:
    proc = _serve(config, "--host", "0.0.0.0", "--port", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "without API keys" in err and "--insecure" in err


def test_serve_reports_a_bad_key_entry(config: Path) -> None:
    proc = _serve(config, "--port", "0", env={"AGENTHOST_API_KEYS": "justakey"})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "needs a key and a user" in err
