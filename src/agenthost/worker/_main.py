"""`agenthost worker`: a Celery worker (thread pool) that runs background runs."""

from __future__ import annotations

import logging
import socket
import sys
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agenthost.config.schema import AgentHostConfig
from agenthost.worker._celery import TASK, make_celery
from agenthost.worker._execute import WorkerRuntime

if TYPE_CHECKING:
    from agenthost.server.runs import AfterRun

log = logging.getLogger("agenthost.worker")

READY = "agenthost worker ready"  # printed on stdout once the worker takes tasks


def run_worker(
    config: AgentHostConfig,
    *,
    broker: str,
    events: str,
    concurrency: int = 4,
    loglevel: str = "INFO",
    name: str | None = None,
    after_run: Sequence[AfterRun] = (),
) -> int:
    """Run the worker until it is stopped (SIGTERM/SIGINT: Celery's warm shutdown lets the
    runs going finish); returns the exit code. `after_run(request, terminal_event)`: called
    after each run it drove, as the server's `create_app(after_run=...)` (docs/deploy.md)."""
    from celery import signals

    cluster = config.cluster
    runtime = WorkerRuntime(config, events, grace=config.server.shutdown_grace, after_run=after_run)
    celery = make_celery(broker, queue=cluster.queue, visibility_timeout=cluster.visibility_timeout)

    @celery.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
    def run(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return runtime.execute(payload)

    def ready(**_: Any) -> None:
        sys.stdout.write(f"{READY}: {broker.split('://', 1)[0]} broker, queue {cluster.queue}\n")
        sys.stdout.flush()

    signals.worker_ready.connect(ready, weak=False)
    runtime.start()
    hostname = name or f"agenthost-{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    try:
        celery.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={cluster.queue}",
                f"--loglevel={loglevel}",
                f"--hostname={hostname}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        runtime.stop()
    return 0
