"""The web chat page in a real headless Chromium (Debian's, driven by Playwright), used as a
person would: pick an agent, type, send, watch the reply stream in and the tool call appear,
reopen a session after a reload, cancel a slow run, give an API key.

The servers are real: uvicorn on 127.0.0.1 (a free port) serving a config whose `helper` agent
has the demo `get_weather` tool, over the fake OpenAI-compatible model server, which streams its
replies slowly enough for partial text to show. Without /usr/bin/chromium the tests skip, loudly;
under CI=true they fail instead. Every wait is bounded (Playwright's timeout, server start-up,
shutdown grace).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("playwright") is None and not os.environ.get("CI"):
    pytest.skip(
        "NO PLAYWRIGHT: the web chat page test did not run (pip install -e '.[dev]')",
        allow_module_level=True,
    )

import uvicorn
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

from agenthost.backends.tools.demo import get_weather
from agenthost.config import parse_config
from agenthost.server import create_app
from agenthost.testing.fake_openai import (
    FakeOpenAIServer,
    Reply,
    TextReply,
    echo_tool_responder,
    tool_call,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("AGENTHOST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
KEY = "web-test-key-0123456789"
SLOW_TEXT = "and so on, " * 150  # 413 chunks of 4 characters: about 20 s at STREAM_DELAY
STREAM_DELAY = 0.05
WEATHER = asyncio.run(get_weather("Oslo"))
PARIS = asyncio.run(get_weather("Paris"))

# Every text any assistant bubble shows, as it changes (to see the reply grow).
RECORD_TEXTS = """
window.__texts = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll(".msg.assistant .body")) {
    if (window.__texts.at(-1) !== el.textContent) window.__texts.push(el.textContent);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def responder(request: dict[str, Any]) -> Reply:
    """'weather ...' calls get_weather for Oslo, 'broken ...' calls it with an empty city (the
    tool fails), 'slow ...' streams a long text; a tool result is answered 'Done: <result>'."""
    last = request["messages"][-1]
    text = last.get("content") if isinstance(last.get("content"), str) else ""
    if last.get("role") == "user":
        if text.startswith("weather"):
            return tool_call("get_weather", {"city": "Oslo"})
        if text.startswith("broken"):
            return tool_call("get_weather", {"city": " "})
        if text.startswith("slow"):
            return TextReply(SLOW_TEXT)
    return echo_tool_responder({**request, "tools": None})


def config(base_url: str, provider: str) -> Any:
    """`helper` with the get_weather tool, `plain` without tools. Each server gets its own
    provider name: providers are shared process-wide by configuration, and a provider's
    pooled client belongs to one event loop (each server here runs its own)."""
    model = f"{provider}:fake-model"
    return parse_config(
        {
            "app": "web",
            "store": "memory://",
            "providers": {provider: {"base_url": base_url}},
            "agents": {
                "helper": {"model": model, "tools": ["demo:get_weather"]},
                "plain": {"model": model},
                # get_weather waits for a person's approval (test_an_approval_...)
                "careful": {
                    "model": model,
                    "tools": ["demo:get_weather"],
                    "approval": ["get_weather"],
                },
            },
        },
        env={},
    )


@dataclass(frozen=True, slots=True)
class Servers:
    open: str  # no API keys (local development mode)
    keyed: str  # one key: KEY, user "web"


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with FakeOpenAIServer.start_in_thread(responder=responder, stream_delay=STREAM_DELAY) as fake:
        open_app = create_app(config(fake.base_url, "fake"), api_keys=[], shutdown_grace=1)
        keyed = config(fake.base_url, "keyed")
        keyed_app = create_app(keyed, api_keys=[f"{KEY}:web"], shutdown_grace=1)
        with serve(open_app) as open_url, serve(keyed_app) as keyed_url:
            yield Servers(open=open_url, keyed=keyed_url)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn on 127.0.0.1 (a free port) in a thread, for the length of the block."""

    class Server(uvicorn.Server):
        up: threading.Event  # set when its start-up has ended, well or not

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().startup(sockets=sockets)
            finally:
                self.up.set()

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    server.up = threading.Event()
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    if not server.up.wait(30) or not server.started:
        server.should_exit = True
        raise RuntimeError("the server did not start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; the web page test must run in CI")
        pytest.skip(f"NO CHROMIUM: the web chat page test did not run. {reason}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def new_page(browser: Browser, **options: Any) -> Iterator[Page]:
    """A page in a fresh context (its own localStorage); fails on any uncaught script error."""
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORD_TEXTS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page's script failed: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with new_page(browser) as opened:
        yield opened


def send(page: Page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def session_button(page: Page, session_id: str) -> Locator:
    """The button of a session in the list (it shows the session's first message)."""
    return page.locator(f'button.session[data-session="{session_id}"]')


def test_a_chat_streams_the_reply_and_shows_tool_calls(page: Page, servers: Servers) -> None:
    page.goto(servers.open)
    expect(page.get_by_role("heading", name="agenthost")).to_be_visible()
    agent = page.get_by_label("Agent")
    expect(agent.locator("option")).to_have_text(["helper", "plain", "careful"])
    agent.select_option("helper")

    send(page, "weather in Oslo?")
    expect(page.locator(".msg.user .body")).to_have_text(["weather in Oslo?"])
    card = page.get_by_role("group", name="Tool call get_weather")
    expect(card).to_have_attribute("data-status", "done")
    expect(card.locator(".tool-args")).to_contain_text('"city": "Oslo"')
    expect(card.locator(".tool-result")).to_have_text(WEATHER)
    reply = page.locator(".msg.assistant")
    expect(reply.locator(".body")).to_have_text(f"Done: {WEATHER}")
    expect(reply).to_have_attribute("aria-busy", "false")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()

    # it streamed: the bubble showed part of the reply before the whole of it
    final = f"Done: {WEATHER}"
    seen: list[str] = page.evaluate("window.__texts")
    partial = [text for text in seen if text and text != final and final.startswith(text)]
    assert partial, f"no partial text before the final reply; the bubble showed {seen}"
    assert seen[-1] == final

    # the same session goes on; a tool that fails shows as failed
    label = page.locator("#session-label")
    expect(label).to_have_text(re.compile(r"Session s_\w+"))
    session_id = label.inner_text().removeprefix("Session ")
    send(page, "broken weather")
    cards = page.locator(".tool")
    expect(cards).to_have_count(2)
    expect(cards.nth(1)).to_have_attribute("data-status", "error")
    expect(cards.nth(1).locator(".tool-status")).to_have_text("failed")
    expect(cards.nth(1).locator(".tool-result")).to_contain_text("city must not be empty")
    expect(page.locator(".msg.assistant .body")).to_have_count(2)

    # after a reload the session is in the list; reopening it shows its whole history
    page.reload()
    expect(page.locator("#transcript > *")).to_have_count(0)
    expect(page.get_by_label("Agent")).to_have_value("helper")
    listed = session_button(page, session_id)
    expect(listed.locator(".session-title")).to_have_text("weather in Oslo?")  # its 1st message
    listed.click()
    expect(page.locator(".msg.user .body")).to_have_text(["weather in Oslo?", "broken weather"])
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("data-status", "done")
    expect(cards.nth(0).locator(".tool-args")).to_contain_text('"city": "Oslo"')
    expect(cards.nth(0).locator(".tool-result")).to_have_text(WEATHER)
    expect(cards.nth(1)).to_have_attribute("data-status", "error")
    expect(page.locator(".msg.assistant .body").first).to_have_text(final)
    expect(session_button(page, session_id)).to_have_attribute("aria-current", "true")


def test_cancel_stops_a_slow_run(page: Page, servers: Servers) -> None:
    page.goto(servers.open)
    page.get_by_label("Agent").select_option("plain")
    send(page, "slow story, please")
    reply = page.locator(".msg.assistant .body")
    expect(reply).to_contain_text("and so on")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    cancel.click()

    notice = page.locator(".notice.cancelled")
    expect(notice).to_contain_text("Cancelled")
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert 0 < len(reply.inner_text()) < len(SLOW_TEXT.strip())

    # the server has it as cancelled too
    session_id = page.locator("#session-label").inner_text().removeprefix("Session ")
    page.reload()
    session_button(page, session_id).click()
    expect(page.locator(".msg.user .body")).to_have_text(["slow story, please"])
    expect(page.locator(".notice.cancelled")).to_contain_text("Cancelled")


def test_a_session_reopened_while_its_run_goes_on_follows_it(page: Page, servers: Servers) -> None:
    page.goto(servers.open)
    page.get_by_label("Agent").select_option("plain")
    send(page, "slow, then reload")
    expect(page.locator(".msg.assistant .body")).to_contain_text("and so on")
    session_id = page.locator("#session-label").inner_text().removeprefix("Session ")

    page.reload()  # the run goes on at the server
    session_button(page, session_id).click()
    expect(page.locator(".msg.user .body")).to_have_text(["slow, then reload"])
    reply = page.locator(".msg.assistant")
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(reply.locator(".body")).to_contain_text("and so on, and so on, and so on")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".notice.cancelled")).to_contain_text("Cancelled")
    expect(reply).to_have_attribute("aria-busy", "false")


def test_a_server_with_keys_asks_for_one(page: Page, servers: Servers) -> None:
    page.goto(servers.keyed)
    error = page.get_by_role("alert")
    expect(error).to_contain_text("HTTP 401")
    expect(page.locator("#key-panel")).to_have_attribute("open", "")
    expect(page.locator("#key-hint")).to_contain_text("needs an API key")
    key = page.get_by_label("Key", exact=True)
    expect(key).to_be_focused()

    key.fill("wrong-key-0123456789")
    page.get_by_role("button", name="Save key").click()
    expect(error).to_have_text("The API key is not valid for this server. (unauthorized, HTTP 401)")

    key.fill(KEY)
    page.get_by_role("button", name="Save key").click()
    expect(error).to_be_hidden()
    page.get_by_label("Agent").select_option("plain")
    send(page, "hello with a key")
    expect(page.locator(".msg.assistant .body")).to_have_text("Echo: hello with a key")

    # the key is kept in this browser: a reload needs no new one
    page.reload()
    expect(page.get_by_label("Agent")).to_have_value("plain")
    expect(page.locator("button.session")).to_have_count(1)
    expect(page.locator("button.session .session-title")).to_have_text("hello with a key")
    expect(error).to_be_hidden()


def _stored(seq: int, kind: str, role: str, text: str, **extra: Any) -> dict[str, Any]:
    message = {"role": role, "parts": [{"kind": "text", "text": text}]}
    return {"id": f"e{seq}", "run_id": "run_cut", "author": role, "type": kind,
            "session_id": "cut", "seq": seq, "message": message, **extra}  # fmt: skip


def _serve_session(
    page: Page, servers: Servers, session: dict[str, Any], events: list[dict[str, Any]]
) -> None:
    """Open the page on agent `plain` with the server's answers (as docs/server.md shows them)
    for one stored session `cut` and its events."""

    def answer(route: Route) -> None:
        path = route.request.url.split("/v1/apps/plain/", 1)[1]
        if path == "sessions":
            body: dict[str, Any] = {"sessions": [session]}
        elif path.startswith("sessions/cut/events"):
            body = {"events": events, "has_more": False, "next_after": len(events)}
        else:
            body = {"id": "cut", "runs": []}
        route.fulfill(json=body)

    page.route(re.compile(r".*/v1/apps/plain/sessions.*"), answer)
    page.goto(servers.open)
    page.get_by_label("Agent").select_option("plain")


def test_a_reply_cut_mid_stream_is_marked_incomplete(page: Page, servers: Servers) -> None:
    """The server's answers (as docs/server.md shows them) for a session whose reply was cut:
    its message.completed says `data.incomplete`."""
    events = [
        _stored(1, "message.received", "user", "tell me a long story"),
        _stored(2, "message.completed", "assistant", "Once upon a", data={"incomplete": True}),
        _stored(3, "message.received", "user", "again"),
        _stored(4, "message.completed", "assistant", "The end."),
    ]
    session = {"id": "cut", "title": "tell me a long story", "updated_at": 1.0, "event_count": 4}

    _serve_session(page, servers, session, events)
    listed = session_button(page, "cut")
    expect(listed.locator(".session-title")).to_have_text("tell me a long story")
    listed.click()
    replies = page.locator(".msg.assistant")
    expect(replies.locator(".body")).to_have_text(["Once upon a", "The end."])
    expect(replies.nth(0)).to_have_attribute("data-incomplete", "true")
    expect(replies.nth(0).locator(".incomplete-note")).to_have_text("(incomplete)")
    expect(replies.nth(1).locator(".incomplete-note")).to_have_count(0)


def test_a_reply_cut_at_its_length_limit_is_marked_cut(page: Page, servers: Servers) -> None:
    """A run whose run.completed says `finish_reason: "length"` (the model's cap, or the
    embedded model stopping a reply that repeats itself): its reply is marked cut, the next
    run's is not."""
    events = [
        _stored(1, "message.received", "user", "tell me a joke"),
        _stored(2, "message.completed", "assistant", 'A: "A: "B:'),
        _stored(3, "run.completed", "assistant", "", data={"finish_reason": "length"}),
        _stored(4, "message.received", "user", "again"),
        _stored(5, "message.completed", "assistant", "Why did the chicken cross?"),
        _stored(6, "run.completed", "assistant", "", data={"finish_reason": "stop"}),
    ]
    for event in (events[2], events[5]):
        del event["message"]
    session = {"id": "cut", "title": "tell me a joke", "updated_at": 1.0, "event_count": 6}

    _serve_session(page, servers, session, events)
    session_button(page, "cut").click()
    replies = page.locator(".msg.assistant")
    expect(replies.locator(".body")).to_have_text(['A: "A: "B:', "Why did the chicken cross?"])
    expect(replies.nth(0)).to_have_attribute("data-cut", "true")
    expect(replies.nth(0).locator(".cut-note")).to_have_text("(cut: length limit)")
    expect(replies.nth(1).locator(".cut-note")).to_have_count(0)


def test_it_works_on_a_phone(browser: Browser, servers: Servers) -> None:
    with new_page(browser, viewport={"width": 375, "height": 700}, is_mobile=True) as page:
        page.goto(servers.open)
        sidebar = page.locator("#sidebar")
        expect(sidebar).to_be_hidden()
        page.get_by_label("Agent").select_option("plain")
        send(page, "hello from a phone")
        expect(page.locator(".msg.assistant .body")).to_have_text("Echo: hello from a phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        toggle = page.get_by_role("button", name="Sessions", exact=True)
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(sidebar).to_be_visible()
        page.get_by_role("button", name="New session").click()
        expect(sidebar).to_be_hidden()
        expect(page.locator("#transcript > *")).to_have_count(0)
        expect(page.get_by_label("Message")).to_be_focused()


def test_an_approval_is_answered_on_the_page(page: Page, servers: Servers) -> None:
    """A call that needs approval shows its arguments (editable) with Approve and Reject; an
    approval with edited arguments runs the call with them and the agent goes on; after a
    reload the answered approval shows as answered; a rejection tells the model."""
    page.goto(servers.open)
    page.get_by_label("Agent").select_option("careful")
    send(page, "weather in Oslo?")
    approval = page.get_by_role("group", name="Approval of get_weather")
    expect(approval).to_have_attribute("data-state", "pending")
    tool = page.get_by_role("group", name="Tool call get_weather")
    expect(tool).to_have_attribute("data-status", "waiting")
    expect(page.locator(".notice.paused")).to_have_text("Waiting for your approval.")
    editor = approval.get_by_label("Arguments")
    expect(editor).to_have_value('{\n  "city": "Oslo"\n}')
    expect(page.get_by_role("button", name="Send")).to_be_enabled()

    editor.fill('{"city": "Paris"}')
    approval.get_by_role("button", name="Approve").click()
    expect(tool).to_have_attribute("data-status", "done")
    expect(tool.locator(".tool-args")).to_contain_text('"city": "Paris"')
    expect(tool.locator(".tool-result")).to_contain_text(PARIS)
    expect(page.locator(".msg.assistant .body")).to_contain_text(PARIS)
    expect(approval).to_have_attribute("data-state", "approved")
    expect(approval.get_by_role("button", name="Approve")).to_have_count(0)

    # reopened after a reload: answered, no buttons
    session_id = page.locator("#session-label").inner_text().removeprefix("Session ")
    page.reload()
    page.get_by_label("Agent").select_option("careful")
    session_button(page, session_id).click()
    expect(approval).to_have_attribute("data-state", "approved")
    expect(approval.get_by_role("button")).to_have_count(0)
    expect(approval.locator(".approval-note")).to_have_text("Approved. (local)")

    # a second call, rejected: the model is told, the tool never ran
    send(page, "weather again?")
    second = page.locator(".approval").nth(1)
    expect(second).to_have_attribute("data-state", "pending")
    second.get_by_role("button", name="Reject").click()
    expect(second).to_have_attribute("data-state", "rejected")
    expect(page.locator(".tool").nth(1)).to_have_attribute("data-status", "error")
    expect(page.locator(".msg.assistant .body").last).to_contain_text("rejected")


def test_the_attach_button_sends_a_file_kept_as_an_artifact(
    page: Page, servers: Servers, tmp_path: Path
) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(24))
    page.goto(servers.open)
    page.get_by_label("Agent").select_option("plain")
    expect(page.get_by_role("button", name="Attach")).to_be_visible()
    page.locator("#attach").set_input_files(str(picture))
    expect(page.locator("#attached")).to_have_text("Attached: cat.png")
    send(page, "what is this?")
    expect(page.locator(".msg.assistant")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#attached")).to_have_text("")  # it went with that message only
    label = page.locator("#session-label")
    expect(label).to_have_text(re.compile(r"Session s_\w+"))
    session_id = label.inner_text().removeprefix("Session ")
    listed = page.request.get(f"{servers.open}v1/apps/plain/sessions/{session_id}/artifacts")
    # an image is named by its place in the message (image parts carry no file name)
    assert [a["name"] for a in listed.json()["artifacts"]] == ["uploads/image-1.png"]
    saved = page.request.get(
        f"{servers.open}v1/apps/plain/sessions/{session_id}/artifacts/uploads/image-1.png"
    )
    assert saved.body() == picture.read_bytes()
