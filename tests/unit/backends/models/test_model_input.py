"""Images and files reach an OpenAI-compatible model as content parts; a model that cannot take
them refuses with `model_input_unsupported` or gets a line of text, by its input policy."""

from __future__ import annotations

import base64

import pytest

from agenthost.backends.models._input import TEXT_ONLY, InputPolicy, fit_input
from agenthost.backends.models.openai_compat import OpenAICompatibleModel
from agenthost.config.kinds._builder import apply_input_config
from agenthost.core.errors import ModelInputUnsupported
from agenthost.core.messages import FilePart, ImagePart, Message, TextPart
from agenthost.testing.fake_openai import FakeOpenAIServer, TextReply

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(20))
REF = "artifact://uploads/image-1.png?version=0"
ASK = Message(
    role="user",
    parts=(
        TextPart(text="what is this?"),
        ImagePart(data=PNG, mime_type="image/png", url=REF),
        FilePart(data=b"a,b\n1,2\n", mime_type="text/csv", name="t.csv"),
    ),
)


async def test_images_and_files_go_as_openai_content_parts() -> None:
    async with (
        FakeOpenAIServer([TextReply("a cat")]) as server,
        OpenAICompatibleModel("m", base_url=server.base_url) as model,
    ):
        reply = await model.request([ASK])
    assert reply.message.text == "a cat"
    content = server.bodies[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert content[1] == {"type": "image_url", "image_url": {"url": data_url}}
    csv = "data:text/csv;base64," + base64.b64encode(b"a,b\n1,2\n").decode()
    assert content[2] == {"type": "file", "file": {"filename": "t.csv", "file_data": csv}}


async def test_a_text_only_model_refuses_before_calling() -> None:
    async with FakeOpenAIServer([TextReply("never")]) as server:
        model = OpenAICompatibleModel("m", base_url=server.base_url, input_policy=TEXT_ONLY)
        async with model:
            with pytest.raises(ModelInputUnsupported) as caught:
                await model.request([ASK])
            with pytest.raises(ModelInputUnsupported):
                async for _ in model.stream([ASK]):
                    pass
    assert caught.value.code == "model_input_unsupported"
    assert (
        "file, image" in caught.value.message and "unsupported_input: text" in caught.value.message
    )
    assert server.bodies == []


async def test_the_text_fallback_names_each_attachment() -> None:
    policy = InputPolicy(accepts=frozenset({"text"}), on_unsupported="text")
    async with (
        FakeOpenAIServer([TextReply("ok")]) as server,
        OpenAICompatibleModel("m", base_url=server.base_url, input_policy=policy) as m,
    ):
        await m.request([Message.system("be brief"), ASK])
    sent = server.bodies[0]["messages"][1]["content"]
    assert sent == (
        f"what is this?[image: image/png, {len(PNG)} bytes, {REF}][file: t.csv, text/csv, 8 bytes]"
    )


def test_fit_input_keeps_messages_it_does_not_change() -> None:
    plain = [Message.user("hi"), Message.assistant("hello")]
    assert fit_input(plain, TEXT_ONLY, model="m") is plain
    images_ok = InputPolicy(accepts=frozenset({"text", "image"}), on_unsupported="text")
    out = fit_input([plain[0], ASK], images_ok, model="m")
    assert out[0] is plain[0]
    assert [type(p).__name__ for p in out[1].parts] == ["TextPart", "ImagePart", "TextPart"]


def test_config_sets_the_policy_of_the_models_of_an_alias() -> None:
    model = OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1")
    apply_input_config([model], ["text"], "text")
    assert model.input_policy == InputPolicy(accepts=frozenset({"text"}), on_unsupported="text")
    apply_input_config([model], None, None)  # nothing configured: unchanged
    assert model.input_policy.on_unsupported == "text"


async def test_the_embedded_model_is_text_only() -> None:
    from pathlib import Path

    from agenthost.backends.models.local._model import LocalModel

    model = LocalModel("smollm2", Path("/nonexistent.gguf"))  # refused before anything starts
    with pytest.raises(ModelInputUnsupported, match="local:smollm2"):
        await model.request([ASK])
    fallback = LocalModel("smollm2", Path("/nonexistent.gguf"), unsupported_input="text")
    assert fallback.input_policy.on_unsupported == "text"
    assert fallback.input_policy.accepts == frozenset({"text"})
