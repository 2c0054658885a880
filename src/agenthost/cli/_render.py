"""Showing events with Rich: streamed replies, tool-call panels, transcripts, run tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agenthost.core.events import Event, RunSummary, summarize_runs
from agenthost.core.session import Session

MAX_SHOWN_RESULT = 2_000
STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "yellow",
    "paused": "magenta",
}


def when(timestamp: float | None, *, short: bool = False) -> str:
    """Local time; with `short`, today's times without the date."""
    if timestamp is None:
        return "-"
    moment = datetime.fromtimestamp(timestamp)
    if short and moment.date() == datetime.now().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S")


def _arguments(parameters: str) -> RenderableType:
    try:
        value = orjson.loads(parameters or "{}")
    except orjson.JSONDecodeError:
        return Text(parameters)
    return Text(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), style="cyan")


def tool_panel(name: str, parameters: str, result: str, *, error: bool) -> Panel:
    """One tool call: its arguments and its result (red when it failed)."""
    shown = result if len(result) <= MAX_SHOWN_RESULT else result[:MAX_SHOWN_RESULT] + " …"
    body = Group(
        Text("arguments", style="bold"),
        _arguments(parameters),
        Text("error" if error else "result", style="bold red" if error else "bold"),
        Text(shown, style="red" if error else ""),
    )
    return Panel(
        body,
        title=f"tool · {escape(name)}",
        title_align="left",
        border_style="red" if error else "blue",
        expand=False,
    )


def failure_line(event: Event) -> str:
    error = event.error
    code = error.code if error is not None else "error"
    message = error.message if error is not None else "the run failed"
    if code in ("cancelled", "interrupted") or event.type == "run.interrupted":
        return f"[yellow]run {escape(code)}: {escape(message)}[/]"
    return f"[bold red]run failed ({escape(code)}):[/] [red]{escape(message)}[/]"


def usage_line(event: Event) -> str:
    data = event.data or {}
    parts: list[str] = []
    if event.usage is not None and event.usage.requests:
        parts.append(f"{event.usage.input_tokens} in / {event.usage.output_tokens} out tokens")
    cost = data.get("cost") or 0
    if cost:
        parts.append(f"${cost:.6f}")
    if "duration_ms" in data:
        parts.append(f"{data['duration_ms'] / 1000:.1f}s")
    return " · ".join(parts)


class EventRenderer:
    """Prints a run's events as they come: reply text on `out` (streamed), tool calls and
    errors on `info` (the same console in chat; stderr for `agenthost run`)."""

    def __init__(self, out: Console, info: Console | None = None, *, usage: bool = True) -> None:
        self.out = out
        self.info = info or out
        self.usage = usage
        self.streaming = False
        self.calls: dict[str, tuple[str, str]] = {}
        self.last: Event | None = None

    def _end_stream(self) -> None:
        if self.streaming:
            self.out.file.write("\n")
            self.out.file.flush()
            self.streaming = False

    def handle(self, event: Event) -> None:
        self.last = event
        kind = event.type
        if kind == "message.delta":
            if text := event.text:
                self.out.file.write(text)
                self.out.file.flush()
                self.streaming = True
        elif kind == "message.completed":
            if self.streaming:
                self._end_stream()
            elif event.message is not None and event.message.text:
                self.out.print(event.message.text, markup=False, highlight=False)
            if is_incomplete(event):
                self.info.print(INCOMPLETE)
        elif kind == "tool.call.started":
            self._end_stream()
            data = event.data or {}
            call_id, name = str(data.get("tool_call_id")), str(data.get("tool_name"))
            self.calls[call_id] = (name, str(data.get("parameters") or "{}"))
            self.info.print(f"[dim]→ calling {escape(name)}…[/]")
        elif kind == "tool.call.completed":
            self._end_stream()
            self.info.print(self._completed_panel(event))
        elif kind == "approval.requested":
            self._end_stream()
            self.info.print(approval_panel(event))
        elif kind == "approval.answered":
            self.info.print(f"[dim]{escape(answer_line(event))}[/]")
        elif kind in ("compaction.summary", "compaction.failed"):
            self._end_stream()
            self.info.print(compaction_line(event))
        elif kind == "run.completed":
            self._end_stream()
            line = usage_line(event)
            if self.usage and line:
                self.info.print(f"[dim]{line}[/]")
            if is_cut(event):
                self.info.print(CUT)
            if (event.data or {}).get("status") == "paused":
                self.info.print("[magenta]paused: waiting for your approval[/]")
        elif kind in ("run.failed", "run.interrupted"):
            self._end_stream()
            self.info.print(failure_line(event))

    def _completed_panel(self, event: Event) -> Panel:
        data = event.data or {}
        call_id = str(data.get("tool_call_id"))
        name, parameters = self.calls.pop(call_id, (str(data.get("tool_name")), "{}"))
        return tool_panel(name, parameters, event.text, error=event.error is not None)


def approval_panel(event: Event) -> Panel:
    """A tool call waiting for approval: the tool, its arguments, how to answer."""
    data = event.data or {}
    approval_id = str(data.get("approval_id"))
    body = Group(
        Text("arguments", style="bold"),
        _arguments(str(data.get("arguments") or "{}")),
        Text(f"agenthost approve {approval_id} [--reject] [--args JSON]", style="dim"),
    )
    return Panel(
        body,
        title=f"approval needed · {escape(str(data.get('tool_name')))}",
        title_align="left",
        border_style="magenta",
        expand=False,
    )


def compaction_line(event: Event) -> str:
    """'compacted: events 1-18 summarised (674 -> 312 tokens)', or why it failed."""
    data = event.data or {}
    tokens = f"({data.get('tokens_before')} -> {data.get('tokens_after')} tokens)"
    if event.type == "compaction.failed":
        reason = event.error.message if event.error is not None else "failed"
        return f"[yellow]compaction failed {tokens}: {escape(reason)}[/]"
    span = f"events {data.get('start_seq')}-{data.get('end_seq')}"
    return f"[dim]compacted: {span} summarised {tokens}[/]"


def answer_line(event: Event) -> str:
    """'send_money: approved by alice' (or rejected, expired)."""
    data = event.data or {}
    by = f" by {data['answered_by']}" if data.get("answered_by") else ""
    return f"{data.get('tool_name')}: {data.get('decision')}{by}"


# ---- sessions ----------------------------------------------------------------------------

INCOMPLETE = "[yellow](incomplete: the reply was cut off)[/]"


def is_incomplete(event: Event) -> bool:
    """A reply cut mid-stream, stored as far as it was shown."""
    return bool((event.data or {}).get("incomplete"))


CUT = "[yellow](cut: the reply reached its length limit)[/]"


def is_cut(event: Event) -> bool:
    """A run whose last reply stopped at its token cap (or, on the embedded model, when it
    began to repeat itself): `finish_reason` "length" on its `run.completed`."""
    return event.type == "run.completed" and (event.data or {}).get("finish_reason") == "length"


def render_transcript(console: Console, events: Iterable[Event]) -> int:
    """Print the messages and tool calls of `events`; returns how many messages it showed."""
    renderer = EventRenderer(console, usage=False)
    shown = 0
    for event in events:
        if event.type == "message.received" and event.message is not None:
            console.print(f"[bold cyan]you ›[/] {escape(event.message.text)}")
            shown += 1
        elif event.type == "message.completed" and event.message is not None:
            if event.message.text:
                console.print(f"[bold green]{escape(event.author)} ›[/] ", end="")
                console.print(event.message.text, markup=False, highlight=False)
                if is_incomplete(event):
                    console.print(INCOMPLETE)
                shown += 1
        elif is_cut(event):
            console.print(CUT)
        elif event.type == "tool.call.started":
            data = event.data or {}
            renderer.calls[str(data.get("tool_call_id"))] = (
                str(data.get("tool_name")),
                str(data.get("parameters") or "{}"),
            )
        elif event.type in (
            "tool.call.completed",
            "run.failed",
            "run.interrupted",
            "approval.requested",
            "approval.answered",
            "compaction.summary",
            "compaction.failed",
        ):
            renderer.handle(event)
    return shown


def runs_table(runs: Sequence[RunSummary]) -> Table:
    table = Table(title="runs", title_justify="left", show_edge=False)
    table.add_column("run", no_wrap=True, min_width=36)
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("usage", justify="right")
    for run in runs:
        took = "-" if run.finished_at is None else f"{run.finished_at - run.started_at:.1f}s"
        usage = run.usage
        spent = "-" if usage is None or not usage.requests else f"{usage.total_tokens} tok"
        if usage is not None and usage.cost:
            spent += f" ${usage.cost:.4f}"
        style = STATUS_STYLE.get(run.status, "")
        status = f"[{style}]{run.status}[/]"
        table.add_row(run.run_id, status, when(run.started_at, short=True), took, spent)
    return table


def run_counts(runs: Sequence[RunSummary]) -> str:
    """'2 completed, 1 cancelled' (Rich markup), or '-' without runs."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    if not counts:
        return "-"
    return ", ".join(f"[{STATUS_STYLE.get(s, '')}]{n} {s}[/]" for s, n in sorted(counts.items()))


def render_session(console: Console, session: Session) -> None:
    console.print(
        f"[bold]session {escape(session.id)}[/]  user {escape(session.user_id)} · app "
        f"{escape(session.app)} · created {when(session.created_at)} · updated "
        f"{when(session.updated_at)} · {len(session.events)} events"
    )
    runs = summarize_runs(session.events)
    if runs:
        console.print(runs_table(runs))
    console.print()
    if not render_transcript(console, session.events):
        console.print("[dim](no messages)[/]")
