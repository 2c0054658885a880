"""Sandboxed code execution: the `run_code` tool (Python and shell) and its backends.

In agenthost.yaml, `tools: ["sandbox:run_code"]` gives an llm agent the tool. Each call runs
the code in the work directory of the run's session (the same directory as the file tools:
`$AGENTHOST_HOME/workdirs/<app>/<user>/<session>/`), isolated and bounded by
`SandboxLimits`: no network, a read-only system, limits on wall-clock and CPU time, memory,
processes, file sizes, disk and output; every process it started is gone when it returns.

The backend comes from the environment when the tool is called:

- AGENTHOST_SANDBOX: `bwrap` (default: bubblewrap, Linux namespaces) or `docker`.
- AGENTHOST_SANDBOX_IMAGE: the Docker image (default python:3.12-slim).
- AGENTHOST_SANDBOX_UID: the uid bwrap runs as when agenthost runs as root (default 65534).

In code, `make_run_code_tool(BwrapSandbox(...), limits=SandboxLimits(...))` builds it with
explicit settings; `sandbox.run(language, code, workdir=..., limits=...)` runs code directly.
"""

from __future__ import annotations

import os
from typing import Literal

from agenthost.backends.tools.sandbox._bwrap import BwrapSandbox
from agenthost.backends.tools.sandbox._docker import DEFAULT_IMAGE, DockerSandbox
from agenthost.backends.tools.sandbox._types import (
    LANGUAGES,
    CodeResult,
    Language,
    Sandbox,
    SandboxLimits,
)
from agenthost.backends.tools.workdir import NoRunError, run_workdir
from agenthost.core.errors import ConfigError, ToolError
from agenthost.engine.function_tool import FunctionTool
from agenthost.ports.tools import ToolOutput

__all__ = [
    "LANGUAGES",
    "TOOLS",
    "BwrapSandbox",
    "CodeResult",
    "DockerSandbox",
    "Language",
    "Sandbox",
    "SandboxLimits",
    "make_run_code_tool",
    "run_code",
    "sandbox_from_env",
]


def sandbox_from_env() -> Sandbox:
    """The backend AGENTHOST_SANDBOX names (bwrap by default)."""
    kind = os.environ.get("AGENTHOST_SANDBOX", "bwrap").strip().lower() or "bwrap"
    if kind == "bwrap":
        raw_uid = os.environ.get("AGENTHOST_SANDBOX_UID", "65534")
        if not raw_uid.isdigit() or int(raw_uid) == 0:
            raise ConfigError(
                f"AGENTHOST_SANDBOX_UID={raw_uid!r}: give a non-zero uid (e.g. 65534) for "
                f"bwrap to run as when agenthost runs as root."
            )
        return BwrapSandbox(uid=int(raw_uid))
    if kind == "docker":
        return DockerSandbox(image=os.environ.get("AGENTHOST_SANDBOX_IMAGE") or DEFAULT_IMAGE)
    raise ConfigError(f"AGENTHOST_SANDBOX={kind!r}: the sandbox backends are 'bwrap' and 'docker'.")


def make_run_code_tool(
    sandbox: Sandbox | None = None,
    *,
    limits: SandboxLimits | None = None,
    root: str | os.PathLike[str] | None = None,
) -> FunctionTool:
    """The run_code tool over `sandbox` (None: `sandbox_from_env()` at each call), bounded by
    `limits`, in the work directories under `root` (default `$AGENTHOST_HOME/workdirs`)."""
    bounds = limits or SandboxLimits()

    async def run_code(language: Literal["python", "shell"], code: str) -> ToolOutput:
        """Run a Python or shell (bash) program in a sandbox, in your work directory (files
        it writes stay there, for read_file and the next call), without network access;
        returns its exit code and output.

        Args:
            language: "python" (python3) or "shell" (bash).
            code: The program. Print what you want to see.
        """
        if len(code) > bounds.max_code:
            raise ToolError(
                f"run_code: the code is {len(code)} characters long; the limit is "
                f"{bounds.max_code} (write it to a file with write_file and run that file)",
                tool_name="run_code",
            )
        try:
            workdir = run_workdir(root)
        except NoRunError:
            raise ToolError(
                "run_code runs in the session's work directory, so it must be called by an "
                "agent inside a run (Runner.run); call a sandbox's run() directly otherwise",
                tool_name="run_code",
            ) from None
        chosen = sandbox or sandbox_from_env()
        result = await chosen.run(language, code, workdir=workdir, limits=bounds)
        return ToolOutput(content=result.render(), is_error=not result.ok)

    return FunctionTool(run_code)


run_code = make_run_code_tool()
TOOLS = (run_code,)
