"""API keys: who is calling, and as which user.

Keys come from the config (`server.api_keys: [...]`) and from the environment
(`AGENTHOST_API_KEYS`, comma-separated); each entry is one of::

    KEY:USER                   a key of user USER
    KEY:USER@admin             an admin key (acts as USER, or as any user, see below)
    sha256:HEX:USER[@admin]    the same, the key given by its SHA-256 hex digest, so the
                               config holds no secret (printf %s "$KEY" | sha256sum)

A KEY has no spaces, `:` or `,`; a USER is 1-128 of `A-Z a-z 0-9 . _ - + @`. Only SHA-256
digests are kept in memory; a presented key is hashed and compared with every digest using
`hmac.compare_digest`. Clients send `Authorization: Bearer KEY` (what the OpenAI SDKs send)
or `X-API-Key: KEY`.

Every session and run belongs to the user of the key that made it; a user key reaches only its
own. An admin key may act as another user with the header `X-Agenthost-User: USER`.

No key configured at all is local development mode: every caller is the admin user `local`
(and may pick a user with `X-Agenthost-User`); `agenthost serve` then binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agenthost.core.errors import ConfigError
from agenthost.server.errors import Forbidden, Unauthorized

log = logging.getLogger("agenthost.server.auth")

ENV_API_KEYS = "AGENTHOST_API_KEYS"
USER_HEADER = "x-agenthost-user"
LOCAL_USER = "local"
_USER = re.compile(r"[A-Za-z0-9._+@-]{1,128}")
_HEX = re.compile(r"[0-9a-f]{64}")
_SHORT_KEY = 16


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the user whose sessions it reaches, whether it is an admin, and a short id
    of its key for logs (never the key)."""

    user_id: str
    admin: bool = False
    key_id: str = "-"


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    user_id: str
    admin: bool


def hash_key(key: str) -> str:
    """The SHA-256 hex digest of a key, as `sha256:HEX:USER` entries take it."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """The configured keys, hashed; empty means local development mode."""

    def __init__(self, entries: Iterable[_Entry] = ()) -> None:
        self._entries = tuple(entries)

    def __repr__(self) -> str:  # no digests either
        return f"ApiKeys({len(self._entries)} keys)"

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def parse(cls, entries: Iterable[str], *, source: str = "api_keys") -> ApiKeys:
        """Parse `KEY:USER[@admin]` / `sha256:HEX:USER[@admin]` entries (see the module doc);
        a bad entry is a ConfigError naming `source` and the entry's position, never the key."""
        parsed: list[_Entry] = []
        seen: set[bytes] = set()
        for index, raw in enumerate(entries):
            entry = _parse_entry(raw.strip(), f"{source}[{index}]")
            if entry.digest in seen:
                raise ConfigError(f"{source}[{index}]: this key is listed twice; keep one entry.")
            seen.add(entry.digest)
            parsed.append(entry)
        return cls(parsed)

    @classmethod
    def from_sources(
        cls, config_keys: Iterable[str], env: Mapping[str, str] | None = None
    ) -> ApiKeys:
        """The config's keys plus those of AGENTHOST_API_KEYS (comma-separated)."""
        entries = [*config_keys]
        raw = (env or {}).get(ENV_API_KEYS, "")
        entries += [part for part in raw.split(",") if part.strip()]
        return cls.parse(entries, source=f"server.api_keys + {ENV_API_KEYS}")

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a presented key, or None. Every digest is compared (in constant
        time each), so the time taken does not tell which entry matched."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: _Entry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        if found is None:
            return None
        return Principal(found.user_id, admin=found.admin, key_id=found.digest.hex()[:12])


def _parse_entry(raw: str, where: str) -> _Entry:
    how = "write KEY:USER, KEY:USER@admin or sha256:HEX:USER"
    if raw.startswith("sha256:"):
        hexdigest, sep, who = raw.removeprefix("sha256:").partition(":")
        if not sep or not _HEX.fullmatch(hexdigest.lower()):
            raise ConfigError(f"{where}: 'sha256:' must be followed by 64 hex digits; {how}.")
        digest = bytes.fromhex(hexdigest)
    else:
        key, sep, who = raw.partition(":")
        if not sep or not key:
            raise ConfigError(f"{where}: an entry needs a key and a user; {how}.")
        if any(c.isspace() or c == "," for c in key):
            raise ConfigError(f"{where}: a key may not contain spaces or commas; {how}.")
        if len(key) < _SHORT_KEY:
            log.warning("%s: the key of user %r is short (< %d characters)", where, who, _SHORT_KEY)
        digest = hashlib.sha256(key.encode()).digest()
    admin = who.endswith("@admin")
    user = who.removesuffix("@admin") if admin else who
    if not _USER.fullmatch(user):
        raise ConfigError(
            f"{where}: the user {user!r} must be 1-128 characters of letters, digits and "
            f". _ - + @; {how}."
        )
    return _Entry(digest=digest, user_id=user, admin=admin)


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key of `Authorization: Bearer KEY` (preferred) or `X-API-Key: KEY`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(
                "The Authorization header must be 'Bearer <API key>'; or send 'X-API-Key'."
            )
        return value.strip()
    if api_key:
        return api_key.strip()
    return None


def resolve_principal(
    keys: ApiKeys,
    *,
    authorization: str | None,
    api_key: str | None,
    act_as: str | None,
) -> Principal:
    """Who is calling (401 without a valid key when keys are configured), switched to the
    `X-Agenthost-User` user when one is asked for (403 unless an admin)."""
    if not keys:
        principal = Principal(LOCAL_USER, admin=True)
    else:
        key = presented_key(authorization, api_key)
        if key is None:
            raise Unauthorized(
                "This server needs an API key: send 'Authorization: Bearer <key>' (the OpenAI "
                "SDKs do this with api_key=...) or 'X-API-Key: <key>'."
            )
        found = keys.authenticate(key)
        if found is None:
            raise Unauthorized("The API key is not valid for this server.")
        principal = found
    if act_as is None or act_as == principal.user_id:
        return principal
    if not _USER.fullmatch(act_as):
        raise Forbidden(
            "X-Agenthost-User must be 1-128 characters of letters, digits and . _ - + @."
        )
    if not principal.admin:
        raise Forbidden(
            f"This key belongs to user {principal.user_id!r} and may not act as {act_as!r}; "
            f"only admin keys may send X-Agenthost-User."
        )
    return Principal(act_as, admin=True, key_id=principal.key_id)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, keys: ApiKeys, *, insecure: bool = False) -> None:
    """Refuse to listen beyond this machine with no API key (unless `insecure`)."""
    if keys or insecure or is_loopback(host):
        return
    raise ConfigError(
        f"Refusing to listen on {host!r} without API keys: anyone who can reach it could run "
        f"your agents. Set {ENV_API_KEYS} (e.g. 'KEY:alice') or server.api_keys in the config, "
        f"bind 127.0.0.1, or pass --insecure if that is what you mean."
    )
