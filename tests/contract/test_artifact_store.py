"""One contract for every artifact store backend (memory, local files, SQLite, Postgres,
MySQL/MariaDB; the servers are skipped on a laptop without them, failing under CI=true).

`persistent` backends are reopened on the same storage to check what was really written."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agenthost.backends.artifacts import open_artifact_store
from agenthost.backends.sessions import open_session_store
from agenthost.core.errors import InvalidArgument, UnknownBackendError
from agenthost.ports.artifacts import ArtifactStore, artifact_ref, parse_ref

from .server_stores import private_server, server_url


@dataclass(frozen=True)
class Backend:
    url: str  # "{tmp}" is the test's tmp_path; "{server}" the server's URL
    persistent: bool
    server: str | None = None


BACKENDS = [
    pytest.param(Backend("memory://", persistent=False), id="memory"),
    pytest.param(Backend("file://{tmp}/artifacts", persistent=True), id="files"),
    pytest.param(Backend("sqlite:///{tmp}/agenthost.db", persistent=True), id="sqlite"),
    pytest.param(Backend("sqlite://:memory:", persistent=False), id="sqlite-memory"),
    pytest.param(Backend("{server}", persistent=True, server="postgres"), id="postgres"),
    pytest.param(Backend("{server}", persistent=True, server="mysql"), id="mysql"),
]

S = {"app": "app", "user_id": "ann", "session_id": "s1"}


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    param: Backend = request.param
    url = param.url.replace("{tmp}", str(tmp_path))
    if param.server is not None:  # a private table, dropped at the end
        prefix = f"t{uuid.uuid4().hex[:12]}_"
        url = f"{server_url(param.server)}?table_prefix={prefix}&migrate=true"
    yield Backend(url, param.persistent, param.server)
    if param.server is not None:
        await open_artifact_store(url).drop_table()  # type: ignore[attr-defined]


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[ArtifactStore]:
    async with open_artifact_store(backend.url) as opened:
        yield opened


async def test_is_an_artifact_store(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


async def test_save_makes_versions_and_load_gives_newest_or_asked(store: ArtifactStore) -> None:
    first = await store.save(**S, name="report.md", data=b"v0", mime_type="text/markdown")
    second = await store.save(**S, name="report.md", data=b"v1 longer", metadata={"by": "t"})
    assert (first.version, second.version) == (0, 1)
    assert second.size == 9 and second.metadata == {"by": "t"}
    newest = await store.load(**S, name="report.md")
    assert newest is not None and newest.data == b"v1 longer" and newest.info.version == 1
    old = await store.load(**S, name="report.md", version=0)
    assert old is not None and old.data == b"v0" and old.info.mime_type == "text/markdown"
    assert await store.load(**S, name="report.md", version=7) is None
    assert await store.load(**S, name="missing.txt") is None
    versions = await store.versions(**S, name="report.md")
    assert [v.version for v in versions] == [0, 1]
    assert [v.size for v in versions] == [2, 9]


async def test_list_gives_newest_of_each_name_sorted(store: ArtifactStore) -> None:
    await store.save(**S, name="b.txt", data=b"1")
    await store.save(**S, name="b.txt", data=b"22")
    await store.save(**S, name="a/nested name.png", data=b"\x89PNG", mime_type="image/png")
    listed = await store.list(**S)
    assert [(i.name, i.version, i.size) for i in listed] == [
        ("a/nested name.png", 0, 4),
        ("b.txt", 1, 2),
    ]


async def test_session_artifacts_are_the_sessions_user_artifacts_the_users(
    store: ArtifactStore,
) -> None:
    await store.save(**S, name="mine.txt", data=b"s1 only")
    await store.save(**S, name="user:profile.json", data=b"{}")
    other = {**S, "session_id": "s2"}
    assert [i.name for i in await store.list(**other)] == ["user:profile.json"]
    assert await store.load(**other, name="mine.txt") is None
    shared = await store.load(**other, name="user:profile.json")
    assert shared is not None and shared.data == b"{}"
    # another user, or the same user in another app, sees nothing
    assert await store.list(app="app", user_id="bob", session_id="s1") == []
    assert await store.list(app="other", user_id="ann", session_id="s1") == []
    assert await store.load(app="app", user_id="bob", session_id="s1", name="mine.txt") is None


async def test_delete_removes_every_version(store: ArtifactStore) -> None:
    await store.save(**S, name="x.bin", data=b"a")
    await store.save(**S, name="x.bin", data=b"b")
    assert await store.delete(**S, name="x.bin") is True
    assert await store.delete(**S, name="x.bin") is False
    assert await store.load(**S, name="x.bin") is None
    assert await store.versions(**S, name="x.bin") == []
    assert await store.list(**S) == []


async def test_concurrent_saves_never_share_a_version(store: ArtifactStore) -> None:
    infos = await asyncio.gather(
        *(store.save(**S, name="log.txt", data=str(i).encode()) for i in range(8))
    )
    assert sorted(i.version for i in infos) == list(range(8))
    for info in infos:
        loaded = await store.load(**S, name="log.txt", version=info.version)
        assert loaded is not None and loaded.info.size == info.size


async def test_binary_data_round_trips(store: ArtifactStore) -> None:
    blob = bytes(range(256)) * 100
    await store.save(**S, name="blob.bin", data=blob)
    loaded = await store.load(**S, name="blob.bin")
    assert loaded is not None and loaded.data == blob


@pytest.mark.parametrize(
    "name", ["", "../escape", "a//b", "a/./b", "back\\slash", "nul\x00", "x" * 300]
)
async def test_bad_names_are_refused(store: ArtifactStore, name: str) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        await store.save(**S, name=name, data=b"x")


async def test_persistent_stores_keep_what_they_wrote(backend: Backend) -> None:
    if not backend.persistent:
        pytest.skip("this backend keeps nothing after it is closed")
    async with open_artifact_store(backend.url) as store:
        await store.save(**S, name="kept.txt", data=b"kept", mime_type="text/plain")
    async with open_artifact_store(backend.url) as again:
        loaded = await again.load(**S, name="kept.txt")
    assert loaded is not None and loaded.data == b"kept" and loaded.info.mime_type == "text/plain"


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownBackendError, match="file, mariadb, memory, mysql, postgres, postgresql, sqlite"
    ):
        open_artifact_store("gcs://bucket")


@pytest.mark.parametrize(
    ("name", "version"), [("report.md", 0), ("user:a b/c.png", 3), ("x?y#z", 1)]
)
def test_refs_round_trip(name: str, version: int) -> None:
    ref = artifact_ref(name, version)
    assert ref.startswith("artifact://")
    assert parse_ref(ref) == (name, version)


@pytest.mark.parametrize("server", ["postgres", "mysql"])
async def test_server_artifacts_share_the_session_stores_database(server: str) -> None:
    # the session store's own URL (table prefix, migrate=true) opens the artifact store too
    async with (
        private_server(server) as url,
        open_session_store(url),
        open_artifact_store(url) as store,
    ):
        try:
            await store.save(**S, name="kept.txt", data=b"kept")
            assert [i.name for i in await store.list(**S)] == ["kept.txt"]
        finally:
            await store.drop_table()  # type: ignore[attr-defined]
