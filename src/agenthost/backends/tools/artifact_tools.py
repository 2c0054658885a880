"""`save_artifact`: a tool that keeps a file of the session's work directory (what the file
tools and `run_code` write) as an artifact of the session, a new version each time.

The file is opened as the file tools open theirs (no symlink anywhere on the path, regular
files only), and saved through the run's own `host.artifacts`, so the run's grant applies:
without an artifact store or the `save` grant the tool answers with an error the model reads.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os

from agenthost.backends.tools.files import _open_file
from agenthost.backends.tools.workdir import NoRunError, PathRefused, open_root, run_workdir
from agenthost.core.errors import HostAPIError, ToolError
from agenthost.engine.function_tool import FunctionTool
from agenthost.engine.host import current_run

MAX_BYTES = 50_000_000

__all__ = ["save_artifact"]


def _read(path: str) -> bytes:
    root_fd = open_root(run_workdir())
    try:
        fd = _open_file(root_fd, path, os.O_RDONLY)
    finally:
        os.close(root_fd)
    try:
        if os.fstat(fd).st_size > MAX_BYTES:
            raise PathRefused(f"{path!r} is over {MAX_BYTES} bytes")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)


async def _save_artifact(path: str, name: str = "") -> str:
    """Save a file of your work directory as an artifact of this session (each save is a new
    version); returns its reference. `name` defaults to the file's path."""
    found = current_run()
    if found is None or found[0].artifacts is None or found[1].resources.artifacts is None:
        raise ToolError("save_artifact: this run has no artifact store", tool_name="save_artifact")
    try:
        data = await asyncio.to_thread(_read, path)
        info = await found[0].artifacts.save(
            name or path.strip("/"),
            data,
            mime_type=mimetypes.guess_type(path)[0] or "application/octet-stream",
            metadata={"source": "workdir", "path": path},
        )
    except (NoRunError, PathRefused, HostAPIError) as exc:
        raise ToolError(f"save_artifact: {exc}", tool_name="save_artifact") from None
    except OSError as exc:
        raise ToolError(
            f"save_artifact: {exc.strerror or exc}", tool_name="save_artifact"
        ) from None
    return f"saved {path} as {info.ref} ({info.size} bytes)"


save_artifact = FunctionTool(_save_artifact, name="save_artifact")
