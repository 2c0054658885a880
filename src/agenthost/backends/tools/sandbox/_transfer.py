"""Moving a work directory into a sandbox's tmpfs and the changes back out.

In: the host walks the work directory (never following a link) and writes its directories and
regular files as a tar stream, which `tar -x` inside the sandbox unpacks as the sandbox's user
before the code starts. Out: the host keeps a descriptor on the sandbox's tmpfs (opened through
/proc/<pid>/root before the code starts, so it outlives the sandbox's processes), and after the
call copies back each regular file whose inode, size or times changed, makes new directories,
and deletes what the code deleted. Links, FIFOs and devices the code made are not copied; the
result says so. Nothing here follows a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from agenthost.backends.tools.workdir import open_dir

_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

Signature = tuple[int, int, int, int]  # inode, size, mtime_ns, ctime_ns


def walk(root_fd: int) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below the directory `root_fd` as (relative path, lstat), parents first."""
    for rel, dirs, names, fd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
        for name in sorted(dirs) + sorted(names):
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield os.path.normpath(os.path.join(rel, name)), info


def usage(root_fd: int) -> int:
    return sum(info.st_size for _path, info in walk(root_fd) if stat.S_ISREG(info.st_mode))


def write_tar(root_fd: int, out: BinaryIO) -> None:
    """The directories and regular files below `root_fd` as a tar stream to `out`."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, info in walk(root_fd):
            item = tarfile.TarInfo(path)
            item.mtime = info.st_mtime
            item.mode = stat.S_IMODE(info.st_mode) | 0o600  # its owner may always read it
            if stat.S_ISDIR(info.st_mode):
                item.type = tarfile.DIRTYPE
                item.mode |= 0o700
                tar.addfile(item)
            elif stat.S_ISREG(info.st_mode):
                _add_file(tar, root_fd, path, item)


def _add_file(tar: tarfile.TarFile, root_fd: int, path: str, item: tarfile.TarInfo) -> None:
    parent, _, name = path.rpartition("/")
    dir_fd = open_dir(root_fd, parent.split("/") if parent else [], path)
    try:
        fd = os.open(name, _NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return  # gone or swapped for a link meanwhile: not copied
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return
        item.size = info.st_size
        tar.addfile(item, stream)


def snapshot(root_fd: int) -> dict[str, Signature]:
    """Each entry's signature; any write, rename or replacement changes it."""
    return {
        path: (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        for path, info in walk(root_fd)
    }


@dataclass(slots=True)
class Changes:
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # links, FIFOs, devices, sockets


def copy_out(box_fd: int, host_fd: int, before: dict[str, Signature]) -> Changes:
    """Bring the host directory `host_fd` up to date with the sandbox's `box_fd`."""
    changes = Changes()
    after: dict[str, os.stat_result] = dict(walk(box_fd))
    for path, info in after.items():
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            if path not in before:
                os.close(open_dir(host_fd, path.split("/"), path, create=True))
        elif stat.S_ISREG(mode):
            signature = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            if before.get(path) != signature:
                try:
                    _copy_file(box_fd, host_fd, path)
                except (OSError, ValueError) as exc:  # a link or a file on the host's way
                    changes.skipped.append(f"{path} ({exc})")
                    continue
                changes.written.append(path)
        else:
            changes.skipped.append(f"{path} (not a regular file)")
    for path in sorted(before, key=len, reverse=True):  # children before their directory
        if path not in after:
            _remove(host_fd, path)
            changes.deleted.append(path)
    return changes


def _copy_file(box_fd: int, host_fd: int, path: str) -> None:
    parent, _, name = path.rpartition("/")
    parts = parent.split("/") if parent else []
    src_dir = open_dir(box_fd, parts, path)
    try:
        src = os.open(name, _NOFOLLOW, dir_fd=src_dir)
    finally:
        os.close(src_dir)
    dst_dir = open_dir(host_fd, parts, path, create=True)
    temp = f".{name[:200]}.{secrets.token_hex(4)}.tmp"
    try:
        dst = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dst_dir)
        try:
            while chunk := os.read(src, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view) :]
            os.fchmod(dst, stat.S_IMODE(os.fstat(src).st_mode) & 0o755 | 0o600)
        finally:
            os.close(dst)
        os.rename(temp, name, src_dir_fd=dst_dir, dst_dir_fd=dst_dir)
    except BaseException:
        _unlink_quietly(temp, dst_dir)
        raise
    finally:
        os.close(src)
        os.close(dst_dir)


def _remove(host_fd: int, path: str) -> None:
    parent, _, name = path.rpartition("/")
    try:
        dir_fd = open_dir(host_fd, parent.split("/") if parent else [], path)
    except (OSError, ValueError):
        return  # its directory is gone already
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass  # changed on the host meanwhile (not empty, gone): left as it is
    finally:
        os.close(dir_fd)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)
