"""What every command shares: options, the event loop, logging, errors and exit codes.

Exit codes: 0 ok, 1 a run failed (or an unexpected error), 2 a usage or config error
(`ConfigError`, `UserError`: bad config, unknown agent, unknown session, ...), 130 Ctrl-C
before anything started. An `AgentHostError` is shown as one red message (its text says how
to fix it), never as a traceback; anything else is logged with its traceback and shown short
(`AGENTHOST_DEBUG=1` re-raises it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console
from rich.markup import escape

from agenthost.cli._options import Options

if TYPE_CHECKING:
    from agenthost.config.schema import AgentHostConfig
    from agenthost.core.events import Event

log = logging.getLogger("agenthost.cli")

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def load(options: Options) -> AgentHostConfig:
    """The config, with the config file's folder and the working directory importable (for
    tool refs such as 'mytools:search')."""
    from agenthost.config.loader import load_config

    folders = [Path.cwd()]
    if options.config is not None:
        folders.insert(0, options.config.resolve().parent)
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", FutureWarning)
        config = load_config(options.config)
    for note in notes:
        if issubclass(note.category, FutureWarning):
            # a setting that still loads but will not: 'file:line: field: what to do', shown
            # as such (not as Python's warning with this package's source line)
            stderr_console().print(
                f"[yellow]warning:[/] {escape(str(note.message))}", soft_wrap=True
            )
        else:
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    return config


def print_error(console: Console, exc: BaseException) -> None:
    from agenthost.core.errors import AgentHostError

    if isinstance(exc, AgentHostError):
        console.print(f"[bold red]error:[/] [red]{escape(exc.message)}[/]", soft_wrap=True)
    else:
        console.print(
            f"[bold red]error:[/] [red]{escape(type(exc).__name__)}: {escape(str(exc))}[/]"
        )


def execute(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run `main()` in a new event loop with logging set up; map errors to exit codes."""
    from agenthost.cli._logging import setup_logging, teardown_logging
    from agenthost.config.paths import home_dir, log_file
    from agenthost.core.errors import AgentHostError, ConfigError, UserError

    err = stderr_console()
    logged = setup_logging(log_file(home_dir()))
    log.info("agenthost %s", " ".join(sys.argv[1:]))
    try:
        return asyncio.run(main())
    except AgentHostError as exc:
        log.info("error %s: %s", exc.code, exc.message)
        print_error(err, exc)
        return EXIT_USAGE if isinstance(exc, ConfigError | UserError) else EXIT_RUN_FAILED
    except BrokenPipeError:  # `agenthost run ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED
    except Exception as exc:
        log.exception("unexpected error")
        if os.environ.get("AGENTHOST_DEBUG"):
            raise
        print_error(err, exc)
        where = f" The traceback is in {logged}." if logged else ""
        err.print(f"[red]This is a bug in agenthost or a backend.{where}[/]")
        return EXIT_RUN_FAILED
    finally:
        teardown_logging()


def closing(events: AsyncIterator[Event]) -> aclosing[AsyncGenerator[Event, None]]:
    """`aclosing` for `Runner.run(...)` (an async generator typed as an AsyncIterator)."""
    return aclosing(cast("AsyncGenerator[Event, None]", events))
