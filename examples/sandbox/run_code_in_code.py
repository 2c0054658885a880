"""run_code without a config file: a sandbox run directly, and the tool made for an agent.

python run_code_in_code.py      (needs bubblewrap: apt-get install bubblewrap)
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from agenthost import BwrapSandbox, SandboxLimits, make_run_code_tool


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sandbox = BwrapSandbox()  # or DockerSandbox(image="python:3.12-slim")
        limits = SandboxLimits(timeout=10, memory=256 * 1024 * 1024, processes=16)
        result = await sandbox.run("python", "print(6 * 7)", workdir=workdir, limits=limits)
        print(result.exit_code, result.stdout.text().strip())  # 0 42

        tool = make_run_code_tool(sandbox, limits=limits)  # the tool, for LLMAgent(tools=[...])
        print(tool.spec.name, sorted(tool.spec.parameters["properties"]))


if __name__ == "__main__":
    asyncio.run(main())
