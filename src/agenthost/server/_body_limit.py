"""Request body size limit (pure ASGI middleware): 413 with a JSON error.

A `Content-Length` over the limit is refused before the body is read (a body with one within
the limit is all the server reads: it is not counted). A body without one (chunked) is counted
as it arrives; once past the limit, whatever the app would answer is replaced by the 413 (the
app sees a truncated body, and nothing half-read is stored: handlers act only after the whole
body was parsed).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agenthost.server.errors import PayloadTooLarge, encode_error


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(send)
                    return
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and not chunked:
            # the server reads no more than Content-Length says: nothing to count
            await self.app(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a truncated body is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        status, body = encode_error(PayloadTooLarge(self.max_bytes))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
