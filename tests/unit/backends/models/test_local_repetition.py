"""Loop detection for the embedded model's replies (pure; the real model is in
tests/integration/test_local_model.py).

Positive cases are loops SmolLM2 wrote (exact ones and near-repeats); negative cases are
legitimate texts of 300-2000 characters that repeat on purpose: tables, numbered lists, code,
enumerations, a poem with a refrain. Both tables are asserted, on the whole text and streamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agenthost.backends.models.local import LocalModel
from agenthost.backends.models.local._repetition import (
    MIN_SPAN,
    SYMBOL_SPAN,
    RepetitionGuard,
    collapse,
    find_loop,
    near_repeated_tail,
    repeated_tail,
    words_loop,
)
from agenthost.core.messages import Message
from agenthost.core.usage import Usage
from agenthost.ports.models import ModelResponse, ResponseDone, StreamEvent, TextDelta

JOKE = "What's a joke about a drunken sailor?"
LOOP = "\n\nA: A drunken sailor is a sailor who drinks too much."
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# ---- loops ----------------------------------------------------------------------------------

EXACT = {
    "a 4-character unit": 'A: "' * 40,  # the first loop reported
    "a 2-character unit": "ha" * 40,
    "a ruler that never ends": "-" * SYMBOL_SPAN,
    "one line again and again": JOKE + LOOP * 4,  # SmolLM2, "Tell me a joke", temperature 0
    "a block of quotes": 'A: "A: "B: "C: "\n\n' * 5,  # SmolLM2 with the demo's instructions
    "a line per letter": "A: \n" * 20,
}
NEAR = {
    # SmolLM2 at temperature 0.2: the letter changes in each copy, then "Z" repeats
    "a counter of letters": 'A: "A: "A: "' + "".join(f'{c}: "' for c in LETTERS[1:]),
    "a template with a letter changing": "Sure! " + "".join(f"Q{c}: ok. " for c in LETTERS[:20]),
}
WORDS = {
    # what DRY made of the sailor loop: copies that differ by a word or two
    "copies of different lengths": JOKE
    + "\n\nA: A drunken sailor is a sailor who drinks too much."
    + "\n\nA: A drunken sailor is a drunk who drinks too much."
    + "\n\nA: A drunken sailor is a sailor who drinks a lot too much."
    + "\n\nA: A drunken sailor is a drunk sailor who drinks too much."
    + "\n\nA: A drunken sailor is a sailor who drinks far too much."
    + "\n\nA: A drunken sailor is a drunk who drinks too much."
    + "\n\nA: A drunken sailor is a sailor who drinks too much.",
    # SmolLM2 with DRY at temperature 0.2: no two copies alike, the same few things said
    "copies that keep changing": JOKE
    + "\n\nA: A drunken sailor is a sailor who drinks too much."
    + "\n\nA: A drunken sailor is a drunkard who has just drunk too much."
    + "\n\nA: A drunken sailor is a sailor who has drunk too much, but he's actually a drunkard"
    + " who's drunk."
    + "\n\nA: A drunken sailor is a drunken sailor who has drunk enough to make him a drunkard."
    + "\n\nA: A drunken sailor is a drunkard who has drunk too much."
    + "\n\nA: A drunken sailor is a sailor who has drunk too much, but he's actually a drunkard"
    + " who's drunk."
    + "\n\nA: A drunken sailor is a drunken sailor who has drunk too much and is actually a"
    + " drunkard.",
    "a week over and over": "The days of the week are: "
    + "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday, " * 5,
    # SmolLM2 asked for a table of three fruits (with DRY), and for the days of the week
    "a table that never ends": "| Fruit | Colour |\n| --- | --- |\n| Banana | Red |\n"
    + "".join(f"| Grape | {c} |\n" for c in ["Red", "Green", "White", "Yellow", "Black"] * 4),
    "a bulleted week over and over": "Here is a sample response:\n\n"
    + "".join(f"* {day}: {day}\n" for day in ["Monday", "Tuesday", "Wednesday", "Friday"] * 5),
    "a phrase with a word changing": "The sea, "
    + "a canvas of endless blue, a canvas of endless light, a canvas of endless wonder, " * 3,
}

# ---- legitimate repetition ------------------------------------------------------------------

TABLE = "| Fruit | Colour | Taste | Season |\n| --- | --- | --- | --- |\n" + "".join(
    f"| {fruit} | {colour} | {taste} | {season} |\n"
    for fruit, colour, taste, season in [
        ("Apple", "red", "sweet", "autumn"),
        ("Banana", "yellow", "sweet", "all year"),
        ("Lemon", "yellow", "sour", "winter"),
        ("Cherry", "red", "sweet", "summer"),
        ("Grape", "green", "sweet", "autumn"),
        ("Lime", "green", "sour", "summer"),
        ("Plum", "purple", "sweet", "summer"),
        ("Orange", "orange", "sweet", "winter"),
        ("Kiwi", "green", "tart", "winter"),
        ("Peach", "orange", "sweet", "summer"),
    ]
)
WIDE_TABLE = (
    "Here are the monthly sales by quarter-hour slot, one column per slot:\n\n"
    "| " + " | ".join(f"Q{n}" for n in range(1, 13)) + " |\n" + "| --- " * 12 + "|\n"
    "| " + " | ".join(str(n * 7) for n in range(1, 13)) + " |\n"
    "| " + " | ".join(str(n * 11) for n in range(1, 13)) + " |\n\n"
    "The busiest slot is the last one; the first three are quiet on most days."
)
NUMBERS_TABLE = "| x | x squared | x cubed |\n| --- | --- | --- |\n" + "".join(
    f"| {n} | {n * n} | {n**3} |\n" for n in range(1, 31)
)
TRUTH_TABLE = (
    "The truth tables of AND, OR and XOR:\n\n| A | B | A and B | A or B | A xor B |\n"
    + "|---|---|---|---|---|\n"
    + "".join(f"| {a} | {b} | {a & b} | {a | b} | {a ^ b} |\n" for a in (0, 1) for b in (0, 1))
    + "\nAND is 1 only when both inputs are; OR when either is; XOR when exactly one is. "
    + "NAND and NOR are their negations.\n"
)
STEPS = [
    "Go to bed at the same time every night, weekends included.",
    "Keep the bedroom dark, quiet and a little cool.",
    "Avoid caffeine after lunch and heavy meals late in the evening.",
    "Put the phone away an hour before sleep.",
    "Get some daylight and exercise during the day.",
    "If you cannot sleep after twenty minutes, get up and read.",
    "Limit naps to twenty minutes, before three in the afternoon.",
    "Write down tomorrow's worries so they leave your head.",
    "Keep alcohol for special occasions: it breaks up sleep.",
    "See a doctor if you snore loudly or are tired all day.",
]
NUMBERED_LIST = "Here are ten tips to sleep better:\n\n" + "".join(
    f"{n}. {step}\n" for n, step in enumerate(STEPS, 1)
)
SHORT_ITEMS = (
    "The variables, in the order the function takes them:\n"
    + "".join(f"{n}. {c.lower()}\n" for n, c in enumerate(LETTERS, 1))
    + "Each one is a float; pass them by keyword if you are unsure of the order, and leave "
    + "out the ones you do not need."
)
CODE = """Here is a small command-line tool:

```python
import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description="Resize images.")
    parser.add_argument("--input", type=str, required=True, help="folder to read")
    parser.add_argument("--output", type=str, required=True, help="folder to write")
    parser.add_argument("--width", type=int, default=800, help="width in pixels")
    parser.add_argument("--height", type=int, default=600, help="height in pixels")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args()
    print(args.input)
    print(args.output)
    print(args.width)
    print(args.height)
    print(args.quality)


if __name__ == "__main__":
    main()
```
"""
CODE_RULERS = (
    "# " + "-" * 78 + "\n# Settings\n# " + "-" * 78 + "\n\nWIDTH = 800\nHEIGHT = 600\n\n"
    "# " + "=" * 78 + "\n"
    "x = [0, 0, 0, 0]\ny = [0, 0, 0, 0]\nz = [0, 0, 0, 0]\n\n"
    "    }\n  }\n}\n" + "# " + "-" * 78 + "\n"
)
COUNT = "Sure, here you go: " + ", ".join(str(n) for n in range(1, 101)) + "."
WEEK = (
    "The days of the week are Monday, Tuesday, Wednesday, Thursday, Friday, Saturday and "
    "Sunday. The months are January, February, March, April, May, June, July, August, "
    "September, October, November and December. Most offices are open Monday, Tuesday, "
    "Wednesday, Thursday and Friday; shops also open on Saturday, and some on Sunday. "
    "School holidays fall in July and August, with shorter breaks in October, December, "
    "February and April."
)
POEM = """Twinkle, twinkle, little star,
How I wonder what you are!
Up above the world so high,
Like a diamond in the sky.
Twinkle, twinkle, little star,
How I wonder what you are!

When the blazing sun is gone,
When he nothing shines upon,
Then you show your little light,
Twinkle, twinkle, all the night.
Twinkle, twinkle, little star,
How I wonder what you are!

Then the traveller in the dark
Thanks you for your tiny spark;
He could not see which way to go,
If you did not twinkle so.
Twinkle, twinkle, little star,
How I wonder what you are!
"""
SONG = (
    "Happy birthday to you,\nHappy birthday to you,\nHappy birthday dear Anna,\n"
    "Happy birthday to you!\n\nAnd many more! We sang it twice, then cut the cake, "
    "and everybody laughed when the candles would not go out.\n\n"
    "Happy birthday to you,\nHappy birthday to you,\nHappy birthday dear Anna,\n"
    "Happy birthday to you!\n"
)
PROSE = (
    "The weather in Paris is sunny. " + "Oslo is rainy. Rome is warm. " * 2 + "In the "
    "afternoon the clouds move east and the wind turns. A walk along the river is pleasant "
    "before dinner, and the museums stay open late on Thursdays. Tomorrow looks much the "
    "same, with a little rain in the north and a warm evening in the south."
)

PADDED = "".join(  # SmolLM2's table of fruits: columns aligned with runs of blanks
    f"| {fruit:<{width}} | {colour:<38} |\n"
    for fruit, colour, width in [
        ("Fruits", "Colour", 63),
        ("Bananas", "Red", 55),
        ("Apples", "Red", 47),
        ("Blackberries", "Blue", 53),
        ("Avocados", "Green", 49),
        ("Grapefruit", "Yellow", 46),
        ("Lemons", "Yellow", 46),
    ]
)

LEGIT = {
    "a markdown table": TABLE,
    "a wide table's separator row": WIDE_TABLE,
    "a table padded with blanks": PADDED,
    "a table of numbers": NUMBERS_TABLE,
    "a truth table": TRUTH_TABLE,
    "a numbered list": NUMBERED_LIST,
    "a numbered list of letters": SHORT_ITEMS,
    "code with similar lines": CODE,
    "code with rulers": CODE_RULERS,
    "counting to 100": COUNT,
    "days and months": WEEK,
    "a poem with a refrain": POEM,
    "a song sung twice": SONG,
    "prose": PROSE,
}
SHORT = ["", "Hello! How can I help you today?", "!!!", "-" * (MIN_SPAN - 1), JOKE + LOOP * 2]


def test_the_legitimate_texts_are_of_realistic_length() -> None:
    assert all(300 <= len(text) <= 2000 for text in LEGIT.values())


@pytest.mark.parametrize("name", EXACT)
def test_an_exact_loop_is_found(name: str) -> None:
    found = find_loop(EXACT[name])
    assert found is not None and found.kind == "exact"
    assert repeated_tail(EXACT[name]) is not None


@pytest.mark.parametrize("name", NEAR)
def test_a_template_with_a_character_changing_is_a_near_loop(name: str) -> None:
    assert repeated_tail(NEAR[name]) is None  # no copy is exactly the one before
    found = find_loop(NEAR[name])
    assert found is not None and found.kind == "near"


@pytest.mark.parametrize("name", WORDS)
def test_copies_of_different_lengths_are_a_loop_of_words(name: str) -> None:
    assert near_repeated_tail(WORDS[name]) is None
    assert words_loop(WORDS[name])


@pytest.mark.parametrize("name", LEGIT)
def test_legitimate_repetition_is_not_a_loop(name: str) -> None:
    text = LEGIT[name]
    assert find_loop(text) is None
    guard = RepetitionGuard()  # nor at any point while it streams, 3 characters at a time
    assert not any(guard.feed(text[i : i + 3]) for i in range(0, len(text), 3))
    assert collapse(text) == text


@pytest.mark.parametrize("text", SHORT)
def test_short_or_twice_said_text_is_not_a_loop(text: str) -> None:
    assert find_loop(text) is None


def test_a_symbol_unit_needs_a_longer_span() -> None:
    assert find_loop("-" * (SYMBOL_SPAN - 1)) is None
    assert find_loop("| --- " * 30) is not None  # 180 characters


def test_only_digits_changing_is_data_not_a_loop() -> None:
    assert near_repeated_tail("".join(f"{n}, " for n in range(10, 60))) is None
    assert near_repeated_tail("".join(f"({c}) " for c in LETTERS * 2)) is not None
    assert near_repeated_tail("".join(f"{c}, " for c in LETTERS)) is None  # 1 change in 3


def test_collapse_keeps_the_text_before_the_loop_and_one_copy() -> None:
    assert collapse(JOKE + LOOP * 5) == JOKE + LOOP
    assert collapse("Sure. " + 'A: "' * 30) == 'Sure. A: "'
    assert collapse("Nothing repeats here.") == "Nothing repeats here."
    assert collapse(NEAR["a counter of letters"]) == 'A: "'
    kept = collapse(WORDS["copies of different lengths"])
    assert kept.startswith(JOKE) and kept.count("drunken sailor is") == 1


def _stream(text: str, size: int = 5) -> tuple[RepetitionGuard, int | None]:
    guard = RepetitionGuard()
    for i in range(0, len(text), size):
        if guard.feed(text[i : i + size]):
            return guard, len(guard.text)
    return guard, None


def test_the_guard_trips_while_streaming_and_not_before() -> None:
    guard = RepetitionGuard()
    stream = [JOKE, *([LOOP[i : i + 5] for i in range(0, len(LOOP), 5)] * 6)]
    tripped_at = next(i for i, delta in enumerate(stream) if guard.feed(delta))
    assert guard.text == "".join(stream[: tripped_at + 1])
    assert guard.loop is not None and find_loop(guard.text) == guard.loop
    assert len(guard.text) < len(JOKE) + 5 * len(LOOP)  # stopped within the fifth copy
    assert collapse(guard.text) == JOKE + LOOP


def test_a_near_loop_is_stopped_within_about_64_characters() -> None:
    """The counter of letters SmolLM2 wrote ran 172 characters (to "Z: "Z: "...) before the
    exact test stopped it; the near test stops it after about 64."""
    guard, tripped = _stream(NEAR["a counter of letters"])
    assert tripped is not None and tripped <= 80
    assert guard.loop is not None and guard.loop.kind == "near"


class _Inner:
    """Stands in for the embedded server's client: answers `text`, whole or in 4-character
    deltas, and counts the deltas it was asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sent = 0

    async def request(self, messages: object, *, settings: object = None) -> ModelResponse:
        return ModelResponse(
            message=Message.assistant(self.text), usage=Usage(), model="m", finish_reason="stop"
        )

    async def stream(
        self, messages: object, *, settings: object = None
    ) -> AsyncIterator[StreamEvent]:
        for i in range(0, len(self.text), 4):
            self.sent += 1
            yield TextDelta(self.text[i : i + 4])
        yield ResponseDone(await self.request(messages))


def _local(inner: _Inner) -> LocalModel:
    model = LocalModel("smollm2", Path("unused.gguf"))
    model._inner = inner  # type: ignore[assignment]  # no server: the client stands in
    return model


@pytest.mark.parametrize("text", [NEAR["a counter of letters"], WORDS["copies that keep changing"]])
async def test_the_local_model_cuts_a_near_loop_and_marks_it(text: str) -> None:
    asked = [Message.user("Tell me a joke")]
    whole = await _local(_Inner(text)).request(asked)
    assert whole.finish_reason == "length" and whole.message.text == collapse(text)

    inner = _Inner(text + " and so on" * 40)
    events = [event async for event in _local(inner).stream(asked)]
    done = events[-1]
    assert isinstance(done, ResponseDone) and done.response.finish_reason == "length"
    streamed = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert inner.sent == len(events) - 1 and len(streamed) <= len(text)  # stopped in the loop
    assert done.response.message.text == collapse(streamed)
