"""The file tools: real files in tmp dirs, called by a real Runner run through the host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agenthost.backends.sessions import open_session_store
from agenthost.backends.tools.files import FileLimits, FileTools, file_tools
from agenthost.backends.tools.workdir import (
    PathRefused,
    open_dir,
    open_root,
    safe_name,
    session_workdir,
)
from agenthost.config.tools import load_tools
from agenthost.core.errors import ToolError
from agenthost.core.events import Event
from agenthost.engine.llm_agent import LLMAgent
from agenthost.engine.runner import Runner, collect
from agenthost.ports.sessions import SessionStore
from agenthost.testing.scripted import ScriptedModel, tool_call

ROOT = Path(__file__).resolve().parents[4]
MB = 1024 * 1024


@pytest.fixture
async def mem_store() -> AsyncIterator[SessionStore]:
    async with open_session_store("memory://") as opened:
        yield opened


Call = tuple[str, dict[str, Any]]


async def run_tools(
    store: SessionStore, tools: list[Any], calls: list[Call], *, user: str = "u", session: str = "s"
) -> list[tuple[str, bool]]:
    """Run one turn whose model calls `calls` one after another; the (content, is_error) of
    each tool result."""
    steps: list[Any] = [tool_call(name, json.dumps(args)) for name, args in calls]
    model = ScriptedModel([*steps, "done"])
    runner = Runner(LLMAgent(model=model, tools=tools), store=store, app="t")
    events = await collect(runner.run(user, session, "go"))
    return [_result(e) for e in events if e.type == "tool.call.completed"]


def _result(event: Event) -> tuple[str, bool]:
    part = event.message.parts[0]  # type: ignore[union-attr]
    return part.content, part.is_error  # type: ignore[union-attr]


async def one(store: SessionStore, root: Path, name: str, **args: Any) -> tuple[str, bool]:
    (result,) = await run_tools(store, file_tools(root), [(name, args)])
    return result


def workdir(root: Path, user: str = "u", session: str = "s") -> Path:
    return session_workdir("t", user, session, root=root)


# ---- the tools through a run ----------------------------------------------------------------


async def test_write_list_read_search_in_one_run(mem_store: SessionStore, tmp_path: Path) -> None:
    results = await run_tools(
        mem_store,
        file_tools(tmp_path),
        [
            ("write_file", {"path": "notes/todo.txt", "content": "buy milk\ncall Ann\n"}),
            ("write_file", {"path": "notes/todo.txt", "content": "pay rent\n", "append": True}),
            ("list_files", {}),
            ("list_files", {"path": "notes"}),
            ("read_file", {"path": "notes/todo.txt"}),
            ("search_files", {"pattern": "ann|rent", "regex": True}),
            ("search_files", {"pattern": "todo"}),
            ("search_files", {"pattern": "milk", "path": "notes"}),
            ("search_files", {"pattern": "note"}),
        ],
    )
    assert [error for _, error in results] == [False] * 9
    texts = [text for text, _ in results]
    assert texts[0] == "wrote 18 bytes to notes/todo.txt"
    assert texts[2] == "notes/"
    assert texts[3] == "todo.txt  (27 bytes)"
    assert texts[4] == "buy milk\ncall Ann\npay rent\n"
    assert texts[5] == "notes/todo.txt:3: pay rent"  # case-sensitive: 'Ann' does not match 'ann'
    assert texts[6] == "notes/todo.txt  (name matches)"
    assert texts[7] == "notes/todo.txt:1: buy milk"
    assert texts[8] == "notes/  (name matches)"
    assert (workdir(tmp_path) / "notes" / "todo.txt").read_text().endswith("pay rent\n")


async def test_two_sessions_are_isolated(mem_store: SessionStore, tmp_path: Path) -> None:
    tools = file_tools(tmp_path)
    await run_tools(mem_store, tools, [("write_file", {"path": "secret.txt", "content": "A's"})])
    results = await run_tools(
        mem_store,
        tools,
        [("list_files", {}), ("read_file", {"path": "secret.txt"})],
        session="other",
    )
    assert results[0] == (".: empty directory", False)
    assert results[1][1] and "no file 'secret.txt'" in results[1][0]
    other_user = await run_tools(
        mem_store, tools, [("read_file", {"path": "secret.txt"})], user="mallory"
    )
    assert other_user[0][1]
    assert workdir(tmp_path) != workdir(tmp_path, session="other")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../../etc/passwd", "uses '..'"),
        ("notes/../../x", "uses '..'"),
        ("/etc/passwd", "is absolute"),
        ("a\x00b", "NUL byte"),
        ("n" * 300, "longer than 255 bytes"),
        ("a/" * 600, "the limit is 1024"),
    ],
)
async def test_escaping_paths_are_refused(
    mem_store: SessionStore, tmp_path: Path, path: str, reason: str
) -> None:
    for name, args in [
        ("read_file", {"path": path}),
        ("write_file", {"path": path, "content": "x"}),
        ("list_files", {"path": path}),
        ("search_files", {"pattern": "x", "path": path}),
    ]:
        text, error = await one(mem_store, tmp_path, name, **args)
        assert error and reason in text, (name, text)
    assert files_under(tmp_path) == []


def files_under(path: Path) -> list[str]:
    return sorted(p.name for p in path.rglob("*") if p.is_file())


async def test_symlinks_are_never_followed(mem_store: SessionStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    home = workdir(tmp_path)
    (home / "etc").symlink_to(outside)
    (home / "pw").symlink_to(outside / "passwd")
    tools = file_tools(tmp_path)
    results = await run_tools(
        mem_store,
        tools,
        [
            ("read_file", {"path": "etc/passwd"}),
            ("read_file", {"path": "pw"}),
            ("list_files", {"path": "etc"}),
            ("write_file", {"path": "etc/new.txt", "content": "x"}),
            ("write_file", {"path": "pw", "content": "hacked"}),
            ("list_files", {}),
            ("search_files", {"pattern": "root"}),
        ],
    )
    for text, error in results[:5]:
        assert error and "is a symbolic link; links are not followed" in text, text
    assert results[5] == (
        "etc  (symbolic link, not followed)\npw  (symbolic link, not followed)",
        False,
    )
    assert results[6] == ("no match for 'root' under .", False)
    assert (outside / "passwd").read_text() == "root:x:0:0"
    assert sorted(p.name for p in outside.iterdir()) == ["passwd"]


def test_a_symlink_swapped_in_after_a_check_is_refused(tmp_path: Path) -> None:
    """TOCTOU: `sub` is checked to be a directory, then replaced by a symlink to outside
    before it is opened. Opening by the path string would follow the link; opening component
    by component with O_NOFOLLOW refuses it."""
    home = workdir(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s3cret")
    (home / "sub").mkdir()
    assert (home / "sub").is_dir()  # the check
    (home / "sub").rename(home / "old")  # the swap
    (home / "sub").symlink_to(outside)
    assert (home / "sub" / "secret").read_text() == "s3cret"  # a path-string open escapes
    root_fd = open_root(home)
    try:
        with pytest.raises(PathRefused, match="'sub' is a symbolic link"):
            open_dir(root_fd, ["sub"], "sub/secret")
        fd = open_dir(root_fd, ["old"], "old")  # the real directory still opens
        os.close(fd)
    finally:
        os.close(root_fd)


async def test_special_files_are_refused_without_blocking(
    mem_store: SessionStore, tmp_path: Path
) -> None:
    os.mkfifo(workdir(tmp_path) / "pipe")
    results = await run_tools(
        mem_store,
        file_tools(tmp_path),
        [
            ("read_file", {"path": "pipe"}),
            ("write_file", {"path": "pipe", "content": "x"}),
            ("list_files", {}),
            ("search_files", {"pattern": "x"}),
        ],
    )
    assert results[0][1] and "'pipe' is a special file" in results[0][0]
    assert results[1][1] and "'pipe' is a special file" in results[1][0]
    assert results[2] == ("pipe  (special file)", False)
    assert results[3] == ("no match for 'x' under .", False)


# ---- bounds -----------------------------------------------------------------------------


def _write_big(path: Path, size: int) -> None:
    line = b"0123456789 abcdefghijklmnopqrstuvwxyz " * 26 + b"\n"  # 1015 bytes
    block = line * (MB // len(line))
    with path.open("wb") as f:
        while f.tell() + len(block) <= size:
            f.write(block)
        f.write(b"x" * (size - f.tell()))


async def test_a_50_mb_file_is_read_capped_with_bounded_memory(
    mem_store: SessionStore, tmp_path: Path
) -> None:
    _write_big(workdir(tmp_path) / "big.log", 50 * MB)
    tracemalloc.start()
    try:
        results = await run_tools(
            mem_store,
            file_tools(tmp_path),
            [
                ("read_file", {"path": "big.log", "limit": 10**9}),
                ("search_files", {"pattern": "never there"}),
            ],
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text, error = results[0]
    assert not error
    assert text.startswith(f"[bytes 0-262144 of {50 * MB}; read_file with offset=262144 for more]")
    assert results[1] == ("no match for 'never there' under .", False)
    assert peak < 8 * MB, peak  # the file is 50 MB; one read is 256 KiB


async def test_read_pages_never_split_a_character(mem_store: SessionStore, tmp_path: Path) -> None:
    (workdir(tmp_path) / "utf8.txt").write_text("aé€😀")  # 1 + 2 + 3 + 4 bytes
    tools = file_tools(tmp_path)
    results = await run_tools(
        mem_store,
        tools,
        [
            ("read_file", {"path": "utf8.txt", "limit": 2}),
            ("read_file", {"path": "utf8.txt", "offset": 1, "limit": 4}),
            ("read_file", {"path": "utf8.txt", "offset": 6, "limit": 100}),
        ],
    )
    assert results[0] == ("[bytes 0-1 of 10; read_file with offset=1 for more]\na", False)
    assert results[1] == ("[bytes 1-3 of 10; read_file with offset=3 for more]\né", False)
    assert results[2] == ("[bytes 6-10 of 10]\n😀", False)


async def test_write_size_and_quota_are_enforced(mem_store: SessionStore, tmp_path: Path) -> None:
    tools = FileTools(tmp_path, FileLimits(max_write=10, quota=15)).tools()
    results = await run_tools(
        mem_store,
        tools,
        [
            ("write_file", {"path": "a.txt", "content": "x" * 11}),
            ("write_file", {"path": "a.txt", "content": "x" * 10}),
            ("write_file", {"path": "b.txt", "content": "y" * 6}),
            ("write_file", {"path": "a.txt", "content": "z" * 9}),  # replaces: 9 + 0 fits
            ("write_file", {"path": "b.txt", "content": "y" * 6}),
        ],
    )
    assert results[0][1] and "content is 11 bytes; write_file takes at most 10" in results[0][0]
    assert results[1] == ("wrote 10 bytes to a.txt", False)
    assert results[2][1] and "would hold 16 bytes, over its quota of 15" in results[2][0]
    assert results[3] == ("wrote 9 bytes to a.txt", False)
    assert results[4] == ("wrote 6 bytes to b.txt", False)
    assert sorted(p.name for p in workdir(tmp_path).iterdir()) == ["a.txt", "b.txt"]  # no temps


async def test_listing_and_search_answers_are_bounded(
    mem_store: SessionStore, tmp_path: Path
) -> None:
    home = workdir(tmp_path)
    for i in range(30):
        (home / f"f{i:02}.txt").write_text("hit\n" * 3)
    tools = FileTools(tmp_path, FileLimits(max_entries=5, max_matches=4)).tools()
    results = await run_tools(
        mem_store, tools, [("list_files", {}), ("search_files", {"pattern": "hit"})]
    )
    listing = results[0][0].splitlines()
    assert listing[:5] == [f"f{i:02}.txt  (12 bytes)" for i in range(5)]
    assert listing[5:] == ["[25 more entries not shown]"]
    assert results[1][0].splitlines() == [
        "f00.txt:1: hit",
        "f00.txt:2: hit",
        "f00.txt:3: hit",
        "f01.txt:1: hit",
        "[more matches not shown; narrow the search]",
    ]


async def test_a_bad_regex_is_a_tool_error(mem_store: SessionStore, tmp_path: Path) -> None:
    text, error = await one(mem_store, tmp_path, "search_files", pattern="(", regex=True)
    assert error and "'(' is not a valid regular expression" in text


# ---- outside a run, names, config ---------------------------------------------------------


async def test_a_call_outside_a_run_is_a_clear_error(tmp_path: Path) -> None:
    read = file_tools(tmp_path)[1]
    with pytest.raises(ToolError, match="must be called by an agent inside a run"):
        await read.call({"path": "x"})


@pytest.mark.parametrize("raw", ["..", ".", "a/b", "/etc", "", "é" * 80, "x" * 1000])
def test_session_ids_become_one_safe_name(raw: str) -> None:
    name = safe_name(raw)
    assert "/" not in name and name not in (".", "..") and not name.startswith(".")
    assert len(name) <= 57
    assert safe_name(raw + "!") != name


def test_files_refs_resolve_in_config() -> None:
    names = [t.spec.name for t in load_tools(["files:*"])]
    assert names == ["list_files", "read_file", "write_file", "search_files"]
    (read,) = load_tools(["files:read_file"])
    assert read.spec.name == "read_file"
    assert read.spec.parameters["required"] == ["path"]


def test_the_example_runs(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTHOST_HOME": str(tmp_path / "home")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "files" / "files_agent.py")],
        env=env,
        cwd=ROOT / "examples" / "files",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[write_file] wrote 23 bytes to plan.md" in result.stdout
    assert "[read_file] # Plan\n- pack the tent" in result.stdout
    assert "Done: the plan is saved." in result.stdout
    saved = list((tmp_path / "home" / "workdirs").rglob("plan.md"))
    assert len(saved) == 1 and saved[0].read_text() == "# Plan\n- pack the tent\n"
