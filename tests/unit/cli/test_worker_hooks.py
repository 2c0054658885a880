"""`agenthost worker --after-run module:attribute` (repeatable) and the config file's
`cluster.worker_after_run`: the hooks are imported before the worker starts, and a ref that
does not import, names nothing or nothing callable stops it with an error naming the option
or field (the real worker calling them: tests/integration/test_background_hooks.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agenthost.cli._worker import after_run_hooks
from agenthost.cli.app import app
from agenthost.core.errors import ConfigError

HOOKS = """
def audit(request, terminal):
    pass

def count(request, terminal):
    pass

BOTH = [audit, count]
NOT_A_HOOK = 42
"""
SERVERS = ["--broker", "redis://127.0.0.1:1/0", "--events", "redis://127.0.0.1:1/0"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config folder with a hooks module in it (its own name: no clash between tests)."""
    monkeypatch.setenv("AGENTHOST_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "worker_hooks_mod.py").write_text(HOOKS)
    return tmp_path


def _config(folder: Path, hooks: list[str] | None = None) -> Path:
    path = folder / "agenthost.yaml"
    body = "app: t\nstore: memory://\n"
    if hooks is not None:
        body += textwrap.dedent(f"""\
            cluster:
              worker_after_run: {hooks!r}
            """)
    path.write_text(body)
    return path


def test_refs_name_a_hook_or_a_list_of_hooks_config_first(folder: Path) -> None:
    import sys

    sys.path.insert(0, str(folder))
    try:
        hooks = after_run_hooks(["worker_hooks_mod:count"], ["worker_hooks_mod:BOTH"])
    finally:
        sys.path.remove(str(folder))
    assert [h.__name__ for h in hooks] == ["count", "audit", "count"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("no_such_hooks_mod:audit", "no module 'no_such_hooks_mod'"),
        ("worker_hooks_mod:nothing", "has no attribute 'nothing'"),
        ("worker_hooks_mod:NOT_A_HOOK", "names 42 (int), not an after-run hook"),
        ("worker_hooks_mod", "is not an object ref"),
    ],
)
def test_a_bad_after_run_option_stops_the_worker_naming_it(
    folder: Path, ref: str, says: str
) -> None:
    config = _config(folder)
    args = ["worker", "--config", str(config), *SERVERS, "--after-run", ref]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    error = " ".join(result.stderr.split())
    assert "--after-run" in error and says in error


def test_a_bad_configured_hook_stops_the_worker_naming_the_field(folder: Path) -> None:
    config = _config(folder, ["worker_hooks_mod:audit", "worker_hooks_mod:missing"])
    result = CliRunner().invoke(app, ["worker", "--config", str(config), *SERVERS])
    assert result.exit_code == 2, result.output
    error = " ".join(result.stderr.split())
    assert "cluster.worker_after_run[1]" in error and "no attribute 'missing'" in error


def test_a_configured_ref_of_the_wrong_shape_is_a_config_error(folder: Path) -> None:
    from agenthost.config.loader import load_config

    with pytest.raises(ConfigError, match="worker_after_run"):
        load_config(_config(folder, ["not a ref"]))
