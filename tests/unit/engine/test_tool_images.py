"""The images a tool returns reach the model: after the round's tool results, in a tool-role
message the OpenAI encoder sends as a user message; bounded to the newest few; kept out of
the session's events; text-only models read the text naming them."""

from __future__ import annotations

import pytest

from agenthost.backends.artifacts import MemoryArtifactStore
from agenthost.backends.models._input import TEXT_ONLY, InputPolicy, fit_input
from agenthost.backends.models._wire import encode_message
from agenthost.backends.sessions import MemorySessionStore
from agenthost.core.errors import ModelInputUnsupported
from agenthost.core.messages import ImagePart, Message, TextPart, ToolResultPart
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect, final_text
from agenthost.engine.tool_images import images_message, is_images_message, keep_newest
from agenthost.ports.tools import ToolOutput
from agenthost.testing.scripted import ScriptedModel, tool_call

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


class Camera:
    """A tool returning a screenshot, as the browser and MCP tools do."""

    def __init__(self) -> None:
        self.shots = 0

    async def snap(self) -> ToolOutput:
        """Take a picture."""
        self.shots += 1
        return ToolOutput(
            content=f"[image: image/png, {len(PNG)} bytes] shot {self.shots}",
            parts=(ImagePart(data=PNG + bytes([self.shots]), mime_type="image/png"),),
        )


def images_in(message: Message) -> list[ImagePart]:
    return [p for p in message.parts if type(p) is ImagePart]


async def test_the_image_reaches_the_model_right_after_the_tool_result() -> None:
    camera = Camera()
    model = ScriptedModel([tool_call("snap", id="c1"), "a red square"])
    agent = LLMAgent(model=model, tools=[camera.snap])
    async with Runner(agent, store=MemorySessionStore(), app="t") as runner:
        events = await collect(runner.run("ann", "s1", "what do you see?"))
        stored = await runner.get_session("ann", "s1")
    assert final_text(events) == "a red square"
    second = model.calls[1]
    assert [m.role for m in second] == ["user", "assistant", "tool", "tool"]
    result, shown = second[2], second[3]
    assert type(result.parts[0]) is ToolResultPart and "shot 1" in result.parts[0].content
    assert shown.parts[0] == TextPart(text="The image returned by tool snap (call c1):")
    assert [p.data for p in images_in(shown)] == [PNG + b"\x01"]
    # the session keeps the text only: the images are not in its events
    results = [e for e in stored.events if e.type == "tool.call.completed"]
    assert len(results) == 1 and "shot 1" in results[0].text
    assert not any(images_in(e.message) for e in stored.events if e.message is not None)


async def test_with_an_artifact_store_the_result_names_the_saved_image() -> None:
    camera = Camera()
    model = ScriptedModel([tool_call("snap", id="c1"), "done"])
    agent = LLMAgent(model=model, tools=[camera.snap])
    artifacts = MemoryArtifactStore()
    async with Runner(agent, store=MemorySessionStore(), app="t", artifacts=artifacts) as runner:
        await collect(runner.run("ann", "s1", "look"))
    result = model.calls[1][2].parts[0]
    assert isinstance(result, ToolResultPart)
    assert "[image/png saved as artifact://tool-outputs/snap-0.png?version=0]" in result.content
    assert images_in(model.calls[1][3])[0].data == PNG + b"\x01"
    saved = await artifacts.load(
        app="t", user_id="ann", session_id="s1", name="tool-outputs/snap-0.png"
    )
    assert saved is not None and saved.data == PNG + b"\x01"


async def test_only_the_newest_images_stay_in_the_run() -> None:
    camera = Camera()
    steps = [tool_call("snap", id=f"c{i}") for i in range(1, 4)]
    model = ScriptedModel([*steps, "three shots"])
    agent = LLMAgent(model=model, tools=[camera.snap], max_tool_images=2)
    async with Runner(agent, store=MemorySessionStore(), app="t") as runner:
        await collect(runner.run("ann", "s1", "snap thrice"))
    last = model.calls[-1]
    shown = [images_in(m)[0].data for m in last if is_images_message(m)]
    assert shown == [PNG + b"\x02", PNG + b"\x03"]
    # every tool result is still there, in order, each answered
    results = [p for m in last for p in m.parts if type(p) is ToolResultPart]
    assert [r.tool_call_id for r in results] == ["c1", "c2", "c3"]


async def test_max_tool_images_zero_sends_none() -> None:
    camera = Camera()
    model = ScriptedModel([tool_call("snap"), "fine"])
    agent = LLMAgent(model=model, tools=[camera.snap], max_tool_images=0)
    async with Runner(agent, store=MemorySessionStore(), app="t") as runner:
        await collect(runner.run("ann", "s1", "look"))
    assert not any(is_images_message(m) for m in model.calls[1])


def test_keep_newest_trims_inside_a_message() -> None:
    two = Message(
        role="tool",
        parts=(TextPart(text="a"), ImagePart(data=b"1"), TextPart(text="b"), ImagePart(data=b"2")),
    )
    one = Message(role="tool", parts=(ImagePart(data=b"3"),))
    messages = [Message.user("hi"), two, one]
    keep_newest(messages, 2)
    assert [[p.data for p in images_in(m)] for m in messages[1:]] == [[b"2"], [b"3"]]
    keep_newest(messages, 1)
    assert messages == [Message.user("hi"), one]


def test_an_images_message_goes_over_the_wire_as_a_user_message() -> None:
    message = images_message(
        [tool_call("snap", id="c1")], [ToolOutput(content="x", parts=(ImagePart(data=b"\x89"),))]
    )
    assert message is not None
    assert encode_message(message) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "The image returned by tool snap (call c1):"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iQ=="}},
            ],
        }
    ]
    assert images_message([tool_call("snap")], [ToolOutput(content="x")]) is None


@pytest.mark.parametrize(
    "policy", [TEXT_ONLY, InputPolicy(accepts=frozenset({"text"}), on_unsupported="text")]
)
def test_a_text_only_model_reads_a_line_naming_a_tool_image(policy: InputPolicy) -> None:
    shown = Message(role="tool", parts=(TextPart(text="shot:"), ImagePart(data=b"\x89")))
    fitted = fit_input([Message.user("look"), shown], policy, model="m")
    assert fitted[1] == Message(
        role="tool", parts=(TextPart(text="shot:"), TextPart(text="[image: image/png, 1 bytes]"))
    )
    # a user's own image still follows the policy
    if policy.on_unsupported == "error":
        with pytest.raises(ModelInputUnsupported):
            fit_input([Message(role="user", parts=(ImagePart(data=b"\x89"),))], policy, model="m")
