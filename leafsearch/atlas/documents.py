"""Pure helpers for the Atlas store: stored documents, hits, bulk-write reports, visibility probes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from leafsearch.atlas.bson_vectors import float32_to_binary, packed_bits_to_binary, to_bson_value
from leafsearch.atlas.pipelines import METADATA_FIELD
from leafsearch.atlas.uri import redact_text
from leafsearch.errors import ConfigurationError, EncodingError
from leafsearch.types import RESERVED_KEYS, EncodedBatch, Hit, Layout


def build_document(batch: EncodedBatch, position: int, layout: Layout) -> dict[str, Any]:
    """Return the stored document for record ``position`` of ``batch``.

    Metadata fields go to the top level, converted from numpy types to Python values, and
    the three vectors become BSON binary vectors at the layout's paths.

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
    try:
        document[layout.full_path] = float32_to_binary(batch.full[position])
        document[layout.truncated_path] = float32_to_binary(batch.truncated[position])
        document[layout.binary_path] = packed_bits_to_binary(
            batch.binary[position], layout.binary_bits
        )
    except EncodingError as exc:
        raise EncodingError(f"record {record_id!r}: {exc}") from None
    return document


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
