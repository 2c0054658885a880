"""Harnesses for plugin agents in the agent-kind contract suite: `PluginAgent` over stdio and
over HTTP, talking to a real plugin process (tests/contract/plugins/relay_plugin.py, written
with the plugin SDK) that relays the fake upstream's script: the fake records the history the
plugin read from the host, and sees the plugin's request closed when the run is cancelled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agenthost.backends.plugins import PluginAgent
from agenthost.ports.protocol import Agent, Permissions
from tests.unit.backends.agents.fake_platform import (
    FakePlatform,
    Frame,
    Recorded,
    Reply,
    data_frame,
)

from .agent_kinds import Kind, get_weather

RELAY = Path(__file__).with_name("plugins") / "relay_plugin.py"
ALLOWED = Permissions(tools=True, history=["page"])
NO_STATUS = (
    "a plugin answers runs in agent protocol v1 frames; it has no API keys, rate limits or "
    "HTTP statuses of its own"
)


@dataclass
class PluginKind(Kind):
    integration: bool = True  # a plugin process per test
    timeout_code: str = "plugin.timeout"
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def agent(self, fake: FakePlatform, **options: Any) -> Agent:
        timeout = options.pop("idle_timeout", None)
        assert not options, options
        return self.plugin(fake.base_url, timeout)

    def plugin(self, fake_url: str, timeout: float | None) -> PluginAgent:
        raise NotImplementedError

    def runner_options(self) -> dict[str, Any]:
        return {"tools": [get_weather]}

    def reply(self, pieces: list[str], *, tail: list[Frame] | None = None) -> Reply:
        frames: list[Frame] = [data_frame({"delta": p}) for p in pieces]
        end: list[Frame] = [data_frame({"done": True})]
        return Reply(frames=frames + (tail if tail is not None else end))

    @property
    def stops_by_request(self) -> bool:
        return False  # the plugin's cancelled run closes its request to the fake

    def assert_turn_two(self, first: Recorded, second: Recorded) -> None:
        assert first.body["history"] == [["user", "hi"]]
        said = [["user", "hi"], ["assistant", "Hello"], ["user", "again"]]
        assert second.body == {"input": "again", "history": said}

    def script_tool_round_trip(self, fake: FakePlatform) -> None:
        call = {"tool": "get_weather", "arguments": {"city": "P"}}
        fake.add(self.path, Reply(frames=[data_frame(call), *self.reply(["It is sunny."]).frames]))

    async def aclose(self) -> None:
        while self.processes:
            proc = self.processes.pop()
            proc.kill()
            proc.wait(10)
            assert proc.stderr is not None
            proc.stderr.close()


def _env(fake_url: str) -> dict[str, str]:
    return {"FAKE_URL": fake_url, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}


@dataclass
class StdioPluginKind(PluginKind):
    def plugin(self, fake_url: str, timeout: float | None) -> PluginAgent:
        return PluginAgent(
            command=[sys.executable, str(RELAY)],
            env=_env(fake_url),
            allowed_permissions=ALLOWED,
            timeout=timeout,
        )


@dataclass
class HTTPPluginKind(PluginKind):
    def plugin(self, fake_url: str, timeout: float | None) -> PluginAgent:
        proc = subprocess.Popen(
            [sys.executable, str(RELAY), "--http"],
            env={**os.environ, **_env(fake_url)},
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(proc)
        assert proc.stderr is not None
        for line in proc.stderr:  # the SDK prints this once it listens
            if line.startswith("listening on "):
                return PluginAgent(
                    url=line.split()[-1], allowed_permissions=ALLOWED, timeout=timeout
                )
        raise AssertionError("the relay plugin did not start")


def _plugin(cls: type[PluginKind], name: str) -> PluginKind:
    reasons = {
        "auth_error": NO_STATUS,
        "busy_retried": NO_STATUS,
        "busy_reported": NO_STATUS,
        "stop_refused": "a plugin's run is cancelled by the protocol's cancel notification, "
        "which has no answer",
    }
    return cls(name, "/plugin/run", not_applicable=reasons)


PLUGIN_KINDS: list[PluginKind] = [
    _plugin(StdioPluginKind, "plugin_stdio"),
    _plugin(HTTPPluginKind, "plugin_http"),
]
