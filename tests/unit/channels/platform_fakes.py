"""Fakes of the chat platforms' HTTP APIs on 127.0.0.1, written from each platform's documented
wire format (not from agenthost's clients):

- Telegram Bot API (core.telegram.org/bots/api): `POST /bot<token>/<method>` answering
  `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description", "parameters":
  {"retry_after"}}`; getUpdates long polling by `offset`/`timeout`; files at
  `/file/bot<token>/<file_path>`; "message is not modified" for an edit to the same text.
- Discord API v10 (discord.com/developers/docs): REST with `Authorization: Bot <token>`,
  `GET /gateway/bot`, messages `POST`/`PATCH`, 429 `{"message", "retry_after", "global"}` with
  `Retry-After` and `X-RateLimit-*` headers, `nonce` + `enforce_nonce`; a Gateway websocket
  speaking HELLO (10), IDENTIFY (2), READY and MESSAGE_CREATE dispatches (0), HEARTBEAT (1),
  HEARTBEAT ACK (11).
- Slack Web API (api.slack.com/web): `POST /api/<method>` with `Authorization: Bearer`,
  `{"ok": false, "error"}` on HTTP 200, HTTP 429 `ratelimited` with `Retry-After`; events are
  delivered signed (`X-Slack-Signature` v0, `X-Slack-Request-Timestamp`) like Slack does.
- X API v2 (docs.x.com): `POST /2/tweets` with a Bearer user token, 201 `{"data": {"id",
  "text"}}`, problems `{"title", "detail", "type", "status"}`, 429 with `x-rate-limit-reset`.

Each fake has `fail(route, status, body, headers)` to make the next call of a route fail, and
`wait_for(predicate)` to wait (on a condition, no sleeps) until what a test expects happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web


class Fake:
    """An aiohttp server on 127.0.0.1 with recorded calls and injectable failures."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[tuple[int, Any, dict[str, str]]]] = defaultdict(list)
        self.changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def fail(
        self, route: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        """The next call of `route` answers this instead."""
        self.failures[route].append((status, body, headers or {}))

    async def record(self, route: str, body: dict[str, Any]) -> web.Response | None:
        async with self.changed:
            self.calls.append((route, body))
            self.changed.notify_all()
        if self.failures[route]:
            status, answer, headers = self.failures[route].pop(0)
            return web.json_response(answer, status=status, headers=headers)
        return None

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 30)

    def bodies(self, route: str) -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == route]


class FakeTelegram(Fake):
    TOKEN = "123456:TEST-token"
    BOT: ClassVar[dict[str, Any]] = {
        "id": 999,
        "is_bot": True,
        "first_name": "Helper",
        "username": "helper_bot",
    }

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.messages: dict[tuple[str, int], str] = {}
        self.webhook: dict[str, Any] = {}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self.app.router.add_route("*", "/bot{token}/{method}", self.method)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self.file)

    async def user_message(
        self, chat: dict[str, Any], text: str | None, **extra: Any
    ) -> dict[str, Any]:
        """Queue an update with a message from a user (what getUpdates returns next)."""
        message = {
            "message_id": next(self._ids),
            "from": {"id": 42, "is_bot": False, "first_name": "Ann", "username": "ann"},
            "chat": chat,
            "date": int(time.time()),
            **({"text": text} if text is not None else {}),
            **extra,
        }
        update = {"update_id": next(self._update_ids), "message": message}
        if not self.webhook:  # with a webhook set, the test pushes it
            self.updates.append(update)
            await self.notify()
        return update

    async def method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            params.update(await request.json())
        if method != "getUpdates":
            failed = await self.record(method, params)
            if failed is not None:
                return failed
        handler: Callable[[dict[str, Any]], Awaitable[web.Response]] = getattr(self, f"_{method}")
        return await handler(params)

    def _ok(self, result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _getMe(self, params: dict[str, Any]) -> web.Response:
        return self._ok(self.BOT)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0))
        if offset:  # "confirmed" updates are forgotten, as documented
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        await self.record("getUpdates", params)
        deadline = time.monotonic() + float(params.get("timeout", 0))
        while not self.updates and time.monotonic() < deadline:
            async with self.changed:
                with_timeout = max(0.0, deadline - time.monotonic())
                try:
                    await asyncio.wait_for(self.changed.wait(), with_timeout)
                except TimeoutError:
                    break
        return self._ok(self.updates[:100])

    async def _sendMessage(self, params: dict[str, Any]) -> web.Response:
        text = params["text"]
        if not 1 <= len(text) <= 4096:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"},
                status=400,
            )
        message_id = next(self._ids)
        self.messages[(str(params["chat_id"]), message_id)] = text
        await self.notify()
        return self._ok({"message_id": message_id, "chat": {"id": params["chat_id"]}, "text": text})

    async def _editMessageText(self, params: dict[str, Any]) -> web.Response:
        key = (str(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message to edit not found",
                },
                status=400,
            )
        if self.messages[key] == params["text"]:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message is not modified: specified new message "
                    "content and reply markup are exactly the same as a current content and "
                    "reply markup of the message",
                },
                status=400,
            )
        self.messages[key] = params["text"]
        await self.notify()
        return self._ok({"message_id": key[1], "text": params["text"]})

    async def _setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        await self.notify()
        return self._ok(True)

    async def push(self, update: dict[str, Any], secret: str | None = None) -> int:
        """POST an update to the webhook set with setWebhook, as Telegram does."""
        headers = {"Content-Type": "application/json"}
        token = secret if secret is not None else self.webhook.get("secret_token")
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook["url"], json=update, headers=headers) as response,
        ):
            return response.status

    async def _sendChatAction(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = params["file_id"]
        return self._ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"documents/{file_id}.bin",
            }
        )

    async def file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.TOKEN:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("documents/").removesuffix(".bin")
        return web.Response(body=self.files[file_id])


class FakeDiscord(Fake):
    TOKEN = "discord-test-token"
    BOT: ClassVar[dict[str, Any]] = {
        "id": "777",
        "username": "helper",
        "discriminator": "0",
        "bot": True,
    }

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, dict[str, Any]] = {}
        self.nonces: dict[str, str] = {}
        self.identify: dict[str, Any] | None = None
        self.identifies = 0
        self.no_ack: set[int] = set()  # connections (by identify count) left without ACKs
        self.heartbeats: list[Any] = []
        self.heartbeat_interval = 45_000
        self.sockets: list[web.WebSocketResponse] = []
        self._ids = itertools.count(10_000)
        self._seq = itertools.count(1)
        api = "/api/v10"
        self.app.router.add_get(f"{api}/gateway/bot", self.gateway_bot)
        self.app.router.add_post(f"{api}/channels/{{channel}}/messages", self.create)
        self.app.router.add_patch(f"{api}/channels/{{channel}}/messages/{{mid}}", self.edit)
        self.app.router.add_get("/gateway", self.gateway)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bot {self.TOKEN}":
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return None

    async def gateway_bot(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        return web.json_response(
            {
                "url": f"ws://127.0.0.1:{self.port}/gateway",
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def create(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = await request.json()
        failed = await self.record("create", body)
        if failed is not None:
            return failed
        nonce = body.get("nonce")
        if body.get("enforce_nonce") and nonce in self.nonces:
            return web.json_response(self.messages[self.nonces[nonce]])
        if not 1 <= len(body.get("content", "")) <= 2000:
            return web.json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
        mid = str(next(self._ids))
        message = {
            "id": mid,
            "channel_id": request.match_info["channel"],
            "content": body["content"],
            "author": self.BOT,
        }
        self.messages[mid] = message
        if nonce:
            self.nonces[nonce] = mid
        await self.notify()
        return web.json_response(message)

    async def edit(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = await request.json()
        failed = await self.record("edit", body)
        if failed is not None:
            return failed
        message = self.messages.get(request.match_info["mid"])
        if message is None:
            return web.json_response({"message": "Unknown Message", "code": 10008}, status=404)
        message["content"] = body["content"]
        await self.notify()
        return web.json_response(message)

    def rate_limited(self, route: str, retry_after: float = 0.01) -> None:
        self.fail(
            route,
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            {
                "Retry-After": str(max(1, int(retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Scope": "user",
            },
        )

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.query.get("v") == "10" and request.query.get("encoding") == "json"
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}})
        try:
            await self._serve_gateway(ws)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            await self.notify()
        return ws

    async def _serve_gateway(self, ws: web.WebSocketResponse) -> None:
        connection = 0
        async for msg in ws:
            payload = json.loads(msg.data)
            if payload["op"] == 2:
                if payload["d"].get("token") != self.TOKEN:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.identify = payload["d"]
                self.identifies += 1
                connection = self.identifies
                self.sockets.append(ws)
                await ws.send_json(
                    {
                        "op": 0,
                        "s": next(self._seq),
                        "t": "READY",
                        "d": {
                            "v": 10,
                            "user": self.BOT,
                            "guilds": [],
                            "session_id": "s-1",
                            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                            "application": {"id": "777", "flags": 0},
                        },
                    }
                )
                await self.notify()
            elif payload["op"] == 1:
                self.heartbeats.append(payload["d"])
                if connection not in self.no_ack:
                    await ws.send_json({"op": 11})
                await self.notify()

    async def reconnect(self) -> None:
        """Ask every connected client to reconnect (op 7), as Discord does before a restart."""
        for ws in list(self.sockets):
            await ws.send_json({"op": 7, "d": None})

    async def dispatch_message(
        self,
        content: str,
        *,
        channel: str = "c-1",
        guild: str | None = None,
        author: dict[str, Any] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> str:
        """A MESSAGE_CREATE dispatch on every connected Gateway socket; returns its id."""
        mid = str(next(self._ids))
        data: dict[str, Any] = {
            "id": mid,
            "channel_id": channel,
            "author": author or {"id": "42", "username": "ann", "discriminator": "0"},
            "content": content,
            "timestamp": "2026-12-03T10:00:00.000000+00:00",
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "attachments": attachments or [],
            "embeds": [],
            "type": 0,
        }
        if guild is not None:
            data["guild_id"] = guild
        for ws in [ws for ws in self.sockets if not ws.closed]:
            await ws.send_json({"op": 0, "s": next(self._seq), "t": "MESSAGE_CREATE", "d": data})
        return mid


class FakeSlack(Fake):
    TOKEN = "xoxb-test-token"
    SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
    BOT_USER = "U0BOT"

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[tuple[str, str], str] = {}
        self.files: dict[str, bytes] = {}
        self._ts = itertools.count(1)
        self.app.router.add_post("/api/{method}", self.method)
        self.app.router.add_get("/files-pri/{name}", self.file)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    async def method(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        method = request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        failed = await self.record(method, body)
        if failed is not None:
            return failed
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://test.slack.com/",
                    "team": "Test",
                    "user": "helper",
                    "team_id": "T1",
                    "user_id": self.BOT_USER,
                    "bot_id": "B1",
                }
            )
        channel = body.get("channel", "")
        if not channel.startswith(("C", "D", "G")):
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            self.messages[(channel, ts)] = body["text"]
            await self.notify()
            return web.json_response(
                {"ok": True, "channel": channel, "ts": ts, "message": {"text": body["text"]}}
            )
        if method == "chat.update":
            key = (channel, body["ts"])
            if key not in self.messages:
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.messages[key] = body["text"]
            await self.notify()
            return web.json_response(
                {"ok": True, "channel": channel, "ts": body["ts"], "text": body["text"]}
            )
        return web.json_response({"ok": False, "error": "unknown_method"})

    def rate_limited(self, method: str, seconds: int = 1) -> None:
        self.fail(method, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)})

    async def file(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return web.Response(status=302, headers={"Location": "/login"})
        return web.Response(body=self.files[request.match_info["name"]])

    async def deliver(
        self, url: str, payload: dict[str, Any], *, secret: str | None = None
    ) -> tuple[int, Any]:
        """POST an Events API payload to the app's Request URL, signed as Slack signs."""
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time()))
        base = f"v0:{timestamp}:".encode() + body
        signature = hmac.new(
            (secret or self.SIGNING_SECRET).encode(), base, hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={signature}",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)

    @staticmethod
    def event_callback(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{event.get('ts', '0').replace('.', '')}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "U0BOT", "is_bot": True}],
        }


class FakeX(Fake):
    TOKEN = "x-user-token"

    def __init__(self) -> None:
        super().__init__()
        self.posts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1_850_000_000_000_000_000)
        self.app.router.add_post("/2/tweets", self.create)

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return web.json_response(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                status=401,
            )
        body = await request.json()
        failed = await self.record("tweets", body)
        if failed is not None:
            return failed
        if len(body.get("text", "")) > 280:
            return web.json_response(
                {
                    "errors": [{"message": "Your Tweet text is too long."}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status=400,
            )
        if any(p["text"] == body["text"] for p in self.posts.values()):
            return web.json_response(
                {
                    "detail": "You are not allowed to create a Tweet with duplicate content.",
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                },
                status=403,
            )
        post_id = str(next(self._ids))
        self.posts[post_id] = body
        await self.notify()
        return web.json_response(
            {"data": {"id": post_id, "text": body["text"], "edit_history_tweet_ids": [post_id]}},
            status=201,
        )

    def rate_limited(self, reset_in: float = 0.0) -> None:
        self.fail(
            "tweets",
            429,
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(time.time() + reset_in)),
            },
        )
