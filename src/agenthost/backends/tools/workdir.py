"""The per-session work directory that the file tools (and later `run_code`) share.

    $AGENTHOST_HOME/workdirs/<app>/<user>/<session>/

Each id is user input, so each becomes one safe directory name: its letters, digits, `-`, `_`
and `.` (at most 40, no leading dot) followed by a hash of the whole id, so two ids never
share a directory and no id can name `..` or a path. The directory is made (mode 0700) on
first use. A tool learns its session from the run it executes in (`engine.host.current_run`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from agenthost.engine.host import current_run

HOME_ENV = "AGENTHOST_HOME"  # the same variable as config.paths (a layer above backends)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class NoRunError(RuntimeError):
    """The caller is not a tool executing inside a run, so there is no session."""


def workdirs_root(root: str | os.PathLike[str] | None = None) -> Path:
    """`root` (made absolute), else `$AGENTHOST_HOME/workdirs` (default `~/.agenthost`)."""
    if root is not None:
        return Path(root).expanduser().absolute()
    home = os.environ.get(HOME_ENV) or "~/.agenthost"
    return Path(home).expanduser().absolute() / "workdirs"


def safe_name(raw: str) -> str:
    """One directory name for the id `raw`: readable prefix + 16 hex digits of its hash."""
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    prefix = _UNSAFE.sub("_", raw).lstrip(".")[:40]
    return f"{prefix}-{digest}" if prefix else digest


def session_workdir(
    app: str, user_id: str, session_id: str, *, root: str | os.PathLike[str] | None = None
) -> Path:
    """The work directory of one session, made if missing."""
    path = workdirs_root(root) / safe_name(app) / safe_name(user_id) / safe_name(session_id)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def run_workdir(root: str | os.PathLike[str] | None = None) -> Path:
    """The work directory of the session whose run is calling this tool."""
    found = current_run()
    if found is None:
        raise NoRunError(
            "the file tools work in the session's work directory, so they must be called "
            "by an agent inside a run (Runner.run), not directly"
        )
    context = found[1].context
    return session_workdir(context.app, context.user_id, context.conversation_id, root=root)


# ---- safe access inside a work directory -------------------------------------------------

MAX_PATH = 1024  # characters of a relative path
MAX_NAME = 255  # bytes of one component (the usual file-system limit)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathRefused(ValueError):
    """A path the sandbox will not open; the message says why and what to do instead."""


def split_path(path: str) -> list[str]:
    """The components of a path relative to the work directory ('.' and '' dropped); a
    PathRefused for an absolute path, `..`, a NUL byte or a too long path or name."""
    if "\x00" in path:
        raise PathRefused(f"path {path[:80]!r} contains a NUL byte; give a plain relative path")
    if len(path) > MAX_PATH:
        raise PathRefused(f"path is {len(path)} characters long; the limit is {MAX_PATH}")
    if path.startswith(("/", "\\")):
        raise PathRefused(
            f"path {path!r} is absolute; give a path relative to the work directory "
            f"(e.g. 'notes.txt')"
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise PathRefused(f"path {path!r} uses '..'; paths may not leave the work directory")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise PathRefused(f"a name in path {path[:80]!r}... is longer than {MAX_NAME} bytes")
    return parts


def open_root(root: Path) -> int:
    """A directory fd on the work directory itself (which must not be a symlink)."""
    return os.open(root, _DIR_FLAGS)


def open_dir(root_fd: int, parts: list[str], shown: str, *, create: bool = False) -> int:
    """A new fd on the directory `parts` below `root_fd`, opened one component at a time
    with O_NOFOLLOW, so a symlink anywhere on the way (even one swapped in after a check) is
    refused. `create`: make missing directories. The caller closes the fd."""
    fd = os.dup(root_fd)
    for part in parts:
        fd = _step(fd, part, shown, create)
    return fd


def _step(fd: int, part: str, shown: str, create: bool) -> int:
    """The fd of `part` in the directory `fd`, which is closed in every case."""
    try:
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(part, 0o700, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        raise PathRefused(f"no directory {part!r} in path {shown!r}") from None
    except OSError as exc:
        raise refusal(fd, part, shown, exc) from None
    finally:
        os.close(fd)
    return child


def refusal(dir_fd: int, name: str, shown: str, exc: OSError) -> PathRefused:
    """A clear PathRefused for a failed open of `name` in `dir_fd`."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return PathRefused(f"{shown!r}: {name!r} is a symbolic link; links are not followed")
    if mode and not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        return PathRefused(f"{shown!r}: {name!r} is a special file; only regular files are used")
    if stat.S_ISREG(mode):
        return PathRefused(f"{shown!r}: {name!r} is a file, not a directory")
    return PathRefused(f"{shown!r}: {exc.strerror or exc}")
