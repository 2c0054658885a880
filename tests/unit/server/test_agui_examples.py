"""examples/agui/curl.sh against a real server over the fake model."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .test_examples import (
    fake_model,  # noqa: F401
    server,  # noqa: F401 - the fixtures of the server examples
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "agui" / "curl.sh"


def test_the_agui_curl_tour(server: dict[str, str]) -> None:  # noqa: F811
    done = subprocess.run(
        ["bash", str(EXAMPLE)], env=server, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count('"type":"RUN_STARTED"') == 2 and out.count('"type":"RUN_FINISHED"') == 2
    assert '"type":"TOOL_CALL_START"' in out and '"type":"TEXT_MESSAGE_CONTENT"' in out
    assert '"snapshot":{"units":"metric"}' in out
    assert '"id":"agui-demo"' in out and '"units":"metric"' in out.splitlines()[-1]
