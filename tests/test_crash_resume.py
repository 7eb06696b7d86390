"""Crash safety of the embedded store: a SIGKILLed index run, a rerun, and torn vector writes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leafsearch.collection import Collection
from leafsearch.errors import StoreError
from leafsearch.readers import SourceRecord
from leafsearch.stores.embedded import EmbeddedStore

ENV_NAMES = (
    "MONGODB_URI",
    "LEAFSEARCH_STORE",
    "LEAFSEARCH_COLLECTION",
    "LEAFSEARCH_QUERY_MODEL",
    "LEAFSEARCH_DOCUMENT_MODEL",
)
COLLECTION = "crash"
# 60 batches of 50. With MiniLM this test took 75 to 110 s on 2 CPU cores shared with other jobs.
CORPUS_SIZE = 3000
BATCH_SIZE = 50
KILL_AFTER_ROWS = 2 * BATCH_SIZE
POLL_TIMEOUT_S = 120.0
DIMS = 384  # all-MiniLM-L6-v2
TRUNCATE_DIM = 256  # the CLI default
VECTOR_FILES = {
    "full.f32": DIMS * 4,
    "truncated.f32": TRUNCATE_DIM * 4,
    "binary.u8": DIMS // 8,
}

SUBJECTS = [
    "The old fisherman",
    "A young teacher",
    "My neighbor",
    "The city council",
    "A tired nurse",
    "The museum guide",
    "Our landlord",
    "A street musician",
    "The head chef",
    "A retired pilot",
    "The night guard",
    "A travelling salesman",
    "The village doctor",
    "A curious student",
    "The train driver",
    "A local farmer",
    "The bakery owner",
    "An amateur painter",
    "The school principal",
    "A park ranger",
]
VERBS = [
    "repaired",
    "painted",
    "sold",
    "described",
    "photographed",
    "borrowed",
    "cleaned",
    "measured",
    "carried",
    "ordered",
    "found",
    "lost",
    "inspected",
    "designed",
    "wrapped",
]
OBJECTS = [
    "a wooden boat",
    "the broken fence",
    "an antique clock",
    "the red bicycle",
    "a leather bag",
    "the garden shed",
    "a silver teapot",
    "the kitchen table",
    "a wool blanket",
    "the map of Europe",
    "a glass vase",
    "the blue umbrella",
    "a pair of boots",
    "the church bell",
    "a stone bench",
    "the iron gate",
    "a paper lantern",
    "the chess set",
    "a copper kettle",
    "the oak cabinet",
]
PLACES = [
    "near the harbor",
    "before breakfast",
    "in the rain",
    "after the storm",
    "on Sunday",
    "at the market",
    "behind the station",
    "during the festival",
    "by the river",
    "last winter",
]


def corpus_sentences(count: int) -> list[str]:
    """Return ``count`` distinct sentences, the same on every call."""
    combinations = len(SUBJECTS) * len(VERBS) * len(OBJECTS) * len(PLACES)
    # 7919 is prime and coprime with the number of combinations, so the stride visits
    # distinct combinations while spreading them over all word lists.
    sentences = []
    for i in range(count):
        code = (i * 7919) % combinations
        code, place = divmod(code, len(PLACES))
        code, obj = divmod(code, len(OBJECTS))
        subject, verb = divmod(code, len(VERBS))
        sentences.append(f"{SUBJECTS[subject]} {VERBS[verb]} {OBJECTS[obj]} {PLACES[place]}.")
    return sentences


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def subprocess_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ENV_NAMES}
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def committed_rows(database: Path) -> int:
    """Read the committed row count with a separate read-only connection."""
    if not database.exists():
        return 0
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'rows'").fetchone()
    except sqlite3.OperationalError:
        return 0  # the tables do not exist yet
    finally:
        connection.close()
    return int(row[0]) if row else 0


def vector_file_sizes(collection_dir: Path) -> dict[str, int]:
    return {name: (collection_dir / name).stat().st_size for name in VECTOR_FILES}


def expected_sizes(rows: int) -> dict[str, int]:
    return {name: rows * row_bytes for name, row_bytes in VECTOR_FILES.items()}


def test_killed_index_resumes(tmp_path: Path, minilm_path: str) -> None:
    sentences = corpus_sentences(CORPUS_SIZE)
    assert len(set(sentences)) == CORPUS_SIZE
    ids = [f"doc-{i:04d}" for i in range(CORPUS_SIZE)]
    corpus = tmp_path / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as handle:
        handle.writelines(
            json.dumps({"_id": doc_id, "text": text}) + "\n" for doc_id, text in zip(ids, sentences)
        )
    store = tmp_path / "store"
    collection_dir = store / COLLECTION
    database = collection_dir / "docs.sqlite"
    command = [
        sys.executable,
        "-m",
        "leafsearch.cli",
        "index",
        str(corpus),
        "--store",
        str(store),
        "--collection",
        COLLECTION,
        "--query-model",
        minilm_path,
        "--batch-size",
        str(BATCH_SIZE),
        "--quiet",
    ]

    # Kill the first run once some batches are committed.
    process = subprocess.Popen(
        command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen_before_kill = 0
    deadline = time.monotonic() + POLL_TIMEOUT_S
    try:
        while time.monotonic() < deadline and process.poll() is None:
            seen_before_kill = committed_rows(database)
            if seen_before_kill >= KILL_AFTER_ROWS:
                break
            time.sleep(0.05)
        exited_early = process.poll() is not None
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=30)
    assert not exited_early, f"index run ended before it was killed: {stderr.decode()[-2000:]}"
    assert seen_before_kill >= KILL_AFTER_ROWS, "no rows committed within the poll timeout"
    assert process.returncode == -signal.SIGKILL

    # The killed store opens and contains exactly its committed rows.
    committed = committed_rows(database)
    assert seen_before_kill <= committed < CORPUS_SIZE
    assert committed % BATCH_SIZE == 0
    with Collection.open(str(store), COLLECTION, query_model=minilm_path) as collection:
        assert collection.count() == committed
        assert vector_file_sizes(collection_dir) == expected_sizes(committed)
        hits = collection.search(sentences[0], 5, mode="rescore")
        assert len(hits) == 5
        assert hits[0].id == ids[0]
        assert {hit.id for hit in hits} <= set(ids[:committed])

    # The rerun indexes the rest and skips what is committed.
    rerun = subprocess.run(
        [*command, "--json"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)
    assert report["read"] == CORPUS_SIZE
    assert report["unchanged"] == committed
    assert report["indexed"] == CORPUS_SIZE - committed
    assert report["indexed"] + report["unchanged"] == CORPUS_SIZE
    assert report["bad_records"] == []

    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        stored_ids = [row[0] for row in connection.execute("SELECT id FROM docs")]
        distinct_rows = connection.execute("SELECT COUNT(DISTINCT row) FROM docs").fetchone()[0]
    finally:
        connection.close()
    assert len(stored_ids) == CORPUS_SIZE
    assert set(stored_ids) == set(ids)
    assert distinct_rows == CORPUS_SIZE
    assert committed_rows(database) == CORPUS_SIZE

    sample = list(range(0, CORPUS_SIZE, CORPUS_SIZE // 30))[:30]
    with Collection.open(str(store), COLLECTION, query_model=minilm_path) as collection:
        assert collection.count() == CORPUS_SIZE
        assert vector_file_sizes(collection_dir) == expected_sizes(CORPUS_SIZE)
        results = collection.search_many([sentences[i] for i in sample], 1, mode="full", exact=True)
    for i, hits in zip(sample, results):
        assert hits[0].id == ids[i], f"{sentences[i]!r} found {hits[0].id}, expected {ids[i]}"


# -- torn writes --------------------------------------------------------------------------

SMALL_CORPUS = corpus_sentences(40)
QUERIES = ["someone fixed a boat by the sea", "a painting of a bell", "boots bought at the market"]


def index_small_store(store: Path, model: str) -> None:
    with Collection.open(str(store), COLLECTION, query_model=model) as collection:
        collection.index(
            [_record(f"doc-{i:02d}", text, i + 1) for i, text in enumerate(SMALL_CORPUS[:30])],
            progress=False,
            batch_size=8,
        )


def _record(doc_id: str, text: str, line: int) -> SourceRecord:
    return SourceRecord(id=doc_id, text=text, metadata={}, source="memory", line=line)


def search_results(store: Path, model: str) -> list[list[tuple[str, float]]]:
    with Collection.open(str(store), COLLECTION, query_model=model) as collection:
        results = []
        for mode in ("full", "truncated", "binary", "rescore"):
            for hits in collection.search_many(QUERIES, 5, mode=mode, exact=True):
                results.append([(hit.id, round(hit.score, 6)) for hit in hits])
        return results


def test_torn_write_discarded(tmp_path: Path, minilm_path: str) -> None:
    store = tmp_path / "store"
    index_small_store(store, minilm_path)
    before = search_results(store, minilm_path)
    collection_dir = store / COLLECTION

    # A batch killed after appending its vectors but before its commit leaves extra bytes.
    with open(collection_dir / "full.f32", "ab") as handle:
        handle.write(os.urandom(DIMS * 4 * 3 + 100))
    with open(collection_dir / "binary.u8", "ab") as handle:
        handle.write(b"\xff" * 70)

    reopened = EmbeddedStore(store, COLLECTION)
    reopened.close()
    after = search_results(store, minilm_path)

    # Readers ignore bytes past the committed rows (another process may still be writing
    # them) and leave them in place; the next write cuts them off.
    assert after == before
    assert vector_file_sizes(collection_dir) != expected_sizes(30)

    # New documents written after the repair land on the right rows.
    with Collection.open(str(store), COLLECTION, query_model=minilm_path) as collection:
        report = collection.index(
            [_record(f"new-{i}", text, i) for i, text in enumerate(SMALL_CORPUS[30:])],
            progress=False,
        )
        assert report.indexed == 10
        hits = collection.search(SMALL_CORPUS[35], 1, mode="full", exact=True)
    assert hits[0].id == "new-5"
    assert vector_file_sizes(collection_dir) == expected_sizes(40)


def test_short_vector_file_rejected(tmp_path: Path, minilm_path: str) -> None:
    store = tmp_path / "store"
    index_small_store(store, minilm_path)
    full = store / COLLECTION / "full.f32"
    os.truncate(full, full.stat().st_size - DIMS * 4)

    with pytest.raises(StoreError, match="damaged"):
        EmbeddedStore(store, COLLECTION)
