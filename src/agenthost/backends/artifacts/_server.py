"""What the Postgres and MySQL artifact stores share: the columns they read back, a row as an
`ArtifactInfo`, and the bound on retries when two writers pick the same version."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from agenthost.ports.artifacts import ArtifactInfo

COLUMNS: Final = "name, version, mime_type, size, created_at, metadata"
MAX_ATTEMPTS: Final = 64  # a save that lost the race for a version tries the next one
encode_meta = msgspec.json.Encoder().encode
_decode_meta = msgspec.json.Decoder(dict[str, Any]).decode


def info_of(row: Any) -> ArtifactInfo:
    return ArtifactInfo(
        name=row[0],
        version=int(row[1]),
        mime_type=row[2],
        size=int(row[3]),
        created_at=float(row[4]),
        metadata=_decode_meta(row[5]),
    )


def list_sql(table: str, mark: str) -> str:
    """The newest version of every name visible from a session (`mark` is the placeholder
    of app, user_id and session_id, in that order)."""
    a, u, s = (mark.format(i) for i in (1, 2, 3))
    return (
        f"SELECT {COLUMNS} FROM {table} AS a WHERE app = {a} AND user_id = {u} "
        f"AND owner IN ({s}, '') AND version = (SELECT MAX(version) FROM {table} AS b "
        "WHERE b.app = a.app AND b.user_id = a.user_id AND b.owner = a.owner "
        "AND b.name = a.name) ORDER BY name"
    )
