"""run_code in a real bubblewrap sandbox: what the code can do, and the escapes that fail.

Every test runs real code with /usr/bin/bwrap (`make test` installs bubblewrap). The limits
are small so that a failing protection shows as a wrong answer, never as a hung machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.backends.tools.files import file_tools
from agenthost.backends.tools.sandbox import (
    BwrapSandbox,
    CodeResult,
    SandboxLimits,
    make_run_code_tool,
)
from agenthost.backends.tools.workdir import session_workdir
from agenthost.config.tools import load_tools
from agenthost.core.errors import SandboxUnavailable
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.testing.scripted import ScriptedModel, tool_call
from tests.example_runs import run_example

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="bubblewrap: apt-get install bubblewrap"
    ),
]

MiB = 1024 * 1024
SMALL = SandboxLimits(cpu_seconds=2, processes=16, disk=8 * MiB, file_size=4 * MiB)


async def run(
    code: str, workdir: Path, language: str = "python", limits: SandboxLimits = SMALL
) -> CodeResult:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    return await BwrapSandbox().run(language, code, workdir=workdir, limits=limits)  # type: ignore[arg-type]


def out(result: CodeResult) -> str:
    return result.stdout.text() + result.stderr.text()


def processes_with(token: str) -> list[int]:
    """Pids of this machine whose command line holds `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline:
                found.append(int(entry))
    return found


# ---- what the code can do ---------------------------------------------------------------------


async def test_python_and_shell_run_in_the_work_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("from the host\n")
    (work / "in.txt").chmod(0o600)  # as the file tools write them
    py = await run("print(open('in.txt').read().strip()); open('out.txt', 'w').write('42')", work)
    assert py.ok and py.stdout.text() == "from the host\n"
    assert py.files == ["out.txt"]
    sh = await run("cat out.txt; echo; echo oops >&2; rm in.txt; exit 3", work, "shell")
    assert sh.exit_code == 3 and not sh.ok
    assert sh.stdout.text() == "42\n" and sh.stderr.text() == "oops\n"
    assert sorted(p.name for p in work.iterdir()) == ["out.txt"]  # the deletion came back
    assert "exit code: 3" in sh.render() and "files deleted: in.txt" in sh.render()


async def test_files_it_writes_are_read_back_by_the_file_tools(tmp_path: Path) -> None:
    """run_code and the file tools share the session's work directory, both ways."""
    async with open_session_store("memory://") as store:
        steps: list[Any] = [
            tool_call("write_file", json.dumps({"path": "data.csv", "content": "a,b\n1,2\n"})),
            tool_call(
                "run_code",
                json.dumps(
                    {
                        "language": "python",
                        "code": "import csv, os\nrows = list(csv.reader(open('data.csv')))\n"
                        "os.makedirs('report')\n"
                        "open('report/sum.txt', 'w').write(str(sum(map(int, rows[1]))))",
                    }
                ),
            ),
            tool_call("read_file", json.dumps({"path": "report/sum.txt"})),
            "done",
        ]
        tools = [*file_tools(tmp_path), make_run_code_tool(BwrapSandbox(), root=tmp_path)]
        runner = Runner(LLMAgent(model=ScriptedModel(steps), tools=tools), store=store, app="t")
        events = await collect(runner.run("ann", "s1", "sum it"))
    results = [e.message.parts[0] for e in events if e.type == "tool.call.completed"]  # type: ignore[union-attr]
    assert [r.is_error for r in results] == [False, False, False]  # type: ignore[union-attr]
    assert "files written: report/sum.txt" in results[1].content  # type: ignore[union-attr]
    assert results[2].content == "3"  # type: ignore[union-attr]
    assert (session_workdir("t", "ann", "s1", root=tmp_path) / "report" / "sum.txt").exists()


async def test_bad_arguments_go_back_to_the_model(tmp_path: Path) -> None:
    async with open_session_store("memory://") as store:
        steps: list[Any] = [
            tool_call("run_code", json.dumps({"language": "ruby", "code": "puts 1"})),
            tool_call("run_code", json.dumps({"language": "python"})),
            "done",
        ]
        tool = make_run_code_tool(BwrapSandbox(), root=tmp_path)
        runner = Runner(LLMAgent(model=ScriptedModel(steps), tools=[tool]), store=store, app="t")
        events = await collect(runner.run("u", "s", "go"))
    results = [e.message.parts[0] for e in events if e.type == "tool.call.completed"]  # type: ignore[union-attr]
    assert all(r.is_error for r in results)  # type: ignore[union-attr]
    assert "Invalid arguments for tool 'run_code'" in results[0].content  # type: ignore[union-attr]
    assert "python" in results[0].content and "shell" in results[0].content  # type: ignore[union-attr]
    assert "code" in results[1].content  # type: ignore[union-attr]
    assert events[-1].type == "run.completed"  # the run went on


# ---- escapes that fail ------------------------------------------------------------------------


async def test_host_files_outside_the_work_directory_cannot_be_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    secret.chmod(0o644)  # world-readable even: it is simply not there
    code = f"""
import os
for path in [{str(secret)!r}, '/etc/shadow', '/etc/hostname', '/root', {str(Path.cwd())!r}]:
    try:
        print(path, 'READ', open(path).read()[:20] if os.path.isfile(path) else os.listdir(path))
    except OSError as exc:
        print(path, 'refused', type(exc).__name__)
print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
"""
    result = await run(code, tmp_path / "work")
    assert "TOP-SECRET" not in out(result) and "READ" not in out(result), out(result)
    assert out(result).count("refused") == 5
    assert "pids [1, 2]" in result.stdout.text()  # its own pid namespace: no host process


async def test_the_system_is_read_only(tmp_path: Path) -> None:
    result = await run("touch /usr/bin/evil /etc/evil /evil; echo done", tmp_path / "w", "shell")
    assert out(result).count("Read-only file system") + out(result).count("Permission") >= 3


async def test_no_network(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"""
import socket
for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('example.com', 80)]:
    try:
        socket.create_connection((host, port), timeout=5).close()
        print(host, 'CONNECTED')
    except OSError as exc:
        print(host, 'failed', type(exc).__name__)
"""
    try:
        result = await run(code, tmp_path / "w")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's loopback
    finally:
        listener.close()
    assert "CONNECTED" not in result.stdout.text(), result.stdout.text()
    assert result.stdout.text().count("failed") == 3


async def test_a_fork_bomb_is_stopped_at_the_process_limit(tmp_path: Path) -> None:
    """Forks until refused: without a process limit that binds (root is exempt from
    RLIMIT_NPROC, hence bwrap runs as an unprivileged uid) all 40 forks would succeed."""
    code = """
import os, time
forked = 0
for _ in range(40):
    try:
        pid = os.fork()
    except OSError as exc:
        print('refused', exc.errno)
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    forked += 1
print('forked', forked)
"""
    limits = SandboxLimits(processes=10)
    result = await run(code, tmp_path / "w", limits=limits)
    forked = int(result.stdout.text().split("forked ")[1])
    assert forked < limits.processes, result.stdout.text()
    assert "refused 11" in result.stdout.text()  # EAGAIN


async def test_a_shell_fork_bomb_ends_and_leaves_nothing(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    bomb = f": {token}; b() {{ b | b & }}; b; sleep 2"
    limits = SandboxLimits(processes=32, timeout=20)
    result = await run(bomb, tmp_path / "w", "shell", limits)
    assert result.exit_code is not None or result.stopped
    assert processes_with(token) == []


async def test_filling_the_disk_stops_at_the_sandbox_disk(tmp_path: Path) -> None:
    """/work is a tmpfs of limits.disk bytes: writing past it fails with ENOSPC, in one big
    file or in many small ones, and the host gets at most that much back."""
    code = """
import os
written = 0
try:
    for i in range(10_000):
        with open(f'fill{i}.bin', 'wb') as f:
            f.write(os.urandom(1024 * 1024))
        written += 1
except OSError as exc:
    print('stopped', exc.errno, 'after', written)
"""
    work = tmp_path / "w"
    result = await run(code, work)
    assert "stopped 28" in result.stdout.text(), out(result)  # ENOSPC
    held = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    assert held <= SMALL.disk
    code = "import os\nopen('big', 'wb').write(os.urandom(20 * 1024 * 1024))"
    big = await run(code, tmp_path / "fresh")
    assert "File too large" in out(big) or big.stopped is not None  # file_size is 4 MiB


async def test_runaway_output_is_bounded_and_stopped(tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        limits = SandboxLimits(cpu_seconds=2, timeout=5)
        result = await run("yes 'all work and no play'", tmp_path / "w", "shell", limits)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stopped is not None, result.render()  # the CPU limit or the deadline
    assert len(result.stdout.head) == SMALL.max_output
    assert result.stdout.total > 10 * SMALL.max_output
    assert "[output truncated:" in result.render()
    assert peak < 8 * MiB


async def test_a_50_mb_output_is_truncated_with_bounded_memory(tmp_path: Path) -> None:
    code = "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * 1048576)"
    tracemalloc.start()
    try:
        result = await run(code, tmp_path / "w")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert result.stdout.total == 50 * MiB and len(result.stdout.head) == SMALL.max_output
    assert f"more bytes of {50 * MiB}" in result.render()
    assert peak < 8 * MiB  # never the 50 MB


async def test_a_program_that_ignores_signals_is_killed_at_its_cpu_limit(tmp_path: Path) -> None:
    code = """
import signal
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
    signal.signal(sig, signal.SIG_IGN)
print('ignoring', flush=True)
while True:
    pass
"""
    result = await run(code, tmp_path / "w", limits=SandboxLimits(cpu_seconds=1, timeout=60))
    assert result.stdout.text() == "ignoring\n"
    assert result.exit_code == 128 + 9  # SIGKILL at the hard CPU limit
    assert result.stopped is not None and "CPU time limit" in result.stopped


async def test_a_sleeping_program_that_ignores_signals_is_killed_at_the_deadline(
    tmp_path: Path,
) -> None:
    token = uuid.uuid4().hex
    code = f"""
import signal, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
print('{token}', flush=True)
time.sleep(600)
"""
    result = await run(code, tmp_path / "w", limits=SandboxLimits(timeout=3))
    assert result.exit_code is None and result.stopped is not None
    assert "timed out after 3" in result.stopped
    assert processes_with(token) == []


async def test_no_process_is_left_running_after_the_call(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    code = f"""
import subprocess, sys
subprocess.Popen(['sleep', '600', '{token}'[:0] or '600'], start_new_session=True)
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{token}'],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(['sh', '-c', 'trap "" HUP TERM; sleep 600 # {token}'], start_new_session=True)
print('started')
"""
    result = await run(code, tmp_path / "w")
    assert result.ok and result.stdout.text() == "started\n"
    assert processes_with(token) == []


async def test_memory_is_limited(tmp_path: Path) -> None:
    result = await run(
        "b = bytearray(1024 * 1024 * 1024)\nprint('ALLOCATED')",
        tmp_path / "w",
        limits=SandboxLimits(memory=256 * MiB),
    )
    assert "MemoryError" in result.stderr.text() and "ALLOCATED" not in result.stdout.text()


def sandboxed_python_with(token: str) -> list[int]:
    """Pids of the sandboxed programs running code that holds `token` (bwrap's and the
    prelude's command lines hold the code too: they are not it)."""
    found = []
    for pid in processes_with(token):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"python3\0"):
            found.append(pid)
    return found


async def cancelled(task: asyncio.Task[CodeResult]) -> None:
    """Cancel the call; it must end promptly (a hang fails here, not at the suite's timeout)."""
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=120)
    assert done, "the cancelled call did not end"
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_call_kills_its_processes(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    code = f"import time\nprint('{token}', flush=True)\ntime.sleep(600)"
    task = asyncio.create_task(run(code, tmp_path / "w", limits=SandboxLimits(timeout=600)))
    # only /proc shows the sandbox's processes from outside: poll it until the code runs
    async with asyncio.timeout(120):
        while not sandboxed_python_with(token):
            if task.done():  # it ended before its code ran: say how, rather than wait forever
                raise AssertionError(f"run_code ended before its code ran: {task.result()!r}")
            await asyncio.sleep(0.05)
    await cancelled(task)
    assert processes_with(token) == []


@pytest.mark.parametrize("turns", range(8))
async def test_a_call_cancelled_while_it_starts_ends_and_leaves_nothing(
    tmp_path: Path, turns: int
) -> None:
    """Cancelled after `turns` turns of the loop: while bwrap is being started (asyncio then
    killed it alone and waited for pipes that bwrap's init, outliving it, held open while
    it waited for our "go": the call never ended), while the sandbox is set up, or as its
    code starts. In this process, as in a server: not in a fresh interpreter."""
    token = uuid.uuid4().hex
    code = f"import time\nprint('{token}', flush=True)\ntime.sleep(600)"
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "in.txt").write_text("to unpack")  # the tar feeder runs too
    task = asyncio.create_task(
        BwrapSandbox().run("python", code, workdir=tmp_path / "w", limits=SandboxLimits())
    )
    for _ in range(turns):
        await asyncio.sleep(0)
    await cancelled(task)
    assert processes_with(token) == []


# ---- configuration ----------------------------------------------------------------------------


async def test_a_missing_bwrap_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable) as caught:
        await BwrapSandbox(bwrap="no-such-bwrap").run(
            "python", "print(1)", workdir=tmp_path, limits=SandboxLimits()
        )
    assert "apt-get install bubblewrap" in caught.value.message
    assert caught.value.code == "sandbox_unavailable"


def test_the_ref_resolves_in_config() -> None:
    (tool,) = load_tools(["sandbox:run_code"])
    assert tool.spec.name == "run_code"
    assert tool.spec.parameters["required"] == ["language", "code"]
    assert [t.spec.name for t in load_tools(["sandbox:*"])] == ["run_code"]


def test_the_examples_run(tmp_path: Path) -> None:
    """examples/sandbox: the demo agent with MCP time tools and run_code, and the code one."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "AGENTHOST_HOME": str(tmp_path / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]),
    }

    out = run_example("sandbox/sandbox_agent.py", env, tmp_path)
    assert '"timezone": "Europe/Paris"' in out  # the MCP time tool answered
    assert "[run_code] exit code: 0" in out and "max 24.1" in out
    assert "[read_file] mean 22.1" in out  # what the sandbox wrote, read back
    (saved,) = (tmp_path / "home" / "workdirs").rglob("summary.txt")
    assert saved.read_text() == "mean 22.1"
    assert run_example("sandbox/run_code_in_code.py", env, tmp_path).startswith("0 42\n")
