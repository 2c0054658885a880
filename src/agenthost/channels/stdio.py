"""The terminal: stdin as an input, stdout as an output.

`StdinInput` reads lines: each non-empty line is a message to `conversation` (default
`stdin`), or with `format="json"` each line is a JSON message as the webhook takes it
(`{"id": ..., "conversation": ..., "text": ...}`), so ids survive a restart. At end of input
it finishes; with `stop_at_eof=True` it then stops the runtime, which first answers what was
read (`echo hi | agenthost channels run` prints the reply and exits).

`StdoutOutput` writes each reply part as `[conversation] text` (or one JSON object per line
with `format="json"`) and flushes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
import time
from typing import IO, ClassVar, Literal

import msgspec

from agenthost.channels.base import InputClient, OutputClient, Sink
from agenthost.channels.webhook import parse_message
from agenthost.core.errors import ConfigError
from agenthost.ports.channels import Delivery, InboundMessage

Format = Literal["text", "json"]


def _check_format(name: str, value: str) -> None:
    if value not in ("text", "json"):
        raise ConfigError(f"{name}: format {value!r} is not 'text' or 'json'.")


class StdinInput(InputClient):
    """Lines of a text stream (stdin by default) as messages (see the module doc)."""

    platform: ClassVar[str] = "stdin"

    def __init__(
        self,
        *,
        name: str | None = None,
        stream: IO[str] | None = None,
        conversation: str = "stdin",
        sender: str | None = None,
        format: Format = "text",
        stop_at_eof: bool = False,
    ) -> None:
        super().__init__(name=name)
        _check_format(f"stdin input {self.name!r}", format)
        self.stream = stream
        self.conversation = conversation
        self.sender = sender or os.environ.get("USER", "local")
        self.format = format
        self.stop_runtime_when_done = stop_at_eof
        self._counter = itertools.count(1)
        self._prefix = f"{os.getpid()}-{time.time_ns()}"

    async def run(self, sink: Sink) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        stream = self.stream if self.stream is not None else sys.stdin

        def read() -> None:  # a daemon thread: a blocked read never holds the process
            try:
                for line in stream:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
            except (ValueError, OSError):  # closed under us
                pass
            finally:
                loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name=f"stdin-{self.name}", daemon=True).start()
        while (line := await lines.get()) is not None:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            message = self._message(line)
            if message is None:
                continue
            result = await sink.submit(message)
            if result != "accepted":
                print(f"[{self.name}] {result}", file=sys.stderr, flush=True)

    def _message(self, line: str) -> InboundMessage | None:
        if self.format == "json":
            try:
                return parse_message(line.encode())
            except ValueError as exc:
                print(f"[{self.name}] invalid line: {exc}", file=sys.stderr, flush=True)
                return None
        return InboundMessage(
            id=f"{self._prefix}-{next(self._counter)}",
            conversation=self.conversation,
            text=line,
            sender=self.sender,
        )


class StdoutOutput(OutputClient):
    """Writes replies to a text stream, stdout by default (see the module doc)."""

    platform: ClassVar[str] = "stdout"

    def __init__(
        self,
        *,
        name: str | None = None,
        stream: IO[str] | None = None,
        format: Format = "text",
    ) -> None:
        super().__init__(name=name)
        _check_format(f"stdout output {self.name!r}", format)
        self.stream = stream
        self.format = format

    async def send(self, delivery: Delivery) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        item = delivery.item
        if self.format == "json":
            line = msgspec.json.encode(
                {
                    "id": delivery.key,
                    "conversation": item.target,
                    "text": item.text,
                    "part": item.part,
                    "parts": item.parts,
                    "in_reply_to": item.inbound_key[2],
                }
            ).decode()
        else:
            line = f"[{item.target}] {item.text}"
        stream.write(line + "\n")
        stream.flush()
