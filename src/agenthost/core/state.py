"""State scopes, as in ADK.

`app:key` is shared by every user of an app, `user:key` by one user's sessions, a key without a
prefix belongs to the session, and `temp:key` lives for one run and is never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

APP_PREFIX = "app:"
USER_PREFIX = "user:"
TEMP_PREFIX = "temp:"

Scope = Literal["app", "user", "session", "temp"]
SCOPES: tuple[Scope, ...] = ("app", "user", "session", "temp")


def scoped_key(scope: Scope, key: str) -> str:
    """The stored key for `key` in `scope` ('user', 'k') -> 'user:k'."""
    return key if scope == "session" else f"{scope}:{key}"


def split_key(key: str) -> tuple[Scope, str]:
    for scope, prefix in (("app", APP_PREFIX), ("user", USER_PREFIX), ("temp", TEMP_PREFIX)):
        if key.startswith(prefix):
            return scope, key[len(prefix) :]  # type: ignore[return-value]
    return "session", key


def split_delta(
    delta: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split a state delta into (app, user, session) parts with prefixes removed; temp dropped.

    A value of None deletes the key.
    """
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    session: dict[str, Any] = {}
    for key, value in delta.items():
        if key.startswith(TEMP_PREFIX):
            continue
        if key.startswith(APP_PREFIX):
            app[key[len(APP_PREFIX) :]] = value
        elif key.startswith(USER_PREFIX):
            user[key[len(USER_PREFIX) :]] = value
        else:
            session[key] = value
    return app, user, session


def strip_temp(delta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in delta.items() if not k.startswith(TEMP_PREFIX)}


def merge_state(
    app: Mapping[str, Any], user: Mapping[str, Any], session: Mapping[str, Any]
) -> dict[str, Any]:
    """One flat view of the three stored scopes, prefixes restored."""
    merged = dict(session)
    merged.update({APP_PREFIX + k: v for k, v in app.items()})
    merged.update({USER_PREFIX + k: v for k, v in user.items()})
    return merged


def apply_delta(target: dict[str, Any], delta: Mapping[str, Any]) -> None:
    """Apply a flat delta to a flat state dict in place (None deletes)."""
    for key, value in delta.items():
        if key.startswith(TEMP_PREFIX):
            continue
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
