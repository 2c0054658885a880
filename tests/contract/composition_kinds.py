"""Harnesses for the compositions in the agent-kind contract suite.

Each composition is built of `LLMAgent`s (the `llm` kind) on one fake model server, so its
upstream is that server and its script is the `llm` kind's: a chain of two and a loop of two
iterations make two model calls a turn, a parallel of two makes two that fail on their own,
and a transfer router that answers itself makes one (with the transfer tool offered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agenthost.engine.composition import ChainAgent, LoopAgent, ParallelAgent, TransferAgent
from agenthost.ports.protocol import Agent
from tests.unit.backends.agents.fake_platform import FakePlatform, Recorded

from .agent_kinds import LLMKind

NO_STOP_API = "a model call has no stop API (closing the connection cancels)"


@dataclass
class CompositionKind(LLMKind):
    def child(self, fake: FakePlatform, name: str, options: dict[str, Any]) -> Agent:
        return super().agent(fake, name=name, **options)

    def said(self, call: Recorded) -> list[str]:
        return [m["content"] for m in call.body["messages"] if m["role"] != "system"]


@dataclass
class ChainKind(CompositionKind):
    calls_per_turn: int = 2

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return ChainAgent([self.child(fake, "a", options), self.child(fake, "b", options)])

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert self.said(first) == ["hi"]
        said = self.said(second)  # the first agent of turn two
        assert said[0] == "hi" and said[-1] == "again" and "Hello" in said[1:-1]


@dataclass
class ParallelKind(CompositionKind):
    calls_per_turn: int = 2
    branches: int = 2

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return ParallelAgent([self.child(fake, "a", options), self.child(fake, "b", options)])

    def answer(self, text: str) -> str:
        return f"## a\n{text}\n\n## b\n{text}"

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert self.said(first) == ["hi"]
        said = self.said(second)
        assert said[0] == "hi" and said[-1] == "again" and self.answer("Hello") in said[1:-1]


@dataclass
class LoopKind(CompositionKind):
    calls_per_turn: int = 2

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return LoopAgent(self.child(fake, "a", options), max_iterations=2)

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert self.said(first) == ["hi"]
        said = self.said(second)
        assert said[0] == "hi" and said[-1] == "again" and "Hello" in said[1:-1]


@dataclass
class TransferKind(CompositionKind):
    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        return TransferAgent(self.child(fake, "router", options), [self.child(fake, "b", options)])

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        for call in (first, second):  # the router is offered the transfer on every call
            names = [t["function"]["name"] for t in call.body["tools"]]
            assert "transfer_to_b" in names and "get_weather" in names
        assert self.said(second) == ["hi", "Hello", "again"]


def _composition(cls: type[CompositionKind], name: str) -> CompositionKind:
    return cls(name, "/v1/chat/completions", not_applicable={"stop_refused": NO_STOP_API})


COMPOSITION_KINDS: list[CompositionKind] = [
    _composition(ChainKind, "chain"),
    _composition(ParallelKind, "parallel"),
    _composition(LoopKind, "loop"),
    _composition(TransferKind, "transfer"),
]
