"""Tools from plain Python callables.

Type hints become the JSON schema (via msgspec), the docstring's first paragraph becomes the
description and its `Args:` section the parameter descriptions. Arguments from the model are
validated and converted before the call; a bad argument raises `ToolError` naming the field,
which the agent sends back to the model so it can correct itself.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

import msgspec

from agenthost.core.errors import ConfigError, ToolError
from agenthost.ports.models import ToolSpec

_convert = msgspec.convert
_asdict = msgspec.structs.asdict  # the converted arguments as keyword arguments, in C
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    head, _, _rest = doc.partition("\n\n")
    params: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped:
                current = None
                continue
            if stripped.endswith(":") and not line.startswith((" ", "\t")):
                break
            match = _ARG_LINE.match(line)
            if match and line.startswith((" ", "\t")) and match.group(1) not in params:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current:
                params[current] += " " + stripped
    description = head.strip() if not head.lower().startswith("args:") else ""
    description = " ".join(description.split())
    examples = _examples_section(doc)
    if examples:  # request -> arguments lines help models, small local ones above all
        description += "\n\nExamples:\n" + "\n".join(examples)
    return description, params


def _examples_section(doc: str) -> list[str]:
    lines: list[str] = []
    inside = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.lower() in ("examples:", "example:"):
            inside = True
            continue
        if inside:
            if stripped.endswith(":") and not line.startswith((" ", "\t")):
                break
            if stripped:
                lines.append(stripped)
    return lines


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace $ref with the referenced definition (models handle flat schemas best)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.split("/")[-1]]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


class FunctionTool:
    """A Tool wrapping a sync or async Python function."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        run_in_thread: bool = True,
        requires_approval: bool = False,
    ) -> None:
        if not callable(function):
            raise ConfigError(f"function_tool() needs a callable, got {function!r}")
        self.function = function
        self.is_async = inspect.iscoroutinefunction(function)
        self.run_in_thread = run_in_thread
        self.requires_approval = requires_approval  # each call waits for a person's answer
        doc_description, param_docs = _parse_docstring(function.__doc__)
        self._args_type, schema = self._build_schema(function, param_docs)
        self._spec = ToolSpec(
            name=name or function.__name__,
            description=description or doc_description,
            parameters=schema,
        )

    @staticmethod
    def _build_schema(
        function: Callable[..., Any], param_docs: dict[str, str]
    ) -> tuple[type[msgspec.Struct], dict[str, Any]]:
        try:
            hints = get_type_hints(function)
        except Exception as exc:
            raise ConfigError(
                f"Cannot read the type hints of tool {function.__name__!r}: {exc}"
            ) from exc
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(param.name, Any)
            if param.default is inspect.Parameter.empty:
                fields.append((param.name, annotation))
            else:
                fields.append((param.name, annotation, param.default))
        args_type = msgspec.defstruct(
            f"{function.__name__}_args", fields, forbid_unknown_fields=True
        )
        try:
            raw = msgspec.json.schema(args_type)
        except Exception as exc:
            raise ConfigError(
                f"Tool {function.__name__!r} has a parameter type that cannot be described "
                f"as JSON schema: {exc}. Use str, int, float, bool, list, dict, Literal, "
                f"dataclasses or msgspec Structs."
            ) from exc
        schema = _inline_refs(raw)
        schema.pop("title", None)
        for pname, prop in schema.get("properties", {}).items():
            prop.pop("title", None)
            if pname in param_docs:
                prop["description"] = param_docs[pname]
        schema.setdefault("properties", {})
        schema.setdefault("required", [])
        return args_type, schema

    @property
    def spec(self) -> ToolSpec:
        return self._spec

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check and convert arguments; raise ToolError naming the bad field."""
        try:
            return _asdict(_convert(arguments, self._args_type, strict=False))
        except msgspec.ValidationError as exc:
            raise ToolError(
                f"Invalid arguments for tool {self._spec.name!r}: {exc}. "
                f"Expected schema: {self._spec.parameters}",
                tool_name=self._spec.name,
            ) from exc

    async def call(self, arguments: dict[str, Any]) -> Any:
        kwargs = self.validate(arguments)
        if self.is_async:
            return await self.function(**kwargs)
        if self.run_in_thread:
            return await asyncio.to_thread(self.function, **kwargs)
        return self.function(**kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool({self._spec.name!r})"


def function_tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
    requires_approval: bool = False,
) -> Any:
    """Make a tool from a function; usable as `function_tool(f)` or as a decorator
    (`@function_tool` / `@function_tool(name="x")`). A sync function runs in a worker thread
    unless `run_in_thread=False` (for quick, non-blocking functions). With
    `requires_approval=True` each call the model asks for waits for a person's answer
    (docs/tools.md, Human approval)."""

    def make(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            f,
            name=name,
            description=description,
            run_in_thread=run_in_thread,
            requires_approval=requires_approval,
        )

    return make if function is None else make(function)
