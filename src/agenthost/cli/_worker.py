"""`agenthost worker`: run background runs from the broker (see agenthost.worker)."""

from __future__ import annotations

import os

from agenthost.cli._common import EXIT_RUN_FAILED, EXIT_USAGE, load, print_error, stderr_console
from agenthost.cli._options import Options


def worker(
    options: Options,
    *,
    broker: str | None,
    events: str | None,
    concurrency: int,
    log_level: str,
    log_format: str,
) -> int:
    from agenthost.core.errors import AgentHostError, ConfigError, MissingExtraError

    err = stderr_console()
    try:
        config = load(options)
        broker = broker or config.cluster.broker or os.environ.get("AGENTHOST_BROKER_URL")
        events = events or config.cluster.events or os.environ.get("AGENTHOST_EVENTS_URL")
        if not broker or not events:
            missing = (
                "broker (--broker, cluster.broker, AGENTHOST_BROKER_URL)"
                if not broker
                else ("run streams (--events, cluster.events, AGENTHOST_EVENTS_URL)")
            )
            raise ConfigError(
                f"agenthost worker needs a {missing}: e.g. "
                f"amqp://guest:guest@127.0.0.1:5672// and redis://127.0.0.1:6379/0."
            )
        try:
            import celery  # noqa: F401 - only to name the extra when it is missing

            from agenthost.worker import run_worker
        except ModuleNotFoundError as exc:
            raise MissingExtraError("agenthost worker", "worker", exc.name or "celery") from exc
    except AgentHostError as exc:
        print_error(err, exc)
        return EXIT_USAGE
    from agenthost.server.logs import setup_logging

    setup_logging(log_level, "json" if log_format == "json" else "text")
    try:
        return run_worker(
            config, broker=broker, events=events, concurrency=concurrency, loglevel=log_level
        )
    except AgentHostError as exc:
        print_error(err, exc)
        return EXIT_RUN_FAILED
