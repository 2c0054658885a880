"""H1Client / H1Connection against a raw asyncio HTTP server (`raw_http.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agenthost.backends.common import h1
from agenthost.backends.common.h1_pool import H1Client
from agenthost.backends.common.transport import NotAnswered, ResponseBroken, lines
from tests.unit.backends.common.raw_http import (
    CHUNKED_HEAD,
    LAST_CHUNK,
    RawConnection,
    RawHTTPServer,
    answer_and_close,
    chunk,
    sized,
)
from tests.unit.manual_loop import turns_until

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer k"}


@pytest.fixture
async def client() -> AsyncIterator[H1Client]:
    client = H1Client(max_connections=10, connect_timeout=10)
    yield client
    await client.aclose()


async def keep_answering(conn: RawConnection) -> None:
    while True:
        _, body = await conn.request()
        conn.write(sized(b"echo:" + body))


async def test_sized_answers_reuse_one_connection(client: H1Client) -> None:
    async with RawHTTPServer(keep_answering) as server:
        for n in range(3):
            response = await client.post(server.url("/v1/x?a=1"), body=b"%d" % n, headers=HEADERS)
            assert response.status == 200
            assert response.headers["content-type"] == "application/json"
            assert await response.read() == b"echo:%d" % n
            response.release()
        assert len(server.connections) == 1 and client.connections_made == 1
        head, body = server.connections[0].requests[0]
    assert head.startswith(b"POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAuthorization: Bearer k\r\n" in head and b"\r\nContent-Length: 1\r\n" in head
    assert body == b"0"


async def test_a_chunked_body_streams_as_it_arrives(client: H1Client) -> None:
    more = asyncio.Event()

    async def handler(conn: RawConnection) -> None:
        await conn.request()
        conn.write(CHUNKED_HEAD + chunk(b"data: 1\n\n"))
        await more.wait()
        conn.write(chunk(b"data: 2\n") + chunk(b"\n") + LAST_CHUNK)
        await conn.request()  # kept alive: the next request comes on this connection

    async with RawHTTPServer(handler) as server:
        response = await client.post(server.url(), body=b"{}", headers=HEADERS)
        assert await response.readany() == b"data: 1\n\n"
        assert response.read_nowait() == b""
        more.set()
        assert [line async for line in lines(response)] == [b"data: 2", b""]
        assert response.complete
        response.release()
        assert client._take_idle(("http", "127.0.0.1", server.port)) is not None


async def test_a_body_up_to_the_connections_end(client: H1Client) -> None:
    handler = answer_and_close(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
    async with RawHTTPServer(handler) as server:
        response = await client.post(server.url(), body=b"", headers={})
        assert await response.read() == b"all of it"
        assert not response.keep_alive
        response.release()


async def one_answer(conn: RawConnection) -> None:
    """Answer one request, then close as soon as the next one comes (a server that dropped
    the kept-alive connection while the client reused it)."""
    await conn.request()
    conn.write(sized(b"ok"))
    await conn.request()


async def test_a_connection_closed_while_idle_is_retried_on_a_new_one(client: H1Client) -> None:
    async with RawHTTPServer(one_answer) as server:
        for _ in range(3):
            response = await client.post(server.url(), body=b"{}", headers=HEADERS)
            assert await response.read() == b"ok"
            response.release()
        assert len(server.connections) == 3


async def test_a_stale_connection_got_after_a_wait_is_retried_on_a_new_one(
    client: H1Client,
) -> None:
    """max_connections=1: the second request waits for the first's connection, gets it idle
    from the pool, and the server has dropped it (closes it at the request): nothing came
    back, so it is sent once more on a new connection, as a request that did not wait."""
    client.max_connections = 1
    async with RawHTTPServer(one_answer) as server:
        first = await client.post(server.url(), body=b"1", headers=HEADERS)
        second = asyncio.create_task(client.post(server.url(), body=b"2", headers=HEADERS))
        await turns_until(lambda: len(client._waiters) == 1)
        assert await first.read() == b"ok"
        first.release()  # idle: the waiting request takes it
        async with asyncio.timeout(60):  # a guard against hanging, not a time limit
            response = await second
        assert response.status == 200 and await response.read() == b"ok"
        response.release()
        assert len(server.connections) == 2 and client.connections_made == 2
        assert [body for _, body in server.connections[0].requests] == [b"1", b"2"]
        assert [body for _, body in server.connections[1].requests] == [b"2"]


async def test_the_retry_never_takes_an_idle_connection(client: H1Client) -> None:
    """The retry after a stale connection goes on a new connection, even when it has to wait
    for a free one and the one that frees is idle (it may be as stale): it closes that one.
    max_connections=2, both in use (p, q), two requests waiting (w, v): q's connection frees,
    w takes it and finds it stale; v takes the place w's stale one left, so w's retry waits;
    then p's connection frees (stale as well)."""
    client.max_connections = 2
    async with RawHTTPServer(one_answer) as server:
        p = await client.post(server.url(), body=b"p", headers=HEADERS)
        q = await client.post(server.url(), body=b"q", headers=HEADERS)
        waiting = [
            asyncio.create_task(client.post(server.url(), body=body, headers=HEADERS))
            for body in (b"w", b"v")
        ]
        await turns_until(lambda: len(client._waiters) == 2)
        stale = q._conn
        assert stale is not None and await q.read() == b"ok"
        q.release()
        await turns_until(
            lambda: stale.closed and client._open == 2 and len(client._waiters) == 1, turns=1000
        )
        assert await p.read() == b"ok"
        p.release()
        async with asyncio.timeout(60):  # a guard against hanging, not a time limit
            answers = await asyncio.gather(*waiting)
        for response in answers:
            assert response.status == 200 and await response.read() == b"ok"
            response.release()
        assert client.connections_made == 4
        sent = sorted([body for _, body in conn.requests] for conn in server.connections)
        assert sent == [[b"p"], [b"q", b"w"], [b"v"], [b"w"]]  # p's connection closed idle


async def test_no_answer_on_a_new_connection_is_not_retried(client: H1Client) -> None:
    async def hang_up(conn: RawConnection) -> None:
        await conn.request()

    async with RawHTTPServer(hang_up) as server:
        with pytest.raises(NotAnswered):
            await client.post(server.url(), body=b"{}", headers=HEADERS)
        assert len(server.connections) == 1


async def test_a_connection_closed_mid_body_breaks_the_response(client: H1Client) -> None:
    cut = answer_and_close(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    async with RawHTTPServer(cut) as server:
        response = await client.post(server.url(), body=b"{}", headers=HEADERS)
        with pytest.raises(ResponseBroken):
            await response.read()
        response.release()
        assert client._open == 0


async def test_bytes_that_are_not_http_break_the_response(client: H1Client) -> None:
    async def garbage(conn: RawConnection) -> None:
        await conn.request()
        conn.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await conn.request()

    async with RawHTTPServer(garbage) as server:
        with pytest.raises(ResponseBroken):
            await client.post(server.url(), body=b"{}", headers=HEADERS)


async def test_cannot_connect_is_not_answered(client: H1Client) -> None:
    async with RawHTTPServer(keep_answering) as server:
        url = server.url()
    with pytest.raises(NotAnswered, match="cannot connect"):
        await client.post(url, body=b"", headers={})
    assert client._open == 0


async def test_a_cancelled_wait_closes_the_connection(client: H1Client) -> None:
    got = asyncio.Event()

    async def slow(conn: RawConnection) -> None:
        await conn.request()
        got.set()
        await asyncio.Event().wait()

    async with RawHTTPServer(slow) as server:
        task = asyncio.create_task(client.post(server.url(), body=b"", headers={}))
        await got.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client._open == 0 and not client._idle.get(("http", "127.0.0.1", server.port))


async def test_an_unread_body_closes_the_connection(client: H1Client) -> None:
    connections: list[RawConnection] = []

    async def part_then_answer(conn: RawConnection) -> None:
        connections.append(conn)
        if len(connections) == 1:  # the first answer: its head and 10 of its 1000 body bytes
            await conn.request()
            conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await keep_answering(conn)

    async with RawHTTPServer(part_then_answer) as server:
        response = await client.post(server.url(), body=b"x", headers={})
        response.release()  # 990 bytes still to come: the connection cannot be reused
        response = await client.post(server.url(), body=b"y", headers={})
        assert await response.read() == b"echo:y"
        response.release()
        assert client.connections_made == 2


async def test_a_woken_waiter_cancelled_passes_the_wake_up_on(client: H1Client) -> None:
    """max_connections=1: the connection released wakes the first waiter; that one is
    cancelled before it runs, so the second must get the connection (not wait forever)."""
    client.max_connections = 1
    async with RawHTTPServer(keep_answering) as server:
        first = await client.post(server.url(), body=b"1", headers={})
        waiting = [
            asyncio.create_task(client.post(server.url(), body=b, headers={})) for b in (b"2", b"3")
        ]
        await turns_until(lambda: len(client._waiters) == 2)
        assert await first.read() == b"echo:1"
        first.release()  # wakes the first waiter...
        waiting[0].cancel()  # ...which is cancelled before it runs
        async with asyncio.timeout(60):  # a guard against hanging, not a time limit
            response = await waiting[1]
        assert await response.read() == b"echo:3"
        response.release()
        assert waiting[0].cancelled()


async def test_at_most_max_connections(client: H1Client) -> None:
    client.max_connections = 1
    async with RawHTTPServer(keep_answering) as server:
        first = await client.post(server.url(), body=b"1", headers={})
        second = asyncio.create_task(client.post(server.url(), body=b"2", headers={}))
        await asyncio.sleep(0)
        assert not second.done()
        assert await first.read() == b"echo:1"
        first.release()
        response = await second
        assert await response.read() == b"echo:2"
        response.release()
        assert client.connections_made == 1


async def test_a_large_body_pauses_and_resumes_reading(client: H1Client) -> None:
    big = b"z" * (4 * h1.HIGH_WATER)

    async def handler(conn: RawConnection) -> None:
        await conn.request()
        conn.write(sized(big))
        await conn.request()

    async with RawHTTPServer(handler) as server:
        response = await client.post(server.url(), body=b"", headers={})
        assert await response.read() == big
        response.release()


async def test_a_closed_client_refuses(client: H1Client) -> None:
    await client.aclose()
    with pytest.raises(NotAnswered):
        await client.post("http://127.0.0.1:1/", body=b"", headers={})


async def test_traceparent_is_sent_when_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from agenthost.engine import tracing

    def inject(headers: dict[str, str]) -> None:
        headers["traceparent"] = "00-abc-def-01"

    monkeypatch.setattr(tracing, "enabled", lambda: True)
    monkeypatch.setattr(tracing, "inject", inject)
    client = H1Client()
    try:
        async with RawHTTPServer(keep_answering) as server:
            response = await client.post(server.url(), body=b"", headers=HEADERS)
            await response.read()
            response.release()
            head, _ = server.connections[0].requests[0]
    finally:
        await client.aclose()
    assert b"\r\ntraceparent: 00-abc-def-01\r\n" in head
    assert "traceparent" not in HEADERS


async def test_a_head_is_made_again_when_the_headers_change(client: H1Client) -> None:
    """The head made for a provider's headers is reused only while they are the same mapping,
    unchanged: a key rotated in place, or other headers, are sent as they are now."""
    headers = dict(HEADERS)
    async with RawHTTPServer(keep_answering) as server:
        for given in (headers, headers, "rotate", {"X-Other": "1"}, headers):
            if given == "rotate":
                headers["Authorization"] = "Bearer k2"
                given = headers
            assert isinstance(given, dict)
            response = await client.post(server.url(), body=b"x", headers=given)
            await response.read()
            response.release()
        heads = [head for head, _ in server.connections[0].requests]
    prefix = b"POST /v1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: agenthost\r\n" % server.port
    first = prefix + b"Content-Type: application/json\r\nAuthorization: Bearer k\r\n"
    rotated = first.replace(b"Bearer k", b"Bearer k2")
    other = prefix + b"X-Other: 1\r\n"
    expected = [first, first, rotated, other, rotated]
    assert heads == [h + b"Content-Length: 1\r\n\r\n" for h in expected]


def test_on_uvloop() -> None:
    """uvloop's transports are not asyncio.Transport subclasses; the server runs on it."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[bytes]:
        client = H1Client()
        bodies = []
        try:
            async with RawHTTPServer(keep_answering) as server:
                for n in range(2):
                    response = await client.post(server.url(), body=b"%d" % n, headers={})
                    bodies.append(await response.read())
                    response.release()
                assert client.connections_made == 1
        finally:
            await client.aclose()
        return bodies

    assert uvloop.run(main()) == [b"echo:0", b"echo:1"]


async def test_a_url_that_is_not_http_is_not_answered(client: H1Client) -> None:
    with pytest.raises(NotAnswered, match="not an http"):
        await client.post("ftp://127.0.0.1/x", body=b"", headers={})


async def test_headers_are_made_when_asked_for_as_before(client: H1Client) -> None:
    """The head's header lines are kept as they came and made a dict only when asked for:
    names lowered, values latin-1, a repeated header's values joined with ", "; the body's
    framing (Content-Length, chunked, neither) is read from the lines without the dict."""

    async def handler(conn: RawConnection) -> None:
        await conn.request()
        conn.write(sized(b"{}", headers=["X-Multi: a", "x-MULTI: b", "X-Latin: caf\xe9"]))
        await conn.request()
        conn.write(CHUNKED_HEAD.replace(b"chunked", b"gzip, chunked") + chunk(b"ab") + LAST_CHUNK)
        await conn.request()
        conn.write(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nto the end")
        conn.close()

    async with RawHTTPServer(handler) as server:
        response = await client.post(server.url(), body=b"", headers=HEADERS)
        assert await response.read() == b"{}"
        assert response._headers is None  # not made while nobody asked
        assert response.headers == {
            "content-type": "application/json",
            "x-multi": "a, b",
            "x-latin": "caf\xe9".encode().decode("latin-1"),  # its bytes, as latin-1
            "content-length": "2",
        }
        assert response.headers is response.headers
        response.release()
        response = await client.post(server.url(), body=b"", headers=HEADERS)
        assert await response.read() == b"ab" and response.keep_alive
        assert response.headers["transfer-encoding"] == "gzip, chunked"
        response.release()
        response = await client.post(server.url(), body=b"", headers=HEADERS)
        assert await response.read() == b"to the end" and not response.keep_alive
        assert response.headers == {"x-a": "1"}
        response.release()


async def test_read_gives_the_rest_of_the_body_whether_or_not_it_has_all_arrived() -> None:
    """`read()` of a body that has all arrived (in several parts) gives it whole at once, and
    b"" after; of one still arriving, waits for its end."""
    response = h1.H1Response(h1.H1Connection())
    response._feed(b"ab")
    response._feed(b"cd")
    response._finish()
    assert await response.read() == b"abcd"
    assert await response.read() == b""

    arriving = h1.H1Response(h1.H1Connection(loop=asyncio.get_running_loop()))
    arriving._feed(b"ab")
    reading = asyncio.create_task(arriving.read())
    await turns_until(lambda: arriving._waiter is not None)  # it waits for the rest
    arriving._feed(b"cd")
    arriving._finish()
    assert await reading == b"abcd"
