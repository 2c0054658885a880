"""`host.artifacts`: a run reaches only its own session's (and user's) artifacts; long tool
outputs and tool images are spilled into artifacts; attachments become artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.sessions import MemorySessionStore
from agenthost.core.errors import HostAPIError
from agenthost.core.messages import ImagePart, Message, TextPart
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.ports.artifacts import parse_ref
from agenthost.ports.protocol import (
    ArtifactsResource,
    HostAPI,
    Manifest,
    Resources,
    ResultBatch,
    RunCompleted,
    RunContext,
)
from agenthost.ports.tools import ToolOutput
from agenthost.testing.scripted import ScriptedModel, tool_call

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


class Probe:
    manifest = Manifest(id="test/artifacts", name="probe")

    def __init__(self, probe: Any) -> None:
        self.probe = probe
        self.outcomes: dict[str, Any] = {}

    async def run(self, ctx: RunContext, host: HostAPI) -> AsyncIterator[ResultBatch]:
        try:
            await self.probe(self, host)
        except HostAPIError as exc:
            self.outcomes["refused"] = exc.code
        yield RunCompleted()


def runner(agent: Any, artifacts: Any, resources: Resources | None = None) -> Runner:
    return Runner(
        agent, store=MemorySessionStore(), app="t", artifacts=artifacts, resources=resources
    )


async def test_a_run_saves_loads_lists_and_deletes_its_sessions_artifacts() -> None:
    async def probe(agent: Probe, host: HostAPI) -> None:
        assert host.artifacts is not None
        first = await host.artifacts.save("notes.md", b"one", mime_type="text/markdown")
        second = await host.artifacts.save("notes.md", b"two")
        await host.artifacts.save("user:prefs.json", b"{}")
        loaded = await host.artifacts.load("notes.md", version=0)
        agent.outcomes.update(
            versions=(first.version, second.version),
            old=loaded.data if loaded else None,
            listed=[i.name for i in await host.artifacts.list()],
            history=[i.version for i in await host.artifacts.versions("notes.md")],
            deleted=await host.artifacts.delete("notes.md"),
            gone=await host.artifacts.load("notes.md"),
        )

    agent = Probe(probe)
    store = MemoryArtifactStore()
    await collect(runner(agent, store).run("ann", "s1", "go"))
    assert agent.outcomes == {
        "versions": (0, 1),
        "old": b"one",
        "listed": ["notes.md", "user:prefs.json"],
        "history": [0, 1],
        "deleted": True,
        "gone": None,
    }
    # stored under the run's own app, user and session
    kept = await store.load(app="t", user_id="ann", session_id="other", name="user:prefs.json")
    assert kept is not None


async def test_another_users_run_sees_none_of_them() -> None:
    store = MemoryArtifactStore()
    await store.save(app="t", user_id="ann", session_id="s1", name="secret.txt", data=b"x")
    await store.save(app="t", user_id="ann", session_id="s1", name="user:me.txt", data=b"x")

    async def probe(agent: Probe, host: HostAPI) -> None:
        assert host.artifacts is not None
        agent.outcomes["listed"] = await host.artifacts.list()
        agent.outcomes["loaded"] = await host.artifacts.load("secret.txt")

    agent = Probe(probe)
    await collect(runner(agent, store).run("bob", "s1", "go"))  # same session id, other user
    assert agent.outcomes == {"listed": [], "loaded": None}


@pytest.mark.parametrize(
    ("resources", "call", "code"),
    [
        (None, lambda h: h.artifacts.save("a.txt", b"x"), "unauthorized"),  # no store at all
        (
            Resources(artifacts=ArtifactsResource(operations=["load", "list"])),
            lambda h: h.artifacts.save("a.txt", b"x"),
            "unauthorized",
        ),
        (
            Resources(artifacts=ArtifactsResource(user_scope=False)),
            lambda h: h.artifacts.load("user:a.txt"),
            "unauthorized",
        ),
        (
            Resources(artifacts=ArtifactsResource()),
            lambda h: h.artifacts.load("../x"),
            "invalid_argument",
        ),
        (
            Resources(artifacts=ArtifactsResource(max_bytes=3)),
            lambda h: h.artifacts.save("a.txt", b"four"),
            "payload_too_large",
        ),
    ],
)
async def test_refusals(resources: Resources | None, call: Any, code: str) -> None:
    async def probe(agent: Probe, host: HostAPI) -> None:
        await call(host)

    agent = Probe(probe)
    store = None if resources is None else MemoryArtifactStore()
    await collect(runner(agent, store, resources).run("ann", "s1", "go"))
    assert agent.outcomes == {"refused": code}


async def test_artifacts_of_a_finished_run_are_refused() -> None:
    kept: list[HostAPI] = []

    async def probe(agent: Probe, host: HostAPI) -> None:
        kept.append(host)

    await collect(runner(Probe(probe), MemoryArtifactStore()).run("ann", "s1", "go"))
    assert kept[0].artifacts is not None
    with pytest.raises(HostAPIError) as caught:
        await kept[0].artifacts.list()
    assert caught.value.code == "unauthorized"


async def big_report() -> str:
    """A tool whose output is far too long for the model."""
    return "line of the report\n" * 2000


async def snapshot() -> ToolOutput:
    """A tool that returns an image."""
    return ToolOutput(content="here it is", parts=(ImagePart(data=PNG, mime_type="image/png"),))


async def test_a_long_tool_output_is_kept_whole_as_an_artifact() -> None:
    model = ScriptedModel([tool_call("big_report"), tool_call("snapshot"), "done"])
    store = MemoryArtifactStore()
    agent = LLMAgent(model=model, tools=[big_report, snapshot])
    events = await collect(runner(agent, store).run("ann", "s1", "report please"))
    results = [e for e in events if e.type == "tool.call.completed"]
    text = results[0].message.parts[0].content  # type: ignore[union-attr]
    assert len(text) < 17_000 and "[truncated:" in text
    ref = text.rsplit(" ", 1)[-1].rstrip("]")
    name, version = parse_ref(ref)  # type: ignore[misc]
    whole = await store.load(app="t", user_id="ann", session_id="s1", name=name, version=version)
    assert whole is not None and whole.text == await big_report()
    # the image the second tool returned is an artifact, named in the text the model reads
    image_text = results[1].message.parts[0].content  # type: ignore[union-attr]
    assert image_text.startswith("here it is\n[image/png saved as artifact://tool-outputs/")
    listed = await store.list(app="t", user_id="ann", session_id="s1")
    assert [(i.name, i.mime_type) for i in listed] == [
        ("tool-outputs/big_report.txt", "text/plain; charset=utf-8"),
        ("tool-outputs/snapshot-0.png", "image/png"),
    ]
    # and the model saw the cut text, not the whole
    assert model.calls[1][-1].parts[0].content == text  # type: ignore[union-attr]


async def test_short_outputs_and_runs_without_a_store_are_unchanged() -> None:
    model = ScriptedModel([tool_call("big_report"), "done"])
    events = await collect(
        runner(LLMAgent(model=model, tools=[big_report]), None).run("a", "s", "x")
    )
    result = next(e for e in events if e.type == "tool.call.completed")
    assert "artifact://" not in result.message.parts[0].content  # type: ignore[union-attr]


async def test_an_attachment_becomes_an_artifact_and_the_part_keeps_its_bytes() -> None:
    model = ScriptedModel(["a cat"])
    store = MemoryArtifactStore()
    message = Message(
        role="user",
        parts=(TextPart(text="what is this?"), ImagePart(data=PNG, mime_type="image/png")),
    )
    run = runner(LLMAgent(model=model), store)
    events = await collect(run.run("ann", "s1", message))
    received = events[0].message
    assert received is not None
    image = received.parts[1]
    assert isinstance(image, ImagePart)
    assert image.url == "artifact://uploads/image-1.png?version=0" and image.data == PNG
    saved = await store.load(app="t", user_id="ann", session_id="s1", name="uploads/image-1.png")
    assert saved is not None and saved.data == PNG and saved.info.metadata == {"source": "upload"}
    assert model.calls[0][-1].parts[1] == image  # the model got the bytes
