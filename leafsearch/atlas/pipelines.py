"""Pure builders for the ``$vectorSearch`` aggregation that serves one :class:`SearchRequest`.

Every check that Atlas would otherwise make on the server (vector length, finite values,
``limit``/``numCandidates`` bounds, filter operators and declared filter fields) runs here
first, so a bad request fails with a precise message and never reaches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from bson.binary import Binary

from leafsearch.atlas.bson_vectors import (
    float32_to_binary,
    int8_to_binary,
    packed_bits_to_binary,
    to_bson_value,
)
from leafsearch.atlas.definitions import filter_paths
from leafsearch.errors import DimensionMismatchError, EncodingError, InvalidQueryError
from leafsearch.search_params import (
    MAX_NUM_CANDIDATES,
    check_mode,
    default_num_candidates,
    default_rescore_candidates,
    resolve_num_candidates,
)
from leafsearch.types import (
    INT8_MODES,
    RESCORE_MODES,
    Layout,
    SearchMode,
    SearchRequest,
    VectorField,
)

# Time limit for one search aggregate on the server; mongod cancels it with MaxTimeMSExpired.
DEFAULT_MAX_TIME_MS = 30_000
SCORE_FIELD = "score"
METADATA_FIELD = "metadata"
FULL_VECTOR_FIELD = "full_vector"
INT8_VECTOR_FIELD = "int8_vector"
# The stored field that each search mode runs $vectorSearch on.
_SEARCHED_FIELD: dict[SearchMode, VectorField] = {
    "full": "full",
    "truncated": "truncated",
    "binary": "binary",
    "int8": "int8",
    "rescore": "binary",
    "rescore-int8": "binary",
}
# Top-level document keys that are not metadata.
_NON_METADATA_KEYS = ("_id", "text", "content_hash")


@dataclass(frozen=True)
class SearchPlan:
    """An aggregation ready to send, and what the client does with its results.

    ``rescore_limit`` is the number of hits kept after client-side rescoring, or ``None``
    when the server's ranking is final. ``rescore_field`` is the projected key that contains
    each candidate's vector for rescoring: :data:`FULL_VECTOR_FIELD` (float32) or
    :data:`INT8_VECTOR_FIELD` (int8).
    """

    pipeline: list[dict[str, Any]]
    vector_field: VectorField
    path: str
    max_time_ms: int
    rescore_limit: int | None = None
    rescore_field: str | None = None


def build_search_plan(
    request: SearchRequest,
    layout: Layout,
    index_name: str,
    *,
    max_time_ms: int = DEFAULT_MAX_TIME_MS,
) -> SearchPlan:
    """Validate ``request`` against ``layout`` and build its aggregation pipeline.

    In ``rescore`` mode the pipeline searches the packed-bit field for
    ``request.rescore_candidates`` hits and also returns each hit's full vector, so the
    client ranks them with :func:`leafsearch.scoring.rescore` after one round trip.
    ``rescore-int8`` returns each hit's int8 vector instead, for
    :func:`leafsearch.int8.int8_scores`.

    Raises:
        InvalidQueryError: for an unknown mode, out-of-range limits, or an int8 mode on a
            layout without int8 vectors.
        DimensionMismatchError: if a query vector's length differs from the field's.
        InvalidFilterError: for unsupported operators or undeclared filter fields.
    """
    mode = check_mode(request.mode)
    if isinstance(max_time_ms, bool) or not isinstance(max_time_ms, int) or max_time_ms < 1:
        raise InvalidQueryError(f"max_time_ms must be a positive integer, got {max_time_ms!r}")
    num_candidates = resolve_num_candidates(request.limit, request.num_candidates, request.exact)
    if mode in INT8_MODES:
        _check_int8_request(request, layout)

    vector_field = _SEARCHED_FIELD[mode]
    limit = request.limit
    rescore_limit: int | None = None
    rescore_field: str | None = None
    if mode in RESCORE_MODES:
        limit, num_candidates = _rescore_limits(request)
        rescore_limit = request.limit
        rescore_field = INT8_VECTOR_FIELD if mode == "rescore-int8" else FULL_VECTOR_FIELD

    path = layout.path(vector_field)
    stage: dict[str, Any] = {
        "index": index_name,
        "path": path,
        "queryVector": query_vector(request, layout, vector_field),
        "limit": limit,
    }
    if num_candidates is not None:
        stage["numCandidates"] = num_candidates
    stage["exact"] = request.exact
    if request.filter:
        stage["filter"] = checked_filter(request.filter, layout)

    projection: dict[str, Any] = {
        "_id": 1,
        "text": 1,
        SCORE_FIELD: {"$meta": "vectorSearchScore"},
        METADATA_FIELD: metadata_expression(layout),
    }
    if rescore_field == FULL_VECTOR_FIELD:
        projection[FULL_VECTOR_FIELD] = f"${layout.full_path}"
    elif rescore_field == INT8_VECTOR_FIELD:
        projection[INT8_VECTOR_FIELD] = f"${layout.int8_path}"
    pipeline = [{"$vectorSearch": stage}, {"$project": projection}]
    return SearchPlan(pipeline, vector_field, path, max_time_ms, rescore_limit, rescore_field)


def query_vector(request: SearchRequest, layout: Layout, vector_field: VectorField) -> Binary:
    """Return the query vector for ``vector_field`` as a BSON vector of the stored dtype."""
    expected = layout.num_dimensions(vector_field)
    path = layout.path(vector_field)
    if vector_field == "binary":
        packed = np.asarray(request.vectors.binary)
        if packed.ndim != 1 or packed.shape[0] != layout.binary_bytes:
            raise DimensionMismatchError(
                f"the packed-bit query vector for {path!r} has shape {packed.shape}, but the "
                f"index expects {expected} bits in {layout.binary_bytes} bytes; encode the "
                "query with the model the collection was built with"
            )
        return _encode_query(packed_bits_to_binary, packed, expected)
    if vector_field == "int8":
        # NOTE: int8 fields and queries are checked on the wire only, not yet against a live
        # mongot.
        codes = np.asarray(request.vectors.int8)
        if codes.ndim != 1 or codes.shape[0] != expected:
            raise DimensionMismatchError(
                f"vector field {path!r} is indexed with {expected} int8 dimensions but the "
                f"query vector has shape {codes.shape}; quantize the query with the "
                "collection's int8 ranges"
            )
        return _encode_query(lambda values, _dims: int8_to_binary(values), codes, expected)

    vector: npt.NDArray[Any] = np.asarray(
        request.vectors.full if vector_field == "full" else request.vectors.truncated
    )
    if vector.ndim != 1 or vector.shape[0] != expected:
        raise DimensionMismatchError(
            f"vector field {path!r} is indexed with {expected} dimensions but the query vector "
            f"has shape {vector.shape}; encode the query with the model (and truncate_dim) "
            "the collection was built with"
        )
    return _encode_query(lambda values, _bits: float32_to_binary(values), vector, expected)


def checked_filter(filter: dict[str, Any], layout: Layout) -> dict[str, Any]:
    """Validate a pre-filter against the index's filter fields; return it as plain BSON values."""
    # Imported here so this module does not depend on the filter module at import time.
    from leafsearch.filters import validate_filter

    converted: dict[str, Any] = to_bson_value(filter)
    validate_filter(converted, filter_paths(layout))
    return converted


def metadata_expression(layout: Layout) -> dict[str, Any]:
    """Return an aggregation expression for every top-level key that is not text or a vector.

    Metadata fields sit at the top level of each document under names the store does not
    know in advance, so they are selected by exclusion on the server, which also keeps the
    vectors off the wire.
    """
    excluded = list(_NON_METADATA_KEYS)
    for path in layout.vector_paths:
        top = path.split(".")[0]
        if top not in excluded:
            excluded.append(top)
    return {
        "$arrayToObject": {
            "$filter": {
                "input": {"$objectToArray": "$$ROOT"},
                "cond": {"$not": [{"$in": ["$$this.k", excluded]}]},
            }
        }
    }


def _check_int8_request(request: SearchRequest, layout: Layout) -> None:
    if not layout.int8:
        raise InvalidQueryError(
            f"search mode {request.mode!r} needs int8 vectors, but this collection stores "
            "none; re-index with --int8, migrate the collection to int8 vectors (leafsearch "
            "migrate), or use another mode"
        )
    if request.vectors.int8 is None:
        raise InvalidQueryError(
            f"search mode {request.mode!r} needs the query's int8 vector (QueryVectors.int8); "
            "quantize the query with the int8 ranges from the collection's manifest"
        )


def _rescore_limits(request: SearchRequest) -> tuple[int, int | None]:
    """Return (limit, numCandidates) for the binary stage of a rescore search."""
    candidates = request.rescore_candidates or default_rescore_candidates(request.limit)
    if isinstance(candidates, bool) or not isinstance(candidates, int):
        raise InvalidQueryError(f"rescore_candidates must be an integer, got {candidates!r}")
    if not request.limit <= candidates <= MAX_NUM_CANDIDATES:
        raise InvalidQueryError(
            f"rescore_candidates must be in {request.limit}..{MAX_NUM_CANDIDATES} "
            f"(at least the limit), got {candidates}"
        )
    if request.exact:
        return candidates, None
    # A caller's larger numCandidates is kept, since it only raises recall.
    num_candidates = max(default_num_candidates(candidates), request.num_candidates or 0)
    return candidates, min(num_candidates, MAX_NUM_CANDIDATES)


def _encode_query(encode: Any, values: npt.NDArray[Any], bits: int) -> Binary:
    try:
        result: Binary = encode(values, bits)
    except EncodingError as exc:
        raise InvalidQueryError(f"invalid query vector: {exc}") from None
    return result
