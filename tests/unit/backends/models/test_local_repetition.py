"""Loop detection for the embedded model's replies (pure; the real model is in
tests/integration/test_local_model.py)."""

from __future__ import annotations

import pytest

from agenthost.backends.models.local._repetition import (
    MIN_SPAN,
    RepetitionGuard,
    collapse,
    repeated_tail,
)

JOKE = "What's a joke about a drunken sailor?"
LOOP = "\n\nA: A drunken sailor is a sailor who drinks too much."


@pytest.mark.parametrize(
    "text",
    [
        'A: "' * 40,  # the loop, a 4-character unit
        "ha" * 40,
        "-" * MIN_SPAN,
        JOKE + LOOP * 4,  # what SmolLM2 wrote for "Tell me a joke" at temperature 0
    ],
)
def test_a_looping_tail_is_found(text: str) -> None:
    assert repeated_tail(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello! How can I help you today?",
        "!!!",
        "| a | b |\n| --- | --- |\n| 1 | 2 |",
        "-" * (MIN_SPAN - 1),
        JOKE + LOOP * 2,  # said twice is not a loop yet
        "The weather in Paris is sunny. " + "Oslo is rainy. Rome is warm. " * 2,
    ],
)
def test_ordinary_text_is_not_a_loop(text: str) -> None:
    assert repeated_tail(text) is None


def test_collapse_keeps_the_text_before_the_loop_and_one_copy() -> None:
    assert collapse(JOKE + LOOP * 5) == JOKE + LOOP
    assert collapse("Sure. " + 'A: "' * 30) == 'Sure. A: "'
    assert collapse("Nothing repeats here.") == "Nothing repeats here."


def test_the_guard_trips_while_streaming_and_not_before() -> None:
    guard = RepetitionGuard()
    stream = [JOKE, *([LOOP[i : i + 5] for i in range(0, len(LOOP), 5)] * 6)]
    tripped_at = next(i for i, delta in enumerate(stream) if guard.feed(delta))
    assert guard.text == "".join(stream[: tripped_at + 1])
    assert repeated_tail(guard.text) is not None
    assert len(guard.text) < len(JOKE) + 5 * len(LOOP)  # stopped within the fifth copy
