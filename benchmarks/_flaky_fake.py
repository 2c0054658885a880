"""The fake OpenAI server with a model that fails a tenth of its calls (for the soak test).

    python -m benchmarks._flaky_fake --latency 0.05 --fail-every 10

Every `fail-every`-th chat call gets an error instead of an answer, alternating a 500 (the
model chain retries it) and a 400 (not retryable: the run fails). Everything else is the
default echo/tool responder. Prints `listening on URL` once it listens, like
`python -m agenthost.testing.fake_openai`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from agenthost.testing.fake_openai import ErrorReply, FakeOpenAIServer, Reply, echo_tool_responder


def flaky_responder(every: int) -> Callable[[dict[str, Any]], Reply]:
    """A responder whose every `every`-th call fails (500 and 400 in turn)."""
    calls = itertools.count(1)
    failures = itertools.count()

    def respond(request: dict[str, Any]) -> Reply:
        if every > 0 and next(calls) % every == 0:
            status = 500 if next(failures) % 2 == 0 else 400
            return ErrorReply(status)
        return echo_tool_responder(request)

    return respond


async def _serve(args: argparse.Namespace) -> None:
    server = FakeOpenAIServer(
        responder=flaky_responder(args.fail_every),
        latency=args.latency,
        stream_delay=args.stream_delay,
        record=False,
        port=args.port,
    )
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI server failing 1 call in N.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--stream-delay", type=float, default=0.0)
    parser.add_argument("--fail-every", type=int, default=10)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
