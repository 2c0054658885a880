"""An incremental Server-Sent Events parser: byte chunks in, events out.

Shared by every streaming client (OpenAI-compatible models, Dify, Coze, DashScope). It follows
the WHATWG rules that matter in practice: lines end with LF, CRLF or CR (also when a CRLF is
split across chunks), `data:` lines of one event are joined with LF, one leading space after the
colon is dropped, lines starting with ':' are comments, `retry:` and unknown fields are ignored,
an empty line dispatches the event, and an event with no data is not dispatched. A half event
left when the stream ends is dropped (`pending` tells whether there is one).
"""

from __future__ import annotations

from typing import NamedTuple


class ServerSentEvent(NamedTuple):
    event: str  # "message" when the event had no `event:` field
    data: str
    id: str | None


class SSEDecoder:
    """Feed it chunks; it returns the events each chunk completes.

    `last_event_id` keeps the most recent `id:` seen, as a reconnecting client needs.
    """

    __slots__ = ("_buffer", "_data", "_event", "_skip_lf", "last_event_id")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._skip_lf = False
        self.last_event_id: str | None = None

    @property
    def pending(self) -> bool:
        """True when bytes or fields of an unfinished event are waiting."""
        return bool(self._buffer or self._data or self._event)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in self._lines(chunk):
            if line:
                self._field(line)
            elif self._data:
                name = self._event or "message"
                events.append(ServerSentEvent(name, self._dispatch(), self.last_event_id))
            else:
                self._event = None
        return events

    def feed_data(self, chunk: bytes) -> list[str]:
        """`feed`, but only each event's data (for a client that reads no event names or ids;
        the decoder's state, `last_event_id` included, is kept the same). The common line,
        `data: ...`, costs one comparison here."""
        out: list[str] = []
        data = self._data
        for line in self._lines(chunk):
            if line[:6] == b"data: ":
                data.append(line[6:])
            elif line:
                self._field(line)
            elif data:
                out.append(self._dispatch())
                data = self._data
            else:
                self._event = None
        return out

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes (without their ends); keeps the unfinished rest."""
        if self._skip_lf:  # the previous chunk ended with the CR of a CRLF
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        return lines

    def _field(self, line: bytes) -> None:
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            self._event = value.decode()
        elif name == b"id" and b"\0" not in value:
            self.last_event_id = value.decode()
        elif name == b"data":  # a bare "data" line carries an empty value
            self._data.append(b"")

    def _dispatch(self) -> str:
        """The data of the event an empty line ends; starts the next event."""
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        self._data = []
        self._event = None
        return data.decode()
