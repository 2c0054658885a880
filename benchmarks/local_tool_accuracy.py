"""How well the embedded model (`local:smollm2`) calls tools: 20 fixed questions.

Four demo tools (get_weather, calculator, get_time, search_notes). Each question names the
tool it needs (or none) and the key argument. For every question we stream one model call with
the tools (the decision's latency is the time to the first delta) and check:

- tool choice: the right tool, or no tool call for the five chat questions;
- arguments: valid JSON matching the schema and carrying the key value (the city; a zone that
  resolves to the right one; for the calculator, an expression with the right value);
- answer: for correct tool calls, the demo tool runs and the model answers from its result;
  the answer counts when it repeats the result's key fact.

The 20 questions are held out: prompts were tuned on `DEV_QUESTIONS` (40 others), and the
in-context examples in the demo tools' docstrings are different requests again.

Run: ``python -m benchmarks.local_tool_accuracy [--votes N] [--dev]``. Writes
benchmarks/results/local_tool_accuracy.json. `run_accuracy()` is what the suite calls.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).parent / "results" / "local_tool_accuracy.json"


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    tool: str  # "none": no tool call expected
    key: str | float | None = None  # a substring of the key argument, or the calculator's value


QUESTIONS: tuple[Question, ...] = (
    Question("What's the weather like in Paris today?", "get_weather", "paris"),
    Question("Is it raining in London right now?", "get_weather", "london"),
    Question("How hot is it in Tokyo?", "get_weather", "tokyo"),
    Question("Should I bring an umbrella in Berlin?", "get_weather", "berlin"),
    Question("What is 17 times 23?", "calculator", 391),
    Question("Calculate 1250 divided by 5.", "calculator", 250),
    Question("What is 2 to the power of 10?", "calculator", 1024),
    Question("Add 345 and 655.", "calculator", 1000),
    Question("What time is it in Tokyo?", "get_time", "tokyo"),
    Question("What's the current time in New York?", "get_time", "new_york"),
    Question("Tell me the time in UTC.", "get_time", "utc"),
    Question("What time is it in London right now?", "get_time", "london"),
    Question("Find my notes about the project deadline.", "search_notes", "deadline"),
    Question("Search my notes for the grocery list.", "search_notes", "grocer"),
    Question("Did I write anything down about the dentist appointment?", "search_notes", "dentist"),
    Question("Hello! How are you?", "none"),
    Question("Write a short poem about the sea.", "none"),
    Question("What is the capital of Italy?", "none"),
    Question("Thanks, that's all for now.", "none"),
    Question("Translate 'good morning' into Spanish.", "none"),
)

# Tuning set: prompt variants were compared on these, never on QUESTIONS.
DEV_QUESTIONS: tuple[Question, ...] = tuple(
    Question(text, tool)
    for tool, texts in {
        "get_weather": (
            "How cold is it in Moscow?",
            "Any chance of rain in Seattle today?",
            "Give me the forecast for Dublin.",
            "Is it windy in Chicago?",
            "Do I need a jacket in Toronto?",
            "What's the weather in Lisbon?",
            "Is it foggy in San Francisco?",
            "How humid is it in Singapore?",
        ),
        "calculator": (
            "What's 81 divided by 9?",
            "Calculate 12.5 times 4.",
            "What is 1000 minus 357?",
            "What's the square of 14?",
            "Sum 19, 23 and 58.",
            "How much is 7 * 8 + 2?",
            "Evaluate (5 + 3) * 2.",
            "What is 3 to the power of 4?",
        ),
        "get_time": (
            "What time is it in Los Angeles?",
            "Tell me the current time in Dubai.",
            "What's the date today in Mexico City?",
            "Current time in GMT please.",
            "Is it morning in Seoul right now?",
            "What hour is it in Cairo?",
            "Give me the time in Mumbai.",
            "What day is it today in Sydney?",
        ),
        "search_notes": (
            "What did I note about the birthday party?",
            "Find my note with the recipe for pancakes.",
            "Search notes for the meeting agenda.",
            "Do my notes mention the plumber?",
            "Show me my notes about the vacation plans.",
            "Look through my notes for the book list.",
            "Is there a note about the gym schedule?",
            "Find what I wrote about the tax return.",
        ),
        "none": (
            "Good afternoon!",
            "Who was the first president of the United States?",
            "Tell me a joke.",
            "Explain photosynthesis in one sentence.",
            "Write a limerick about a cat.",
            "What's your name?",
            "How do I say thank you in French?",
            "Recommend a good science fiction book.",
        ),
    }.items()
    for text in texts
)


def check_arguments(question: Question, arguments: dict[str, Any]) -> bool:
    """The key argument is there and right (see the module docstring)."""
    from agenthost.backends.tools.demo import evaluate, find_zone

    values = [v for v in arguments.values() if isinstance(v, str)]
    if len(values) != 1:
        return False
    if question.tool == "get_time":  # the zone it names, e.g. 'Tokyo' -> Asia/Tokyo
        try:
            return str(question.key) in find_zone(values[0]).key.lower()
        except ValueError:
            return False
    if isinstance(question.key, int | float):
        try:
            return abs(float(evaluate(values[0])) - float(question.key)) < 1e-6
        except (ValueError, ArithmeticError, TypeError):
            return False
    return str(question.key).lower() in values[0].lower()


def _key_fact(result: str) -> str:
    """What an answer must repeat: the number (value, temperature, time) or the first words."""
    import re

    numbers = re.findall(r"-?\d+(?::\d+)?", result.split("=")[-1])
    return numbers[0] if numbers else " ".join(result.split()[:2]).rstrip(".:,")


async def _one(model: Any, question: Question, tools: Sequence[Any]) -> dict[str, Any]:
    from agenthost.backends.tools import demo
    from agenthost.core.messages import Message, ToolResultPart
    from agenthost.ports.models import ModelSettings, ResponseDone

    messages = [Message.user(question.text)]
    settings = ModelSettings(max_tokens=80)
    started = time.perf_counter()
    first: float | None = None  # the decision: time to the first text or tool-call delta
    response = None
    async for event in model.stream(messages, tools=tools, settings=settings):
        if first is None:
            first = time.perf_counter() - started
        if isinstance(event, ResponseDone):
            response = event.response
    total = time.perf_counter() - started
    assert response is not None
    calls = response.message.tool_calls
    chosen = calls[0].name if calls else "none"
    row: dict[str, Any] = {
        "question": question.text,
        "expected": question.tool,
        "chosen": chosen,
        "tool_ok": chosen == question.tool,
        "seconds": round(first if first is not None else total, 3),
        "total_seconds": round(total, 3),
        "input_tokens": response.usage.input_tokens,
        "model_calls": response.usage.requests,
    }
    if not calls:
        row["answer"] = response.message.text[:200]
        return row
    call = calls[0]
    row["arguments"] = call.arguments
    try:
        arguments = call.parsed_arguments()
    except ValueError:
        row["args_ok"] = False
        return row
    row["args_ok"] = row["tool_ok"] and (
        question.key is None or check_arguments(question, arguments)
    )
    if not row["tool_ok"]:
        return row
    try:
        result = await getattr(demo, call.name)(**arguments)
        failed = False
    except Exception as exc:  # the tool's own error goes back to the model, as in a run
        result, failed = f"Error: {exc}", True
    follow = [
        *messages,
        response.message,
        Message.tool(
            ToolResultPart(tool_call_id=call.id, name=call.name, content=result, is_error=failed)
        ),
    ]
    started = time.perf_counter()
    answer = await model.request(follow, tools=tools, settings=settings)
    row["answer_seconds"] = round(time.perf_counter() - started, 3)
    row["result"] = result
    row["answer"] = answer.message.text[:200]
    row["answer_ok"] = not failed and _key_fact(result).lower() in answer.message.text.lower()
    return row


async def measure(
    questions: Sequence[Question] = QUESTIONS, *, model_name: str = "smollm2", votes: int = 3
) -> dict[str, Any]:
    from agenthost.backends.models.local import make_local_model
    from agenthost.backends.tools.demo import demo_tool_specs

    tools = demo_tool_specs()
    model = make_local_model(model_name, choice_votes=votes, seed=1)
    rows = []
    async with model:
        started = time.perf_counter()
        await model.start()
        start_seconds = time.perf_counter() - started
        for question in questions:
            rows.append(await _one(model, question, tools))
    return _summary(model.name, votes, start_seconds, rows)


def _summary(
    name: str, votes: int, start_seconds: float, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    total = len(rows)
    tool_ok = sum(r["tool_ok"] for r in rows)
    with_tool = [r for r in rows if r["expected"] != "none"]
    args_ok = sum(bool(r.get("args_ok")) for r in with_tool)
    answered = [r for r in rows if "answer_ok" in r]
    none_rows = [r for r in rows if r["expected"] == "none"]
    latencies = sorted(r["seconds"] for r in rows)
    answer_latencies = [r["answer_seconds"] for r in answered]
    return {
        "model": name,
        "votes": votes,
        "total": total,
        "correct": tool_ok,
        "accuracy": round(tool_ok / total, 3),
        "tool_choice_accuracy": round(tool_ok / total, 3),
        "tool_questions": len(with_tool),
        "tool_questions_correct": sum(r["tool_ok"] for r in with_tool),
        "none_questions_correct": sum(r["tool_ok"] for r in none_rows),
        "arguments_correct": args_ok,
        "argument_accuracy": round(args_ok / len(with_tool), 3) if with_tool else None,
        "end_to_end_correct": args_ok,  # right tool and right key argument
        "answers_checked": len(answered),
        "answers_with_result": sum(r["answer_ok"] for r in answered),
        "server_start_seconds": round(start_seconds, 3),
        "decision_seconds_median": round(statistics.median(latencies), 3),
        "decision_seconds_p90": round(latencies[int(0.9 * (total - 1))], 3),
        "decision_seconds_mean": round(statistics.fmean(latencies), 3),
        "answer_seconds_median": (
            round(statistics.median(answer_latencies), 3) if answer_latencies else None
        ),
        "rows": rows,
    }


def run_accuracy(*, votes: int = 3, dev: bool = False, write: bool = True) -> dict[str, Any]:
    """Measure and (unless `write` is False) save to benchmarks/results/. Blocks."""
    questions = DEV_QUESTIONS if dev else QUESTIONS
    coro = measure(questions, votes=votes)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = asyncio.run(coro)
    else:  # called from async code: run in a thread with its own loop
        box: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: box.update(r=asyncio.run(coro)))
        thread.start()
        thread.join()
        result = box["r"]
    result["question_set"] = "dev (40)" if dev else "benchmark (20)"
    if write and not dev:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return result


def _print(result: dict[str, Any]) -> None:
    for row in result["rows"]:
        mark = "ok " if row["tool_ok"] else "BAD"
        args = row.get("arguments", "")
        answer = f"  -> {row['answer'][:60]!r}" if "answer_ok" in row else ""
        head = f"{mark} {row['seconds']:5.2f}s {row['chosen']:<13} {args:<32}"
        print(f"{head} {row['question']}{answer}")
    total = result["total"]
    print(
        f"\n{result['model']} ({result['question_set']}, votes={result['votes']}): "
        f"tool choice {result['correct']}/{total} ({result['accuracy']:.0%}), "
        f"arguments {result['arguments_correct']}/{result['tool_questions']} "
        f"(right tool and key argument), answers repeating the result "
        f"{result['answers_with_result']}/{result['answers_checked']}\n"
        f"server start {result['server_start_seconds']}s, decision median "
        f"{result['decision_seconds_median']}s, p90 {result['decision_seconds_p90']}s, "
        f"answer median {result['answer_seconds_median']}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=3, help="orderings voting on the tool")
    parser.add_argument("--dev", action="store_true", help="the 40 tuning questions instead")
    args = parser.parse_args(argv)
    result = run_accuracy(votes=args.votes, dev=args.dev)
    _print(result)
    if not args.dev:
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
