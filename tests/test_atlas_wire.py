"""AtlasStore driving real pymongo against a scripted wire-protocol server (mockupdb).

Each test runs a store call in a thread, then receives the exact commands pymongo sends on
127.0.0.1, checks them and scripts the server's replies, including error replies.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from bson.binary import VECTOR_SUBTYPE, Binary
from mockupdb import MockupDB, OpMsg, go

from leafsearch.atlas.bson_vectors import binary_to_float32, float32_to_binary
from leafsearch.atlas.definitions import build_index_definition
from leafsearch.atlas.errors import RetryPolicy
from leafsearch.errors import (
    AuthenticationError,
    ConfigurationError,
    DimensionMismatchError,
    IndexBuildFailedError,
    IndexNotReadyError,
    IndexTimeoutError,
    InvalidFilterError,
    SearchNotEnabledError,
    ServerTimeoutError,
)
from leafsearch.manifest import Manifest
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.search_params import resolve_num_candidates
from leafsearch.stores.atlas import AtlasStore
from leafsearch.types import EncodedBatch, Layout, QueryVectors, SearchRequest

HELLO = {"ismaster": True, "maxWireVersion": 21, "minWireVersion": 0}
LAYOUT = Layout(dims=64, truncate_dim=16, similarity="cosine", filter_fields=("lang", "year"))
INDEX = "leafsearch_vector_index"
SECRET = "s3cret"
COLLECTION = "docs"


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


def _manifest_doc() -> dict[str, Any]:
    manifest = Manifest(
        query_model="MongoDB/mdbr-leaf-mt",
        document_model="MongoDB/mdbr-leaf-mt",
        query_prompt=None,
        dims=64,
        truncate_dim=16,
        similarity="cosine",
        filter_fields=["lang", "year"],
    )
    return {"_id": COLLECTION, **manifest.to_dict()}


def _reply_manifest(server: MockupDB) -> None:
    request = server.receives(OpMsg("find", "leafsearch_manifests"))
    assert request.doc["filter"] == {"_id": COLLECTION}
    request.ok(_cursor([_manifest_doc()], "leafsearch.leafsearch_manifests"))


def _receive_list_indexes(server: MockupDB) -> Any:
    request = server.receives(OpMsg("aggregate", COLLECTION))
    assert request.doc["pipeline"] == [{"$listSearchIndexes": {"name": INDEX}}]
    return request


def _index_doc(status: str, queryable: bool, definition: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "6650a1",
        "name": INDEX,
        "type": "vectorSearch",
        "status": status,
        "queryable": queryable,
        "latestDefinition": definition or build_index_definition(LAYOUT),
    }


def _unit(rng: np.random.Generator, dims: int) -> np.ndarray:
    vector = rng.standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _batch(ids: list[str], seed: int = 0) -> EncodedBatch:
    rng = np.random.default_rng(seed)
    full = np.stack([_unit(rng, 64) for _ in ids])
    return EncodedBatch(
        ids=ids,
        texts=[f"text of {i}" for i in ids],
        metadata=[{"lang": "en", "year": np.int64(2020 + n), "score": np.float32(0.5)}
                  for n, _ in enumerate(ids)],
        content_hashes=[f"hash-{i}" for i in ids],
        full=full,
        truncated=truncate(full, 16),
        binary=pack_sign_bits(full),
    )


def _request(mode: str = "full", limit: int = 3, **overrides: Any) -> SearchRequest:
    rng = np.random.default_rng(7)
    full = _unit(rng, 64)
    fields: dict[str, Any] = {
        "mode": mode,
        "vectors": QueryVectors(full=full, truncated=truncate(full, 16), binary=pack_sign_bits(full)),
        "limit": limit,
        "num_candidates": resolve_num_candidates(limit, None, False),
        "exact": False,
        "rescore_candidates": 10,
    }
    fields.update(overrides)
    return SearchRequest(**fields)


def _prepare_to_creation(server: MockupDB, store: AtlasStore) -> Callable[[], Any]:
    """Start prepare() and script it up to (not including) the createSearchIndexes reply."""
    future = go(store.prepare, LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server).ok(_cursor([]))
    return future


# --- prepare --------------------------------------------------------------------------------


def test_prepare_creates_index_and_polls_until_queryable(
    server: MockupDB, store: AtlasStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="leafsearch")
    future = _prepare_to_creation(server, store)

    create = server.receives(OpMsg("createSearchIndexes", COLLECTION))
    assert create.doc["indexes"] == [
        {"name": INDEX, "type": "vectorSearch", "definition": build_index_definition(LAYOUT)}
    ]
    create.ok(indexesCreated=[{"id": "6650a1", "name": INDEX}])

    _receive_list_indexes(server).ok(_cursor([]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("PENDING", False)]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("BUILDING", False)]))
    # atlas-local reports queryable: true before (or without) status READY.
    _receive_list_indexes(server).ok(_cursor([_index_doc("BUILDING", True)]))
    future()

    progress = [r.getMessage() for r in caplog.records if "waiting for vector search index" in r.message]
    assert any("status PENDING" in line for line in progress)
    assert any("status BUILDING, queryable True" in line for line in progress)
    assert not server.got(timeout=0.2)


def test_prepare_existing_collection_is_fine(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare, LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).command_err(
        code=48, errmsg="Collection already exists. NS: leafsearch.docs"
    )
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True)]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True)]))
    future()
    assert not server.got(timeout=0.2)  # neither createSearchIndexes nor updateSearchIndex


def test_prepare_fails_fast_on_failed(server: MockupDB, store: AtlasStore) -> None:
    future = _prepare_to_creation(server, store)
    server.receives(OpMsg("createSearchIndexes", COLLECTION)).ok(
        indexesCreated=[{"id": "1", "name": INDEX}]
    )
    failed = _index_doc("FAILED", False)
    failed["statusDetail"] = [{"hostname": "h", "status": "FAILED",
                               "message": "numDimensions must be a multiple of 8"}]
    _receive_list_indexes(server).ok(_cursor([failed]))
    with pytest.raises(IndexBuildFailedError, match="multiple of 8") as info:
        future()
    assert INDEX in str(info.value)


def test_prepare_times_out_naming_index(server: MockupDB) -> None:
    store = _store(server, index_wait_timeout=0.3)
    future = _prepare_to_creation(server, store)
    server.receives(OpMsg("createSearchIndexes", COLLECTION)).ok(
        indexesCreated=[{"id": "1", "name": INDEX}]
    )
    responder = server.autoresponds(
        OpMsg("aggregate", COLLECTION), _cursor([_index_doc("PENDING", False)])
    )
    with pytest.raises(IndexTimeoutError, match=f"{INDEX}.*not queryable after 0 s.*PENDING"):
        future()
    responder.cancel()
    store.close()


def test_prepare_other_definition_rejected(server: MockupDB, store: AtlasStore) -> None:
    old = build_index_definition(Layout(dims=64, truncate_dim=32, filter_fields=("lang", "year")))
    future = go(store.prepare, LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True, old)]))
    with pytest.raises(ConfigurationError, match="numDimensions is 32, expected 16.*update_index"):
        future()
    assert not server.got(timeout=0.2)


def test_prepare_updates_and_waits_for_new_definition(server: MockupDB) -> None:
    store = _store(server, update_index=True)
    old = build_index_definition(Layout(dims=64, truncate_dim=16, filter_fields=("lang",)))
    future = go(store.prepare, LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True, old)]))

    update = server.receives(OpMsg("updateSearchIndex", COLLECTION))
    assert update.doc["name"] == INDEX
    assert update.doc["definition"] == build_index_definition(LAYOUT)
    update.ok()

    # The old definition keeps serving (queryable) while the new one builds.
    _receive_list_indexes(server).ok(_cursor([_index_doc("BUILDING", True, old)]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True, old)]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True)]))
    future()
    store.close()


def test_prepare_without_search_engine(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.prepare, LAYOUT)
    server.receives(OpMsg("create", COLLECTION)).ok()
    _receive_list_indexes(server).command_err(
        code=31082,
        errmsg="Using $listSearchIndexes requires additional configuration. Please connect to "
        "Atlas or an AtlasCLI local deployment to enable.",
        codeName="SearchNotEnabled",
    )
    with pytest.raises(SearchNotEnabledError) as info:
        future()
    message = str(info.value)
    assert "Atlas" in message
    assert "atlas-local" in message
    assert "mongod 8.2+ with mongot" in message


# --- writes ---------------------------------------------------------------------------------


def test_upsert_sends_unordered_replace_upserts(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a", "b", "c"])
    future = go(store.upsert, batch)
    _reply_manifest(server)
    update = server.receives(OpMsg("update", COLLECTION))
    assert update.doc["ordered"] is False
    statements = update.doc["updates"]
    assert [s["q"] for s in statements] == [{"_id": "a"}, {"_id": "b"}, {"_id": "c"}]
    assert all(s["upsert"] is True for s in statements)
    assert all(s.get("multi", False) is False for s in statements)

    document = statements[1]["u"]
    assert document["_id"] == "b"
    assert document["text"] == "text of b"
    assert document["content_hash"] == "hash-b"
    assert document["lang"] == "en"
    assert document["year"] == 2021
    assert document["score"] == 0.5
    for path, size in (("embedding", 2 + 64 * 4), ("embedding_mrl", 2 + 16 * 4),
                       ("embedding_bits", 2 + 8)):
        assert isinstance(document[path], Binary)
        assert document[path].subtype == VECTOR_SUBTYPE
        assert len(document[path]) == size
    assert bytes(document["embedding_bits"])[:2] == b"\x10\x00"
    assert binary_to_float32(document["embedding"]).tobytes() == batch.full[1].tobytes()

    update.ok(n=3, nModified=0, upserted=[{"index": i, "_id": k} for i, k in enumerate("abc")])
    report = future()
    assert report.written == 3
    assert report.failed == {}


def test_upsert_partial_failure_then_retry_only_failed(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a", "b", "c"])
    future = go(store.upsert, batch)
    _reply_manifest(server)
    server.receives(OpMsg("update", COLLECTION)).ok(
        n=2,
        nModified=0,
        upserted=[{"index": 0, "_id": "a"}, {"index": 2, "_id": "c"}],
        writeErrors=[{"index": 1, "code": 10334, "errmsg": "BSONObj size: 17000000 is invalid"}],
    )
    report = future()
    assert report.written == 2
    assert list(report.failed) == ["b"]
    assert "BSONObj size" in report.failed["b"]
    assert "10334" in report.failed["b"]

    retry = _batch(["a", "b", "c"])
    keep = [i for i, record_id in enumerate(retry.ids) if record_id in report.failed]
    retry_batch = EncodedBatch(
        ids=[retry.ids[i] for i in keep],
        texts=[retry.texts[i] for i in keep],
        metadata=[retry.metadata[i] for i in keep],
        content_hashes=[retry.content_hashes[i] for i in keep],
        full=retry.full[keep],
        truncated=retry.truncated[keep],
        binary=retry.binary[keep],
    )
    future = go(store.upsert, retry_batch)
    update = server.receives(OpMsg("update", COLLECTION))
    assert [s["q"] for s in update.doc["updates"]] == [{"_id": "b"}]
    update.ok(n=1, nModified=1)
    assert future().written == 1


def test_upsert_never_sends_non_finite_vector(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a", "b"])
    batch.full[0, 3] = np.nan
    future = go(store.upsert, batch)
    _reply_manifest(server)
    update = server.receives(OpMsg("update", COLLECTION))
    assert [s["q"] for s in update.doc["updates"]] == [{"_id": "b"}]
    update.ok(n=1, nModified=0, upserted=[{"index": 0, "_id": "b"}])
    report = future()
    assert report.written == 1
    assert list(report.failed) == ["a"]
    assert "not a finite float32" in report.failed["a"]


def test_upsert_reserved_metadata_key_fails_record(server: MockupDB, store: AtlasStore) -> None:
    batch = _batch(["a", "b"])
    batch.metadata[1] = {"embedding": [1, 2]}
    future = go(store.upsert, batch)
    _reply_manifest(server)
    update = server.receives(OpMsg("update", COLLECTION))
    assert [s["q"] for s in update.doc["updates"]] == [{"_id": "a"}]
    update.ok(n=1, nModified=0, upserted=[{"index": 0, "_id": "a"}])
    report = future()
    assert "reserved" in report.failed["b"]


def test_write_and_read_manifest(server: MockupDB, store: AtlasStore) -> None:
    manifest = Manifest.from_dict(_manifest_doc())
    future = go(store.write_manifest, manifest)
    update = server.receives(OpMsg("update", "leafsearch_manifests"))
    statement = update.doc["updates"][0]
    assert statement["q"] == {"_id": COLLECTION}
    assert statement["upsert"] is True
    assert statement["u"]["dims"] == 64
    update.ok(n=1, nModified=1)
    future()

    future = go(store.read_manifest)
    _reply_manifest(server)
    assert future() == manifest


def test_count_and_content_hashes(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.count)
    request = server.receives(OpMsg("aggregate", COLLECTION))
    assert request.doc["maxTimeMS"] == 30_000
    request.ok(_cursor([{"_id": 1, "n": 42}]))
    assert future() == 42

    future = go(store.content_hashes, ["a", "b", "z"])
    find = server.receives(OpMsg("find", COLLECTION))
    assert find.doc["filter"] == {"_id": {"$in": ["a", "b", "z"]}}
    assert find.doc["projection"] == {"content_hash": 1}
    find.ok(_cursor([{"_id": "a", "content_hash": "h1"}, {"_id": "b", "content_hash": "h2"}]))
    assert future() == {"a": "h1", "b": "h2"}


def test_wait_until_searchable_polls_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.upsert, _batch(["a", "b"]))
    _reply_manifest(server)
    server.receives(OpMsg("update", COLLECTION)).ok(n=2, nModified=0)
    future()

    future = go(store.wait_until_searchable, ["a", "b"], 5.0)
    first = server.receives(OpMsg("aggregate", COLLECTION))
    stage = first.doc["pipeline"][0]["$vectorSearch"]
    assert stage["index"] == INDEX
    assert stage["path"] == "embedding_bits"
    assert stage["exact"] is True
    assert "numCandidates" not in stage
    assert stage["limit"] == 2
    assert stage["filter"] == {"_id": {"$in": ["a", "b"]}, "content_hash": {"$in": ["hash-a", "hash-b"]}}
    first.ok(_cursor([{"_id": "a"}]))
    second = server.receives(OpMsg("aggregate", COLLECTION))
    assert second.doc["pipeline"][0]["$vectorSearch"]["filter"]["_id"] == {"$in": ["b"]}
    second.ok(_cursor([{"_id": "b"}]))
    future()


def test_wait_until_searchable_times_out(server: MockupDB, store: AtlasStore) -> None:
    responder = server.autoresponds(OpMsg("aggregate", COLLECTION), _cursor([{"_id": "a"}]))
    future = go(store.wait_until_searchable, ["a", "late"], 0.2)
    _reply_manifest(server)
    with pytest.raises(IndexTimeoutError, match="1 of 2 documents.*first: late"):
        future()
    responder.cancel()


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "path", "dtype_byte", "size"),
    [("full", "embedding", 0x27, 2 + 256), ("truncated", "embedding_mrl", 0x27, 2 + 64),
     ("binary", "embedding_bits", 0x10, 2 + 8)],
)
def test_search_sends_vector_search(
    server: MockupDB, store: AtlasStore, mode: str, path: str, dtype_byte: int, size: int
) -> None:
    future = go(store.search, _request(mode, filter={"lang": "en"}))
    _reply_manifest(server)
    request = server.receives(OpMsg("aggregate", COLLECTION))
    assert request.doc["maxTimeMS"] == 30_000
    pipeline = request.doc["pipeline"]
    stage = pipeline[0]["$vectorSearch"]
    assert list(stage) == ["index", "path", "queryVector", "limit", "numCandidates", "exact", "filter"]
    assert stage["index"] == INDEX
    assert stage["path"] == path
    assert stage["limit"] == 3
    assert stage["numCandidates"] == 60
    assert stage["exact"] is False
    assert stage["filter"] == {"lang": "en"}
    query = stage["queryVector"]
    assert isinstance(query, Binary)
    assert query.subtype == VECTOR_SUBTYPE
    assert bytes(query)[0] == dtype_byte
    assert len(query) == size
    assert pipeline[1]["$project"]["score"] == {"$meta": "vectorSearchScore"}

    request.ok(_cursor([
        {"_id": "b", "text": "text of b", "score": 0.9, "metadata": {"lang": "en"}},
        {"_id": "a", "text": "text of a", "score": 0.7, "metadata": {"lang": "en", "year": 2020}},
    ]))
    hits = future()
    assert [hit.id for hit in hits] == ["b", "a"]
    assert hits[0].score == pytest.approx(0.9)
    assert hits[1].metadata == {"lang": "en", "year": 2020}
    assert hits[1].text == "text of a"


def test_search_exact_omits_num_candidates(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.search, _request(exact=True, num_candidates=None))
    _reply_manifest(server)
    request = server.receives(OpMsg("aggregate", COLLECTION))
    stage = request.doc["pipeline"][0]["$vectorSearch"]
    assert "numCandidates" not in stage
    assert stage["exact"] is True
    request.ok(_cursor([{"_id": "a", "text": "t", "score": 1.0, "metadata": {}}]))
    assert len(future()) == 1


def test_search_rescore_one_round_trip(server: MockupDB, store: AtlasStore) -> None:
    request = _request("rescore", limit=2, rescore_candidates=4)
    query = request.vectors.full
    rng = np.random.default_rng(3)
    candidates = {
        "far": -query,
        "near": query + 0.01 * _unit(rng, 64),
        "mid": _unit(rng, 64) + query,
        "other": _unit(rng, 64),
    }
    future = go(store.search, request)
    _reply_manifest(server)
    aggregate = server.receives(OpMsg("aggregate", COLLECTION))
    stage = aggregate.doc["pipeline"][0]["$vectorSearch"]
    assert stage["path"] == "embedding_bits"
    assert stage["limit"] == 4
    assert stage["numCandidates"] == 80
    assert aggregate.doc["pipeline"][1]["$project"]["full_vector"] == "$embedding"
    # Binary scores in the wrong order: the client must re-rank by full vectors.
    aggregate.ok(_cursor([
        {"_id": key, "text": key, "score": 0.5 + 0.1 * n, "metadata": {},
         "full_vector": float32_to_binary((vector / np.linalg.norm(vector)).astype(np.float32))}
        for n, (key, vector) in enumerate(candidates.items())
    ]))
    hits = future()
    assert [hit.id for hit in hits] == ["near", "mid"]
    assert hits[0].score > hits[1].score
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert not server.got(timeout=0.2)


def test_search_empty_result_without_index_raises(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.search, _request())
    _reply_manifest(server)
    server.receives(OpMsg("aggregate", COLLECTION)).ok(_cursor([]))
    _receive_list_indexes(server).ok(_cursor([]))
    with pytest.raises(IndexNotReadyError, match=f"no vector search index '{INDEX}'"):
        future()


def test_search_empty_result_with_ready_index(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.search, _request())
    _reply_manifest(server)
    server.receives(OpMsg("aggregate", COLLECTION)).ok(_cursor([]))
    _receive_list_indexes(server).ok(_cursor([_index_doc("READY", True)]))
    assert future() == []


def test_search_rejects_undeclared_filter_before_sending(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.search, _request(filter={"author": "x"}))
    _reply_manifest(server)
    with pytest.raises(InvalidFilterError, match="'author'"):
        future()
    assert not server.got(timeout=0.2)


PLAN_ERROR = "PlanExecutor error during aggregation :: caused by :: "


@pytest.mark.parametrize(
    ("code", "errmsg", "error", "pattern"),
    [
        (8, PLAN_ERROR + "vector field is indexed with 1024 dimensions but queried with 64",
         DimensionMismatchError, "indexed with 1024 dimensions but queried with 64"),
        (8, PLAN_ERROR + "Path 'lang' needs to be indexed as filter",
         InvalidFilterError, "'lang' needs to be indexed as filter"),
        (8, PLAN_ERROR + "Path 'lang' needs to be indexed as token",
         InvalidFilterError, "'lang' needs to be indexed as filter"),
        (8, PLAN_ERROR + "cannot query vector index leafsearch_vector_index while in state "
         "INITIAL_SYNC", IndexNotReadyError, "not ready \\(state INITIAL_SYNC\\)"),
        (8, PLAN_ERROR + "cannot query vector index x while in state NOT_STARTED",
         IndexNotReadyError, "NOT_STARTED"),
        (31082, ("Using $search and $vectorSearch aggregation stages requires additional "
         "configuration. Please connect to Atlas or an AtlasCLI local deployment to enable."),
         SearchNotEnabledError, "Atlas, an atlas-local deployment.*mongod 8.2\\+ with mongot"),
        (50, "operation exceeded time limit", ServerTimeoutError, "MaxTimeMSExpired"),
        (18, "Authentication failed.", AuthenticationError, "authentication failed"),
        (13, "not authorized on leafsearch to execute command", AuthenticationError,
         "not authorized"),
        (8, PLAN_ERROR + "embedding is not indexed as vector", ConfigurationError,
         "not indexed as vector"),
    ],
)
def test_search_server_errors_mapped(
    server: MockupDB, store: AtlasStore, code: int, errmsg: str, error: type, pattern: str
) -> None:
    future = go(store.search, _request(filter={"lang": "en"}))
    _reply_manifest(server)
    server.receives(OpMsg("aggregate", COLLECTION)).command_err(code=code, errmsg=errmsg)
    with pytest.raises(error, match=pattern) as info:
        future()
    assert "vector search on leafsearch.docs" in str(info.value)
    assert not server.got(timeout=0.1)  # no retry for server-side errors


def test_search_retries_dropped_connection(
    server: MockupDB, store: AtlasStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="leafsearch")
    future = go(store.search, _request())
    _reply_manifest(server)
    hangups = 0
    while True:
        request = server.receives(OpMsg("aggregate", COLLECTION))
        if hangups < 2:
            # pymongo retries a read once itself; the second hang-up reaches the store.
            request.hangup()
            hangups += 1
            continue
        request.ok(_cursor([{"_id": "a", "text": "t", "score": 0.8, "metadata": {}}]))
        break
    assert [hit.id for hit in future()] == ["a"]
    assert any("retry 1 of 2" in record.getMessage() for record in caplog.records)


def test_search_gives_up_after_bounded_retries(server: MockupDB) -> None:
    store = _store(server, retry_policy=RetryPolicy(attempts=2, base_delay=0.01))
    hangups: list[int] = []

    def hang_up(request: Any) -> bool:
        hangups.append(request.client_port)
        return bool(request.hangup())

    responder = server.autoresponds(OpMsg("aggregate", COLLECTION), hang_up)
    future = go(store.search, _request())
    _reply_manifest(server)
    with pytest.raises(ServerTimeoutError, match="network connection failed"):
        future()
    responder.cancel()
    store.close()
    # Two store attempts, each of which pymongo retries once itself.
    assert len(hangups) == 4


def test_drop_removes_index_collection_manifest(server: MockupDB, store: AtlasStore) -> None:
    future = go(store.drop)
    drop_index = server.receives(OpMsg("dropSearchIndex", COLLECTION))
    assert drop_index.doc["name"] == INDEX
    drop_index.ok()
    server.receives(OpMsg("drop", COLLECTION)).ok()
    delete = server.receives(OpMsg("delete", "leafsearch_manifests"))
    assert delete.doc["deletes"][0]["q"] == {"_id": COLLECTION}
    delete.ok(n=1)
    future()


# --- credentials ----------------------------------------------------------------------------


def test_auth_failure_hides_password(server: MockupDB, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="leafsearch")
    server.autoresponds("saslStart", ok=0, code=18, codeName="AuthenticationFailed",
                        errmsg="Authentication failed.")
    uri = f"mongodb://user:{SECRET}@127.0.0.1:{server.port}/?directConnection=true"
    store = AtlasStore(uri, COLLECTION, server_selection_timeout_ms=2000,
                       retry_policy=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(AuthenticationError, match="authentication failed") as info:
        store.count()
    store.close()
    assert SECRET not in str(info.value)
    assert f"user:{SECRET}" not in repr(info.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_unreachable_server_hides_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="leafsearch")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"mongodb://user:{SECRET}@127.0.0.1:{port}/?directConnection=true&authSource=admin"
    store = AtlasStore(uri, COLLECTION, server_selection_timeout_ms=100)
    with pytest.raises(ServerTimeoutError, match="no server was reachable") as info:
        store.count()
    store.close()
    assert SECRET not in str(info.value)
    assert "mongodb://***@127.0.0.1" in str(info.value)
    shown_context = None if info.value.__suppress_context__ else info.value.__context__
    for chained in (info.value.__cause__, shown_context):
        assert chained is None or SECRET not in str(chained)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_invalid_uri_hides_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        AtlasStore(f"mongodb://user:{SECRET}@127.0.0.1:notaport/", COLLECTION)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("name", ["", "a$b", "leafsearch_manifests"])
def test_invalid_collection_name_rejected(name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid collection name"):
        AtlasStore("mongodb://127.0.0.1:27017/", name)
