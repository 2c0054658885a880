"""Id minting: time-ordered UUIDv7 strings (uuid_utils, 0.4 µs each)."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    """A new time-ordered id (UUIDv7, hex with dashes)."""
    return str(uuid_utils.uuid7())


def new_run_id() -> str:
    return "run_" + uuid_utils.uuid7().hex


def new_session_id() -> str:
    return "s_" + uuid_utils.uuid7().hex
