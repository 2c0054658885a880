"""CPU of the embedded model's loop guard (`RepetitionGuard`), per streamed delta and per check.

    PYTHONPATH=src python -m benchmarks.repetition [--rounds 20] [--json]

A reply of about 2,000 characters is fed as the model streams it (deltas of 4 characters,
about one token each) through a fresh guard: prose (no loop: every check runs all three
tests to the end, the worst case), a markdown table and code. Reported: CPU µs per delta and
per check (the guard checks every `CHECK_EVERY` characters), the median over `rounds`, and the
µs of one check of each test on the last `WINDOW` characters. Measured with
`time.process_time`, so a busy machine inflates the figures less than wall time would.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from agenthost.backends.models.local import _repetition
from agenthost.backends.models.local._repetition import CHECK_EVERY, RepetitionGuard

_TEXT = (
    "the a harbour was quiet that morning fishing boats rocked against pier while gulls argued "
    "over scraps and old lighthouse keeper walked slowly along sea wall with his dog he had "
    "seen storms bent masts flat summers so calm water looked like glass today neither just "
    "grey sky steady wind from west of in to it on for at by"
)
VOCABULARY = _TEXT.split(" ")
_random = random.Random(1)
PROSE = " ".join(_random.choice(VOCABULARY) for _ in range(500))  # no loop, like prose
TABLE = "| Fruit | Colour | Taste |\n| --- | --- | --- |\n" + "".join(
    f"| fruit {n} | colour {n % 7} | taste {n % 3} |\n" for n in range(60)
)
CODE = "".join(
    f'    parser.add_argument("--option-{n}", type=int, default={n})\n' for n in range(40)
)
TEXTS = {"prose": PROSE[:2000], "table": TABLE[:2000], "code": CODE[:2000]}
DELTA = 4


def _feed(text: str) -> float:
    """CPU seconds to stream `text` through a fresh guard."""
    deltas = [text[i : i + DELTA] for i in range(0, len(text), DELTA)]
    guard = RepetitionGuard()
    start = time.process_time()
    for delta in deltas:
        if guard.feed(delta):
            raise AssertionError(f"the guard tripped on legitimate text: {guard.loop}")
    return time.process_time() - start


def _per_call(function: Callable[[str], object], text: str, calls: int = 2000) -> float:
    """CPU µs of one call of `function(text)`."""
    start = time.process_time()
    for _ in range(calls):
        function(text)
    return (time.process_time() - start) / calls * 1e6


def run_repetition(rounds: int = 20) -> dict[str, object]:
    result: dict[str, object] = {"delta_chars": DELTA, "check_every": CHECK_EVERY}
    for name, text in TEXTS.items():
        deltas = -(-len(text) // DELTA)
        checks = len(text) // CHECK_EVERY
        seconds = statistics.median(_feed(text) for _ in range(rounds))
        result[name] = {
            "chars": len(text),
            "us_per_delta": round(seconds / deltas * 1e6, 2),
            "us_per_check": round(seconds / checks * 1e6, 2),
        }
    prose = TEXTS["prose"]
    result["us_per_test_call"] = {
        "exact": round(_per_call(_repetition.repeated_tail, prose), 2),
        "near": round(_per_call(_repetition.near_repeated_tail, prose), 2),
        "words": round(_per_call(_repetition.words_loop, prose), 2),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run_repetition(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in TEXTS:
        row = result[name]
        assert isinstance(row, dict)
        print(
            f"{name:6} {row['chars']} chars: {row['us_per_delta']:.1f} µs CPU per delta, "
            f"{row['us_per_check']:.1f} µs per check"
        )
    print(f"one check of each test on the prose: {result['us_per_test_call']} (µs)")


if __name__ == "__main__":
    main()
