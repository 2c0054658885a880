"""Degenerate repetition: a small model that loops (``A: "A: "A: "...``) is stopped early.

`RepetitionGuard` watches the reply while it streams and says when its tail has become one of
three kinds of loop (`find_loop`):

- exact: one unit (1 to `MAX_UNIT` characters) repeated back to back over at least
  `max(MIN_REPEATS * unit, MIN_SPAN)` characters, or `SYMBOL_SPAN` when the unit has no letter
  or digit (a ruler ``----``, a wide table's ``| --- | --- |``);
- near: a template of 1 to `NEAR_MAX_UNIT` characters repeated with a few characters changed
  per copy (``A: "B: "C: "D: ``): over the last `max(NEAR_REPEATS * unit, NEAR_SPAN)`
  characters at most one in `NEAR_DIFF` differs from the one a unit earlier (padding, a blank
  after a blank, not counted: aligned columns), and a letter changes in at least half the
  copies (a count or a table of numbers changes only digits: data; a ruler followed by a word
  changes in one place: not a template);
- words: copies of different lengths (``A: A drunken sailor is ... A: A drunken sailor is a
  drunk ...``): among the last 32 (or 64) words, at most 60 % (62 %) of the word trigrams
  are distinct (`WORD_WINDOWS`; prose has nearly all distinct, a poem's refrain, a song sung
  twice or code of similar lines 3 in 4 or more); a window of mostly numbers (a truth table's
  0s and 1s) is data.

Then the stream is cut (finish_reason "length"), and the stored reply keeps the text up to
the loop plus one copy (`collapse`: one unit, or for words the first of the alike sentences
at the end). Each check is bounded (the last `WINDOW` characters) and costs about 60 µs of CPU
(benchmarks/repetition.py; the exact test alone, all there was before, about 30); the guard
checks every `CHECK_EVERY` characters. Pure: no I/O.

(llama.cpp's DRY sampler was tried against loops and made them worse here: SmolLM2 then wrote
near-repeats, "A: A drunken sailor is ... A: A drunken sailor is a drunk ...", up to the
token cap, where without it the same question looped exactly and was stopped after 72 tokens.
The word test now stops those too, after about 330 characters.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_UNIT = 80  # longest exactly repeating unit looked for, in characters
MIN_REPEATS = 4  # a unit must repeat this often back to back ...
MIN_SPAN = 64  # ... over at least this many characters (so "!!!" or "| --- |" never trip)
SYMBOL_SPAN = 160  # ... or this many when the unit has no letter or digit (rulers, tables)

NEAR_MAX_UNIT = 32  # longest template looked for (longer near-repeats: the word test)
NEAR_REPEATS = 12  # a template must repeat this often back to back ...
NEAR_SPAN = 64  # ... over at least this many characters ...
NEAR_DIFF = 4  # ... with at most 1 character in NEAR_DIFF changed from a unit earlier

# (words looked at, the largest share of their trigrams that is distinct in a loop): a short
# window for a loop of near copies, a long one for copies that differ more
WORD_WINDOWS = ((32, 0.6), (64, 0.62))

WINDOW = 512  # characters looked at by one check (the near and word tests)
CHECK_EVERY = 4  # the guard checks every this many characters, not every token

_WORD = re.compile(r"\w+")
_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")  # between sentences or lines
_ALNUM = re.compile(r"[^\W_]")  # a letter or digit
Kind = Literal["exact", "near", "words"]


@dataclass(frozen=True, slots=True)
class Loop:
    """A loop at the end of a text: it starts at `start`; `unit` characters make one copy
    (for "words" the copies differ in length: `unit` is 0 and `start` where the loop was seen)."""

    kind: Kind
    start: int
    unit: int


def find_loop(text: str) -> Loop | None:
    """The degenerate repetition `text` ends with (exact, near or words), or None."""
    exact = repeated_tail(text)
    if exact is not None:
        unit, span = exact
        return Loop("exact", len(text) - span, unit)
    near = near_repeated_tail(text)
    if near is not None:
        unit, span = near
        return Loop("near", len(text) - span, unit)
    if words_loop(text):
        return Loop("words", len(text), 0)
    return None


def repeated_tail(text: str) -> tuple[int, int] | None:
    """(unit length, span) of the exact repetition `text` ends with, or None."""
    for unit in range(1, MAX_UNIT + 1):
        span = max(MIN_REPEATS * unit, MIN_SPAN)
        if len(text) < span:
            return None
        if text[-1] != text[-1 - unit]:  # most units fail here, cheaply
            continue
        pattern = text[-unit:]
        if text[-span:] != _cycle(pattern, span):
            continue
        if _ALNUM.search(pattern) is None:  # a ruler or a table's separator row may be long
            span = max(span, SYMBOL_SPAN)
            if len(text) < span or text[-span:] != _cycle(pattern, span):
                continue
        return unit, _extend(text, unit, span)
    return None


def _cycle(pattern: str, span: int) -> str:
    """`span` characters ending with `pattern` and made of it."""
    return (pattern * (span // len(pattern) + 1))[-span:]


def _extend(text: str, unit: int, span: int) -> int:
    """How far back the repetition of the last `unit` characters really goes."""
    start = len(text) - span
    while start - unit >= 0 and text[start - unit : start] == text[start : start + unit]:
        start -= unit
    while start > 0 and text[start - 1] == text[start - 1 + unit]:
        start -= 1
    return len(text) - start


def near_repeated_tail(text: str) -> tuple[int, int] | None:
    """(unit length, span) of the near repetition `text` ends with, or None.

    The tail becomes one integer, 32 bits a character, the last one in the lowest bits; XOR
    with itself shifted by a unit leaves a non-zero group where a character differs from the
    one a unit earlier, and the groups are counted with a carry trick and one bit count: C
    speed. The last `NEAR_SPAN` characters are tried first, the whole span only for a unit
    that passes there."""
    size = min(len(text), WINDOW)
    if size < NEAR_SPAN + 1:
        return None
    window = text[-size:]
    number = int.from_bytes(window.encode("utf-32-be"), "big")
    short = number & ((1 << 32 * (NEAR_SPAN + NEAR_MAX_UNIT)) - 1)
    for unit in range(1, NEAR_MAX_UNIT + 1):
        if _changes(short, unit, NEAR_SPAN) * NEAR_DIFF > NEAR_SPAN:
            continue
        span = max(NEAR_REPEATS * unit, NEAR_SPAN)
        if size < span + unit:
            return None
        if span > NEAR_SPAN and _changes(number, unit, span) * NEAR_DIFF > span:
            continue
        if _is_template(window, unit, span):
            return unit, _extend_near(text, unit, span)
    return None


def _changes(number: int, unit: int, span: int) -> int:
    """How many of the last `span` characters in `number` differ from the one a unit earlier."""
    low, high = _masks(span)
    diff = (number ^ (number >> 32 * unit)) & (low | high)
    return ((((diff & low) + low) | diff) & high).bit_count()


_MASKS: dict[int, tuple[int, int]] = {}


def _masks(span: int) -> tuple[int, int]:
    """The low 31 bits and the top bit of each of `span` 32-bit groups."""
    masks = _MASKS.get(span)
    if masks is None:
        low = int.from_bytes(b"\x7f\xff\xff\xff" * span, "big")
        masks = _MASKS[span] = (low, low << 1 & ~low)
    return masks


def _is_template(window: str, unit: int, span: int) -> bool:
    """True when a letter changes (from the one a unit earlier, or to it) in at least half the
    copies of the tail, and the changes stay within one in `NEAR_DIFF` of its characters left
    when padding (a blank after a blank) is not counted. A template that only changes digits
    is data (a count, a table of numbers); one whose changes are bunched up is a ruler or a
    table's separator row; one that matches mostly on padding is a table's aligned columns."""
    size = len(window)
    copies = lettered = changes = padding = 0
    for end in range(size, size - span, -unit):
        copies += 1
        letter = False
        for index in range(max(end - unit, size - span), end):
            now, before = window[index], window[index - unit]
            if now != before:
                changes += 1
                letter = letter or now.isalpha() or before.isalpha()
            elif now.isspace() and window[index - 1].isspace():
                padding += 1
        lettered += letter
    return lettered * 2 >= copies and changes * NEAR_DIFF <= span - padding


def _extend_near(text: str, unit: int, span: int) -> int:
    """How far back the near repetition goes: whole units further back while each stays within
    the same share of changes."""
    start = len(text) - span
    while start - unit >= 0:
        changed = sum(text[i] != text[i + unit] for i in range(start - unit, start))
        if changed * NEAR_DIFF > unit:
            break
        start -= unit
    return len(text) - start


def words_loop(text: str) -> bool:
    """True when the last words say the same few things again and again (`WORD_WINDOWS`;
    words of letters, mostly: a run of numbers, a truth table's 0s and 1s, is data)."""
    found = _WORD.findall(text[-WINDOW:].lower())
    for size, share in WORD_WINDOWS:
        if len(found) < size + 2:
            return False
        words = found[-size - 2 :]
        if sum(word[0].isalpha() for word in words) * 2 < len(words):
            continue
        trigrams = set(zip(words, words[1:], words[2:], strict=False))
        if len(trigrams) <= share * size:
            return True
    return False


def _words_cut(text: str) -> int:
    """Where the stored reply of a loop of words ends: after the first of the sentences (or
    lines) at the end that each share half their words with one of the next two; the text's
    length when there are none (one long line, say)."""
    base = max(0, len(text) - WINDOW)
    pieces: list[tuple[int, frozenset[str]]] = []  # (where a sentence ends, its words)
    start = base
    for match in _BREAK.finditer(text, base):
        pieces.append(
            (match.start(), frozenset(_WORD.findall(text[start : match.start()].lower())))
        )
        start = match.end()
    first = None  # (the words after the last break are left out: a sentence cut mid-way)
    for index in range(len(pieces) - 2, -1, -1):
        words = pieces[index][1]
        if not any(
            len(words & later) * 2 >= len(words | later) > 0
            for _, later in pieces[index + 1 : index + 3]
        ):
            break
        first = index
    return len(text) if first is None else pieces[first][0]


def collapse(text: str, found: Loop | None = None) -> str:
    """`text` with a loop at its end cut down to one copy of its unit; `found` is the loop
    `find_loop(text)` gave, when the caller has it already (else it is looked for here)."""
    if found is None:
        found = find_loop(text)
    if found is None:
        return text
    if found.kind == "words":
        return text[: _words_cut(text)].rstrip()
    return text[: found.start + found.unit].rstrip()


class RepetitionGuard:
    """Feed it the streamed text; `feed` says True once the reply has started to loop."""

    __slots__ = ("_checked", "loop", "text")

    def __init__(self) -> None:
        self.text = ""
        self.loop: Loop | None = None
        self._checked = 0

    def feed(self, delta: str) -> bool:
        self.text += delta
        if len(self.text) - self._checked < CHECK_EVERY:
            return False
        self._checked = len(self.text)
        self.loop = find_loop(self.text)
        return self.loop is not None
