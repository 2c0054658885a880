"""The bubblewrap backend: each call in fresh Linux namespaces, over a tmpfs copy of the work
directory.

One call:

1. bwrap makes new user, mount, pid, network, IPC and UTS namespaces (no network but a
   loopback of its own; nested user namespaces disabled), binds /usr (and the /bin, /lib
   links or directories, a few files of /etc) read-only, mounts a fresh /proc and /dev, and
   a tmpfs of `limits.disk` bytes on /work (and of `limits.tmp_size` on /tmp); the rest
   of the tree (bwrap's own root tmpfs) is remounted read-only.
2. A bash prelude unpacks the work directory there (a tar stream the host writes, see
   _transfer), says it is ready, and waits. The host opens /work through /proc/<pid>/root and
   records every file's signature; then it lets the prelude go.
3. The prelude execs `prlimit` with the limits (CPU seconds, address space, processes, file
   size, open files), which execs python3 or bash with the code.
4. When that process ends, the pid namespace's init dies (the host kills it and waits on
   its pidfd, as bwrap may exit first) and the kernel kills every process
   left in it (background jobs, daemons, fork bombs); past `limits.timeout` the host kills
   bwrap, whose child dies with it (--die-with-parent) and takes the namespace down the same
   way. Then the host copies back what changed.

The process limit counts per user namespace, but the kernel does not enforce RLIMIT_NPROC
on uid 0, so when agenthost runs as root, bwrap runs as an unprivileged uid (`uid`, default
65534): the code never runs as root outside its namespace, and root-only host files are not
readable through the read-only binds either.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agenthost.backends.tools.sandbox._process import Watch, reaped, start
from agenthost.backends.tools.sandbox._transfer import (
    Changes,
    Signature,
    copy_out,
    snapshot,
    usage,
    walk,
    write_tar,
)
from agenthost.backends.tools.sandbox._types import CodeResult, Language, SandboxLimits, why_killed
from agenthost.backends.tools.workdir import open_root
from agenthost.core.errors import SandboxUnavailable, ToolError

INSTALL_HINT = (
    "install it with `apt-get install bubblewrap` (Debian, Ubuntu) or `dnf install bubblewrap` "
    "(Fedora), or use the Docker backend (AGENTHOST_SANDBOX=docker)"
)
# Files of /etc that programs need (the dynamic linker's cache, time zone, certificates);
# the rest of /etc (passwd, shadow, the host's configuration) stays out.
ETC = (
    "alternatives",
    "ca-certificates",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "ssl",
)
PATH = "/usr/local/bin:/usr/bin:/bin"
# Runs as the sandbox's user: unpack the work directory, say "ready", wait for "go", run.
PRELUDE = """r=$1 g=$2 x=$3; shift 3
if [ "$x" = 1 ]; then
  tar -x -f - -C /work || { echo "unpacking the work directory failed" >&2; exit 125; }
fi
exec </dev/null
echo ready >&"$r"; exec {r}>&-
read -r _ <&"$g" || exit 125
exec {g}<&-
exec "$@"
"""


class BwrapSandbox:
    """Runs code with bubblewrap (`bwrap`); see the module docstring for what one call does.

    `python` and `shell` are the interpreters inside the sandbox (found on its PATH, the
    host's /usr); `uid` is the user bwrap runs as when agenthost runs as root."""

    def __init__(
        self,
        *,
        bwrap: str | None = None,
        python: str = "python3",
        shell: str = "bash",
        uid: int = 65534,
    ) -> None:
        self.bwrap = bwrap
        self.python = python
        self.shell = shell
        self.uid = uid

    def executable(self) -> str:
        """The bwrap binary; SandboxUnavailable naming the fix when it is missing."""
        found = shutil.which(self.bwrap or "bwrap")
        if found is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}.")
        for tool, package in (("bash", "bash"), ("prlimit", "util-linux"), ("tar", "tar")):
            if shutil.which(tool, path=PATH) is None:
                raise SandboxUnavailable(
                    f"the sandbox needs {tool!r} in /usr/bin: install the {package} package."
                )
        return found

    def argv(
        self, language: Language, code: str, limits: SandboxLimits, fds: Sequence[int], unpack: bool
    ) -> list[str]:
        """The bwrap command line; `fds` are the info, ready and go descriptors."""
        info, ready, go = fds
        interpreter = (
            [self.python, "-c", code] if language == "python" else [self.shell, "-c", code]
        )
        return [
            self.executable(),
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            *system_binds(),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            *("--size", str(limits.disk), "--perms", "0700", "--tmpfs", "/work"),
            *("--size", str(limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp"),
            *("--remount-ro", "/"),  # bwrap's root is a tmpfs: read-only, as the system is
            *("--chdir", "/work", "--clearenv"),
            *("--setenv", "PATH", PATH, "--setenv", "HOME", "/work", "--setenv", "TMPDIR", "/tmp"),
            *("--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"),
            *("--info-fd", str(info), "--"),
            *("bash", "-c", PRELUDE, "prelude", str(ready), str(go), "1" if unpack else "0"),
            *rlimits(limits),
            *interpreter,
        ]

    async def run(
        self, language: Language, code: str, *, workdir: Path, limits: SandboxLimits
    ) -> CodeResult:
        host_fd = open_root(workdir)
        try:
            held = usage(host_fd)
            if held > limits.disk:
                raise ToolError(
                    f"run_code: the work directory holds {held} bytes, more than the "
                    f"sandbox's disk of {limits.disk}; delete files first",
                    tool_name="run_code",
                )
            unpack = any(True for _ in walk(host_fd))
            return await self._run(language, code, limits, host_fd, unpack)
        finally:
            os.close(host_fd)

    async def _run(
        self, language: Language, code: str, limits: SandboxLimits, host_fd: int, unpack: bool
    ) -> CodeResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        info_r, info_w = os.pipe()
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        tar_r, tar_w = os.pipe()
        box = _Box(info_r, ready_r, go_w)
        try:
            process, cancelled = await start(
                *self.argv(language, code, limits, (info_w, ready_w, go_r), unpack),
                stdin=tar_r,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(info_w, ready_w, go_r),
                start_new_session=True,
                **self._user(),
            )
        except BaseException:
            box.close()
            _close(tar_w)
            raise
        finally:
            for fd in (info_w, ready_w, go_r, tar_r):  # the sandbox's ends
                _close(fd)
        feeder = _TarFeeder(host_fd, tar_w, unpack)
        watch = Watch(limits.max_output, started)
        stopped: str | None = None
        try:
            try:
                async with reaped(process, before=box.kill):
                    if cancelled:  # while it started: killed on the way out, as any other time
                        raise asyncio.CancelledError
                    try:
                        async with asyncio.timeout(limits.timeout), asyncio.TaskGroup() as tasks:
                            tasks.create_task(watch.drain(process.stdout, watch.stdout))
                            tasks.create_task(watch.drain(process.stderr, watch.stderr))
                            await self._start(box)
                            await process.wait()
                    except TimeoutError:
                        stopped = (
                            f"timed out after {limits.timeout}s; all its processes were killed"
                        )
            finally:
                await asyncio.shield(box.ended())
                await asyncio.to_thread(feeder.join)
            changes = await asyncio.to_thread(box.copy_back, host_fd)
        finally:
            box.close()
        code_ = process.returncode if stopped is None else None
        return _result(code_, stopped, watch, changes, limits, loop.time() - started)

    async def _start(self, box: _Box) -> None:
        """Wait until the sandbox is set up and the files are in, open its /work, let it go
        (or, when bwrap or the prelude failed, close "go": stderr says why)."""
        try:
            while (child := box.read_info()) is None and not box.info_ended:
                await readable(box.info_fd)
            if not await box.ready() or child is None:
                return
            box.fd = os.open(
                f"/proc/{child}/root/work", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
            )
            box.before = await asyncio.to_thread(snapshot, box.fd)
            os.write(box.go_fd, b"go\n")
        finally:
            box.go_fd = _close(box.go_fd)

    def _user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.uid, "extra_groups": []}


class _Box:
    """The sandbox's /work, held open by the host (it outlives the sandbox's processes), and
    its files' signatures before the code ran; the host's ends of the pipes to bwrap and the
    prelude (info, ready, go)."""

    def __init__(self, info_fd: int, ready_fd: int, go_fd: int) -> None:
        self.fd: int | None = None
        self.before: dict[str, Signature] = {}
        self.info_fd = info_fd  # bwrap's --info-fd (non-blocking): the init's pid
        os.set_blocking(info_fd, False)
        self.ready_fd = ready_fd  # the prelude's "ready" (non-blocking)
        os.set_blocking(ready_fd, False)
        self.go_fd = go_fd  # "go" to the prelude; closed, it exits
        self.info = b""
        self.info_ended = False
        self.child: int | None = None
        self.init: int | None = None  # a pidfd on the pid namespace's init

    def read_info(self) -> int | None:
        """The init's pid from bwrap's info once it is all there (None before), and a pidfd
        on it if it is still that process."""
        if self.child is not None or self.info_fd < 0 or self.info_ended:
            return self.child
        try:
            while chunk := os.read(self.info_fd, 65536):
                self.info += chunk
            self.info_ended = True
        except BlockingIOError:
            pass
        try:
            info = json.loads(self.info)
        except ValueError:
            return None
        pid, namespace = info.get("child-pid"), info.get("pid-namespace")
        if not isinstance(pid, int):
            return None
        self.child = pid
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return pid
        try:  # checked after pidfd_open: a pid reused before it is in another namespace
            same = os.stat(f"/proc/{pid}/ns/pid").st_ino == namespace
        except OSError:
            same = False
        if same:
            self.init = pidfd
        else:
            os.close(pidfd)
        return pid

    async def ended(self) -> None:
        """Kill the namespace's init and wait until it is gone: bwrap may exit as soon as
        the code's process ends, before its init has taken the namespace's other processes
        down. When the init has exited, the kernel has killed and reaped all of them."""
        self.kill()
        if self.init is None:
            return
        pidfd, self.init = self.init, None
        try:
            await readable(pidfd)
        finally:
            os.close(pidfd)

    async def ready(self) -> bool:
        """True once the prelude said it is ready, False if it ended first."""
        while True:
            try:
                return os.read(self.ready_fd, 64) != b""
            except BlockingIOError:
                await readable(self.ready_fd)

    def kill(self) -> None:
        """Close "go" (a prelude still waiting for it exits, and bwrap's init with it, even
        one that outlived bwrap) and SIGKILL the namespace's init (its info read first if it
        came late)."""
        self.go_fd = _close(self.go_fd)
        self.read_info()
        if self.init is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init, signal.SIGKILL)

    def copy_back(self, host_fd: int) -> Changes:
        return Changes() if self.fd is None else copy_out(self.fd, host_fd, self.before)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.info_fd = _close(self.info_fd)
        self.ready_fd = _close(self.ready_fd)
        self.go_fd = _close(self.go_fd)


async def readable(fd: int) -> None:
    """Wait until `fd` is readable (a pipe with data or closed, a pidfd whose process ended)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class _TarFeeder:
    """Writes the tar stream of the work directory into the sandbox's stdin, in a thread
    (it ends on EPIPE when the sandbox is gone; `join` waits for it)."""

    def __init__(self, host_fd: int, fd: int, unpack: bool) -> None:
        self.thread: threading.Thread | None = None
        if not unpack:
            os.close(fd)
            return
        self.thread = threading.Thread(target=self._feed, args=(host_fd, fd), daemon=True)
        self.thread.start()

    @staticmethod
    def _feed(host_fd: int, fd: int) -> None:
        with os.fdopen(fd, "wb") as out, contextlib.suppress(BrokenPipeError, ConnectionResetError):
            write_tar(host_fd, out)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()


def system_binds() -> list[str]:
    """/usr read-only; /bin, /lib, ... as the same links (merged /usr) or read-only binds."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in [f"/etc/{name}" for name in ETC] + sorted(glob.glob("/etc/python3*")):
        args += ["--ro-bind-try", path, path]
    return args


def rlimits(limits: SandboxLimits) -> list[str]:
    cpu = max(1, limits.cpu_seconds)
    return [
        "prlimit",
        f"--cpu={cpu}:{cpu + 1}",
        f"--as={limits.memory}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_size}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _close(fd: int) -> int:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)
    return -1


def _result(
    exit_code: int | None,
    stopped: str | None,
    watch: Watch,
    changes: Changes,
    limits: SandboxLimits,
    duration: float,
) -> CodeResult:
    if stopped is None and exit_code is not None:
        stopped = why_killed(exit_code, limits)
    notes = [f"not copied back: {', '.join(changes.skipped[:10])}"] if changes.skipped else []
    if changes.deleted:
        notes.append(f"files deleted: {', '.join(changes.deleted[:20])}")
    return CodeResult(
        exit_code=exit_code,
        stdout=watch.stdout,
        stderr=watch.stderr,
        stopped=stopped,
        files=changes.written,
        notes=notes,
        duration=duration,
        first_output=watch.first_output,
    )
