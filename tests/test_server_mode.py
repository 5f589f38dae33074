"""Chroma server mode (BOT_CHROMA_URL) against a real ``chroma run`` on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.errors import ConfigError, IndexBusyError, StoreUnavailable
from bot.ingest.indexer import drive
from tests.helpers import CHROMA, ChromaServer

REPO = Path(__file__).resolve().parent.parent
UNAVAILABLE = "The guidance index is temporarily unavailable: please try again in a minute."
PHONE = "Can I take my phone in?"

pytestmark = pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chroma = ChromaServer(tmp_path_factory.mktemp("chroma") / "data")
    chroma.start()
    yield chroma
    chroma.stop()


@pytest.fixture(autouse=True)
def empty_server(server):
    if server.proc is None:  # a test stopped it and failed before starting it again
        server.start()
    client = server.client()
    for collection in client.list_collections():
        client.delete_collection(collection.name)


@pytest.fixture
def server_settings(settings, server):
    settings.chroma_url = server.url
    return settings


def bot_for(settings, **changes):
    from bot.wiring import build_bot

    return build_bot(settings.model_copy(update=changes))


def cli(args, server, tmp_path, docs=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_EMBED_MODEL": "fake", "BOT_CHROMA_URL": server.url,
                "BOT_INDEX_DIR": str(tmp_path / "cli-index")})
    if docs:
        env["BOT_DOCS_DIR"] = str(docs)
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def test_index_and_ask_keep_everything_in_the_server(server_settings, server, monkeypatch):
    monkeypatch.setattr("bot.store.server_client.PAGE", 3)  # whole collections are read in pages
    bot = bot_for(server_settings)
    report = drive(bot.index())
    assert report.documents == 4 and not report.failed
    assert len(bot.search_index()) == report.chunks > 3
    answer = bot.ask(PHONE)
    assert answer.grounded and answer.citations[0].source == "guidance/phones.md"
    status = bot.status()
    assert status.store == "chroma-server" and status.version == report.version
    client = server.client()
    names = {c.name for c in client.list_collections()}
    assert names == {"bot_manifest", "bot_registry", f"chunks_{report.version}"}
    for name in names:
        config = client.get_collection(name).configuration
        assert config["hnsw"]["space"] == "cosine" and config.get("embedding_function") is None
    # Only the embedding cache is local; nothing is written to an embedded store.
    assert [p.name for p in server_settings.index_dir.iterdir()] == ["cache"]


def test_another_process_sees_reindex_and_rollback(server_settings, server, tmp_path, docs):
    writer = bot_for(server_settings)
    first = drive(writer.index()).version
    reader = bot_for(server_settings, index_dir=tmp_path / "reader")
    assert reader.ask(PHONE).grounded
    assert "guidance/notes.txt" in reader.search_index().sources()

    (docs / "guidance" / "notes.txt").unlink()
    built = cli(["index", "--json"], server, tmp_path, docs)
    assert built.returncode == 0, built.stderr
    second = json.loads(built.stdout)["version"]
    assert second != first
    index = reader.search_index()  # BM25 and dense follow the new live version
    assert index.version_id == second and "guidance/notes.txt" not in index.sources()
    assert reader.ask(PHONE).grounded

    back = cli(["rollback"], server, tmp_path, docs)
    assert back.returncode == 0 and f"Version {first}" in back.stdout, back.stderr
    assert reader.search_index().version_id == first
    assert "guidance/notes.txt" in reader.search_index().sources()
    assert writer.status().version == first
    assert not (tmp_path / "cli-index" / "manifest.json").exists()


HOLDER = """
import sys
from bot.store import ServerStore
lock = ServerStore(sys.argv[1]).lock("index")
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_the_lock_is_shared_across_processes(server_settings, server):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, server.url], cwd=REPO, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        bot = bot_for(server_settings)
        with pytest.raises(IndexBusyError) as err:
            drive(bot.index())
        assert f"process {holder.pid} on {socket.gethostname()}" in err.value.message
        with pytest.raises(IndexBusyError):
            bot.rollback()
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock
        holder.wait()
    report = drive(bot.index())  # a dead holder's lock is taken over
    assert report.documents == 4
    assert bot.store.lock().holder() is None  # and released after the run


def test_an_expired_lock_from_another_host_is_taken_over(server):
    from bot.store import ServerStore
    from bot.store.server_lock import LOCK_ID

    store = ServerStore(server.url)

    def plant(expires):
        store.meta.upsert(ids=[LOCK_ID], embeddings=[[1.0]], metadatas=[{
            "token": "theirs", "pid": 4242, "host": "elsewhere", "since": "09:00",
            "command": "index", "expires": expires}])

    plant(time.time() + 60)
    with pytest.raises(IndexBusyError, match="process 4242 on elsewhere, since 09:00"):
        store.lock().acquire()
    plant(time.time() - 1)
    with store.lock() as lock:
        assert lock.still_held() and lock.holder()["pid"] == os.getpid()
    assert lock.holder() is None


def test_heartbeat_keeps_the_lock_and_a_lost_lock_cannot_publish(server):
    from bot.store import ServerStore
    from bot.store.server_lock import LOCK_ID

    store = ServerStore(server.url, lock_ttl=1.0)
    lock = store.lock()
    lock.acquire()
    time.sleep(1.6)  # longer than the ttl: only the heartbeat keeps it alive
    with pytest.raises(IndexBusyError):
        ServerStore(server.url).lock().acquire()
    # Another process can take the lock over only once it has expired, that is while our heartbeat
    # is stalled: stall it first. (Planting a record under a live heartbeat is a race the test
    # would lose now and then: a refresh that read our record just before the plant overwrites it.)
    lock._stop.set()
    lock._beat.join()
    store.meta.upsert(ids=[LOCK_ID], embeddings=[[1.0]], metadatas=[{
        "token": "intruder", "pid": 1, "host": "elsewhere", "expires": time.time() + 60}])
    with pytest.raises(IndexBusyError, match="took over the reindex lock"):
        store.write_manifest({"format": 1, "live": None, "versions": []})
    # When the heartbeat comes back it notices that the record is no longer ours and stops.
    lock._stop.clear()
    beat = threading.Thread(target=lock._heartbeat, daemon=True)
    beat.start()
    beat.join(timeout=5)
    assert lock.lost and not beat.is_alive()
    assert lock.holder()["token"] == "intruder"  # a lost heartbeat never writes over the new holder
    lock.release()
    assert lock.holder()["token"] == "intruder"  # release never deletes another's lock


def test_chroma_add_leaves_an_existing_record_alone(server):
    """The lock relies on this: of two adds of one id, the first stands."""
    collection = server.client().create_collection("probe", embedding_function=None)
    collection.add(ids=["x"], embeddings=[[1.0]], metadatas=[{"token": "first"}])
    collection.add(ids=["x"], embeddings=[[1.0]], metadatas=[{"token": "second"}])
    assert collection.get(ids=["x"])["metadatas"] == [{"token": "first"}]


def test_large_registries_and_orphans(server):
    from bot.store import ServerStore

    store = ServerStore(server.url)
    registry = {f"guidance/doc-{n}.md": {"chunks": [f"{n}-{i}" * 8 for i in range(40)]}
                for n in range(60)}
    store.create_collection("v1-half-built")
    store.write_registry("v1-half-built", registry)
    assert len(json.dumps(registry)) > 50_000  # several parts
    assert store.read_registry("v1-half-built") == registry
    assert store.clean_orphans() == ["v1-half-built"]
    assert store.read_registry("v1-half-built") == {}
    assert "chunks_v1-half-built" not in {c.name for c in server.client().list_collections()}


def test_server_stopping_mid_conversation(server_settings, server, tmp_path):
    from fastapi.testclient import TestClient

    from bot.web.api import create_app

    bot = bot_for(server_settings)
    drive(bot.index())
    assert bot.ask(PHONE).grounded
    server.stop()
    with pytest.raises(StoreUnavailable) as err:
        bot.ask("And what about a smart watch?")
    assert err.value.message == UNAVAILABLE
    response = TestClient(create_app(bot)).post("/api/ask", json={"question": PHONE})
    assert response.status_code == 503 and response.json() == {"error": UNAVAILABLE}
    asked = cli(["ask", PHONE], server, tmp_path)
    assert asked.returncode == 2 and asked.stderr.strip() == f"Error: {UNAVAILABLE}"
    assert "Traceback" not in asked.stderr

    server.start()  # same port, same data: the same bot recovers by itself
    assert bot.ask(PHONE).grounded
    asked = cli(["ask", "--json", PHONE], server, tmp_path)
    assert asked.returncode == 0 and json.loads(asked.stdout)["grounded"], asked.stderr


def test_a_malformed_url_is_a_configuration_error(settings):
    with pytest.raises(ConfigError, match="BOT_CHROMA_URL"):
        bot_for(settings, chroma_url="ftp://somewhere/chroma")


def test_eval_datasets_get_their_own_collections(server_settings, server, tmp_path):
    from bot.ops.beir import beir_index

    bot = bot_for(server_settings)
    corpus = {"d1": ("Phones", "Phones are not allowed in prison."),
              "d2": ("Keys", "Keys must be kept on a chain at all times.")}
    first = beir_index(bot, tmp_path / "tiny set", corpus, progress=False)
    again = beir_index(bot, tmp_path / "tiny set", corpus, progress=False)
    assert again.version_id == first.version_id and len(again) == 2
    names = {c.name for c in server.client().list_collections()}
    assert names == {"eval_tiny-set_bot_manifest", "eval_tiny-set_bot_registry",
                     f"eval_tiny-set_chunks_{first.version_id}"}
    assert bot.store.live() is None  # the chatbot's own index is untouched
    assert not (server_settings.index_dir / "eval").exists()
