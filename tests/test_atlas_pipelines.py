"""$vectorSearch pipeline builder: stage fields, numCandidates rules and client-side checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bson.binary import Binary

from leafsearch.atlas.bson_vectors import binary_to_float32, binary_to_int8, binary_to_packed_bits
from leafsearch.atlas.pipelines import (
    DEFAULT_MAX_TIME_MS,
    build_search_plan,
)
from leafsearch.errors import DimensionMismatchError, InvalidFilterError, InvalidQueryError
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.search_params import default_rescore_candidates, resolve_num_candidates
from leafsearch.types import Layout, QueryVectors, SearchRequest

LAYOUT = Layout(dims=64, truncate_dim=16, similarity="cosine", filter_fields=("lang", "year"))
INDEX = "leafsearch_vector_index"


def _vectors(dims: int = 64, truncate_dim: int = 16) -> QueryVectors:
    full = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    full /= np.linalg.norm(full)
    return QueryVectors(full=full, truncated=truncate(full, truncate_dim), binary=pack_sign_bits(full))


def _request(**overrides: Any) -> SearchRequest:
    fields: dict[str, Any] = {
        "mode": "full",
        "vectors": _vectors(),
        "limit": 5,
        "num_candidates": resolve_num_candidates(5, None, False),
        "exact": False,
    }
    fields.update(overrides)
    return SearchRequest(**fields)


def _stage(request: SearchRequest) -> dict[str, Any]:
    plan = build_search_plan(request, LAYOUT, INDEX)
    return plan.pipeline[0]["$vectorSearch"]


def test_vector_search_is_first_stage() -> None:
    plan = build_search_plan(_request(), LAYOUT, INDEX)
    assert list(plan.pipeline[0]) == ["$vectorSearch"]
    assert list(plan.pipeline[1]) == ["$project"]
    assert len(plan.pipeline) == 2


def test_full_mode_stage_fields() -> None:
    request = _request()
    stage = _stage(request)
    assert stage["index"] == INDEX
    assert stage["path"] == "embedding"
    assert stage["limit"] == 5
    assert stage["numCandidates"] == 100
    assert stage["exact"] is False
    assert "filter" not in stage
    assert isinstance(stage["queryVector"], Binary)
    assert binary_to_float32(stage["queryVector"]).tobytes() == request.vectors.full.tobytes()


def test_truncated_mode_uses_truncated_vector() -> None:
    request = _request(mode="truncated")
    stage = _stage(request)
    assert stage["path"] == "embedding_mrl"
    assert binary_to_float32(stage["queryVector"]).tobytes() == request.vectors.truncated.tobytes()


def test_binary_mode_uses_packed_bits() -> None:
    request = _request(mode="binary")
    stage = _stage(request)
    assert stage["path"] == "embedding_bits"
    data, bits = binary_to_packed_bits(stage["queryVector"])
    assert bits == 64
    assert data.tolist() == request.vectors.binary.tolist()


def test_projection_has_score_text_metadata() -> None:
    projection = build_search_plan(_request(), LAYOUT, INDEX).pipeline[1]["$project"]
    assert projection["score"] == {"$meta": "vectorSearchScore"}
    assert projection["text"] == 1
    assert projection["_id"] == 1
    excluded = projection["metadata"]["$arrayToObject"]["$filter"]["cond"]["$not"][0]["$in"][1]
    assert set(excluded) == {"_id", "text", "content_hash", "embedding", "embedding_mrl",
                             "embedding_bits"}
    assert "full_vector" not in projection


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(1, 20), (5, 100), (150, 3000), (499, 9980), (500, 10000), (501, 10000), (10000, 10000)],
)
def test_num_candidates_table(limit: int, expected: int) -> None:
    stage = _stage(_request(limit=limit, num_candidates=resolve_num_candidates(limit, None, False)))
    assert stage["numCandidates"] == expected
    assert stage["limit"] <= stage["numCandidates"] <= 10000


def test_limit_150_with_low_num_candidates_rejected() -> None:
    with pytest.raises(InvalidQueryError, match=r"num_candidates \(100\) must be at least limit"):
        _stage(_request(limit=150, num_candidates=100))


def test_limit_20000_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="at most 10000"):
        _stage(_request(limit=20000, num_candidates=None))


def test_num_candidates_20000_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="1..10000"):
        _stage(_request(num_candidates=20000))


@pytest.mark.parametrize("limit", [0, -1])
def test_non_positive_limit_rejected(limit: int) -> None:
    with pytest.raises(InvalidQueryError, match="positive"):
        _stage(_request(limit=limit))


def test_exact_omits_num_candidates() -> None:
    stage = _stage(_request(exact=True, num_candidates=None))
    assert "numCandidates" not in stage
    assert stage["exact"] is True


def test_exact_with_num_candidates_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="omitted for exact"):
        _stage(_request(exact=True, num_candidates=100))


def test_unknown_mode_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="unknown search mode 'hybrid'"):
        _stage(_request(mode="hybrid"))


def test_rescore_mode_searches_binary_and_projects_full() -> None:
    request = _request(mode="rescore", limit=10, num_candidates=200, rescore_candidates=100)
    plan = build_search_plan(request, LAYOUT, INDEX)
    stage = plan.pipeline[0]["$vectorSearch"]
    assert stage["path"] == "embedding_bits"
    assert stage["limit"] == 100
    assert stage["numCandidates"] == 2000
    assert plan.pipeline[1]["$project"]["full_vector"] == "$embedding"
    assert plan.rescore_limit == 10
    assert plan.vector_field == "binary"


def test_rescore_default_candidates() -> None:
    plan = build_search_plan(_request(mode="rescore", rescore_candidates=0), LAYOUT, INDEX)
    assert plan.pipeline[0]["$vectorSearch"]["limit"] == default_rescore_candidates(5)


def test_rescore_exact_omits_num_candidates() -> None:
    request = _request(mode="rescore", exact=True, num_candidates=None, rescore_candidates=50)
    stage = build_search_plan(request, LAYOUT, INDEX).pipeline[0]["$vectorSearch"]
    assert stage["limit"] == 50
    assert "numCandidates" not in stage


def test_rescore_candidates_below_limit_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="rescore_candidates"):
        build_search_plan(_request(mode="rescore", limit=20, num_candidates=400,
                                   rescore_candidates=10), LAYOUT, INDEX)


def test_full_vector_wrong_length_rejected() -> None:
    request = _request(vectors=_vectors(dims=32, truncate_dim=16))
    with pytest.raises(DimensionMismatchError, match="indexed with 64 dimensions"):
        _stage(request)


def test_truncated_vector_wrong_length_rejected() -> None:
    # A 64-d vector sent to the 16-d truncated field, as after an MRL size change.
    vectors = _vectors()
    request = _request(mode="truncated", vectors=QueryVectors(vectors.full, vectors.full,
                                                               vectors.binary))
    with pytest.raises(DimensionMismatchError, match="indexed with 16 dimensions"):
        _stage(request)


def test_binary_vector_wrong_length_rejected() -> None:
    vectors = _vectors()
    request = _request(mode="binary", vectors=QueryVectors(vectors.full, vectors.truncated,
                                                            vectors.binary[:4]))
    with pytest.raises(DimensionMismatchError, match="64 bits in 8 bytes"):
        _stage(request)


def test_non_finite_query_rejected() -> None:
    vectors = _vectors()
    bad = vectors.full.copy()
    bad[3] = np.nan
    request = _request(vectors=QueryVectors(bad, vectors.truncated, vectors.binary))
    with pytest.raises(InvalidQueryError, match="position 3"):
        _stage(request)


def test_filter_passed_through() -> None:
    query_filter = {"lang": "en", "year": {"$gte": np.int64(2020)}}
    stage = _stage(_request(filter=query_filter))
    assert stage["filter"] == {"lang": "en", "year": {"$gte": 2020}}
    assert type(stage["filter"]["year"]["$gte"]) is int


def test_filter_on_builtin_id_accepted() -> None:
    stage = _stage(_request(filter={"_id": {"$in": ["a", "b"]}}))
    assert stage["filter"] == {"_id": {"$in": ["a", "b"]}}


def test_filter_undeclared_field_rejected() -> None:
    with pytest.raises(InvalidFilterError, match="'author' is not a filter field"):
        _stage(_request(filter={"author": "x"}))


@pytest.mark.parametrize(
    "query_filter", [{"lang": {"$regex": "^e"}}, {"$where": "1"}, {"lang": {"$text": "x"}}]
)
def test_filter_unsupported_operator_rejected(query_filter: dict[str, Any]) -> None:
    with pytest.raises(InvalidFilterError, match="not supported"):
        _stage(_request(filter=query_filter))


def test_max_time_ms_default_and_custom() -> None:
    assert build_search_plan(_request(), LAYOUT, INDEX).max_time_ms == DEFAULT_MAX_TIME_MS
    assert build_search_plan(_request(), LAYOUT, INDEX, max_time_ms=1500).max_time_ms == 1500
    with pytest.raises(InvalidQueryError, match="max_time_ms"):
        build_search_plan(_request(), LAYOUT, INDEX, max_time_ms=0)


INT8_LAYOUT = Layout(dims=64, truncate_dim=16, similarity="cosine", filter_fields=("lang", "year"), int8=True)


def _int8_vectors(dims: int = 64) -> QueryVectors:
    base = _vectors()
    codes = np.rint(np.linspace(-128, 127, dims)).astype(np.int8)
    return QueryVectors(full=base.full, truncated=base.truncated, binary=base.binary, int8=codes)


def test_int8_mode_sends_int8_query_vector() -> None:
    request = _request(mode="int8", vectors=_int8_vectors())
    plan = build_search_plan(request, INT8_LAYOUT, INDEX)
    stage = plan.pipeline[0]["$vectorSearch"]
    assert stage["path"] == "embedding_int8"
    assert stage["limit"] == 5
    assert stage["numCandidates"] == 100
    query = stage["queryVector"]
    assert isinstance(query, Binary)
    assert query.subtype == 9
    assert bytes(query) == b"\x03\x00" + request.vectors.int8.tobytes()  # type: ignore[union-attr]
    assert binary_to_int8(query)[0] == -128
    assert binary_to_int8(query)[-1] == 127
    assert plan.pipeline[1]["$project"]["score"] == {"$meta": "vectorSearchScore"}
    assert plan.rescore_limit is None
    assert plan.rescore_field is None
    assert plan.vector_field == "int8"


def test_rescore_int8_projects_int8_vector() -> None:
    request = _request(mode="rescore-int8", limit=10, num_candidates=200, rescore_candidates=100,
                       vectors=_int8_vectors())
    plan = build_search_plan(request, INT8_LAYOUT, INDEX)
    stage = plan.pipeline[0]["$vectorSearch"]
    assert stage["path"] == "embedding_bits"
    assert stage["limit"] == 100
    assert stage["numCandidates"] == 2000
    projection = plan.pipeline[1]["$project"]
    assert projection["int8_vector"] == "$embedding_int8"
    assert "full_vector" not in projection
    assert plan.rescore_limit == 10
    assert plan.rescore_field == "int8_vector"


def test_rescore_projects_full_vector_field() -> None:
    plan = build_search_plan(_request(mode="rescore", rescore_candidates=50), INT8_LAYOUT, INDEX)
    assert plan.rescore_field == "full_vector"
    assert "int8_vector" not in plan.pipeline[1]["$project"]


@pytest.mark.parametrize("mode", ["int8", "rescore-int8"])
def test_int8_modes_rejected_without_int8_layout(mode: str) -> None:
    request = _request(mode=mode, vectors=_int8_vectors())
    with pytest.raises(InvalidQueryError, match="stores none; re-index with --int8.*migrate"):
        build_search_plan(request, LAYOUT, INDEX)


def test_int8_mode_without_int8_query_rejected() -> None:
    with pytest.raises(InvalidQueryError, match="QueryVectors.int8"):
        build_search_plan(_request(mode="int8"), INT8_LAYOUT, INDEX)


def test_int8_query_wrong_length_rejected() -> None:
    request = _request(mode="int8", vectors=_int8_vectors(dims=32))
    with pytest.raises(DimensionMismatchError, match="indexed with 64 int8 dimensions"):
        build_search_plan(request, INT8_LAYOUT, INDEX)


def test_int8_query_float_values_rejected() -> None:
    base = _vectors()
    vectors = QueryVectors(full=base.full, truncated=base.truncated, binary=base.binary,
                           int8=np.zeros(64, np.float32))
    with pytest.raises(InvalidQueryError, match="invalid query vector"):
        build_search_plan(_request(mode="int8", vectors=vectors), INT8_LAYOUT, INDEX)


def test_metadata_excludes_int8_path() -> None:
    plan = build_search_plan(_request(), INT8_LAYOUT, INDEX)
    expression = plan.pipeline[1]["$project"]["metadata"]
    excluded = expression["$arrayToObject"]["$filter"]["cond"]["$not"][0]["$in"][1]
    assert "embedding_int8" in excluded
