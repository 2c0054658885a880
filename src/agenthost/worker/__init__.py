"""Background runs on Celery workers: `agenthost worker` (extra `worker`).

A run posted with `"background": true` is sent (`Submitter`) as Celery task `agenthost.run`
to the queue `cluster.queue`; a worker (`agenthost worker`, `run_worker`) drives it with the
same Runner and RunManager as the server, publishing its events to the run streams (Redis
Streams) so any replica streams, resumes and cancels it. See `_execute.py` for what happens
when a worker dies mid-run, and docs/deploy.md.

Nothing here is imported until used: Celery loads only for a worker or a server with a broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.worker._celery import Submitter, make_celery
    from agenthost.worker._main import run_worker

__all__ = ["Submitter", "make_celery", "run_worker"]


def __getattr__(name: str) -> Any:
    if name in ("Submitter", "make_celery"):
        from agenthost.worker import _celery

        return getattr(_celery, name)
    if name == "run_worker":
        from agenthost.worker._main import run_worker

        return run_worker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
