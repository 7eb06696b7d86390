"""The HNSW search path of the embedded store, checked against its exact scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faiss", reason="HNSW search needs faiss (the 'ann' extra)")

from leafsearch.ann import ANN_MIN_ROWS, INDEX_FILE, META_FILE, HnswIndex
from leafsearch.manifest import Manifest
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.stores.embedded import EmbeddedStore
from leafsearch.types import EncodedBatch, QueryVectors, SearchRequest

DIMS = 32
TRUNCATE = 16
ROWS = ANN_MIN_ROWS + 2_000
# One document in 50 is "rare", so a filter on it matches 2 % of the documents.
RARE_EVERY = 50


def _clustered(count: int, seed: int, clusters: int = 40) -> np.ndarray:
    """Unit vectors drawn from a Gaussian mixture, closer to real embeddings than noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIMS))
    vectors = centres[rng.integers(0, clusters, count)] + 0.6 * rng.normal(size=(count, DIMS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _batch(vectors: np.ndarray, start: int) -> EncodedBatch:
    ids = [f"doc{start + i}" for i in range(len(vectors))]
    return EncodedBatch(
        ids=ids,
        texts=[f"text of {doc_id}" for doc_id in ids],
        metadata=[{"kind": "rare" if (start + i) % RARE_EVERY == 0 else "common"} for i in range(len(vectors))],
        content_hashes=[f"h{start + i}" for i in range(len(vectors))],
        full=vectors,
        truncated=truncate(vectors, TRUNCATE),
        binary=pack_sign_bits(vectors),
    )


def _request(query: np.ndarray, *, num_candidates: int | None = 200, **kwargs: Any) -> SearchRequest:
    return SearchRequest(
        mode="full",
        vectors=QueryVectors(full=query, truncated=truncate(query, TRUNCATE), binary=pack_sign_bits(query)),
        limit=10,
        num_candidates=num_candidates,
        exact=num_candidates is None,
        **kwargs,
    )


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ann")
    store = EmbeddedStore(root, "docs")
    manifest = Manifest(
        query_model="q",
        document_model="q",
        query_prompt=None,
        dims=DIMS,
        truncate_dim=TRUNCATE,
        similarity="cosine",
        filter_fields=["kind"],
    )
    store.write_manifest(manifest)
    store.prepare(manifest.layout())
    vectors = _clustered(ROWS, seed=1)
    for start in range(0, ROWS, 4_000):
        store.upsert(_batch(vectors[start : start + 4_000], start))
    assert store.build_ann_index() == ROWS
    store.close()
    return root


@pytest.fixture
def store(store_dir: Path) -> Any:
    opened = EmbeddedStore(store_dir, "docs")
    yield opened
    opened.close()


@pytest.fixture
def ann_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the ef of every HNSW search."""
    calls: list[int] = []
    original = HnswIndex.search

    def spy(self: HnswIndex, query: np.ndarray, k: int, ef: int, allowed: Any = None) -> Any:
        calls.append(ef)
        return original(self, query, k, ef, allowed)

    monkeypatch.setattr(HnswIndex, "search", spy)
    return calls


def _ids(hits: list[Any]) -> list[str]:
    return [hit.id for hit in hits]


def test_hnsw_recall_against_exact(store: EmbeddedStore, ann_calls: list[int]) -> None:
    queries = _clustered(40, seed=2)
    overlaps = []
    for query in queries:
        approximate = set(_ids(store.search(_request(query, num_candidates=400))))
        exact = set(_ids(store.search(_request(query, num_candidates=None))))
        overlaps.append(len(approximate & exact) / 10)
    assert len(ann_calls) == len(queries)
    assert np.mean(overlaps) >= 0.9


def test_hnsw_scores_are_exact(store: EmbeddedStore) -> None:
    query = _clustered(1, seed=3)[0]
    approximate = store.search(_request(query))
    exact = {hit.id: hit.score for hit in store.search(_request(query, num_candidates=None))}
    for hit in approximate:
        if hit.id in exact:
            assert hit.score == pytest.approx(exact[hit.id], abs=1e-6)


def test_num_candidates_becomes_ef(store: EmbeddedStore, ann_calls: list[int]) -> None:
    query = _clustered(1, seed=4)[0]
    store.search(_request(query, num_candidates=37))
    store.search(_request(query, num_candidates=900))
    assert ann_calls == [37, 900]


def test_exact_never_uses_hnsw(store: EmbeddedStore, ann_calls: list[int]) -> None:
    store.search(_request(_clustered(1, seed=5)[0], num_candidates=None))
    assert ann_calls == []


def test_selective_filter_scans_matches(store: EmbeddedStore, ann_calls: list[int]) -> None:
    query = _clustered(1, seed=6)[0]
    hits = store.search(_request(query, filter={"kind": "rare"}))
    assert ann_calls == []
    assert len(hits) == 10
    assert all(hit.metadata["kind"] == "rare" for hit in hits)
    exact = store.search(_request(query, num_candidates=None, filter={"kind": "rare"}))
    assert _ids(hits) == _ids(exact)


def test_broad_filter_uses_hnsw(store: EmbeddedStore, ann_calls: list[int]) -> None:
    hits = store.search(_request(_clustered(1, seed=7)[0], filter={"kind": "common"}))
    assert ann_calls == [200]
    assert all(hit.metadata["kind"] == "common" for hit in hits)


def test_stale_graph_extended_with_new_rows(store_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    _copy_collection(store_dir / "docs", copy / "docs")
    store = EmbeddedStore(copy, "docs")
    extra = _clustered(300, seed=8)
    store.upsert(_batch(extra, ROWS))
    hits = store.search(_request(extra[0]))
    assert hits[0].id == f"doc{ROWS}"
    assert json.loads((copy / "docs" / META_FILE).read_text())["rows"] == ROWS + 300
    store.close()


def test_unreadable_graph_rebuilt(store_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    _copy_collection(store_dir / "docs", copy / "docs")
    (copy / "docs" / INDEX_FILE).write_bytes(b"not a faiss index")
    store = EmbeddedStore(copy, "docs")
    query = _clustered(1, seed=9)[0]
    hits = store.search(_request(query))
    assert len(hits) == 10
    assert store.build_ann_index() == ROWS
    store.close()


def test_graph_larger_than_store_rebuilt(tmp_path: Path) -> None:
    index = HnswIndex(tmp_path, DIMS)
    vectors = _clustered(500, seed=10)
    index.sync(vectors)
    assert index.rows == 500
    reopened = HnswIndex(tmp_path, DIMS)
    reopened.sync(vectors[:300])
    assert reopened.rows == 300
    found = reopened.search(vectors[10], 5, 50)
    assert found.max() < 300


def _copy_collection(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target)
