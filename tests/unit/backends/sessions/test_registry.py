"""The session store registry: URLs to backends, errors that help, secrets kept out of text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import agenthost
import agenthost.backends.sessions as sessions
from agenthost.backends.sessions import (
    MemorySessionStore,
    SQLiteSessionStore,
    open_session_store,
    redact_store_url,
    register_session_backend,
    registered_session_schemes,
)
from agenthost.core.errors import (
    ConfigError,
    InvalidArgument,
    MissingExtraError,
    UnknownBackendError,
)


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the built-in registry and leaves it so."""
    monkeypatch.setattr(sessions, "_registry", dict(sessions._registry))


def test_builtin_schemes() -> None:
    assert {"memory", "sqlite"} <= set(registered_session_schemes())
    assert isinstance(open_session_store("memory://"), MemorySessionStore)
    assert isinstance(open_session_store("sqlite://:memory:"), SQLiteSessionStore)


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownBackendError) as info:
        open_session_store("mongodb://db.example.com/sessions")
    error = info.value
    assert error.scheme == "mongodb"
    assert {"memory", "sqlite"} <= set(error.known)
    text = str(error)
    assert "memory" in text and "sqlite" in text
    assert "pip install 'agenthost[mongodb]'" in text
    assert error.code == "unknown_backend"


def test_unknown_scheme_suggests_a_close_one() -> None:
    with pytest.raises(UnknownBackendError, match="Did you mean 'sqlite'"):
        open_session_store("sqlit:///agenthost.db")


def test_password_is_redacted_in_errors() -> None:
    with pytest.raises(UnknownBackendError) as info:
        open_session_store("mongodb://admin:hunter2@db.example.com:27017/x")
    assert "hunter2" not in str(info.value)
    assert "admin:***@db.example.com" in str(info.value)


def test_no_scheme() -> None:
    with pytest.raises(ConfigError, match="has no scheme") as info:
        open_session_store("./agenthost.db")
    assert "sqlite:///./agenthost.db" in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/agents", "postgresql://app:***@db:5432/agents"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0?password=s3cret&db=1", "redis://cache:6379/0?password=***&db=1"),
        ("mysql://u@h/db?token=s3cret", "mysql://u@h/db?token=***"),
        ("sqlite:///agenthost.db", "sqlite:///agenthost.db"),
    ],
)
def test_redact_store_url(url: str, shown: str) -> None:
    assert redact_store_url(url) == shown
    assert "s3cret" not in redact_store_url(url)


def test_register_a_factory() -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    def factory(url: str, **options: Any) -> MemorySessionStore:
        made.append((url, options))
        return MemorySessionStore()

    register_session_backend("Custom", factory)
    store = open_session_store("custom://whatever", max_events=5)
    assert isinstance(store, MemorySessionStore)
    assert made == [("custom://whatever", {"max_events": 5})]
    assert "custom" in registered_session_schemes()


def test_register_lazily_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lazy_store_backend.py").write_text(
        "from agenthost.backends.sessions.memory import MemorySessionStore\n"
        "def make(url, **options):\n"
        "    return MemorySessionStore(**options)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_store_backend", raising=False)
    register_session_backend("lazy", "lazy_store_backend:make")
    assert "lazy_store_backend" not in sys.modules  # imported on first use only
    assert isinstance(open_session_store("lazy://", ttl_seconds=5), MemorySessionStore)
    assert "lazy_store_backend" in sys.modules
    monkeypatch.delitem(sys.modules, "lazy_store_backend")


def test_missing_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_store_backend.py").write_text("import not_installed_driver_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_session_backend("fakedb", "fake_store_backend:Store.from_url", extra="fake")
    with pytest.raises(MissingExtraError) as info:
        open_session_store("fakedb://host/db")
    assert "not_installed_driver_xyz" in str(info.value)
    assert "pip install 'agenthost[fake]'" in str(info.value)


def test_misregistered_module() -> None:
    register_session_backend("broken", "agenthost.backends.sessions.nope:Store")
    with pytest.raises(ConfigError, match="does not exist"):
        open_session_store("broken://x")


@pytest.mark.parametrize(("scheme", "factory"), [("9bad", "a:b"), ("ok", "no_colon"), ("ok", 42)])
def test_bad_registration(scheme: str, factory: Any) -> None:
    with pytest.raises(InvalidArgument):
        register_session_backend(scheme, factory)


def test_memory_url_takes_no_path() -> None:
    with pytest.raises(ConfigError, match="memory://"):
        open_session_store("memory://somewhere")


@pytest.mark.integration
def test_backends_are_imported_lazily() -> None:
    src = str(Path(agenthost.__file__).parent.parent)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import agenthost.backends.sessions as s; "
        "print('agenthost.backends.sessions.sqlite' in sys.modules, 'sqlite3' in sys.modules, "
        "'agenthost.backends.sessions.memory' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, src], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False", "False"]
