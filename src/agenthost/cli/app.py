"""The `agenthost` command (Typer + Rich).

This module imports Typer only; each command imports what it needs when it runs, so
`agenthost --help` stays fast (no models, stores, YAML or HTTP clients are loaded). The groups
of their own module are added lazily (cli/_lazy_group.py), and the command's `main()` renders
help without the parts of Rich that Typer's help never uses here (cli/_lean_help.py).
"""

# No `from __future__ import annotations` here: Typer reads every command's annotations when the
# CLI starts, and string annotations would be compiled and evaluated (twice) each time: about a
# tenth of what `agenthost --help` costs.

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from agenthost.cli._lazy_group import lazy_typer
from agenthost.cli._options import ConfigOption, Options, default_user

app = typer.Typer(
    name="agenthost",
    help="Host AI agents: chat with them, run them once, and look at their sessions.\n\n"
    "Data (the SQLite store, logs) lives under $AGENTHOST_HOME (default ~/.agenthost). "
    "Without --config, ./agenthost.yaml is used if present, else a demo agent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sessions_app = typer.Typer(
    help="List, show and delete sessions.", no_args_is_help=True, add_completion=False
)
app.add_typer(sessions_app, name="sessions")
approvals_app = typer.Typer(
    help="The tool calls waiting for your approval.", no_args_is_help=True, add_completion=False
)
app.add_typer(approvals_app, name="approvals")
# db, deploy, kb and memory import their modules only when their commands are needed (a
# command of theirs runs, or their own help), not for `agenthost --help` nor other commands
app.add_typer(
    lazy_typer(
        "agenthost.cli._db:db_app", help="The stores' schemas: apply migrations, show the versions."
    ),
    name="db",
)
channels_app = typer.Typer(
    help=(
        "Run the config's channels (cron, webhook, stdin, telegram, discord, slack inputs; "
        "webhook, stdout, telegram, discord, slack, x outputs)."
    ),
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(channels_app, name="channels")
app.add_typer(
    lazy_typer(
        "agenthost.cli._deploy:deploy_app",
        help="Run the server as a background daemon on this machine: local, status, stop, logs.",
    ),
    name="deploy",
)
app.add_typer(
    lazy_typer(
        "agenthost.cli._kb:kb_app",
        help="Knowledge bases: create, add documents, list, search, delete.",
    ),
    name="kb",
)
app.add_typer(
    lazy_typer(
        "agenthost.cli._memory:memory_app", help="Long-term memory: remembered sessions, per user."
    ),
    name="memory",
)

AgentOption = Annotated[
    str | None,
    typer.Option("--agent", "-a", help="Agent to run (default: the config's default agent)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model for this run, 'provider:model' or an alias (overrides the agent's model).",
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        "-u",
        help="User id the sessions belong to (default: $USER, else 'local').",
        envvar="AGENTHOST_USER",
        show_default=False,
    ),
]
SessionOption = Annotated[
    str | None,
    typer.Option("--session", "-s", help="Session to continue (default: a new session)."),
]


def _execute(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    from agenthost.cli._common import execute

    raise typer.Exit(execute(main))


@app.command()
def chat(
    config: ConfigOption = None,
    agent: AgentOption = None,
    model: ModelOption = None,
    user: UserOption = None,
    session: SessionOption = None,
) -> None:
    """Chat with an agent: streamed replies, tool calls shown, /history, /new, /exit.

    Ctrl-C cancels the reply being written; at the prompt it quits.
    """
    from agenthost.cli._chat import chat as chat_main

    options = Options(
        config=config, agent=agent, model=model, user=user or default_user(), session=session
    )
    _execute(lambda: chat_main(options))


@app.command()
def run(
    message: Annotated[str, typer.Argument(help="The message to send ('-' reads stdin).")],
    config: ConfigOption = None,
    agent: AgentOption = None,
    model: ModelOption = None,
    user: UserOption = None,
    session: SessionOption = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print every event as one JSON object per line.")
    ] = False,
    files: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", help="Attach a file or image (repeatable)."),
    ] = None,
) -> None:
    """Send one message, print the reply (streamed), exit 1 if the run failed."""
    from agenthost.cli._run import run_once

    if message == "-":
        import sys

        message = sys.stdin.read().strip()
    if not message.strip():
        raise typer.BadParameter("the message is empty", param_hint="MESSAGE")
    options = Options(
        config=config, agent=agent, model=model, user=user or default_user(), session=session
    )
    _execute(lambda: run_once(options, message, json_lines=json_lines, files=files or []))


@sessions_app.command("list")
def sessions_list(
    config: ConfigOption = None,
    agent: AgentOption = None,
    user: UserOption = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="Show the N newest (0: all).")
    ] = 20,
) -> None:
    """List your sessions, newest first, with their runs."""
    from agenthost.cli._sessions import list_sessions

    options = Options(config=config, agent=agent, user=user or default_user())
    _execute(lambda: list_sessions(options, limit=limit or None))


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[str, typer.Argument(metavar="ID", help="The session id.")],
    config: ConfigOption = None,
    agent: AgentOption = None,
    user: UserOption = None,
) -> None:
    """Show a session: its runs (with status) and its messages and tool calls."""
    from agenthost.cli._sessions import show_session

    options = Options(config=config, agent=agent, user=user or default_user())
    _execute(lambda: show_session(options, session_id))


@sessions_app.command("rm")
def sessions_rm(
    session_id: Annotated[str, typer.Argument(metavar="ID", help="The session id.")],
    config: ConfigOption = None,
    agent: AgentOption = None,
    user: UserOption = None,
) -> None:
    """Delete a session and its events."""
    from agenthost.cli._sessions import remove_session

    options = Options(config=config, agent=agent, user=user or default_user())
    _execute(lambda: remove_session(options, session_id))


@approvals_app.command("ls")
def approvals_ls(
    config: ConfigOption = None,
    agent: AgentOption = None,
    user: UserOption = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Only this one's.")] = None,
) -> None:
    """List the tool calls waiting for your answer, oldest first."""
    from agenthost.cli._approvals import list_approvals

    options = Options(config=config, agent=agent, user=user or default_user(), session=session)
    _execute(lambda: list_approvals(options))


@app.command()
def approve(
    approval_id: Annotated[str, typer.Argument(metavar="ID", help="The approval id.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject the call instead.")] = False,
    args: Annotated[
        str | None, typer.Option("--args", help="The call's arguments, edited (a JSON object).")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="A note the model reads (why, say).")
    ] = None,
    config: ConfigOption = None,
    agent: AgentOption = None,
    model: ModelOption = None,
    user: UserOption = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print every event as one JSON object per line.")
    ] = False,
) -> None:
    """Approve (or --reject) a tool call that waits; the run goes on and its reply streams."""
    from agenthost.cli._approvals import answer

    options = Options(config=config, agent=agent, model=model, user=user or default_user())
    _execute(
        lambda: answer(
            options,
            approval_id,
            reject=reject,
            arguments=args,
            message=message,
            json_lines=json_lines,
        )
    )


@app.command("usage")
def usage(
    config: ConfigOption = None,
    agent: AgentOption = None,
    by: Annotated[
        str, typer.Option("--by", "-b", help="Group by: user, agent or day (UTC).")
    ] = "day",
    output: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    since: Annotated[
        str | None, typer.Option("--since", help="From this day on (YYYY-MM-DD, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this day (YYYY-MM-DD, UTC).")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's runs (default: all).")
    ] = None,
) -> None:
    """What the runs cost: tokens and USD by user, agent or day (all users by default)."""
    from agenthost.cli._usage import usage_report

    options = Options(config=config, agent=agent)
    _execute(
        lambda: usage_report(options, by=by, output=output, since=since, until=until, user=user)
    )


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (default: server.host, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            min=0,
            max=65535,
            help="Port (default: server.port, else 8000; 0: any).",
            show_default=False,
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow listening beyond 127.0.0.1 without API keys."),
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Logs on stderr as 'json' lines or 'text'.")
    ] = "json",
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="AGENTHOST_LOG_LEVEL", help="Log level.")
    ] = "INFO",
    channels: Annotated[
        bool,
        typer.Option(
            "--channels/--no-channels",
            help="Also run the config's channels: section in this process.",
        ),
    ] = True,
) -> None:
    """Serve the config's agents over HTTP: native API, OpenAI-compatible API, metrics.

    Keys: AGENTHOST_API_KEYS="KEY:alice,KEY2:ops@admin" (see docs/server.md).

    Without keys only 127.0.0.1 is allowed (local development mode).
    """
    if log_format not in ("json", "text"):
        raise typer.BadParameter("use 'json' or 'text'", param_hint="--log-format")
    from agenthost.cli._serve import serve as serve_main

    options = Options(config=config)
    raise typer.Exit(
        serve_main(
            options,
            host=host,
            port=port,
            insecure=insecure,
            log_format="json" if log_format == "json" else "text",
            log_level=log_level,
            channels=channels,
        )
    )


@channels_app.command("run")
def channels_run(
    config: ConfigOption = None,
    agent: AgentOption = None,
    model: ModelOption = None,
) -> None:
    """Run the channels of the config until SIGINT/SIGTERM (see docs/channels.md)."""
    from agenthost.cli._channels import run_channels

    options = Options(config=config, agent=agent, model=model, user=default_user())
    _execute(lambda: run_channels(options))


@app.command()
def worker(
    config: ConfigOption = None,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="Celery broker URL (default: cluster.broker, else $AGENTHOST_BROKER_URL), "
            "e.g. amqp://guest:guest@127.0.0.1:5672// or redis://127.0.0.1:6379/1.",
            show_default=False,
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Redis URL of the run streams (default: cluster.events, else "
            "$AGENTHOST_EVENTS_URL).",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, help="Runs at once.")
    ] = 4,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Logs on stderr as 'json' lines or 'text'.")
    ] = "json",
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="AGENTHOST_LOG_LEVEL", help="Log level.")
    ] = "INFO",
    after_run: Annotated[
        list[str] | None,
        typer.Option(
            "--after-run",
            help="An after-run hook, 'package.module:attribute': a callable (request, "
            "terminal_event), or a list of them, called when each run ends (repeatable; adds "
            "to cluster.worker_after_run).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run background runs (posted with "background": true) as a Celery worker.

    Needs the `worker` extra, a broker (RabbitMQ or Redis) and the run streams (Redis), and
    the same store and agents as the servers (docs/deploy.md).
    """
    from agenthost.cli._worker import worker as worker_main

    raise typer.Exit(
        worker_main(
            Options(config=config),
            broker=broker,
            events=events,
            concurrency=concurrency,
            log_level=log_level,
            log_format=log_format,
            after_run=after_run or [],
        )
    )


@app.command()
def version() -> None:
    """Print the agenthost version."""
    from agenthost import __version__

    typer.echo(f"agenthost {__version__}")


def main() -> None:
    import gc

    from agenthost.cli import _lean_help

    gc.freeze()  # what start-up loaded lives as long as the process: keep the GC off it
    _lean_help.defer()  # help and usage errors without rich.markdown and rich.traceback
    try:
        app()
    finally:
        _lean_help.undefer()
