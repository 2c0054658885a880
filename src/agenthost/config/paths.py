"""Where agenthost keeps its data: `$AGENTHOST_HOME`, by default `~/.agenthost`.

    $AGENTHOST_HOME/agenthost.db          the default SQLite session store
    $AGENTHOST_HOME/logs/agenthost.log    the CLI's log

Stdlib only, so the CLI can use it without importing anything heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "AGENTHOST_HOME"


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$AGENTHOST_HOME` (made absolute, `~` expanded) or `~/.agenthost`."""
    env = os.environ if env is None else env
    raw = env.get(HOME_ENV) or "~/.agenthost"
    return Path(raw).expanduser().absolute()


def default_store_url(home: Path) -> str:
    """The SQLite file under `home` (an absolute path: `sqlite:////...`)."""
    return f"sqlite:///{home / 'agenthost.db'}"


def log_file(home: Path) -> Path:
    return home / "logs" / "agenthost.log"
