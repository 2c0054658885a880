"""`agenthost usage`: what the runs of the config's agents used and cost, by user, agent or
day (UTC), as a table, CSV or JSON (from the usage store: docs/pricing.md)."""

from __future__ import annotations

import csv
import io
import sys

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agenthost.cli._common import EXIT_OK, load
from agenthost.cli._options import Options
from agenthost.config._metering import open_usage
from agenthost.config.build import agent_app
from agenthost.config.paths import home_dir
from agenthost.core import serde
from agenthost.core.errors import ConfigError, InvalidArgument
from agenthost.engine.usage_report import GROUPS, UsageRow, parse_day, summarize
from agenthost.ports.usage import UsageQuery

FORMATS = ("table", "csv", "json")
FIELDS = ("runs", "failed", "input_tokens", "output_tokens", "requests", "cost")


async def usage_report(
    options: Options,
    *,
    by: str,
    output: str,
    since: str | None,
    until: str | None,
    user: str | None,
) -> int:
    if by not in GROUPS:
        raise InvalidArgument("--by", f"must be one of {', '.join(GROUPS)}, got {by!r}")
    if output not in FORMATS:
        raise InvalidArgument("--format", f"must be one of {', '.join(FORMATS)}, got {output!r}")
    config = load(options)
    query = UsageQuery(
        app=agent_app(config, config.select_agent(options.agent)[0]) if options.agent else None,
        app_prefix=None if options.agent else f"{config.app}/",
        user_id=user,
        since=parse_day(since, field="--since") if since else None,
        until=parse_day(until, field="--until") if until else None,
    )
    async with open_usage(config, home_dir()) as store:
        if store is None:
            raise ConfigError(
                "No usage is kept for this config: its store has no usage store (or "
                "usage.enabled is false). Set usage.url in agenthost.yaml (docs/pricing.md)."
            )
        records = await store.records(query)
    rows = summarize(records, by)
    if output == "json":
        body = {"by": by, "rows": serde.to_builtins(rows), "total_cost": _total(rows)}
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
    elif output == "csv":
        sys.stdout.write(_csv(by, rows))
    else:
        _table(by, rows, since)
    return EXIT_OK


def _total(rows: list[UsageRow]) -> float:
    return sum(r.cost for r in rows)


def _csv(by: str, rows: list[UsageRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *FIELDS])
    for row in rows:
        writer.writerow([row.key, *(getattr(row, f) for f in FIELDS)])
    return out.getvalue()


def _table(by: str, rows: list[UsageRow], since: str | None) -> None:
    console = Console(highlight=False)
    if not rows:
        console.print(f"[dim]no runs recorded{f' since {escape(since)}' if since else ''}[/]")
        return
    table = Table(show_edge=False, show_footer=True)
    table.add_column(by, footer="total", no_wrap=True)
    for name in FIELDS:
        footer = (
            f"${_total(rows):.4f}" if name == "cost" else str(sum(getattr(r, name) for r in rows))
        )
        table.add_column(name.replace("_", " "), justify="right", footer=footer, no_wrap=True)
    for row in rows:
        table.add_row(
            escape(row.key),
            *(f"${row.cost:.4f}" if f == "cost" else str(getattr(row, f)) for f in FIELDS),
        )
    console.print(table)
