"""The Docker backend: each call in a fresh container (`docker run --rm`), with the docker CLI.

The container has no network (`--network none`), a read-only root file system, no
capabilities (`--cap-drop ALL`, `no-new-privileges`), cgroup limits on processes
(`--pids-limit`) and memory (`--memory`, no swap), ulimits on CPU seconds, file size and open
files, a bounded tmpfs on /tmp, and the session's work directory bind-mounted on /work as
agenthost's own uid (so the file tools and the code see the same files, with the same owner).
Past the deadline, or when the call is cancelled, `docker rm -f` kills and removes it.

The daemon must run on this machine (a bind mount names a path of the daemon's host); the
total size of the work directory is bounded only by the per-file limit here (bwrap bounds it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from agenthost.backends.tools.sandbox._process import Watch, reaped, start
from agenthost.backends.tools.sandbox._transfer import Changes, Signature, snapshot
from agenthost.backends.tools.sandbox._types import CodeResult, Language, SandboxLimits, why_killed
from agenthost.backends.tools.workdir import open_root
from agenthost.core.errors import SandboxUnavailable

DEFAULT_IMAGE = "python:3.12-slim"


class DockerSandbox:
    """Runs code in `image` (it must have `python` and `shell`) through the `docker` CLI
    (DOCKER_HOST and the CLI's other settings apply)."""

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        docker: str = "docker",
        python: str = "python3",
        shell: str = "bash",
    ) -> None:
        self.image = image
        self.docker = docker
        self.python = python
        self.shell = shell

    async def check(self) -> None:
        """SandboxUnavailable unless the CLI is installed and a daemon answers it."""
        try:
            process = await asyncio.create_subprocess_exec(
                self.docker,
                "version",
                "--format",
                "{{.Server.Version}}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # kill_tree kills its process group
            )
        except FileNotFoundError:
            raise SandboxUnavailable(
                f"the Docker CLI {self.docker!r} is not installed: install Docker, or use the "
                f"bubblewrap backend (AGENTHOST_SANDBOX=bwrap)."
            ) from None
        async with reaped(process):
            out, err = await asyncio.wait_for(process.communicate(), 30)
        if process.returncode != 0 or not out.strip():
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no answer"]
            raise SandboxUnavailable(
                f"no Docker daemon answers ({detail[0]}): start it (or set DOCKER_HOST), or "
                f"use the bubblewrap backend (AGENTHOST_SANDBOX=bwrap)."
            )

    def argv(
        self, language: Language, code: str, limits: SandboxLimits, workdir: Path, name: str
    ) -> list[str]:
        cpu = max(1, limits.cpu_seconds)
        interpreter = (
            [self.python, "-c", code] if language == "python" else [self.shell, "-c", code]
        )
        return [
            *(self.docker, "run", "--rm", "--interactive", "--name", name),
            *("--label", "agenthost.sandbox=1", "--network", "none", "--read-only"),
            *("--cap-drop", "ALL", "--security-opt", "no-new-privileges"),
            *("--user", f"{os.getuid()}:{os.getgid()}"),
            *("--pids-limit", str(limits.processes)),
            *("--memory", str(limits.memory), "--memory-swap", str(limits.memory)),
            *("--ulimit", f"cpu={cpu}:{cpu + 1}", "--ulimit", f"fsize={limits.file_size}"),
            *("--ulimit", f"nofile={limits.open_files}:{limits.open_files}"),
            *("--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmp_size}"),
            *("--mount", f"type=bind,source={workdir},target=/work"),
            *("--workdir", "/work", "--env", "HOME=/work", "--env", "TMPDIR=/tmp"),
            *("--env", "PYTHONDONTWRITEBYTECODE=1", self.image),
            *interpreter,
        ]

    async def run(
        self, language: Language, code: str, *, workdir: Path, limits: SandboxLimits
    ) -> CodeResult:
        await self.check()
        loop = asyncio.get_running_loop()
        started = loop.time()
        before = await asyncio.to_thread(_signatures, workdir)
        name = f"agenthost-sandbox-{secrets.token_hex(6)}"
        watch = Watch(limits.max_output, started)
        stopped: str | None = None
        process, cancelled = await start(
            *self.argv(language, code, limits, workdir, name),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            async with reaped(process):
                if cancelled:  # while it started: the container is removed on the way out
                    raise asyncio.CancelledError
                try:
                    async with asyncio.timeout(limits.timeout), asyncio.TaskGroup() as tasks:
                        tasks.create_task(watch.drain(process.stdout, watch.stdout))
                        tasks.create_task(watch.drain(process.stderr, watch.stderr))
                        await process.wait()
                except TimeoutError:
                    stopped = f"timed out after {limits.timeout}s; the container was removed"
        finally:
            await asyncio.shield(self._remove(name))
        after = await asyncio.to_thread(_signatures, workdir)
        written = [path for path, sig in after.items() if before.get(path) != sig]
        exit_code = None if stopped else process.returncode
        return CodeResult(
            exit_code=exit_code,
            stdout=watch.stdout,
            stderr=watch.stderr,
            stopped=stopped or (why_killed(exit_code, limits) if exit_code is not None else None),
            files=written,
            notes=[f"files deleted: {', '.join(p for p in before if p not in after)}"]
            if any(p not in after for p in before)
            else [],
            duration=loop.time() - started,
            first_output=watch.first_output,
        )

    async def _remove(self, name: str) -> None:
        """`docker rm -f`: kills the container if it still runs (harmless when gone)."""
        process = await asyncio.create_subprocess_exec(
            self.docker,
            "rm",
            "--force",
            name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # kill_tree kills its process group
        )
        async with reaped(process):
            await asyncio.wait_for(process.wait(), 60)


def _signatures(workdir: Path) -> dict[str, Signature]:
    fd = open_root(workdir)
    try:
        return snapshot(fd)
    finally:
        os.close(fd)


__all__ = ["DEFAULT_IMAGE", "Changes", "DockerSandbox"]
