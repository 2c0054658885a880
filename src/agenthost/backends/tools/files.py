"""File tools in a sandbox: list, read, write and search files in the session's work directory.

`tools: ["files:*"]` (or `["files:read_file", "files:list_files"]`) in agenthost.yaml gives an
agent these tools; in code, `file_tools(root=..., limits=FileLimits(...))` makes them with
another root or other limits. Each call works in the work directory of the session whose run
calls it (`$AGENTHOST_HOME/workdirs/<app>/<user>/<session>`, see `workdir`).

Every path is relative to that directory and opened one component at a time with O_NOFOLLOW
(`workdir.open_dir`): absolute paths, `..`, NUL bytes, symbolic links (also one swapped in
between a check and the open) and special files (FIFOs, devices, sockets) are refused with a
message the model reads as a tool error. Reads, writes, listings and searches are bounded, so a
50 MB file costs at most `max_read` bytes of memory.
"""

from __future__ import annotations

import codecs
import os
import re
import secrets
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from agenthost.backends.tools.workdir import (
    NoRunError,
    PathRefused,
    open_dir,
    open_root,
    refusal,
    run_workdir,
    split_path,
)
from agenthost.core.errors import ToolError
from agenthost.engine.function_tool import FunctionTool

__all__ = ["TOOLS", "FileLimits", "FileTools", "file_tools"]

_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class FileLimits:
    """Bounds of the file tools (bytes unless said otherwise)."""

    max_read: int = 256 * 1024  # per read_file call; `limit` is clamped to it
    max_write: int = 1024 * 1024  # per write_file call
    quota: int = 100 * 1024 * 1024  # all files of one session's work directory
    max_entries: int = 500  # lines of a list_files answer
    max_matches: int = 100  # lines of a search_files answer
    max_line: int = 200  # characters of a matching line shown by search_files
    max_scan: int = 64 * 1024 * 1024  # bytes search_files reads in one call


class FileTools:
    """The four tools over one root of work directories (None: `$AGENTHOST_HOME/workdirs`)."""

    def __init__(
        self, root: str | os.PathLike[str] | None = None, limits: FileLimits | None = None
    ) -> None:
        self.root = root
        self.limits = limits or FileLimits()

    def tools(self) -> list[FunctionTool]:
        return [
            FunctionTool(self.list_files),
            FunctionTool(self.read_file),
            FunctionTool(self.write_file),
            FunctionTool(self.search_files),
        ]

    # ---- the tools (run in a worker thread; the run's context comes along) ---------------

    def list_files(self, path: str = ".") -> str:
        """List the files and directories in a directory of your work directory.

        Args:
            path: A directory relative to the work directory; "." is the work directory.
        """
        return self._guard("list_files", lambda root: self._list(root, path))

    def read_file(self, path: str, offset: int = 0, limit: int = 65536) -> str:
        """Read a text file of your work directory, a part at a time for a big file.

        Args:
            path: The file, relative to the work directory.
            offset: The byte to start at (the answer says where the next part starts).
            limit: How many bytes to read at most.
        """
        return self._guard("read_file", lambda root: self._read(root, path, offset, limit))

    def write_file(self, path: str, content: str, append: bool = False) -> str:
        """Write a text file in your work directory (missing directories are made).

        Args:
            path: The file, relative to the work directory.
            content: The text to write; it replaces the file unless append is true.
            append: Add the content at the end of the file instead of replacing it.
        """
        return self._guard("write_file", lambda root: self._write(root, path, content, append))

    def search_files(self, pattern: str, path: str = ".", regex: bool = False) -> str:
        """Search the file names and the lines of the files under a directory of your work
        directory.

        Args:
            pattern: The text to look for (a Python regular expression if regex is true).
            path: The directory to search, relative to the work directory.
            regex: Treat the pattern as a regular expression.
        """
        return self._guard("search_files", lambda root: self._search(root, path, pattern, regex))

    # ---- plumbing ------------------------------------------------------------------------

    def _guard(self, name: str, action: Callable[[int], str]) -> str:
        try:
            root_fd = open_root(run_workdir(self.root))
        except NoRunError as exc:
            raise ToolError(f"{name}: {exc}", tool_name=name) from None
        try:
            return action(root_fd)
        except PathRefused as exc:
            raise ToolError(f"{name}: {exc}", tool_name=name) from None
        except OSError as exc:
            raise ToolError(f"{name}: {exc.strerror or exc}", tool_name=name) from None
        finally:
            os.close(root_fd)

    def _list(self, root_fd: int, path: str) -> str:
        fd = open_dir(root_fd, split_path(path), path)
        try:
            lines = [_describe(entry) for entry in sorted(os.scandir(fd), key=lambda e: e.name)]
        finally:
            os.close(fd)
        if not lines:
            return f"{path}: empty directory"
        shown = lines[: self.limits.max_entries]
        more = len(lines) - len(shown)
        return "\n".join(shown) + (f"\n[{more} more entries not shown]" if more > 0 else "")

    def _read(self, root_fd: int, path: str, offset: int, limit: int) -> str:
        if offset < 0 or limit < 1:
            raise PathRefused(f"offset must be >= 0 and limit >= 1 (got {offset}, {limit})")
        limit = min(limit, self.limits.max_read)
        fd = _open_file(root_fd, path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, limit, offset)
        finally:
            os.close(fd)
        if b"\x00" in data[:8192]:
            return f"{path}: a binary file of {size} bytes; read_file reads text files only"
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = decoder.decode(data, final=offset + len(data) >= size)
        end = offset + len(data) - len(decoder.getstate()[0])
        if offset == 0 and end >= size:
            return text
        note = f"[bytes {offset}-{end} of {size}"
        note += f"; read_file with offset={end} for more]" if end < size else "]"
        return f"{note}\n{text}"

    def _write(self, root_fd: int, path: str, content: str, append: bool) -> str:
        data = content.encode("utf-8", "surrogateescape")
        if len(data) > self.limits.max_write:
            raise PathRefused(
                f"content is {len(data)} bytes; write_file takes at most {self.limits.max_write}"
                f" per call (write the rest with append=true)"
            )
        parts = split_path(path)
        if not parts:
            raise PathRefused("path is empty; name the file to write (e.g. 'notes.txt')")
        dir_fd = open_dir(root_fd, parts[:-1], path, create=True)
        try:
            old = _existing_size(dir_fd, parts[-1], path)
            used = _usage(root_fd)
            grown = len(data) if append else len(data) - old
            if used + grown > self.limits.quota:
                raise PathRefused(
                    f"the work directory would hold {used + grown} bytes, over its quota of "
                    f"{self.limits.quota}; delete or shorten files first"
                )
            _replace(dir_fd, parts[-1], data, append, path)
        finally:
            os.close(dir_fd)
        return f"wrote {len(data)} bytes to {path}" + (" (appended)" if append else "")

    def _search(self, root_fd: int, path: str, pattern: str, regex: bool) -> str:
        if not pattern or len(pattern) > 200:
            raise PathRefused("pattern must be 1 to 200 characters long")
        try:
            compiled = re.compile(pattern if regex else re.escape(pattern))
        except re.error as exc:
            raise PathRefused(
                f"pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from None
        parts = split_path(path)
        fd = open_dir(root_fd, parts, path)
        found: list[str] = []
        try:
            for hit in _matches(fd, "/".join(parts), compiled, self.limits):
                found.append(hit)
                if len(found) > self.limits.max_matches:
                    break
        finally:
            os.close(fd)
        if not found:
            return f"no match for {pattern!r} under {path}"
        if len(found) > self.limits.max_matches:
            return "\n".join(found[:-1]) + "\n[more matches not shown; narrow the search]"
        return "\n".join(found)


def file_tools(
    root: str | os.PathLike[str] | None = None, *, limits: FileLimits | None = None
) -> list[FunctionTool]:
    """list_files, read_file, write_file and search_files over work directories under `root`
    (default `$AGENTHOST_HOME/workdirs`), bounded by `limits`."""
    return FileTools(root, limits).tools()


TOOLS = file_tools()
list_files, read_file, write_file, search_files = TOOLS


# ---- helpers ------------------------------------------------------------------------------


def _describe(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return f"{entry.name}  (symbolic link, not followed)"
    if entry.is_dir(follow_symlinks=False):
        return f"{entry.name}/"
    if entry.is_file(follow_symlinks=False):
        return f"{entry.name}  ({entry.stat(follow_symlinks=False).st_size} bytes)"
    return f"{entry.name}  (special file)"


def _open_file(root_fd: int, path: str, flags: int) -> int:
    """An fd on the regular file `path` (no symlink anywhere, not a special file)."""
    parts = split_path(path)
    if not parts:
        raise PathRefused(f"{path!r} is the work directory; name a file in it")
    dir_fd = open_dir(root_fd, parts[:-1], path)
    try:
        fd = os.open(parts[-1], flags | _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise PathRefused(f"no file {path!r} (list_files shows what there is)") from None
    except OSError as exc:
        raise refusal(dir_fd, parts[-1], path, exc) from None
    finally:
        os.close(dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a special file"
        raise PathRefused(f"{path!r} is {kind}, not a regular file")
    return fd


def _existing_size(dir_fd: int, name: str, shown: str) -> int:
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise refusal(dir_fd, name, shown, OSError(0, "not a regular file"))
    return info.st_size


def _replace(dir_fd: int, name: str, data: bytes, append: bool, shown: str) -> None:
    """Write `name` whole through a temporary file renamed over it (a reader never sees half
    a file; rename replaces a symlink swapped in meanwhile rather than following it)."""
    temp = f".{name[:200]}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        if append:
            _copy_existing(dir_fd, name, fd, shown)
        _write_all(fd, data)
        os.close(fd)
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        os.unlink(temp, dir_fd=dir_fd)
        raise


def _copy_existing(dir_fd: int, name: str, out: int, shown: str) -> None:
    try:
        src = os.open(name, os.O_RDONLY | _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise refusal(dir_fd, name, shown, exc) from None
    try:
        while chunk := os.read(src, 1 << 20):
            _write_all(out, chunk)
    finally:
        os.close(src)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _usage(root_fd: int) -> int:
    total = 0
    for _dir, _dirs, names, fd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
        for name in names:
            total += os.stat(name, dir_fd=fd, follow_symlinks=False).st_size
    return total


def _matches(top_fd: int, top: str, pattern: re.Pattern[str], limits: FileLimits) -> Iterator[str]:
    budget = limits.max_scan
    walk = os.fwalk(".", dir_fd=top_fd, follow_symlinks=False)
    for rel, dirs, names, fd in walk:
        dirs.sort()
        for name in dirs:  # a linked directory is named here but never entered
            if pattern.search(name):
                yield f"{os.path.normpath(os.path.join(top, rel, name))}/  (name matches)"
        for name in sorted(names):
            shown = os.path.normpath(os.path.join(top, rel, name))
            if pattern.search(name):
                yield f"{shown}  (name matches)"
            budget -= yield from _lines(fd, name, shown, pattern, limits, budget)
            if budget <= 0:
                yield "[search stopped: read its byte budget; narrow the path]"
                return


def _lines(
    dir_fd: int, name: str, shown: str, pattern: re.Pattern[str], limits: FileLimits, budget: int
) -> Generator[str, None, int]:
    """The matching lines of one regular file (others are skipped); returns bytes read."""
    try:
        fd = os.open(name, os.O_RDONLY | _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return 0  # a symlink or a vanished file: not searched
    read = 0
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        number = 0
        while read < budget and (raw := stream.readline(64 * 1024)):
            read += len(raw)
            number += 1
            if b"\x00" in raw:
                return read  # binary: not searched further
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if pattern.search(line):
                yield f"{shown}:{number}: {line[: limits.max_line]}"
    return read
