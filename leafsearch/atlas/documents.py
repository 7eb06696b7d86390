"""Pure helpers for the Atlas store: stored documents, hits, rescoring, bulk-write reports,
visibility probes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from bson.binary import Binary

from leafsearch.atlas.bson_vectors import (
    binary_to_float32,
    binary_to_int8,
    float32_to_binary,
    int8_to_binary,
    packed_bits_to_binary,
    to_bson_value,
)
from leafsearch.atlas.pipelines import (
    FULL_VECTOR_FIELD,
    INT8_VECTOR_FIELD,
    METADATA_FIELD,
    SearchPlan,
)
from leafsearch.atlas.uri import redact_text
from leafsearch.errors import ConfigurationError, EncodingError
from leafsearch.int8 import int8_scores
from leafsearch.scoring import rescore, top_k
from leafsearch.types import RESERVED_KEYS, EncodedBatch, Hit, Layout, SearchRequest, VectorField


def build_document(batch: EncodedBatch, position: int, layout: Layout) -> dict[str, Any]:
    """Return the stored document for record ``position`` of ``batch``.

    Metadata fields go to the top level, converted from numpy types to Python values, and
    the vectors become BSON binary vectors at the layout's paths (see :func:`vector_values`).

    Raises:
        ConfigurationError: for a metadata key that is reserved, a vector path, or invalid.
        EncodingError: for a vector with non-finite values or the wrong size.
    """
    record_id = batch.ids[position]
    metadata = batch.metadata[position] if batch.metadata else {}
    document: dict[str, Any] = {
        "_id": record_id,
        "text": batch.texts[position],
        "content_hash": batch.content_hashes[position],
    }
    vector_tops = {path.split(".")[0] for path in layout.vector_paths}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
            raise ConfigurationError(
                f"invalid metadata key {key!r} in record {record_id!r}: keys must be "
                "non-empty strings without a leading '$' or a '.'"
            )
        if key in RESERVED_KEYS or key in vector_tops:
            raise ConfigurationError(
                f"metadata key {key!r} in record {record_id!r} is reserved for the stored "
                "document; rename it"
            )
        document[key] = to_bson_value(value)
    document.update(vector_values(batch, position, layout))
    return document


def vector_values(batch: EncodedBatch, position: int, layout: Layout) -> dict[str, Binary]:
    """Return ``{path: BSON vector}`` for each representation ``layout`` stores.

    full and truncated become float32 vectors, binary a packed-bit vector, and (when
    ``layout.int8``) ``batch.int8`` an int8 vector, so Atlas indexes each at its stored dtype.

    Raises:
        EncodingError: for a vector with non-finite or out-of-range values or the wrong
            size, or a missing int8 matrix when the layout stores int8.
    """
    record_id = batch.ids[position]
    try:
        values = {
            layout.full_path: float32_to_binary(batch.full[position]),
            layout.truncated_path: float32_to_binary(batch.truncated[position]),
            layout.binary_path: packed_bits_to_binary(batch.binary[position], layout.binary_bits),
        }
        if layout.int8:
            if batch.int8 is None:
                raise EncodingError(
                    "the layout stores int8 vectors but the batch has none; quantize the "
                    "full vectors with the collection's int8 ranges"
                )
            values[layout.int8_path] = int8_to_binary(batch.int8[position])
        _check_sizes(batch, position, layout)
    except EncodingError as exc:
        raise EncodingError(f"record {record_id!r}: {exc}") from None
    return values


def _check_sizes(batch: EncodedBatch, position: int, layout: Layout) -> None:
    # mongot skips a vector whose length differs from numDimensions without an error, so
    # such a document would never be found.
    matrices: list[tuple[VectorField, npt.NDArray[Any] | None]] = [
        ("full", batch.full),
        ("truncated", batch.truncated),
        ("int8", batch.int8 if layout.int8 else None),
    ]
    for vector_field, matrix in matrices:
        if matrix is None:
            continue
        expected = layout.num_dimensions(vector_field)
        if matrix[position].shape != (expected,):
            raise EncodingError(
                f"the {vector_field} vector has shape {matrix[position].shape}, but the "
                f"layout stores {expected} dimensions"
            )


def bulk_write_failures(details: Mapping[str, Any], op_ids: list[str]) -> dict[str, str]:
    """Map each record id of a failed unordered bulk write to the server's reason.

    ``writeErrors[].index`` is the position of the operation in the bulk request, which is
    also its position in ``op_ids``. A write concern error leaves no record durable to the
    requested level, so every record is then reported, and a retry rewrites them all (a
    replace-upsert by id is safe to repeat).
    """
    failures: dict[str, str] = {}
    for write_error in details.get("writeErrors", []):
        index = write_error.get("index")
        if isinstance(index, int) and 0 <= index < len(op_ids):
            message = redact_text(str(write_error.get("errmsg", "write failed")))
            failures[op_ids[index]] = f"{message} (code {write_error.get('code')})"
    concern_errors = details.get("writeConcernErrors", [])
    if concern_errors:
        first = concern_errors[0]
        reason = "write concern error: " + redact_text(str(first.get("errmsg", first)))
        for record_id in op_ids:
            failures.setdefault(record_id, reason)
    return failures


def visibility_pipeline(
    index_name: str, layout: Layout, ids: list[str], written_hashes: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Return a ``$vectorSearch`` that lists which of ``ids`` the index already serves.

    It is an exact search on the packed-bit field (an all-zero query is valid there) whose
    filter, evaluated by mongot, selects the ids. An id with a hash in ``written_hashes``
    also has to carry that ``content_hash``, so a replaced document counts only once its
    new version is indexed.
    """
    # NOTE: not yet run against a live mongot. The index declares _id and content_hash as
    # filter fields for this query; the wire tests check only what pymongo sends.
    known = [record_id for record_id in ids if record_id in written_hashes]
    unknown = [record_id for record_id in ids if record_id not in written_hashes]
    clauses: list[dict[str, Any]] = []
    if known:
        hashes = sorted({written_hashes[record_id] for record_id in known})
        clauses.append({"_id": {"$in": known}, "content_hash": {"$in": hashes}})
    if unknown:
        clauses.append({"_id": {"$in": unknown}})
    id_filter = clauses[0] if len(clauses) == 1 else {"$or": clauses}

    probe = packed_bits_to_binary(np.zeros(layout.binary_bytes, np.uint8), layout.binary_bits)
    return [
        {
            "$vectorSearch": {
                "index": index_name,
                "path": layout.binary_path,
                "queryVector": probe,
                "limit": len(ids),
                "exact": True,
                "filter": id_filter,
            }
        },
        {"$project": {"_id": 1}},
    ]


def rescored_hits(
    documents: list[dict[str, Any]], plan: SearchPlan, request: SearchRequest, layout: Layout
) -> tuple[list[Hit], int]:
    """Rank the candidates of a rescore plan on the client; return (hits, skipped candidates).

    ``rescore`` ranks by the float similarity of the full vectors, ``rescore-int8`` by
    :func:`~leafsearch.int8.int8_scores` of the int8 vectors, which is the score Atlas
    computes for int8 fields. Candidates without a decodable vector of the layout's
    dimensions are skipped. Ties keep the server's order.
    """
    key = plan.rescore_field or FULL_VECTOR_FIELD
    decode = binary_to_int8 if key == INT8_VECTOR_FIELD else binary_to_float32
    candidates: list[dict[str, Any]] = []
    rows: list[npt.NDArray[Any]] = []
    for document in documents:
        if key not in document:
            continue
        try:
            row = decode(document[key])
        except EncodingError:
            continue
        if row.shape == (layout.dims,):
            candidates.append(document)
            rows.append(row)
    skipped = len(documents) - len(candidates)
    if not candidates:
        return [], skipped

    limit = plan.rescore_limit or len(candidates)
    if key == INT8_VECTOR_FIELD:
        assert request.vectors.int8 is not None  # build_search_plan checked it
        scores = int8_scores(np.stack(rows), request.vectors.int8, layout.similarity)
        order = top_k(scores, limit)
        ranked = scores[order]
    else:
        order, ranked = rescore(np.stack(rows), request.vectors.full, layout.similarity, limit)
    hits = [hit_from_document(candidates[int(i)], float(s)) for i, s in zip(order, ranked)]
    return hits, skipped


def hit_from_document(document: Mapping[str, Any], score: float) -> Hit:
    """Return the :class:`Hit` for one document projected by the search pipeline."""
    metadata = document.get(METADATA_FIELD) or {}
    return Hit(
        id=str(document["_id"]),
        score=score,
        text=str(document.get("text", "")),
        metadata=dict(metadata),
    )


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    """Yield consecutive slices of ``items`` with at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
