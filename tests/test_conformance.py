"""Conformance suite: the same behaviour on the embedded store and on MongoDB Atlas.

The Atlas leg runs when MONGODB_URI points at Atlas or an atlas-local container, for example::

    MONGODB_URI="mongodb://localhost:27017/?directConnection=true" python -m pytest tests/test_conformance.py

Without it, the Atlas leg is skipped with a one-line reason.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from leafsearch import Collection
from leafsearch.errors import InvalidFilterError, ManifestMismatchError
from leafsearch.readers import SourceRecord
from leafsearch.stores import open_store

ATLAS_SKIP_REASON = "MONGODB_URI is not set, so there is no Atlas or atlas-local deployment to test"

SENTENCES = [
    ("python", "Python lists grow dynamically and support slicing."),
    ("python", "A Python dictionary maps hashable keys to values."),
    ("python", "Generators in Python produce values lazily with yield."),
    ("database", "MongoDB stores documents as BSON in collections."),
    ("database", "An index speeds up queries on a database field."),
    ("database", "Vector search finds the nearest embeddings to a query."),
    ("cooking", "Simmer the tomato sauce slowly to deepen its flavour."),
    ("cooking", "Knead bread dough until it is smooth and elastic."),
    ("cooking", "Roast the vegetables at a high temperature until browned."),
    ("sport", "The striker scored a goal in the final minute."),
    ("sport", "Marathon runners train by increasing their weekly distance."),
    ("sport", "The tennis match went to a deciding fifth set."),
]
QUERIES = ["how do I make pasta sauce taste richer", "nearest neighbour search over vectors", "football match result"]


@pytest.fixture(params=["embedded", "atlas"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "embedded":
        yield str(tmp_path / "store")
        return
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        pytest.skip(ATLAS_SKIP_REASON)
    yield uri


@pytest.fixture
def collection(location: str, minilm_path: str) -> Iterator[Collection]:
    name = f"conformance_{uuid.uuid4().hex[:10]}"
    docs = Collection(open_store(location, name), query_model=minilm_path)
    try:
        yield docs
    finally:
        docs.store.drop()


def _records() -> list[SourceRecord]:
    return [
        SourceRecord(id=f"s{i}", text=text, metadata={"topic": topic, "n": i}, source="memory", line=i + 1)
        for i, (topic, text) in enumerate(SENTENCES)
    ]


@functools.lru_cache(maxsize=1)
def _plain_model(path: str) -> SentenceTransformer:
    return SentenceTransformer(path)


def _reference_ranking(minilm_path: str, query: str) -> list[str]:
    """Rank the sentences with plain sentence-transformers, independently of leafsearch."""
    model = _plain_model(minilm_path)
    documents = model.encode([text for _, text in SENTENCES], normalize_embeddings=True)
    query_vector = model.encode([query], normalize_embeddings=True)[0]
    order = np.argsort(-(documents @ query_vector), kind="stable")
    return [f"s{i}" for i in order]


def test_full_mode_matches_reference(collection: Collection, minilm_path: str) -> None:
    collection.index(_records(), filter_fields=["topic"])
    for query in QUERIES:
        hits = collection.search(query, k=5, mode="full", exact=True)
        assert [hit.id for hit in hits] == _reference_ranking(minilm_path, query)[:5]


@pytest.mark.parametrize("mode", ["full", "truncated", "binary", "rescore", "int8", "rescore-int8"])
def test_ranking_parity_with_embedded(collection: Collection, minilm_path: str, tmp_path: Path, mode: str) -> None:
    """The store under test ranks exactly like a fresh embedded store on the same data."""
    collection.index(_records(), int8=True)
    reference = Collection(open_store(str(tmp_path / "reference"), "parity"), query_model=minilm_path)
    reference.index(_records(), int8=True)
    for query in QUERIES:
        expected = reference.search(query, k=8, mode=mode, exact=True)
        actual = collection.search(query, k=8, mode=mode, exact=True)
        assert [hit.id for hit in actual] == [hit.id for hit in expected]
        np.testing.assert_allclose([hit.score for hit in actual], [hit.score for hit in expected], atol=1e-5)


def test_modes_agree_on_top_hit(collection: Collection) -> None:
    collection.index(_records(), filter_fields=["topic"])
    for query in QUERIES:
        full = collection.search(query, k=3, mode="full", exact=True)
        rescored = collection.search(query, k=3, mode="rescore", exact=True)
        truncated = collection.search(query, k=3, mode="truncated", exact=True)
        assert [hit.id for hit in rescored] == [hit.id for hit in full]
        assert truncated[0].id == full[0].id


def test_scores_follow_atlas_formulas(collection: Collection) -> None:
    collection.index(_records())
    full = collection.search(QUERIES[0], k=12, mode="full", exact=True)
    binary = collection.search(QUERIES[0], k=12, mode="binary", exact=True)
    for hit in full:
        assert 0.0 <= hit.score <= 1.0
    # 384 sign bits: every binary score is a multiple of 1/384.
    for hit in binary:
        assert hit.score * 384 == pytest.approx(round(hit.score * 384), abs=1e-3)


def test_filter_restricts_results(collection: Collection) -> None:
    collection.index(_records(), filter_fields=["topic", "n"])
    hits = collection.search(QUERIES[1], k=5, mode="full", exact=True, filter={"topic": {"$in": ["cooking", "sport"]}, "n": {"$gte": 7}})
    assert len(hits) == 5
    for hit in hits:
        assert hit.metadata["topic"] in ("cooking", "sport")
        assert hit.metadata["n"] >= 7


def test_undeclared_filter_rejected(collection: Collection) -> None:
    collection.index(_records(), filter_fields=["topic"])
    with pytest.raises(InvalidFilterError):
        collection.search(QUERIES[0], filter={"n": 3})


def test_reindex_is_idempotent(collection: Collection) -> None:
    first = collection.index(_records())
    second = collection.index(_records())
    assert first.indexed == len(SENTENCES)
    assert second.indexed == 0
    assert second.unchanged == len(SENTENCES)
    assert collection.count() == len(SENTENCES)


def test_other_query_model_refused(collection: Collection, leaf_model_path: str) -> None:
    collection.index(_records())
    other = Collection(collection.store, query_model=leaf_model_path)
    with pytest.raises(ManifestMismatchError, match="dimensions"):
        other.search(QUERIES[0])


def test_int8_modes_track_full(collection: Collection) -> None:
    collection.index(_records(), int8=True)
    for query in QUERIES:
        full = collection.search(query, k=3, mode="full", exact=True)
        rescored = collection.search(query, k=3, mode="rescore-int8", exact=True)
        int8 = collection.search(query, k=3, mode="int8", exact=True)
        assert rescored[0].id == full[0].id
        assert int8[0].id == full[0].id
        for hit in int8:
            assert 0.0 <= hit.score <= 1.0


def test_migration_switches_models(collection: Collection, student_model_path: str) -> None:
    collection.index(_records(), filter_fields=["topic"])
    migrating = Collection(
        collection.store, query_model=student_model_path, document_model=student_model_path, allow_unaligned_models=True
    )
    report = migrating.migrate(batch_size=5, progress=False)
    assert report.switched
    assert report.backfilled == len(SENTENCES)
    assert migrating.count() == len(SENTENCES)
    # After the switch, a collection opened without model arguments searches with the new model.
    reopened = Collection(collection.store)
    hits = reopened.search(QUERIES[2], k=3, mode="full", exact=True, filter={"topic": "sport"})
    assert [hit.metadata["topic"] for hit in hits] == ["sport"] * 3
    assert reopened._query_model is None
    manifest = reopened.manifest
    assert manifest is not None
    assert manifest.generation == 2


# The quickstart example of the mdbr-leaf-mt model card, with the similarities it prints.
CARD_QUERIES = ["What is machine learning?", "How does neural network training work?"]
CARD_DOCUMENTS = [
    "Machine learning is a subset of artificial intelligence that focuses on algorithms that can learn from data.",
    "Neural networks are trained through backpropagation, adjusting weights to minimize prediction errors.",
]
CARD_SIMILARITIES = [[0.9063, 0.7287], [0.6725, 0.8287]]


def _local_leaf_mt() -> str | None:
    explicit = os.environ.get("LEAFSEARCH_LEAF_MT_PATH")
    if explicit and Path(explicit).is_dir():
        return explicit
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download("MongoDB/mdbr-leaf-mt", local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means the weights are not on this machine
        return None


def test_model_card_similarities() -> None:
    path = _local_leaf_mt()
    if path is None:
        pytest.skip("mdbr-leaf-mt weights are not available locally (set LEAFSEARCH_LEAF_MT_PATH)")
    from leafsearch.encoding import Encoder

    encoder = Encoder(path)
    queries = encoder.encode_queries(CARD_QUERIES)
    documents = encoder.encode_documents(CARD_DOCUMENTS).vectors
    np.testing.assert_allclose(queries @ documents.T, CARD_SIMILARITIES, atol=0.002)


@pytest.mark.parametrize("value", [[], 0, False, "topic"])
def test_filter_must_be_document(collection: Collection, value: object) -> None:
    collection.index(_records(), filter_fields=["topic"])
    with pytest.raises(InvalidFilterError, match="document"):
        collection.search(QUERIES[0], filter=value)  # type: ignore[arg-type]
