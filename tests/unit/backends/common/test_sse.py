from __future__ import annotations

from agenthost.backends.common.sse import ServerSentEvent, SSEDecoder

STREAM = (
    b": comment\n"
    b"event: delta\n"
    b"id: 7\n"
    b"data: first line\n"
    b"data:second line\n"
    b"retry: 100\n"
    b"\n"
    b'data: {"x": "\xc3\xa9"}\n'
    b"\n"
    b"event: empty-is-ignored\n"
    b"\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent("delta", "first line\nsecond line", "7"),
    ServerSentEvent("message", '{"x": "é"}', "7"),
    ServerSentEvent("message", "[DONE]", "7"),
]


def feed_all(decoder: SSEDecoder, chunks: list[bytes]) -> list[ServerSentEvent]:
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) == EXPECTED
    assert not decoder.pending and decoder.last_event_id == "7"


def test_every_split_point_gives_the_same_events() -> None:
    for size in (1, 2, 3, 7, 13):
        chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert feed_all(SSEDecoder(), chunks) == EXPECTED, size


def test_crlf_and_cr_line_endings_even_split() -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert feed_all(SSEDecoder(), [crlf[i : i + 1] for i in range(len(crlf))]) == EXPECTED
    cr = STREAM.replace(b"\n", b"\r")
    assert feed_all(SSEDecoder(), [cr[:50], cr[50:]]) == EXPECTED


def test_half_event_is_pending_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial\n") == []
    assert decoder.pending
    assert decoder.feed(b"\n") == [ServerSentEvent("message", "partial", None)]


def test_bare_data_field_and_single_space_rule() -> None:
    events = SSEDecoder().feed(b"data\ndata:  two spaces\n\n")
    assert events == [ServerSentEvent("message", "\n two spaces", None)]


def test_feed_data_gives_the_data_of_the_same_events() -> None:
    for size in (1, 2, 3, 7, 13, len(STREAM)):
        for stream in (STREAM, STREAM.replace(b"\n", b"\r\n"), STREAM.replace(b"\n", b"\r")):
            chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
            decoder = SSEDecoder()
            data = [d for chunk in chunks for d in decoder.feed_data(chunk)]
            assert data == [event.data for event in EXPECTED], (size, stream)
            assert not decoder.pending and decoder.last_event_id == "7"
