"""`FileArtifactStore`: artifacts as files under one directory (the default store).

    ROOT/<app>/<user>/s-<session>/<name>/<version>.bin    the bytes
    ROOT/<app>/<user>/s-<session>/<name>/<version>.json   name, mime type, size, time, metadata
    ROOT/<app>/<user>/u/<name>/...                        `user:` artifacts

Each path segment is the id percent-encoded (a SHA-256 digest when that is over 200
characters), so any name is one safe directory. A save claims its version by creating
`<version>.bin` exclusively (two writers never share a version), writes the bytes, then
writes the `.json` through a temporary file and a rename: a version is visible only once
complete. File I/O runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import msgspec

from agenthost.ports.artifacts import (
    Artifact,
    ArtifactInfo,
    artifact_key,
    new_info,
)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ArtifactInfo).decode


def _segment(value: str) -> str:
    quoted = quote(value, safe="")
    if len(quoted) <= 200 and quoted not in (".", ".."):
        return quoted
    return "h-" + hashlib.sha256(value.encode()).hexdigest()


def _versions(folder: Path) -> list[int]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


class FileArtifactStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"FileArtifactStore({str(self.root)!r})"

    def _owner(self, app: str, user_id: str, session: str) -> Path:
        where = f"s-{_segment(session)}" if session else "u"
        return self.root / _segment(app) / _segment(user_id) / where

    def _folder(self, app: str, user_id: str, session_id: str, name: str) -> Path:
        app, user_id, owner, name = artifact_key(app, user_id, session_id, name)
        return self._owner(app, user_id, owner) / _segment(name)

    # ---- blocking parts (run in a thread) --------------------------------------------------

    @staticmethod
    def _write(
        folder: Path, name: str, data: bytes, mime: str, meta: dict[str, Any] | None
    ) -> ArtifactInfo:
        folder.mkdir(parents=True, exist_ok=True)
        existing = [int(n[:-4]) for n in os.listdir(folder) if n[:-4].isdigit()]
        version = max(existing, default=-1) + 1
        while True:
            try:
                fd = os.open(folder / f"{version}.bin", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                break
            except FileExistsError:
                version += 1
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        info = new_info(name, version, data, mime, meta)
        tmp = folder / f".{version}.json.tmp"
        tmp.write_bytes(_encode(info))
        os.replace(tmp, folder / f"{version}.json")
        return info

    @staticmethod
    def _read(folder: Path, version: int | None) -> Artifact | None:
        if version is None:
            found = _versions(folder)
            if not found:
                return None
            version = found[-1]
        try:
            info = _decode((folder / f"{version}.json").read_bytes())
            data = (folder / f"{version}.bin").read_bytes()
        except FileNotFoundError:
            return None
        return Artifact(info=info, data=data)

    @staticmethod
    def _infos(folder: Path) -> list[ArtifactInfo]:
        out = []
        for version in _versions(folder):
            with contextlib.suppress(FileNotFoundError):
                out.append(_decode((folder / f"{version}.json").read_bytes()))
        return out

    def _latest(self, owners: list[Path]) -> list[ArtifactInfo]:
        out: list[ArtifactInfo] = []
        for owner in owners:
            if not owner.is_dir():
                continue
            for folder in owner.iterdir():
                found = _versions(folder)
                if found:
                    with contextlib.suppress(FileNotFoundError):
                        out.append(_decode((folder / f"{found[-1]}.json").read_bytes()))
        return sorted(out, key=lambda info: info.name)

    @staticmethod
    def _remove(folder: Path) -> bool:
        if not folder.is_dir():
            return False
        had = bool(_versions(folder))
        shutil.rmtree(folder, ignore_errors=True)
        return had

    # ---- the port --------------------------------------------------------------------------

    async def save(
        self,
        *,
        app: str,
        user_id: str,
        session_id: str,
        name: str,
        data: bytes,
        mime_type: str = "application/octet-stream",
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactInfo:
        folder = self._folder(app, user_id, session_id, name)
        info: ArtifactInfo = await asyncio.to_thread(
            self._write, folder, name, bytes(data), mime_type, metadata
        )
        return info

    async def load(
        self, *, app: str, user_id: str, session_id: str, name: str, version: int | None = None
    ) -> Artifact | None:
        folder = self._folder(app, user_id, session_id, name)
        return await asyncio.to_thread(self._read, folder, version)

    async def list(self, *, app: str, user_id: str, session_id: str) -> list[ArtifactInfo]:
        owners = [self._owner(app, user_id, session_id), self._owner(app, user_id, "")]
        return await asyncio.to_thread(self._latest, owners)

    async def versions(
        self, *, app: str, user_id: str, session_id: str, name: str
    ) -> builtins.list[ArtifactInfo]:
        folder = self._folder(app, user_id, session_id, name)
        return await asyncio.to_thread(self._infos, folder)

    async def delete(self, *, app: str, user_id: str, session_id: str, name: str) -> bool:
        folder = self._folder(app, user_id, session_id, name)
        return await asyncio.to_thread(self._remove, folder)

    async def __aenter__(self) -> FileArtifactStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
