"""Demo tools for `make demo`, the examples and the local model's benchmark.

Plain async functions with docstrings: a function-tool wrapper turns them into tools. They
need no network and answer deterministically (except the clock). Each docstring ends with an
``Examples:`` section of requests with their arguments, which small local models use as
in-context examples (see agenthost.backends.models.local).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agenthost.ports.models import ToolSpec

__all__ = [
    "DEMO_TOOLS",
    "calculator",
    "demo_tool_examples",
    "demo_tool_specs",
    "get_time",
    "get_weather",
    "search_notes",
]

_CONDITIONS = ("sunny", "partly cloudy", "cloudy", "light rain", "rain showers", "windy", "foggy")


async def get_weather(city: str) -> str:
    """Get the current weather (conditions, temperature, wind) for a city.

    Args:
        city: The city name, e.g. Paris.

    Examples:
        Will it snow in Oslo this weekend? -> {"city": "Oslo"}
        What's the temperature in Madrid? -> {"city": "Madrid"}
        Is it sunny in Rome? -> {"city": "Rome"}
    """
    name = " ".join(city.split()).title()
    if not name:
        raise ValueError("city must not be empty")
    digest = hashlib.sha256(name.lower().encode()).digest()
    conditions = _CONDITIONS[digest[0] % len(_CONDITIONS)]
    celsius = digest[1] % 36 - 5  # -5 .. 30 °C
    wind = digest[2] % 40
    return f"{name}: {conditions}, {celsius} °C, wind {wind} km/h."


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # people write 2^10 for a power
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 1000
_MAX_LENGTH = 200


def evaluate(expression: str) -> int | float:
    """Evaluate arithmetic safely: numbers, + - * / // % ** ^, parentheses, a few functions.

    Raises ValueError for anything else (names, attributes, huge powers).
    """
    text = expression.strip().replace("×", "*").replace("÷", "/").replace(",", "")
    text = re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", "*", text)  # 3 x 4
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc
    value = _eval(tree.body)
    if not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return value


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if type(node.op) in (ast.Pow, ast.BitXor) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args))
    raise ValueError(f"unsupported element in expression: {ast.dump(node)[:60]}")


async def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as 3 * (4 + 5).

    Args:
        expression: Arithmetic with + - * / ** and parentheses, e.g. 17 * 23.

    Examples:
        What is 45 plus 19? -> {"expression": "45 + 19"}
        Compute 9 * (3 + 4). -> {"expression": "9 * (3 + 4)"}
        Multiply 8 by 6. -> {"expression": "8 * 6"}
    """
    try:
        value = evaluate(expression)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, float):
        value = round(value, 10)
    return f"{expression.strip()} = {value}"


@cache
def _zones_by_city() -> dict[str, str]:
    zones: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        city = zone.rsplit("/", 1)[-1].replace("_", " ").lower()
        zones.setdefault(city, zone)
    return zones


def find_zone(timezone: str) -> ZoneInfo:
    """A zone from an IANA name (Europe/Paris), an abbreviation (UTC) or a city (Tokyo)."""
    text = timezone.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(text.replace(" ", "_"))
    except (ZoneInfoNotFoundError, ValueError):
        pass
    city = text.rsplit("/", 1)[-1].replace("_", " ").lower()
    zone = _zones_by_city().get(city)
    if zone is None:
        raise ValueError(
            f"unknown time zone {timezone!r}: give an IANA name such as Europe/Paris, or UTC"
        )
    return ZoneInfo(zone)


async def get_time(timezone: str) -> str:
    """Get the current date and time in a time zone or city.

    Args:
        timezone: An IANA time zone such as Europe/Paris, a city, or UTC.

    Examples:
        What's the time in Sydney? -> {"timezone": "Australia/Sydney"}
        Which day and hour is it in Paris? -> {"timezone": "Europe/Paris"}
        What time is it in Berlin? -> {"timezone": "Europe/Berlin"}
    """
    zone = find_zone(timezone)
    now = datetime.now(UTC).astimezone(zone)
    return f"{now:%A %Y-%m-%d %H:%M} in {zone.key}."


NOTES: tuple[str, ...] = (
    "Project deadline: the report is due Friday 17:00; send the draft to Ana on Wednesday.",
    "Grocery list: milk, eggs, spinach, rice, coffee beans.",
    "Dentist appointment on the 14th at 9:30, Dr. Moreau, bring the insurance card.",
    "Wifi password for the office: orange-kettle-42.",
    "Budget meeting notes: travel costs down 10%, hire one more engineer in Q3.",
    "Book list: Dune, The Left Hand of Darkness, Piranesi.",
)


async def search_notes(query: str) -> str:
    """Search the user's saved notes for a word or phrase.

    Args:
        query: Words to look for, e.g. dentist.

    Examples:
        Look up my notes on the budget meeting. -> {"query": "budget meeting"}
        Do I have a note about the car insurance? -> {"query": "car insurance"}
        Check my notes for the wifi password. -> {"query": "wifi password"}
    """
    words = [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2]
    if not words:
        raise ValueError("query must contain a word of three letters or more")
    scored = []
    for note in NOTES:
        text = note.lower()
        hits = sum(1 for word in words if word in text or word.rstrip("s") in text)
        if hits:
            scored.append((hits, note))
    if not scored:
        return f"No notes match {query!r}."
    scored.sort(key=lambda item: -item[0])
    return "\n".join(note for _, note in scored[:3])


DEMO_TOOLS: tuple[Callable[..., Any], ...] = (get_weather, calculator, get_time, search_notes)


def demo_tool_examples() -> dict[str, list[str]]:
    """The ``Examples:`` lines of the demo tools' docstrings, by tool name.

    For `make_local_model(tool_examples=...)` when the tools reach the model through a
    wrapper that keeps only the docstring's first paragraph as the description.
    """
    examples: dict[str, list[str]] = {}
    for tool in DEMO_TOOLS:
        _, _, section = (inspect.getdoc(tool) or "").partition("Examples:")
        examples[tool.__name__] = [line.strip() for line in section.splitlines() if line.strip()]
    return examples


def _string_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": description}},
        "required": [name],
        "additionalProperties": False,
    }


def demo_tool_specs() -> list[ToolSpec]:
    """The demo tools as a model sees them (name, docstring, JSON schema)."""
    parameters = {
        "get_weather": _string_parameter("city", "The city name, e.g. Paris."),
        "calculator": _string_parameter(
            "expression", "Arithmetic with + - * / ** and parentheses, e.g. 17 * 23."
        ),
        "get_time": _string_parameter(
            "timezone", "An IANA time zone such as Europe/Paris, a city, or UTC."
        ),
        "search_notes": _string_parameter("query", "Words to look for, e.g. dentist."),
    }
    return [
        ToolSpec(
            name=tool.__name__,
            description=inspect.getdoc(tool) or "",
            parameters=parameters[tool.__name__],
        )
        for tool in DEMO_TOOLS
    ]
