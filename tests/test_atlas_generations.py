"""AtlasStore int8 vectors and generations, checked on the wire against mockupdb.

Each test runs a store call in a thread, then receives the exact commands pymongo sends on
127.0.0.1, checks them and scripts the server's replies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from bson.binary import VECTOR_SUBTYPE, Binary
from mockupdb import MockupDB, OpMsg, go

from leafsearch.atlas.bson_vectors import binary_to_int8, int8_to_binary
from leafsearch.atlas.definitions import build_index_definition
from leafsearch.atlas.errors import RetryPolicy
from leafsearch.errors import (
    BulkWriteFailure,
    ConfigurationError,
    IndexTimeoutError,
    InvalidQueryError,
)
from leafsearch.int8 import calibrate, int8_scores, quantize
from leafsearch.manifest import Manifest
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.search_params import resolve_num_candidates
from leafsearch.stores.atlas import AtlasStore
from leafsearch.types import BackfillBatch, EncodedBatch, Layout, QueryVectors, SearchRequest

HELLO = {"ismaster": True, "maxWireVersion": 21, "minWireVersion": 0}
COLLECTION = "docs"
INDEX = "leafsearch_vector_index"
INDEX_G2 = "leafsearch_vector_index_g2"
DIMS = 64
TRUNCATE_DIM = 16
LAYOUT = Layout.for_generation(1, dims=DIMS, truncate_dim=TRUNCATE_DIM, filter_fields=("lang",))
INT8_LAYOUT = Layout.for_generation(
    1, dims=DIMS, truncate_dim=TRUNCATE_DIM, filter_fields=("lang",), int8=True
)
G2_LAYOUT = Layout.for_generation(
    2, dims=DIMS, truncate_dim=TRUNCATE_DIM, filter_fields=("lang",), int8=True
)
G2_PATHS = {"embedding_g2", "embedding_mrl_g2", "embedding_bits_g2", "embedding_int8_g2"}


@pytest.fixture
def server() -> Iterator[MockupDB]:
    mock = MockupDB(auto_ismaster=HELLO, request_timeout=5)
    mock._address = ("127.0.0.1", 0)  # bind to loopback only; MockupDB has no host option
    mock.run()
    yield mock
    # MockupDB.stop() joins an accept loop that polls once a second; stopping in the
    # background keeps each test from waiting for that poll.
    threading.Thread(target=mock.stop, daemon=True).start()


def _store(server: MockupDB, **options: Any) -> AtlasStore:
    settings: dict[str, Any] = {
        "server_selection_timeout_ms": 2000,
        "index_wait_timeout": 5.0,
        "poll_interval": 0.01,
        "retry_policy": RetryPolicy(attempts=3, base_delay=0.01),
    }
    settings.update(options)
    uri = f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    return AtlasStore(uri, COLLECTION, **settings)


@pytest.fixture
def store(server: MockupDB) -> Iterator[AtlasStore]:
    atlas = _store(server)
    yield atlas
    atlas.close()


def _cursor(documents: list[dict[str, Any]], namespace: str = f"leafsearch.{COLLECTION}") -> dict[str, Any]:
    return {"cursor": {"id": 0, "ns": namespace, "firstBatch": documents}}


def _reply_manifest(server: MockupDB, *, int8: bool = False, generation: int = 1) -> None:
    manifest = Manifest(
        query_model="MongoDB/mdbr-leaf-mt",
        document_model="MongoDB/mdbr-leaf-mt",
        query_prompt=None,
        dims=DIMS,
        truncate_dim=TRUNCATE_DIM,
        similarity="cosine",
        filter_fields=["lang"],
        int8=int8,
        generation=generation,
    )
    request = server.receives(OpMsg("find", "leafsearch_manifests"))
    assert request.doc["filter"] == {"_id": COLLECTION}
    request.ok(_cursor([{"_id": COLLECTION, **manifest.to_dict()}], "leafsearch.leafsearch_manifests"))


def _receive_list_indexes(server: MockupDB, name: str) -> Any:
    request = server.receives(OpMsg("aggregate", COLLECTION))
    assert request.doc["pipeline"] == [{"$listSearchIndexes": {"name": name}}]
    return request


def _index_doc(name: str, layout: Layout, status: str = "READY", queryable: bool = True) -> dict[str, Any]:
    return {
        "id": "6650a1",
        "name": name,
        "type": "vectorSearch",
        "status": status,
        "queryable": queryable,
        "latestDefinition": build_index_definition(layout),
    }


def _unit(rng: np.random.Generator, dims: int = DIMS) -> np.ndarray:
    vector = rng.standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _batch(ids: list[str], seed: int = 0) -> EncodedBatch:
    rng = np.random.default_rng(seed)
    full = np.stack([_unit(rng) for _ in ids])
    int8 = quantize(full, calibrate(full))
    int8[0, 0] = -128  # both ends of the int8 range must survive the round trip
    int8[0, 1] = 127
    return EncodedBatch(
        ids=ids,
        texts=[f"text of {i}" for i in ids],
        metadata=[{"lang": "en"} for _ in ids],
        content_hashes=[f"hash-{i}" for i in ids],
        full=full,
        truncated=truncate(full, TRUNCATE_DIM),
        binary=pack_sign_bits(full),
        int8=int8,
    )


def _request(mode: str, limit: int = 3, **overrides: Any) -> SearchRequest:
    rng = np.random.default_rng(7)
    full = _unit(rng)
    codes = np.clip(np.rint(full * 400), -128, 127).astype(np.int8)
    fields: dict[str, Any] = {
        "mode": mode,
        "vectors": QueryVectors(
            full=full, truncated=truncate(full, TRUNCATE_DIM), binary=pack_sign_bits(full), int8=codes
        ),
        "limit": limit,
        "num_candidates": resolve_num_candidates(limit, None, False),
        "exact": False,
    }
    fields.update(overrides)
    return SearchRequest(**fields)


# --- int8 representation --------------------------------------------------------------------


def test_prepare_int8_index_field(server: MockupDB) -> None:
    store = _store(server, quantization="scalar")
    future = go(store.prepare, INT8_LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server, INDEX).ok(_cursor([]))

    create = server.receives(OpMsg("createSearchIndexes", COLLECTION))
    [index] = create.doc["indexes"]
    assert index["name"] == INDEX
    fields = {field["path"]: field for field in index["definition"]["fields"]}
    assert fields["embedding_int8"] == {
        "type": "vector",
        "path": "embedding_int8",
        "numDimensions": DIMS,
        "similarity": "cosine",
    }
    # Index-side quantization applies to the float field only; int8 is stored quantized.
    assert fields["embedding"]["quantization"] == "scalar"
    create.ok(indexesCreated=[{"id": "1", "name": INDEX}])
    _receive_list_indexes(server, INDEX).ok(_cursor([_index_doc(INDEX, INT8_LAYOUT)]))
    future()
    store.close()


def test_upsert_int8_vector_subtype_9(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a", "b"])
    future = go(store.upsert, batch)
    _reply_manifest(server, int8=True)
    update = server.receives(OpMsg("update", COLLECTION))
    document = update.doc["updates"][0]["u"]
    stored = document["embedding_int8"]
    assert isinstance(stored, Binary)
    assert stored.subtype == VECTOR_SUBTYPE
    assert bytes(stored)[:2] == b"\x03\x00"  # dtype INT8, no padding
    assert len(stored) == 2 + DIMS
    assert bytes(stored)[2:] == batch.int8[0].tobytes()  # type: ignore[index]
    decoded = binary_to_int8(stored)
    assert decoded[0] == -128
    assert decoded[1] == 127
    assert np.array_equal(decoded, batch.int8[0])  # type: ignore[index]
    assert stored.as_vector().data[:2] == [-128, 127]
    update.ok(n=2, nModified=0)
    assert future().written == 2


def test_upsert_missing_int8_fails_records(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a"])
    batch.int8 = None
    future = go(store.upsert, batch)
    _reply_manifest(server, int8=True)
    report = future()
    assert report.written == 0
    assert "int8" in report.failed["a"]
    assert not server.got(timeout=0.2)


def test_search_int8_sends_int8_query(server: MockupDB, store: AtlasStore) -> None:
    request = _request("int8", filter={"lang": "en"})
    future = go(store.search, request)
    _reply_manifest(server, int8=True)
    aggregate = server.receives(OpMsg("aggregate", COLLECTION))
    stage = aggregate.doc["pipeline"][0]["$vectorSearch"]
    assert stage["index"] == INDEX
    assert stage["path"] == "embedding_int8"
    assert stage["limit"] == 3
    assert stage["numCandidates"] == 60
    query = stage["queryVector"]
    assert query.subtype == VECTOR_SUBTYPE
    assert bytes(query) == b"\x03\x00" + request.vectors.int8.tobytes()  # type: ignore[union-attr]
    projection = aggregate.doc["pipeline"][1]["$project"]
    assert projection["score"] == {"$meta": "vectorSearchScore"}
    assert "int8_vector" not in projection
    assert "full_vector" not in projection
    aggregate.ok(_cursor([
        {"_id": "b", "text": "b", "score": 0.9, "metadata": {}},
        {"_id": "a", "text": "a", "score": 0.8, "metadata": {}},
    ]))
    hits = future()
    assert [hit.id for hit in hits] == ["b", "a"]
    assert hits[0].score == pytest.approx(0.9)


def test_search_rescore_int8_ranks_on_client(server: MockupDB, store: AtlasStore) -> None:
    request = _request("rescore-int8", limit=2, rescore_candidates=4)
    query = request.vectors.int8
    assert query is not None
    rng = np.random.default_rng(5)
    rows = {
        "far": (-query.astype(np.int16)).clip(-128, 127).astype(np.int8),
        "other": rng.integers(-128, 128, DIMS).astype(np.int8),
        "near": query.copy(),
        "mid": ((query.astype(np.int16) + rng.integers(-128, 128, DIMS)) // 2).astype(np.int8),
    }
    future = go(store.search, request)
    _reply_manifest(server, int8=True)
    aggregate = server.receives(OpMsg("aggregate", COLLECTION))
    stage = aggregate.doc["pipeline"][0]["$vectorSearch"]
    assert stage["path"] == "embedding_bits"
    assert stage["limit"] == 4
    projection = aggregate.doc["pipeline"][1]["$project"]
    assert projection["int8_vector"] == "$embedding_int8"
    assert "full_vector" not in projection
    # The server's (binary) order puts the worst candidate first.
    aggregate.ok(_cursor([
        {"_id": key, "text": key, "score": 0.9 - 0.1 * n, "metadata": {}, "int8_vector": int8_to_binary(row)}
        for n, (key, row) in enumerate(rows.items())
    ]))
    hits = future()

    expected = int8_scores(np.stack(list(rows.values())), query, "cosine")
    ranking = sorted(zip(rows, expected), key=lambda item: -item[1])[:2]
    assert [hit.id for hit in hits] == [key for key, _ in ranking]
    assert [hit.id for hit in hits] == ["near", "mid"]
    assert [hit.score for hit in hits] == pytest.approx([float(score) for _, score in ranking])
    assert hits[0].score == pytest.approx(1.0)
    assert not server.got(timeout=0.2)  # one round trip


@pytest.mark.parametrize("mode", ["int8", "rescore-int8"])
def test_int8_modes_need_int8_layout(server: MockupDB, store: AtlasStore, mode: str) -> None:
    future = go(store.search, _request(mode))
    _reply_manifest(server, int8=False)
    with pytest.raises(InvalidQueryError, match="re-index with --int8.*migrate"):
        future()
    assert not server.got(timeout=0.2)


# --- generations ----------------------------------------------------------------------------


def test_prepare_generation_creates_g2_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare_generation, G2_LAYOUT)
    _reply_manifest(server)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([]))
    create = server.receives(OpMsg("createSearchIndexes", COLLECTION))
    [index] = create.doc["indexes"]
    assert index["name"] == INDEX_G2
    assert index["type"] == "vectorSearch"
    assert index["definition"] == build_index_definition(G2_LAYOUT)
    vector_paths = {f["path"] for f in index["definition"]["fields"] if f["type"] == "vector"}
    assert vector_paths == G2_PATHS
    create.ok(indexesCreated=[{"id": "2", "name": INDEX_G2}])
    future()
    assert not server.got(timeout=0.2)  # no wait, no activation


def test_prepare_generation_keeps_identical_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare_generation, G2_LAYOUT)
    _reply_manifest(server)
    server.receives(OpMsg("create", COLLECTION)).command_err(code=48, errmsg="Collection already exists.")
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT, "BUILDING", False)]))
    future()
    assert not server.got(timeout=0.2)  # neither createSearchIndexes nor updateSearchIndex


def test_prepare_generation_definition_conflict(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare_generation, G2_LAYOUT)
    _reply_manifest(server)
    server.receives(OpMsg("create", COLLECTION)).ok()
    other = Layout.for_generation(2, dims=DIMS, truncate_dim=32, filter_fields=("lang",), int8=True)
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, other)]))
    with pytest.raises(ConfigurationError, match=f"{INDEX_G2}.*drop_generation"):
        future()


def test_iter_backfill_queries_missing_ids(server: MockupDB, store: AtlasStore) -> None:
    future = go(lambda: list(store.iter_backfill(G2_LAYOUT, 2)))
    first = server.receives(OpMsg("find", COLLECTION))
    assert first.doc["filter"] == {"embedding_g2": {"$exists": False}}
    assert first.doc["projection"] == {"text": 1}
    assert first.doc["sort"] == {"_id": 1}
    assert first.doc["limit"] == 2
    first.ok(_cursor([{"_id": "a", "text": "ta"}, {"_id": "b", "text": "tb"}]))

    second = server.receives(OpMsg("find", COLLECTION))
    assert second.doc["filter"] == {"embedding_g2": {"$exists": False}, "_id": {"$gt": "b"}}
    second.ok(_cursor([{"_id": "c", "text": "tc"}]))
    third = server.receives(OpMsg("find", COLLECTION))
    assert third.doc["filter"]["_id"] == {"$gt": "c"}
    third.ok(_cursor([]))

    batches = future()
    assert [batch.ids for batch in batches] == [["a", "b"], ["c"]]
    assert [batch.texts for batch in batches] == [["ta", "tb"], ["tc"]]


def test_iter_backfill_is_lazy(server: MockupDB, store: AtlasStore) -> None:
    batches = store.iter_backfill(G2_LAYOUT, 1)
    future = go(next, batches)
    server.receives(OpMsg("find", COLLECTION)).ok(_cursor([{"_id": "a", "text": "ta"}]))
    assert future().ids == ["a"]
    # Nothing more is read until the caller asks for the next batch.
    assert not server.got(timeout=0.2)


def test_iter_backfill_rejects_bad_batch_size(store: AtlasStore) -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        next(store.iter_backfill(G2_LAYOUT, 0))


def _backfill_vectors(ids: list[str]) -> EncodedBatch:
    return _batch(ids, seed=11)


def test_write_backfill_sets_only_new_paths(server: MockupDB, store: AtlasStore) -> None:
    batch = BackfillBatch(ids=["a", "b"], texts=["ta", "tb"])
    vectors = _backfill_vectors(["a", "b"])
    future = go(store.write_backfill, G2_LAYOUT, batch, vectors)
    _reply_manifest(server)
    update = server.receives(OpMsg("update", COLLECTION))
    assert update.doc["ordered"] is False
    statements = update.doc["updates"]
    assert [s["q"] for s in statements] == [{"_id": "a"}, {"_id": "b"}]
    for statement in statements:
        assert statement.get("upsert", False) is False
        assert statement.get("multi", False) is False
        assert list(statement["u"]) == ["$set"]
        assert set(statement["u"]["$set"]) == G2_PATHS
    new_int8 = statements[0]["u"]["$set"]["embedding_int8_g2"]
    assert bytes(new_int8) == b"\x03\x00" + vectors.int8[0].tobytes()  # type: ignore[index]
    assert bytes(statements[1]["u"]["$set"]["embedding_bits_g2"])[:2] == b"\x10\x00"
    update.ok(n=2, nModified=2)
    future()


def test_write_backfill_partial_failure_lists_ids(server: MockupDB, store: AtlasStore) -> None:
    batch = BackfillBatch(ids=["a", "b", "c"], texts=["ta", "tb", "tc"])
    # mockupdb's go() re-creates exceptions from their message, which loses .failures.
    with ThreadPoolExecutor(1) as executor:
        future = executor.submit(
            store.write_backfill, G2_LAYOUT, batch, _backfill_vectors(["a", "b", "c"])
        )
        _reply_manifest(server)
        server.receives(OpMsg("update", COLLECTION)).ok(
            n=2, nModified=2, writeErrors=[{"index": 1, "code": 10334, "errmsg": "BSONObj size too large"}]
        )
        with pytest.raises(BulkWriteFailure, match="1 of 3 documents.*generation 2.*first: b") as info:
            future.result(timeout=10)
    assert list(info.value.failures) == ["b"]
    assert "BSONObj size too large" in info.value.failures["b"]


def test_write_backfill_rejects_mismatched_vectors(server: MockupDB, store: AtlasStore) -> None:
    batch = BackfillBatch(ids=["a", "b"], texts=["ta", "tb"])
    future = go(store.write_backfill, G2_LAYOUT, batch, _backfill_vectors(["b", "a"]))
    _reply_manifest(server)
    with pytest.raises(ConfigurationError, match="differ from the batch"):
        future()
    assert not server.got(timeout=0.2)


def test_backfill_active_generation_rejected(server: MockupDB, store: AtlasStore) -> None:
    batch = BackfillBatch(ids=["a"], texts=["ta"])
    future = go(store.write_backfill, G2_LAYOUT, batch, _backfill_vectors(["a"]))
    _reply_manifest(server, int8=True, generation=2)
    with pytest.raises(ConfigurationError, match="active generation 2"):
        future()
    assert not server.got(timeout=0.2)


def test_generation_count_counts_new_path(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.generation_count, G2_LAYOUT)
    aggregate = server.receives(OpMsg("aggregate", COLLECTION))
    assert aggregate.doc["pipeline"][0] == {"$match": {"embedding_g2": {"$exists": True}}}
    aggregate.ok(_cursor([{"_id": 1, "n": 7}]))
    assert future() == 7


def test_generation_ready_checks_index_ids(server: MockupDB, store: AtlasStore) -> None:
    batch = BackfillBatch(ids=["a", "b"], texts=["ta", "tb"])
    future = go(store.write_backfill, G2_LAYOUT, batch, _backfill_vectors(["a", "b"]))
    _reply_manifest(server)
    server.receives(OpMsg("update", COLLECTION)).ok(n=2, nModified=2)
    future()

    future = go(store.wait_until_generation_ready, G2_LAYOUT, 5.0)
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT, "BUILDING", False)]))
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT)]))
    probe = server.receives(OpMsg("aggregate", COLLECTION))
    stage = probe.doc["pipeline"][0]["$vectorSearch"]
    assert stage["index"] == INDEX_G2
    assert stage["path"] == "embedding_bits_g2"
    assert stage["filter"] == {"_id": {"$in": ["a", "b"]}}
    probe.ok(_cursor([{"_id": "a"}]))
    again = server.receives(OpMsg("aggregate", COLLECTION))
    assert again.doc["pipeline"][0]["$vectorSearch"]["filter"] == {"_id": {"$in": ["b"]}}
    again.ok(_cursor([{"_id": "b"}]))
    future()


def test_generation_ready_times_out(server: MockupDB, store: AtlasStore) -> None:
    responder = server.autoresponds(
        OpMsg("aggregate", COLLECTION), _cursor([_index_doc(INDEX_G2, G2_LAYOUT, "PENDING", False)])
    )
    with pytest.raises(IndexTimeoutError, match=f"{INDEX_G2}.*not queryable.*PENDING"):
        store.wait_until_generation_ready(G2_LAYOUT, 0.2)
    responder.cancel()


def test_drop_generation_unsets_and_drops_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.drop_generation, G2_LAYOUT)
    _reply_manifest(server)
    drop_index = server.receives(OpMsg("dropSearchIndex", COLLECTION))
    assert drop_index.doc["name"] == INDEX_G2
    drop_index.ok()
    update = server.receives(OpMsg("update", COLLECTION))
    [statement] = update.doc["updates"]
    assert statement["q"] == {}
    assert statement["multi"] is True
    assert statement["u"] == {"$unset": {path: "" for path in G2_LAYOUT.vector_paths}}
    assert set(statement["u"]["$unset"]) == G2_PATHS
    update.ok(n=5, nModified=5)
    future()


def test_drop_generation_missing_index_still_unsets(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.drop_generation, G2_LAYOUT)
    _reply_manifest(server)
    server.receives(OpMsg("dropSearchIndex", COLLECTION)).command_err(
        code=27, errmsg="search index not found", codeName="IndexNotFound"
    )
    update = server.receives(OpMsg("update", COLLECTION))
    assert update.doc["updates"][0]["u"]["$unset"]["embedding_g2"] == ""
    update.ok(n=0, nModified=0)
    future()


def test_drop_active_generation_rejected(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.drop_generation, LAYOUT)
    _reply_manifest(server)
    with pytest.raises(ConfigurationError, match="cannot drop generation 1.*active generation 1"):
        future()
    assert not server.got(timeout=0.2)


def test_drop_prepared_generation_rejected(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare, G2_LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT)]))
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT)]))
    future()
    with pytest.raises(ConfigurationError, match="active generation 2"):
        store.drop_generation(G2_LAYOUT)
    assert not server.got(timeout=0.2)


def test_search_uses_active_generation_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.search, _request("full"))
    _reply_manifest(server, int8=True, generation=2)
    aggregate = server.receives(OpMsg("aggregate", COLLECTION))
    stage = aggregate.doc["pipeline"][0]["$vectorSearch"]
    assert stage["index"] == INDEX_G2
    assert stage["path"] == "embedding_g2"
    aggregate.ok(_cursor([]))
    _receive_list_indexes(server, INDEX_G2).ok(_cursor([_index_doc(INDEX_G2, G2_LAYOUT)]))
    assert future() == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ([_index_doc(INDEX_G2, G2_LAYOUT)], f"{INDEX_G2}: READY (queryable)"),
        ([_index_doc(INDEX_G2, G2_LAYOUT, "BUILDING", False)], f"{INDEX_G2}: BUILDING (not queryable)"),
        ([], f"{INDEX_G2}: missing"),
    ],
)
def test_index_status_line(
    server: MockupDB, store: AtlasStore, reply: list[dict[str, Any]], expected: str
) -> None:
    future = go(store.index_status, G2_LAYOUT)
    _receive_list_indexes(server, INDEX_G2).ok(_cursor(reply))
    assert future() == expected


def test_index_status_base_name(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.index_status, LAYOUT)
    _receive_list_indexes(server, INDEX).ok(_cursor([_index_doc(INDEX, LAYOUT)]))
    assert future() == f"{INDEX}: READY (queryable)"
