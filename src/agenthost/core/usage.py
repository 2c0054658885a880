"""Token usage and cost."""

from __future__ import annotations

import msgspec


class Usage(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Token counts of one or more model calls. Add two with `+`."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost: float = 0.0  # in USD; 0 when no price is known

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            requests=self.requests + other.requests,
            cost=self.cost + other.cost,
        )


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """USD per one million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000
