"""Prompts and grammars for tool calling with a small model that cannot call tools by itself.

A 135M-parameter model does not emit tool calls, and picks a tool from a list little better
than chance when asked zero-shot. What works is in-context examples plus constrained decoding:

1. *Choose*: a system prompt lists the tools; example requests follow as chat turns, each
   answered with a tool name (or ``none``); the model then answers the real request under a
   grammar that admits only the tool names and ``none``. Tiny models weigh the last examples
   most, so `choice_messages` can order the examples several ways and the caller takes a
   majority vote.
2. *Fill*: a prompt describes the chosen tool and its parameters, examples show requests with
   their arguments, and the answer is decoded under the tool's own JSON schema (compact JSON,
   no free whitespace), so the arguments always parse and match the schema.
3. *Answer*: after tool results, one user turn puts the request and the results (as facts)
   together and the model answers in text.

Examples come from the tool's description (an ``Examples:`` section, one example a line:
``Will it rain in Oslo? -> {"city": "Oslo"}``) or from `tool_examples` given to the model.
Everything here is pure: no I/O, no model.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from agenthost.core.messages import Message, TextPart, ToolResultPart
from agenthost.ports.models import ToolSpec

NONE = "none"
NO_TOOL = "no_tool"  # the "no tool" label when a tool is itself called "none"

# Requests that need no tool, shown with every tool list. Kept generic (greeting, general
# knowledge, small talk, writing) and distinct from the benchmark's questions.
NONE_EXAMPLES: tuple[str, ...] = (
    "Hi there!",
    "Who painted the Mona Lisa?",
    "Tell me a fun fact about cats.",
    "Write a haiku about autumn.",
)
EXAMPLES_PER_TOOL = 3

_SECTION = re.compile(r"^\s*examples?\s*:\s*$", re.IGNORECASE)
_OTHER_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]{1,30}:\s*$")
_COMPACT = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}


@dataclass(frozen=True, slots=True)
class ToolExample:
    """A request that calls a tool, with the arguments it should get (when known)."""

    request: str
    arguments: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PreparedTool:
    """A tool as the prompts show it: its description without the examples section."""

    spec: ToolSpec
    description: str
    examples: tuple[ToolExample, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.name


# ---- examples -----------------------------------------------------------------------------


def parse_example(line: str) -> ToolExample:
    """``request -> {json arguments}`` or just ``request`` (quotes around it are dropped)."""
    request, arrow, arguments = line.partition("->")
    parsed: Mapping[str, Any] | None = None
    if arrow:
        try:
            value = orjson.loads(arguments.strip())
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            parsed = value
        else:  # not JSON after all: the arrow belongs to the request
            request = line
    return ToolExample(request.strip().strip("\"'").strip(), parsed)


def split_examples(description: str) -> tuple[str, tuple[ToolExample, ...]]:
    """Cut an ``Examples:`` section out of a description; return (the rest, the examples)."""
    kept: list[str] = []
    examples: list[ToolExample] = []
    in_section = False
    for line in description.splitlines():
        if _SECTION.match(line):
            in_section = True
            continue
        if in_section:
            if not line.strip() or _OTHER_SECTION.match(line):
                in_section = False
            else:
                examples.append(parse_example(line.strip().lstrip("-*").strip()))
                continue
        kept.append(line)
    return "\n".join(kept).strip(), tuple(e for e in examples if e.request)


def prepare_tools(
    tools: Sequence[ToolSpec],
    extra_examples: Mapping[str, Sequence[ToolExample]] | None = None,
) -> list[PreparedTool]:
    """Each tool with its examples: those given for it by name, then its description's."""
    prepared = []
    for spec in tools:
        description, examples = split_examples(spec.description)
        given = tuple((extra_examples or {}).get(spec.name, ()))
        prepared.append(PreparedTool(spec, description, given + examples))
    return prepared


def none_label(tools: Iterable[PreparedTool]) -> str:
    return NO_TOOL if any(tool.name == NONE for tool in tools) else NONE


# ---- step 1: choose a tool ----------------------------------------------------------------


def tool_listing(tools: Sequence[PreparedTool], *, allow_none: bool = True) -> str:
    lines = [f"- {tool.name}: {_first_line(tool.description) or tool.name}" for tool in tools]
    if allow_none:
        lines.append(
            f"- {none_label(tools)}: no tool is needed (greetings, general knowledge, writing)"
        )
    return "\n".join(lines)


def choice_examples(
    tools: Sequence[PreparedTool], *, allow_none: bool = True, order: int = 0
) -> list[tuple[str, str]]:
    """(request, label) pairs: up to EXAMPLES_PER_TOOL per tool and the no-tool examples.

    Order 0 deals them round-robin (one per tool in turn, no-tool last in each round); any other
    order is a fixed shuffle of the same pairs, so that votes over orders even out the model's
    bias toward the last examples it saw.
    """
    columns = [[(e.request, t.name) for e in t.examples[:EXAMPLES_PER_TOOL]] for t in tools]
    if allow_none:
        columns.append([(request, none_label(tools)) for request in NONE_EXAMPLES])
    if order == 0:
        rounds = itertools.zip_longest(*columns)
        return [pair for row in rounds for pair in row if pair is not None]
    pairs = [pair for column in columns for pair in column]
    random.Random(order).shuffle(pairs)
    return pairs


def choice_messages(
    request: str, tools: Sequence[PreparedTool], *, allow_none: bool = True, order: int = 0
) -> list[Message]:
    """The chat that makes the model name one tool (or none) for `request`."""
    system = (
        "Pick the tool for the user's request.\nTools:\n"
        + tool_listing(tools, allow_none=allow_none)
        + "\nAnswer with one tool name."
    )
    messages = [Message.system(system)]
    for example, label in choice_examples(tools, allow_none=allow_none, order=order):
        messages += [Message.user(example), Message.assistant(label)]
    messages.append(Message.user(request))
    return messages


def choice_grammar(labels: Sequence[str]) -> str:
    """A llama.cpp (llguidance) grammar that admits exactly one of `labels`."""
    return "%llguidance {}\nstart: " + " | ".join(_lark_string(label) for label in labels)


def choice_labels(tools: Sequence[PreparedTool], *, allow_none: bool = True) -> list[str]:
    labels = [tool.name for tool in tools]
    return [*labels, none_label(tools)] if allow_none else labels


# ---- step 2: fill the arguments -----------------------------------------------------------


def parameter_lines(schema: Mapping[str, Any]) -> list[str]:
    """One line per top-level parameter: name, type, required, description."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    lines = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        kind = prop.get("type", "any")
        if "enum" in prop:
            kind = "one of " + ", ".join(orjson.dumps(v).decode() for v in prop["enum"])
        flag = "required" if name in required else "optional"
        text = f"- {name} ({kind}, {flag})"
        if prop.get("description"):
            text += f": {prop['description']}"
        lines.append(text)
    return lines


def arguments_messages(request: str, tool: PreparedTool) -> list[Message]:
    """The chat that makes the model write `tool`'s arguments for `request` as JSON."""
    system = f"Write the arguments of the tool {tool.name} as JSON."
    description = _first_line(tool.description)
    if description:
        system += f"\nThe tool: {description}"
    lines = parameter_lines(tool.spec.parameters)
    if lines:
        system += "\nParameters:\n" + "\n".join(lines)
    messages = [Message.system(system)]
    for example in tool.examples:
        if example.arguments is not None:
            arguments = orjson.dumps(example.arguments).decode()
            messages += [Message.user(example.request), Message.assistant(_spaced(arguments))]
    messages.append(Message.user(request))
    return messages


def arguments_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's schema as a decoding constraint: an object, written as compact JSON.

    (No maxLength is added to strings: llguidance's masks for a long bounded string cost
    about 0.25 s a token. The max_tokens of the request bounds the arguments instead.)
    """
    schema: dict[str, Any] = dict(parameters) if parameters else {}
    if schema.get("type") is None and "properties" in schema:
        schema["type"] = "object"
    if not schema:
        schema = {"type": "object", "properties": {}}
    schema["x-guidance"] = dict(_COMPACT)
    return schema


def arguments_grammar(parameters: Mapping[str, Any]) -> str:
    """A llama.cpp (llguidance) grammar for JSON matching the tool's parameters schema."""
    body = orjson.dumps(arguments_schema(parameters)).decode()
    return "%llguidance {}\nstart: %json " + body


# ---- step 3: answer, in text ----------------------------------------------------------------


def text_history(messages: Sequence[Message]) -> list[Message]:
    """The conversation as a small model can read it: text turns only.

    Tool calls and tool results of earlier turns are dropped; the assistant's answers that
    followed them already say what they returned.
    """
    out: list[Message] = []
    for message in messages:
        text = message.text
        if message.role == "tool" or not text:
            continue
        out.append(Message(role=message.role, parts=(TextPart(text=text),)))
    return out


def last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return None


def ends_with_tool_results(messages: Sequence[Message]) -> bool:
    return bool(messages) and messages[-1].role == "tool"


def answer_messages(messages: Sequence[Message]) -> list[Message]:
    """After tool results: the request and what the tools returned, to answer in text.

    One user turn, "Question / Facts / Answer the question in one sentence using the facts":
    on the benchmark the 135M model repeated the result in 10 of 15 answers this way, against
    2 of 15 for a system prompt plus "Tool results:" (it echoed the request instead).
    """
    last = last_user_index(messages)
    request = messages[last].text if last is not None else ""
    facts = []
    for message in messages[(last or 0) :]:
        for part in message.parts:
            if isinstance(part, ToolResultPart):
                content = part.content.strip()
                facts.append(f"{part.name} failed: {content}" if part.is_error else content)
    system = [m for m in messages[: last or 0] if m.role == "system" and m.text]
    content = (
        f"Question: {request}\nFacts: "
        + "\n".join(facts)
        + "\nAnswer the question in one sentence using the facts."
    )
    return [*(Message.system(m.text) for m in system), Message.user(content)]


# ---- helpers ------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    return text.strip().split("\n\n", 1)[0].replace("\n", " ").strip()


def _lark_string(value: str) -> str:
    return orjson.dumps(value).decode()


def _spaced(arguments: str) -> str:
    """Compact JSON with a space after ':' and ',' (what the grammar makes the model write)."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    return _dump_spaced(value)


def _dump_spaced(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_dump_spaced(k)}: {_dump_spaced(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump_spaced(v) for v in value) + "]"
    return orjson.dumps(value).decode()
