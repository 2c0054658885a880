"""`agenthost worker`: run background runs from the broker (see agenthost.worker)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agenthost.cli._common import EXIT_RUN_FAILED, EXIT_USAGE, load, print_error, stderr_console
from agenthost.cli._options import Options

if TYPE_CHECKING:
    from agenthost.server.runs import AfterRun


def after_run_hooks(configured: Sequence[str], given: Sequence[str]) -> list[AfterRun]:
    """The hooks named by `cluster.worker_after_run` then `--after-run` refs, imported now
    (the config file's folder and the working directory are importable): each ref names a
    callable `(request, terminal_event)` or a list of them. A ConfigError names the option
    or field of a ref that does not import or is not callable."""
    from agenthost.config.tools import load_object
    from agenthost.core.errors import ConfigError

    named = [(f"cluster.worker_after_run[{i}]", ref) for i, ref in enumerate(configured)]
    named += [("--after-run", ref) for ref in given]
    hooks: list[AfterRun] = []
    for where, ref in named:
        value: Any = load_object(ref, where=where)
        values = list(value) if isinstance(value, list | tuple) else [value]
        for hook in values:
            if not callable(hook):
                raise ConfigError(
                    f"{where}: {ref!r} names {hook!r} ({type(hook).__name__}), not an "
                    f"after-run hook: name a callable (request, terminal_event) or a list of them."
                )
            hooks.append(hook)
    return hooks


def worker(
    options: Options,
    *,
    broker: str | None,
    events: str | None,
    concurrency: int,
    log_level: str,
    log_format: str,
    after_run: Sequence[str] = (),
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
        hooks = after_run_hooks(config.cluster.worker_after_run, after_run)
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
            config,
            broker=broker,
            events=events,
            concurrency=concurrency,
            loglevel=log_level,
            after_run=hooks,
        )
    except AgentHostError as exc:
        print_error(err, exc)
        return EXIT_RUN_FAILED
