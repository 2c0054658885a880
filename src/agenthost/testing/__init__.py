"""Test doubles for your agents' tests, shipped in the package.

    from agenthost.testing import FakeOpenAIServer, ScriptedModel, tool_call

- `ScriptedModel`: a chat model that replies from a script (text, tool calls, errors) and
  fails with `UnexpectedModelCall` when called once too often; `FunctionModel` replies with
  what a function returns.
- `FakeOpenAIServer`: an OpenAI-compatible HTTP server on 127.0.0.1 (echoes, calls tools,
  fails, hangs on request), for code that talks HTTP.

Names are imported lazily; the modules (`agenthost.testing.scripted`, `.fake_openai`) stay
importable as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agenthost.testing._fake_replies import (
        ErrorReply,
        GarbageReply,
        HangReply,
        TextReply,
        ToolCall,
        ToolCallsReply,
        echo_tool_responder,
    )
    from agenthost.testing.fake_openai import FakeOpenAIServer, ThreadedFakeServer
    from agenthost.testing.scripted import (
        FunctionModel,
        ScriptedModel,
        UnconsumedSteps,
        UnexpectedModelCall,
        tool_call,
    )

_EXPORTS: dict[str, str] = {
    "FunctionModel": "agenthost.testing.scripted",
    "ScriptedModel": "agenthost.testing.scripted",
    "UnconsumedSteps": "agenthost.testing.scripted",
    "UnexpectedModelCall": "agenthost.testing.scripted",
    "tool_call": "agenthost.testing.scripted",
    "FakeOpenAIServer": "agenthost.testing.fake_openai",
    "ThreadedFakeServer": "agenthost.testing.fake_openai",
    "ErrorReply": "agenthost.testing._fake_replies",
    "GarbageReply": "agenthost.testing._fake_replies",
    "HangReply": "agenthost.testing._fake_replies",
    "TextReply": "agenthost.testing._fake_replies",
    "ToolCall": "agenthost.testing._fake_replies",
    "ToolCallsReply": "agenthost.testing._fake_replies",
    "echo_tool_responder": "agenthost.testing._fake_replies",
}

__all__ = [
    "ErrorReply",
    "FakeOpenAIServer",
    "FunctionModel",
    "GarbageReply",
    "HangReply",
    "ScriptedModel",
    "TextReply",
    "ThreadedFakeServer",
    "ToolCall",
    "ToolCallsReply",
    "UnconsumedSteps",
    "UnexpectedModelCall",
    "echo_tool_responder",
    "tool_call",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agenthost.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
