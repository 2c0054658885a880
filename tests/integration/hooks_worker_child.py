"""Child process for test_background_hooks: a real Celery worker (`run_worker`, as `agenthost
worker` runs it) with an after-run hook that appends one JSON line per run it drove to a file:
the request it saw and the run's terminal event."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from agenthost.config.loader import load_config
from agenthost.core import serde
from agenthost.server.runs import RunRequest
from agenthost.worker import run_worker


def main(config_path: str, out: str) -> int:
    config = load_config(Path(config_path))

    def after_run(request: RunRequest, terminal: Any) -> None:
        line = {
            "run_id": request.run_id,
            "user_id": request.user_id,
            "text": getattr(request.message, "text", None),
            "terminal": serde.to_builtins(terminal),
        }
        with Path(out).open("ab") as handle:
            handle.write(orjson.dumps(line) + b"\n")

    assert config.cluster.broker is not None and config.cluster.events is not None
    return run_worker(
        config,
        broker=config.cluster.broker,
        events=config.cluster.events,
        concurrency=1,
        loglevel="WARNING",
        after_run=[after_run],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
