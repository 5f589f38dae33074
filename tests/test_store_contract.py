"""One contract, two stores: every test here runs against the embedded store (folders under
``index_dir``) and the Chroma server store (a real ``chroma run`` on a free loopback port), both
built by ``open_store`` as the app builds them. Each test gets its own namespace, so the stores
start empty. The interface is :class:`bot.store.VersionStore`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.errors import BotError, IndexBusyError, NoIndexError, StoreUnavailable
from bot.store import StoreLock, Version, VersionStore, open_store
from tests.helpers import CHROMA, ChromaServer

REPO = Path(__file__).resolve().parent.parent
DIM = 4
PASSAGES = {  # id -> (text, vector): three directions, so the nearest one is unambiguous
    "a": ("Phones stay in the locker.", [1.0, 0.0, 0.0, 0.0]),
    "b": ("Keys go on a chain.", [0.0, 1.0, 0.0, 0.0]),
    "c": ("Vetting takes weeks.", [0.0, 0.0, 1.0, 0.0]),
}


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed")
    server = ChromaServer(tmp_path_factory.mktemp("contract-chroma") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "server"])
def place(request, tmp_path):
    """Settings naming where a store lives, and the namespace of this test: building the store
    again from them gives a second view of the same store (as another process would have)."""
    from bot.config import Settings

    url = request.getfixturevalue("chroma_server").url if request.param == "server" else None
    settings = Settings(index_dir=tmp_path / "index", embed_model="fake", chroma_url=url)
    return settings, ("contract", uuid.uuid4().hex[:8])


@pytest.fixture
def store(place) -> VersionStore:
    settings, namespace = place
    return open_store(settings, *namespace)


def reopen(place) -> VersionStore:
    settings, namespace = place
    return open_store(settings, *namespace)


def build(store: VersionStore, version_id: str, passages=PASSAGES, registry=None) -> Version:
    """What the indexer does before publishing: a collection of passages, then the registry."""
    collection = store.create_collection(version_id)
    ids = list(passages)
    collection.add(ids=ids, embeddings=[passages[i][1] for i in ids],
                   documents=[passages[i][0] for i in ids],
                   metadatas=[{"source": f"guidance/{i}.md"} for i in ids])
    store.write_registry(version_id, registry if registry is not None else {
        f"guidance/{i}.md": {"chunks": [i]} for i in ids})
    return Version(id=version_id, created="2026-12-01T10:00:00+00:00", model="fake-hashing-v1",
                   dimension=DIM, chunking={"chunk_size": 900, "chunk_overlap": 120},
                   documents=len(ids), chunks=len(ids))


def publish(store: VersionStore, version_id: str, keep: int = 3) -> Version:
    version = build(store, version_id)
    store.publish(version, keep=keep)
    return version


def test_both_stores_declare_the_interface(store):
    assert isinstance(store, VersionStore)
    assert isinstance(store.lock(), StoreLock)


def test_an_empty_store_has_no_live_version(store):
    assert store.live() is None and store.versions() == []
    with pytest.raises(NoIndexError):
        store.require_live()
    with pytest.raises(NoIndexError):
        store.rollback()
    assert store.read_registry("v-never-built") == {}
    assert store.clean_orphans() == []


def test_a_published_version_reads_back_everywhere(store, place):
    version = publish(store, "v1")
    for view in (store, reopen(place)):  # this process and any other
        assert view.live() == version and view.require_live() == version
        assert view.versions() == [version]
        collection = view.collection("v1")
        assert collection.count() == 3
        got = collection.get(ids=["b"], include=["documents", "metadatas", "embeddings"])
        assert got["documents"] == ["Keys go on a chain."]
        assert got["metadatas"] == [{"source": "guidance/b.md"}]
        assert [round(float(x), 6) for x in got["embeddings"][0]] == PASSAGES["b"][1]
        assert view.read_registry("v1") == {f"guidance/{i}.md": {"chunks": [i]} for i in "abc"}


def test_collections_search_by_cosine(store):
    collection = store.create_collection("v1")
    collection.add(ids=list(PASSAGES), embeddings=[v for _, v in PASSAGES.values()],
                   documents=[t for t, _ in PASSAGES.values()])
    found = collection.query(query_embeddings=[[0.0, 0.0, 5.0, 0.1]], n_results=2)
    assert found["ids"][0][0] == "c"
    assert found["distances"][0][0] < 0.01  # a longer vector in the same direction: cosine ~0


def test_the_stamp_changes_with_the_live_version_and_only_then(store, place):
    empty = store.manifest_stamp()
    assert store.manifest_stamp() == empty
    publish(store, "v1")
    first = store.manifest_stamp()
    assert first != empty
    assert store.manifest_stamp() == first and reopen(place).manifest_stamp() == first
    store.read_registry("v1"), store.collection("v1").count()  # reading changes nothing
    assert store.manifest_stamp() == first
    publish(store, "v2")
    second = store.manifest_stamp()
    store.rollback()  # straight after the publish, as a second process might
    back = store.manifest_stamp()
    assert len({empty, first, second, back}) == 4
    assert reopen(place).manifest_stamp() == back


def test_publish_keeps_the_newest_versions_and_deletes_the_rest(store):
    for n in (1, 2, 3):
        publish(store, f"v{n}", keep=2)
    version = build(store, "v4")
    dropped = store.publish(version, keep=2)
    assert dropped == ["v2"]  # v1 went when v3 was published
    assert [v.id for v in store.versions()] == ["v4", "v3"]
    assert store.live() == version
    for gone in ("v1", "v2"):
        assert not store.version_exists(gone)
        assert store.read_registry(gone) == {}
        with pytest.raises(StoreUnavailable):
            store.collection(gone)
        assert not store.version_exists(gone)  # trying to open it created nothing
    assert store.version_exists("v3") and store.collection("v3").count() == 3


def test_rollback_makes_the_previous_version_live(store, place):
    first = publish(store, "v1")
    publish(store, "v2")
    assert store.rollback() == first
    assert store.live() == first and reopen(place).live() == first
    assert [v.id for v in store.versions()] == ["v2", "v1"]  # nothing is deleted
    with pytest.raises(BotError, match="no earlier index version"):
        store.rollback()
    third = publish(store, "v3")
    assert store.live() == third and store.collection("v1").count() == 3


def test_rollback_skips_versions_whose_data_is_gone(store):
    publish(store, "v1")
    publish(store, "v2")
    publish(store, "v3")
    store.delete_version("v2")
    assert store.rollback().id == "v1"
    store.write_manifest(dict(store.read_manifest(), live="v3"))
    store.delete_version("v1")
    with pytest.raises(BotError, match="no earlier index version"):
        store.rollback()
    assert store.live().id == "v3"
    assert [v.id for v in store.versions() if store.version_exists(v.id)] == ["v3"]


def test_registries_round_trip_large_and_replaced(store):
    store.create_collection("v1")
    registry = {f"guidance/doc-{n}.md": {"sha256": f"{n:064x}", "title": "Café — “quotes” ✓",
                                         "chunks": [f"{n}-{i}" * 8 for i in range(40)]}
                for n in range(60)}  # about 150 KB of JSON: more than one record in a server
    store.write_registry("v1", registry)
    assert store.read_registry("v1") == registry
    store.write_registry("v1", {"guidance/one.md": {"chunks": []}})
    assert store.read_registry("v1") == {"guidance/one.md": {"chunks": []}}
    assert store.read_registry("v2") == {}


def test_orphans_are_cleaned_and_published_versions_kept(store):
    live = publish(store, "v1")
    build(store, "v2-half-built")  # a crash before publish leaves this
    store.create_collection("v3-no-registry")
    assert store.version_exists("v2-half-built")
    assert sorted(store.clean_orphans()) == ["v2-half-built", "v3-no-registry"]
    for orphan in ("v2-half-built", "v3-no-registry"):
        assert not store.version_exists(orphan)
        assert store.read_registry(orphan) == {}
    assert store.live() == live and store.collection("v1").count() == 3
    assert store.read_registry("v1") != {}
    assert store.clean_orphans() == []


def test_namespaces_keep_separate_indexes(place):
    settings, namespace = place
    mine, theirs = open_store(settings, *namespace), open_store(settings, *namespace, "other")
    publish(mine, "v1")
    assert theirs.live() is None and theirs.versions() == []
    assert theirs.clean_orphans() == []
    assert mine.live().id == "v1" and mine.collection("v1").count() == 3


def test_a_malformed_manifest_is_a_sentence_not_a_crash(store):
    store.write_manifest({"format": 1, "live": "v1", "versions": [{"id": "v1"}]})
    with pytest.raises(BotError, match="not in the expected form"):
        store.live()


def test_one_lock_holder_at_a_time(store, place):
    other = reopen(place)
    with store.lock("index") as lock:
        assert lock.held
        holder = lock.holder()
        assert holder["pid"] == os.getpid() and holder["command"] == "index"
        assert holder["host"] == socket.gethostname()
        with pytest.raises(IndexBusyError) as busy:
            other.lock("rollback").acquire()
        assert f"process {os.getpid()} on {socket.gethostname()}" in busy.value.message
    assert not lock.held and other.lock().holder() is None
    with other.lock("rollback") as taken:  # free again, for anyone
        assert taken.holder()["command"] == "rollback"
    assert store.lock().holder() is None


def test_the_lock_is_released_when_the_work_fails(store):
    with pytest.raises(RuntimeError), store.lock():
        raise RuntimeError("the build failed")
    assert store.lock().holder() is None
    with store.lock() as again:
        assert again.held


DIES_HOLDING = """
import os, sys
from bot.config import Settings
from bot.store import open_store
settings = Settings(index_dir=sys.argv[1], embed_model="fake", chroma_url=sys.argv[2] or None)
open_store(settings, *sys.argv[3:]).lock("index").acquire()
print(os.getpid(), flush=True)
os._exit(0)  # dies without releasing
"""


def test_a_lock_left_by_a_dead_process_is_taken_over(store, place):
    settings, namespace = place
    child = subprocess.run(
        [sys.executable, "-c", DIES_HOLDING, str(settings.index_dir), settings.chroma_url or "",
         *namespace], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    dead = int(child.stdout.strip())
    assert store.lock().holder()["pid"] == dead
    with store.lock() as lock:
        assert lock.holder()["pid"] == os.getpid()
    assert store.lock().holder() is None
