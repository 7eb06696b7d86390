"""Derive every stored representation from full-dimensional unit vectors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from leafsearch.int8 import Int8Ranges, quantize
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.types import EncodedBatch, Layout, QueryVectors


def encoded_batch(
    full: npt.NDArray[np.float32],
    layout: Layout,
    ranges: Int8Ranges | None,
    *,
    ids: list[str],
    texts: list[str],
    metadata: list[dict[str, object]] | None = None,
    content_hashes: list[str] | None = None,
) -> EncodedBatch:
    """Build a batch with the truncated, binary and (if the layout has it) int8 vectors."""
    if layout.int8 and ranges is None:
        raise ValueError("the layout stores int8 vectors but no calibration ranges were given")
    return EncodedBatch(
        ids=ids,
        texts=texts,
        metadata=metadata if metadata is not None else [{} for _ in ids],
        content_hashes=content_hashes if content_hashes is not None else ["" for _ in ids],
        full=full,
        truncated=truncate(full, layout.truncate_dim),
        binary=pack_sign_bits(full),
        int8=quantize(full, ranges) if layout.int8 and ranges is not None else None,
    )


def query_vectors(full: npt.NDArray[np.float32], layout: Layout, ranges: Int8Ranges | None) -> QueryVectors:
    """Derive the representations of one unit-norm query vector, with the documents' ranges."""
    return QueryVectors(
        full=full.astype(np.float32, copy=False),
        truncated=truncate(full, layout.truncate_dim),
        binary=pack_sign_bits(full),
        int8=quantize(full, ranges) if layout.int8 and ranges is not None else None,
    )
