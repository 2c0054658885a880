"""A small price table, USD per million tokens, turning usage into cost.

List prices as published by each vendor (late 2025; DashScope's international tier). They
change: override them per provider in config (`prices:` of a provider) or pass a `Price` to
the model. Self-hosted servers (local, vLLM, Ollama, llama.cpp) cost nothing. A dated snapshot
(`gpt-4o-mini-2024-07-18`) or a routed name (`openai/gpt-4o`) gets its base model's price.
"""

from __future__ import annotations

from collections.abc import Mapping

from agenthost.core.usage import Price

FREE = Price(input_per_mtok=0.0, output_per_mtok=0.0)
FREE_PROVIDERS = frozenset({"local", "vllm", "ollama", "llamacpp"})


def _p(input_per_mtok: float, output_per_mtok: float) -> Price:
    return Price(input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok)


PRICES: Mapping[str, Price] = {
    "gpt-4o": _p(2.50, 10.00),
    "gpt-4o-mini": _p(0.15, 0.60),
    "gpt-4.1": _p(2.00, 8.00),
    "gpt-4.1-mini": _p(0.40, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.40),
    "o3-mini": _p(1.10, 4.40),
    "deepseek-chat": _p(0.28, 0.42),
    "deepseek-reasoner": _p(0.28, 0.42),
    "qwen-max": _p(1.60, 6.40),
    "qwen-plus": _p(0.40, 1.20),
    "qwen-turbo": _p(0.05, 0.20),
}


def find_price(
    provider: str, model: str, overrides: Mapping[str, Price] | None = None
) -> Price | None:
    """The price of `model` at `provider`: overrides first, then the table; None if unknown."""
    if overrides and model in overrides:
        return overrides[model]
    if provider in FREE_PROVIDERS:
        return FREE
    name = model.rpartition("/")[2]  # "openai/gpt-4o" on routers
    for table in (overrides or {}, PRICES):
        if name in table:
            return table[name]
        # the longest table key that `name` extends with "-...", e.g. a dated snapshot
        best = max((k for k in table if name.startswith(k + "-")), key=len, default=None)
        if best is not None:
            return table[best]
    return None
