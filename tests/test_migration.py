"""Re-embedding: backfill a new generation, survive a kill, switch over, drop the old one."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from leafsearch import Collection
from leafsearch.errors import ConfigurationError, InvalidQueryError
from leafsearch.stores.embedded import EmbeddedStore

SUBJECTS = ["The archive", "A small parser", "The scheduler", "This cache", "The indexer", "A network client"]
VERBS = ["stores", "compresses", "validates", "retries", "streams", "sorts"]
OBJECTS = ["log records", "JSON documents", "image tiles", "sensor readings", "user sessions", "audio frames"]
ENDINGS = ["every night.", "on demand.", "in parallel.", "before upload.", "after each commit.", "under load."]


def _corpus(count: int) -> list[dict[str, str]]:
    documents = []
    for i in range(count):
        text = " ".join(
            (SUBJECTS[i % 6], VERBS[(i // 6) % 6], OBJECTS[(i // 36) % 6], ENDINGS[(i // 216) % 6], f"Item {i}.")
        )
        documents.append({"_id": f"doc{i}", "text": text})
    return documents


def _write_corpus(path: Path, count: int) -> Path:
    path.write_text("\n".join(json.dumps(doc) for doc in _corpus(count)) + "\n", encoding="utf-8")
    return path


def _meta(store_dir: Path, key: str) -> str | None:
    with sqlite3.connect(store_dir / "default" / "docs.sqlite", timeout=30) as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def _indexed(tmp_path: Path, minilm_path: str, count: int = 60) -> Collection:
    collection = Collection(EmbeddedStore(tmp_path / "store", "default"), query_model=minilm_path)
    collection.index(_write_corpus(tmp_path / "corpus.jsonl", count), filter_fields=["_id"][:0])
    return collection


def test_migration_switches_to_new_model(tmp_path: Path, minilm_path: str, student_model_path: str) -> None:
    _indexed(tmp_path, minilm_path)
    migrating = Collection(
        EmbeddedStore(tmp_path / "store", "default"),
        query_model=student_model_path,
        document_model=student_model_path,
        allow_unaligned_models=True,
    )
    report = migrating.migrate(batch_size=16, progress=False)

    assert report.switched
    assert report.generation == 2
    assert report.backfilled == 60
    manifest = migrating.manifest
    assert manifest is not None
    assert manifest.generation == 2
    assert manifest.pending is None
    assert manifest.document_model == str(Path(student_model_path).resolve())

    query = "which component compresses JSON documents"
    student = SentenceTransformer(student_model_path)
    texts = [doc["text"] for doc in _corpus(60)]
    documents = student.encode(texts, normalize_embeddings=True)
    prompted = student.encode([migrating._encoder(student_model_path).query_prompt + query], normalize_embeddings=True)[0]
    expected = [f"doc{i}" for i in np.argsort(-(documents @ prompted), kind="stable")[:5]]
    after = Collection(EmbeddedStore(tmp_path / "store", "default"))
    assert [hit.id for hit in after.search(query, k=5, mode="full", exact=True)] == expected


def test_status_lists_generations_and_drop(tmp_path: Path, minilm_path: str, student_model_path: str) -> None:
    _indexed(tmp_path, minilm_path, count=20)
    migrating = Collection(
        EmbeddedStore(tmp_path / "store", "default"),
        query_model=student_model_path,
        document_model=student_model_path,
        allow_unaligned_models=True,
    )
    migrating.migrate(batch_size=8, progress=False)
    status = migrating.status()
    roles = {entry["role"]: entry for entry in status["generations"]}
    assert status["documents"] == 20
    assert roles["active"]["generation"] == 2
    assert roles["active"]["documents"] == 20
    assert roles["previous"]["generation"] == 1
    assert roles["previous"]["documents"] == 20
    assert (tmp_path / "store" / "default" / "full.f32").exists()

    dropped = migrating.migrate(drop_old=True)
    assert dropped.dropped == [1]
    assert not (tmp_path / "store" / "default" / "full.f32").exists()
    assert [entry["role"] for entry in migrating.status()["generations"]] == ["active"]
    assert migrating.search("streams sensor readings", k=3)


def test_migration_adds_int8(tmp_path: Path, minilm_path: str) -> None:
    collection = _indexed(tmp_path, minilm_path, count=30)
    with pytest.raises(InvalidQueryError, match="int8"):
        collection.search("archive", mode="int8")
    collection.migrate(int8=True, batch_size=8, progress=False)
    manifest = collection.manifest
    assert manifest is not None
    assert manifest.int8
    assert manifest.int8_ranges is not None
    int8_hits = collection.search("the archive stores log records", k=5, mode="rescore-int8", exact=True)
    full_hits = collection.search("the archive stores log records", k=5, mode="full", exact=True)
    assert int8_hits[0].id == full_hits[0].id


def test_nothing_to_migrate(tmp_path: Path, minilm_path: str) -> None:
    collection = _indexed(tmp_path, minilm_path, count=5)
    with pytest.raises(ConfigurationError, match="nothing to migrate"):
        collection.migrate(truncate_dim=256)


def test_indexing_refused_during_migration(tmp_path: Path, minilm_path: str, student_model_path: str) -> None:
    collection = _indexed(tmp_path, minilm_path, count=10)
    store = collection.store
    active = store.read_manifest()
    assert active is not None
    from leafsearch import migration

    target = Collection(store, query_model=student_model_path, document_model=student_model_path, allow_unaligned_models=True)
    planned = migration.plan_generation(
        active, target._requested_manifest(active, [], active.truncate_dim, active.similarity, False)
    )
    migration.start(store, active, planned)
    with pytest.raises(ConfigurationError, match="being migrated"):
        collection.index(_write_corpus(tmp_path / "more.jsonl", 3))
    # Searches keep using generation 1 while generation 2 is pending.
    assert collection.search("the scheduler sorts", k=1, mode="full", exact=True)
    aborted = collection.migrate(abort=True)
    assert aborted.generation == 2
    manifest = store.read_manifest()
    assert manifest is not None
    assert manifest.pending is None
    assert not (tmp_path / "store" / "default" / "g2-full.f32").exists()


def test_killed_migration_resumes(tmp_path: Path, minilm_path: str, student_model_path: str) -> None:
    count = 400
    corpus = _write_corpus(tmp_path / "corpus.jsonl", count)
    store_dir = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    base = [sys.executable, "-m", "leafsearch.cli"]
    indexed = subprocess.run(
        [*base, "index", str(corpus), "--store", str(store_dir), "--query-model", minilm_path, "--quiet"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert indexed.returncode == 0, indexed.stderr

    migrate = [
        *base, "migrate", "--store", str(store_dir), "--query-model", student_model_path,
        "--document-model", student_model_path, "--allow-unaligned-models", "--batch-size", "10", "--quiet",
    ]
    process = subprocess.Popen(migrate, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    progress = 0
    while time.monotonic() < deadline and process.poll() is None:
        progress = int(_meta(store_dir, "backfill_rows_g2") or 0)
        if progress >= 40:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the migration finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    interrupted = EmbeddedStore(store_dir, "default")
    manifest = interrupted.read_manifest()
    assert manifest is not None
    assert manifest.generation == 1
    assert manifest.pending is not None
    written = int(_meta(store_dir, "backfill_rows_g2") or 0)
    assert 0 < written < count
    # Searches still run on generation 1 while the backfill is unfinished.
    assert Collection(interrupted).search("the indexer retries user sessions", k=1, mode="full", exact=True)
    interrupted.close()

    resumed = subprocess.run([*migrate[:-1], "--json"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["switched"] is True
    assert report["backfilled"] == count - written
    assert report["total"] == count

    final = Collection(EmbeddedStore(store_dir, "default"))
    manifest = final.manifest
    assert manifest is not None
    assert manifest.generation == 2
    assert final.store.generation_count(manifest.layout()) == count
    assert (store_dir / "default" / "g2-full.f32").stat().st_size == count * manifest.dims * 4
    for i in range(0, count, 37):
        text = _corpus(count)[i]["text"]
        assert final.search(text, k=1, mode="full", exact=True)[0].id == f"doc{i}"
