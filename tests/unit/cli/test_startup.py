"""Start-up stays light: `import agenthost` imports nothing else, and `agenthost --help` loads
Typer and the parts of Rich its help uses only: no backends, YAML, SQLite, HTTP, Markdown
parser, syntax highlighter or pretty tracebacks, nor the modules of lazily loaded groups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer

from agenthost.cli import _lean_help
from agenthost.cli.app import app

PROBE = """
import json, sys
from agenthost.cli.app import app
try:
    app(["--help"])
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# what the `agenthost` command runs (the console script and `python -m agenthost` call main())
MAIN_PROBE = """
import json, sys
from agenthost.cli.app import main
sys.argv = ["agenthost", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = (
    "yaml",
    "sqlite3",
    "_sqlite3",
    "httpx",
    "httpx2",
    "aiohttp",
    "xllamacpp",
    "asyncio",
    "msgspec",
    "orjson",
    "opentelemetry",
    "agenthost.config",
    "agenthost.engine",
    "agenthost.backends",
    "agenthost.core",
)

# what Typer's help would load without agenthost.cli._lean_help, and the lazy groups' modules
DEFERRED = (
    "rich.markdown",
    "rich.traceback",
    "rich.syntax",
    "rich.pretty",
    "markdown_it",
    "pygments",
    "attr",
    "agenthost.cli._db",
    "agenthost.cli._deploy",
    "agenthost.cli._kb",
    "agenthost.cli._memory",
)

# what the root's help needs none of: pydantic (Typer 0.29 builds a TypeAdapter for a parameter
# the first time it takes a value, the root's --help included, when a subcommand is named) and
# an entry point lookup (a console script that asks importlib.metadata or pkg_resources)
NOT_FOR_ROOT_HELP = ("pydantic", "importlib.metadata", "pkg_resources")


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def probe(script: str, *args: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def test_help_imports_only_typer_and_rich() -> None:
    report, stdout = probe(PROBE)
    assert report["code"] == 0
    assert "Usage" in stdout and "chat" in stdout
    assert loaded(report["modules"], HEAVY) == []


@pytest.mark.parametrize("args", [["--help"], [], ["bogus"], ["run", "--help"]])
def test_the_command_prints_help_and_errors_without_the_deferred_modules(args: list[str]) -> None:
    report, _ = probe(MAIN_PROBE, *args)
    assert report["code"] == (2 if args in ([], ["bogus"]) else 0)
    assert loaded(report["modules"], HEAVY + DEFERRED) == []
    if args in ([], ["--help"]):
        assert loaded(report["modules"], NOT_FOR_ROOT_HELP) == []


def test_the_console_script_imports_no_heavy_module_for_help() -> None:
    script = Path(sys.executable).with_name("agenthost")
    if not script.exists():
        pytest.skip(f"{script} is not installed")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # "import time: self [us] | cumulative | imported package", the name indented by depth
    modules = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "typer" in modules and "agenthost.cli.app" in modules
    assert loaded(modules, HEAVY + DEFERRED + NOT_FOR_ROOT_HELP) == []


# the same script with the deferred modules imported first: what Typer prints without the
# stand-ins (defer() does nothing when they are already loaded)
PRINT = """
import sys
if sys.argv[1] == "real":
    import rich.markdown, rich.traceback
from agenthost.cli.app import main
sys.argv = ["agenthost", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [],
        ["bogus"],
        ["kb"],
        ["kb", "lst"],
        ["deploy", "--help"],
        ["memory", "ls", "--help"],
        ["db", "status", "--help"],
        ["sessions"],
        ["run"],
        ["serve", "--port", "x"],
    ],
)
def test_help_and_usage_errors_print_the_same_as_with_the_real_modules(args: list[str]) -> None:
    env = {**os.environ, "COLUMNS": "90", "TERMINAL_WIDTH": "90"}
    outputs = [
        subprocess.run(
            [sys.executable, "-c", PRINT, variant, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        for variant in ("real", "deferred")
    ]
    real, deferred = ((o.returncode, o.stdout, o.stderr) for o in outputs)
    assert deferred == real
    assert "Usage: agenthost" in real[1] + real[2]


STAND_INS = """
import sys
from agenthost.cli import _lean_help
_lean_help.defer()
import typer.rich_utils as rich_utils
assert sys.meta_path.count(_lean_help._finder) == 0, "the finder takes itself out"
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
markdown = rich_utils._make_rich_text(text="**bold**", markup_mode="markdown")
from rich.markdown import Markdown
assert type(markdown) is Markdown and isinstance(markdown, rich_utils.Markdown)
try:
    raise ValueError("boom")
except ValueError as exc:
    traceback = rich_utils.Traceback.from_exception(type(exc), exc, exc.__traceback__)
from rich.traceback import Traceback
assert type(traceback) is Traceback
print("ok", repr(rich_utils.Markdown))
"""


def test_a_stand_in_is_the_real_class_when_it_is_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STAND_INS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok <stand-in for rich.markdown.Markdown>"


class FlakyLoader:
    """A loader that fails while a stand-in is in sys.modules (a Typer needing more of them)."""

    def __init__(self) -> None:
        self.saw: list[bool] = []

    def create_module(self, spec: object) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        standing_in = isinstance(sys.modules.get("agenthost_absent_module"), ModuleType)
        self.saw.append(standing_in)
        if standing_in:
            raise TypeError("cannot subclass a stand-in")


def test_a_module_that_fails_with_the_stand_ins_is_loaded_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_lean_help, "DEFERRED", ("agenthost_absent_module",))
    loader = FlakyLoader()
    _lean_help._Loader(loader).exec_module(ModuleType("target"))
    assert loader.saw == [True, False]
    assert "agenthost_absent_module" not in sys.modules


def test_lazy_groups_have_their_commands() -> None:
    root: Any = typer.main.get_command(app)
    assert {"add", "ls", "search"} <= set(root.commands["kb"].commands)
    assert {"local", "status", "stop", "logs"} <= set(root.commands["deploy"].commands)
    assert "upgrade" in root.commands["db"].commands
    assert "ls" in root.commands["memory"].commands


def test_the_commands_annotations_are_evaluated_when_defined() -> None:
    """Typer reads them at every start: strings would be compiled and evaluated each time."""
    groups = [app, *(group.typer_instance for group in app.registered_groups)]
    callbacks = [c.callback for g in groups if g is not None for c in g.registered_commands]
    assert len(callbacks) > 10
    strings = [f for f in callbacks if any(isinstance(a, str) for a in f.__annotations__.values())]
    assert strings == []


def test_import_agenthost_imports_nothing_else() -> None:
    code = (
        "import sys; before = set(sys.modules); import agenthost; "
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['agenthost']"


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("agenthost.cli", ["--help"], "sessions"),
        # `python -m agenthost` is the `agenthost` command (a virtualenv whose bin/ is not on PATH)
        ("agenthost", ["version"], "agenthost "),
    ],
)
def test_the_console_script_runs(module: str, args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and expected in done.stdout, done.stderr
