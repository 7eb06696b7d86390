"""Embedded store search semantics, checked against independent numpy computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leafsearch.errors import InvalidFilterError, StoreError
from leafsearch.manifest import Manifest
from leafsearch.quantization import l2_normalize, pack_sign_bits, truncate
from leafsearch.stores.embedded import EmbeddedStore
from leafsearch.types import EncodedBatch, QueryVectors, SearchRequest

DIMS = 20  # not a multiple of 8, so the packed-bit rows carry padding
TRUNCATE = 8


def _manifest(filter_fields: list[str] | None = None) -> Manifest:
    return Manifest(
        query_model="q",
        document_model="q",
        query_prompt=None,
        dims=DIMS,
        truncate_dim=TRUNCATE,
        similarity="cosine",
        filter_fields=filter_fields or ["group", "year"],
    )


def _batch(vectors: np.ndarray, start: int = 0) -> EncodedBatch:
    count = len(vectors)
    ids = [f"doc{start + i}" for i in range(count)]
    return EncodedBatch(
        ids=ids,
        texts=[f"text of {doc_id}" for doc_id in ids],
        metadata=[{"group": "even" if (start + i) % 2 == 0 else "odd", "year": 2000 + (start + i) % 10} for i in range(count)],
        content_hashes=[f"h{start + i}" for i in range(count)],
        full=vectors,
        truncated=truncate(vectors, TRUNCATE),
        binary=pack_sign_bits(vectors),
    )


def _open(tmp_path: Path, vectors: np.ndarray) -> EmbeddedStore:
    store = EmbeddedStore(tmp_path, "test")
    manifest = _manifest()
    store.write_manifest(manifest)
    store.prepare(manifest.layout())
    store.upsert(_batch(vectors))
    return store


def _request(query: np.ndarray, mode: str, limit: int = 5, **kwargs: object) -> SearchRequest:
    return SearchRequest(
        mode=mode,  # type: ignore[arg-type]
        vectors=QueryVectors(full=query, truncated=truncate(query, TRUNCATE), binary=pack_sign_bits(query)),
        limit=limit,
        num_candidates=None,
        exact=True,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def vectors() -> np.ndarray:
    return l2_normalize(np.random.default_rng(42).normal(size=(200, DIMS)))


@pytest.fixture
def query() -> np.ndarray:
    return l2_normalize(np.random.default_rng(7).normal(size=DIMS))


def test_full_mode_matches_numpy(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    hits = store.search(_request(query, "full", limit=10))
    expected_scores = (1 + vectors @ query) / 2
    expected = np.argsort(-expected_scores)[:10]
    assert [hit.id for hit in hits] == [f"doc{i}" for i in expected]
    np.testing.assert_allclose([hit.score for hit in hits], expected_scores[expected], atol=1e-6)


def test_truncated_mode_matches_numpy(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    hits = store.search(_request(query, "truncated", limit=10))
    short = vectors[:, :TRUNCATE] / np.linalg.norm(vectors[:, :TRUNCATE], axis=1, keepdims=True)
    short_query = query[:TRUNCATE] / np.linalg.norm(query[:TRUNCATE])
    expected_scores = (1 + short @ short_query) / 2
    expected = np.argsort(-expected_scores)[:10]
    assert [hit.id for hit in hits] == [f"doc{i}" for i in expected]


def test_binary_mode_scores_are_hamming(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    hits = store.search(_request(query, "binary", limit=200))
    signs = vectors > 0
    expected = {f"doc{i}": 1 - np.count_nonzero(signs[i] != (query > 0)) / DIMS for i in range(200)}
    assert len(hits) == 200
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.id], abs=1e-6)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_rescore_ranks_binary_candidates_by_full(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    hits = store.search(_request(query, "rescore", limit=5, rescore_candidates=40))
    bit_distance = np.count_nonzero((vectors > 0) != (query > 0), axis=1)
    candidates = np.lexsort((np.arange(200), bit_distance))[:40]
    full_scores = (1 + vectors[candidates] @ query) / 2
    expected = candidates[np.argsort(-full_scores)[:5]]
    assert [hit.id for hit in hits] == [f"doc{i}" for i in expected]


def test_rescore_with_all_candidates_equals_full(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    full = store.search(_request(query, "full", limit=10))
    rescored = store.search(_request(query, "rescore", limit=10, rescore_candidates=200))
    assert [hit.id for hit in rescored] == [hit.id for hit in full]


def test_filter_restricts_before_limit(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    hits = store.search(_request(query, "full", limit=10, filter={"group": "odd", "year": {"$gte": 2005}}))
    assert len(hits) == 10
    for hit in hits:
        assert hit.metadata["group"] == "odd"
        assert hit.metadata["year"] >= 2005
    eligible = [i for i in range(200) if i % 2 == 1 and 2000 + i % 10 >= 2005]
    scores = (1 + vectors[eligible] @ query) / 2
    expected = [f"doc{eligible[i]}" for i in np.argsort(-scores)[:10]]
    assert [hit.id for hit in hits] == expected


def test_filter_on_undeclared_field_rejected(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    with pytest.raises(InvalidFilterError, match="author"):
        store.search(_request(query, "full", filter={"author": "x"}))


def test_upsert_replaces_document(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    replacement = _batch(query[None, :].astype(np.float32), start=3)
    store.upsert(replacement)
    assert store.count() == 200
    hits = store.search(_request(query, "full", limit=1))
    assert hits[0].id == "doc3"
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)


def test_reopen_keeps_documents(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    before = [hit.id for hit in store.search(_request(query, "full"))]
    store.close()
    reopened = EmbeddedStore(tmp_path, "test")
    assert reopened.count() == 200
    assert [hit.id for hit in reopened.search(_request(query, "full"))] == before


def test_truncated_file_is_reported(tmp_path: Path, vectors: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    store.close()
    full_file = tmp_path / "test" / "full.f32"
    with open(full_file, "r+b") as handle:
        handle.truncate(full_file.stat().st_size - 4)
    with pytest.raises(StoreError, match="damaged"):
        EmbeddedStore(tmp_path, "test")


def test_non_finite_vectors_rejected(tmp_path: Path, vectors: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    batch = _batch(vectors[:2].copy(), start=500)
    batch.full[1, 0] = np.nan
    with pytest.raises(StoreError, match="non-finite"):
        store.upsert(batch)
    assert store.count() == 200


def test_search_without_manifest_fails(tmp_path: Path, query: np.ndarray) -> None:
    store = EmbeddedStore(tmp_path, "empty")
    with pytest.raises(StoreError, match="index documents first"):
        store.search(_request(query, "full"))


def test_invalid_collection_name(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="collection name"):
        EmbeddedStore(tmp_path, "../escape")


def _open_int8(tmp_path: Path, vectors: np.ndarray) -> tuple[EmbeddedStore, np.ndarray]:
    from leafsearch.int8 import calibrate, quantize

    manifest = _manifest()
    manifest.int8 = True
    ranges = calibrate(vectors)
    manifest.int8_ranges = ranges.to_lists()
    store = EmbeddedStore(tmp_path, "int8")
    store.write_manifest(manifest)
    store.prepare(manifest.layout())
    batch = _batch(vectors)
    batch.int8 = quantize(vectors, ranges)
    store.upsert(batch)
    return store, batch.int8


def _int8_request(query: np.ndarray, codes: np.ndarray, mode: str, limit: int, candidates: int = 0) -> SearchRequest:
    return SearchRequest(
        mode=mode,  # type: ignore[arg-type]
        vectors=QueryVectors(full=query, truncated=truncate(query, TRUNCATE), binary=pack_sign_bits(query), int8=codes),
        limit=limit,
        num_candidates=None,
        exact=True,
        rescore_candidates=candidates,
    )


def test_int8_mode_matches_numpy(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    from leafsearch.int8 import Int8Ranges, quantize

    store, codes = _open_int8(tmp_path, vectors)
    manifest = store.read_manifest()
    assert manifest is not None and manifest.int8_ranges is not None
    query_codes = quantize(query, Int8Ranges.from_lists(manifest.int8_ranges))
    hits = store.search(_int8_request(query, query_codes, "int8", 10))
    rows = codes.astype(np.float64)
    cosines = rows @ query_codes.astype(np.float64) / (np.linalg.norm(rows, axis=1) * np.linalg.norm(query_codes))
    expected = np.argsort(-cosines, kind="stable")[:10]
    assert [hit.id for hit in hits] == [f"doc{i}" for i in expected]
    np.testing.assert_allclose([hit.score for hit in hits], (1 + cosines[expected]) / 2, atol=1e-5)


def test_rescore_int8_reranks_binary_candidates(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    from leafsearch.int8 import Int8Ranges, int8_scores, quantize

    store, codes = _open_int8(tmp_path, vectors)
    manifest = store.read_manifest()
    assert manifest is not None and manifest.int8_ranges is not None
    query_codes = quantize(query, Int8Ranges.from_lists(manifest.int8_ranges))
    hits = store.search(_int8_request(query, query_codes, "rescore-int8", 5, candidates=40))
    bit_distance = np.count_nonzero((vectors > 0) != (query > 0), axis=1)
    candidates = np.lexsort((np.arange(200), bit_distance))[:40]
    scores = int8_scores(codes[candidates], query_codes, "cosine")
    expected = candidates[np.lexsort((candidates, -scores))[:5]]
    assert [hit.id for hit in hits] == [f"doc{i}" for i in expected]


def test_int8_mode_without_int8_vectors(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    from leafsearch.errors import InvalidQueryError

    store = _open(tmp_path, vectors)
    with pytest.raises(InvalidQueryError, match="int8"):
        store.search(_int8_request(query, np.zeros(DIMS, np.int8), "int8", 5))


def test_reader_leaves_uncommitted_bytes(tmp_path: Path, vectors: np.ndarray, query: np.ndarray) -> None:
    store = _open(tmp_path, vectors)
    full_file = tmp_path / "test" / "full.f32"
    committed = full_file.stat().st_size
    # A writer in another process has appended a batch but not committed it yet.
    with open(full_file, "ab") as handle:
        handle.write(b"\x01" * DIMS * 4 * 5)
    reader = EmbeddedStore(tmp_path, "test")
    assert reader.count() == 200
    assert len(reader.search(_request(query, "full", limit=300))) == 200
    assert full_file.stat().st_size == committed + DIMS * 4 * 5
    # The next write starts at the committed end and replaces the stray bytes.
    store.upsert(_batch(vectors[:2].copy(), start=900))
    assert full_file.stat().st_size == committed + DIMS * 4 * 2


def test_missing_collection_not_created(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, "absent")
    assert store.read_manifest() is None
    assert store.count() == 0
    assert not (tmp_path / "absent").exists()


def test_store_location_is_file(tmp_path: Path) -> None:
    location = tmp_path / "afile"
    location.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        EmbeddedStore(location, "docs")


@pytest.mark.parametrize("name", ["a.b", "a\\\\b", "", "x" * 101, "a/b"])
def test_collection_names_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="collection name"):
        EmbeddedStore(tmp_path, name)
