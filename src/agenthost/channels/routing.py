"""Where a reply goes, and how a long reply is cut for a platform.

By default a reply goes back where its message came from: to the input's `reply_to` output,
else to the output with the same name as the input (a chat bot is both), else to the only
output when there is exactly one. `Route`s send replies
elsewhere too, e.g. every cron result to X and to a Slack channel:

    Route(inputs=["daily"], outputs=["x", "slack"], target="C0123", origin=False)

`inputs` (names; empty matches every input) selects the messages, `outputs` are where their
replies go, `target` replaces the conversation id on those outputs (a channel id, a URL path),
and `origin=False` stops the default reply to the origin for the matched messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agenthost.core.errors import ConfigError
from agenthost.ports.channels import InboundMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    outputs: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    target: str | None = None
    origin: bool = True

    def matches(self, message: InboundMessage) -> bool:
        return not self.inputs or message.input in self.inputs


class Router:
    """Resolves the (output, target) pairs of a message's reply."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        inputs: Sequence[str],
        outputs: Sequence[str],
        reply_to: Mapping[str, str | None],
    ) -> None:
        known = set(outputs)
        for index, route in enumerate(routes):
            for name in route.outputs:
                if name not in known:
                    raise ConfigError(
                        f"routes[{index}].outputs: unknown output {name!r}; outputs: "
                        f"{', '.join(sorted(known)) or 'none'}"
                    )
            for name in route.inputs:
                if name not in inputs:
                    raise ConfigError(
                        f"routes[{index}].inputs: unknown input {name!r}; inputs: "
                        f"{', '.join(sorted(inputs)) or 'none'}"
                    )
        for name, target in reply_to.items():
            if target is not None and target not in known:
                raise ConfigError(
                    f"inputs.{name}.reply_to: unknown output {target!r}; outputs: "
                    f"{', '.join(sorted(known)) or 'none'}"
                )
        self.routes = tuple(routes)
        only = outputs[0] if len(outputs) == 1 else None
        self._origin = {
            name: reply_to.get(name) or (name if name in known else only) for name in inputs
        }

    def origin_output(self, input_name: str) -> str | None:
        return self._origin.get(input_name)

    def targets(self, message: InboundMessage) -> list[tuple[str, str]]:
        """(output, target conversation) pairs, each once, the origin first."""
        matched = [r for r in self.routes if r.matches(message)]
        pairs: list[tuple[str, str]] = []
        origin = self._origin.get(message.input)
        if origin is not None and all(r.origin for r in matched):
            pairs.append((origin, message.conversation))
        for route in matched:
            for output in route.outputs:
                pair = (output, route.target or message.conversation)
                if pair not in pairs:
                    pairs.append(pair)
        return pairs


def split_text(text: str, max_chars: int | None) -> list[str]:
    """`text` in parts of at most `max_chars`, cut at a paragraph, line, sentence or word
    boundary when there is one in the second half of a part, else hard."""
    if max_chars is None or len(text) <= max_chars:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep)
            if at >= max_chars // 2:
                cut = at + len(sep)
                break
        if cut <= 0:
            cut = max_chars
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return [p for p in parts if p] or [text[:max_chars]]
