"""What every config module shares: the strict Struct base, value constraints, field paths,
and "did you mean"."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated

import msgspec

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]

PathKey = str | int
FieldPath = tuple[PathKey, ...]
Problem = tuple[FieldPath, str]  # where (agents.helper.model) and what is wrong


def suggestion(value: str, known: list[str] | tuple[str, ...]) -> str:
    """'; did you mean 'x'?' when a known value is close to `value`, else ''."""
    match = get_close_matches(value, list(known), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


class ConfigStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Every config struct: unknown fields are errors, fields are named when built in code."""
