"""The Celery app of background runs, and the server's side of it (`Submitter`).

Settings (Celery's own names; see its docs on acknowledgements and the Redis visibility
timeout):

- `task_acks_late` + `task_reject_on_worker_lost`: a task is acknowledged when it has ended,
  so one whose worker died is delivered again (RabbitMQ: when the dead worker's connection
  closes; Redis broker: after `visibility_timeout` seconds). The run is never run twice:
  the worker that gets it again finds it started and closes it instead (`_execute.py`).
- `worker_prefetch_multiplier = 1`: a worker reserves one task per free thread, not more,
  so a busy worker does not sit on runs another could start.
- `task_ignore_result`: a run's result is its events (the store, the run streams).
- JSON only: the payload is plain data (ids, the message as JSON).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from agenthost.core import serde

if TYPE_CHECKING:
    from celery import Celery

    from agenthost.server.runs import RunRequest

TASK: Final = "agenthost.run"


def make_celery(
    broker: str, *, queue: str = "agenthost", visibility_timeout: float = 3600
) -> Celery:
    """A Celery app for `broker` (`amqp://...` or `redis://...`) with the settings above."""
    try:
        from celery import Celery
    except ModuleNotFoundError as exc:
        from agenthost.core.errors import MissingExtraError

        raise MissingExtraError("Background runs", "worker", exc.name or "celery") from exc
    app = Celery("agenthost", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    return app


def request_payload(request: RunRequest, *, app: str) -> dict[str, Any]:
    """A run request as the task's JSON argument."""
    return {
        "app": app,
        "agent": request.agent,
        "user_id": request.user_id,
        "session_id": request.session_id,
        "run_id": request.run_id,
        "message": serde.to_builtins(request.message),
        "timeout": request.timeout,
        "state_delta": request.state_delta,
        "config": request.config,
        "busy_policy": request.busy_policy,
        "api": request.api,
    }


class Submitter:
    """Sends runs to the workers (the server's side; `close()` when done)."""

    def __init__(self, broker: str, *, queue: str, visibility_timeout: float) -> None:
        self.queue = queue
        self.app = make_celery(broker, queue=queue, visibility_timeout=visibility_timeout)

    async def __call__(self, request: RunRequest, *, app: str) -> None:
        payload = request_payload(request, app=app)
        # kombu's publish is blocking I/O: off the event loop
        await asyncio.to_thread(
            self.app.send_task, TASK, args=[payload], queue=self.queue, task_id=request.run_id
        )

    def close(self) -> None:
        self.app.close()
