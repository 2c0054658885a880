"""Degenerate repetition: a small model that loops (``A: "A: "A: "...``) is stopped early.

`RepetitionGuard` watches the reply while it streams: the reply loops when the text's tail is
one unit (1 to `MAX_UNIT` characters) repeated back to back over at least
`max(MIN_REPEATS * unit, MIN_SPAN)` characters. Then the stream is cut (finish_reason
"length"), and the stored reply keeps the text up to the loop plus one copy of its unit.
Pure: no I/O.

(llama.cpp's DRY sampler was tried against loops and made them worse here: SmolLM2 then wrote
near-repeats, "A: A drunken sailor is ... A: A drunken sailor is a drunk ...", up to the
token cap, where without it the same question looped exactly and was stopped after 72 tokens.)
"""

from __future__ import annotations

MAX_UNIT = 80  # longest repeating unit looked for, in characters
MIN_REPEATS = 4  # a unit must repeat this often back to back ...
MIN_SPAN = 64  # ... over at least this many characters (so "!!!" or "| --- |" never trip)


def repeated_tail(text: str) -> tuple[int, int] | None:
    """(unit length, span) of the degenerate repetition `text` ends with, or None."""
    for unit in range(1, MAX_UNIT + 1):
        span = max(MIN_REPEATS * unit, MIN_SPAN)
        if len(text) < span:
            return None
        tail = text[-span:]
        pattern = text[-unit:]
        if tail == (pattern * (span // unit + 1))[-span:]:
            return unit, _extend(text, unit, span)
    return None


def _extend(text: str, unit: int, span: int) -> int:
    """How far back the repetition of the last `unit` characters really goes."""
    start = len(text) - span
    while start - unit >= 0 and text[start - unit : start] == text[start : start + unit]:
        start -= unit
    while start > 0 and text[start - 1] == text[start - 1 + unit]:
        start -= 1
    return len(text) - start


def collapse(text: str) -> str:
    """`text` with a degenerate repetition at its end cut down to one copy of its unit."""
    found = repeated_tail(text)
    if found is None:
        return text
    unit, span = found
    start = len(text) - span
    return text[: start + unit].rstrip()


class RepetitionGuard:
    """Feed it the streamed text; `feed` says True once the reply has started to loop."""

    __slots__ = ("_checked", "text")

    def __init__(self) -> None:
        self.text = ""
        self._checked = 0

    def feed(self, delta: str) -> bool:
        self.text += delta
        if len(self.text) - self._checked < 4:  # check every few characters, not every token
            return False
        self._checked = len(self.text)
        return repeated_tail(self.text) is not None
