"""Scalar (int8) quantization with per-dimension calibration ranges.

Each dimension's range ``[low, high]`` comes from a sample of document vectors and is stored
in the collection's manifest, so that queries are quantized with the same ranges as the
documents. A single query has no spread of its own to calibrate from: quantizing it with its
own min and max would map every dimension to the same value.

Values map linearly onto ``[-128, 127]`` and saturate at both ends instead of wrapping, so a
value outside the calibrated range becomes -128 or 127, never a value of the opposite sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leafsearch.errors import EncodingError

INT8_MIN = -128
INT8_MAX = 127
_LEVELS = INT8_MAX - INT8_MIN  # 255 steps between the two ends of a range


@dataclass(frozen=True)
class Int8Ranges:
    """Per-dimension calibration ranges: ``low[i] <= value <= high[i]`` maps into int8."""

    low: npt.NDArray[np.float32]
    high: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.low.shape != self.high.shape or self.low.ndim != 1:
            raise ValueError("low and high must be 1-D arrays of the same length")
        if np.any(self.high <= self.low):
            raise ValueError("every range must have high > low")

    @property
    def dims(self) -> int:
        return int(self.low.shape[0])

    def to_lists(self) -> list[list[float]]:
        return [self.low.astype(float).tolist(), self.high.astype(float).tolist()]

    @classmethod
    def from_lists(cls, ranges: list[list[float]]) -> Int8Ranges:
        low, high = ranges
        return cls(np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32))


def calibrate(sample: npt.ArrayLike, *, min_width: float = 1e-6) -> Int8Ranges:
    """Compute per-dimension ranges from a sample of vectors (one row per vector).

    A dimension that is constant across the sample gets a range of ``min_width`` around its
    value, so that it still quantizes without dividing by zero.
    """
    vectors = np.asarray(sample, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise EncodingError("int8 calibration needs a non-empty 2-D sample of vectors")
    if not np.all(np.isfinite(vectors)):
        raise EncodingError("int8 calibration sample contains non-finite values")
    low = vectors.min(axis=0)
    high = vectors.max(axis=0)
    narrow = (high - low) < min_width
    center = (low + high) / 2
    low = np.where(narrow, center - min_width / 2, low).astype(np.float32)
    high = np.where(narrow, center + min_width / 2, high).astype(np.float32)
    return Int8Ranges(low, high)


def quantize(vectors: npt.ArrayLike, ranges: Int8Ranges) -> npt.NDArray[np.int8]:
    """Map float vectors into int8 with ``ranges``, saturating outside them."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.shape[-1] != ranges.dims:
        raise EncodingError(
            f"vectors have {array.shape[-1]} dimensions but the int8 ranges cover {ranges.dims}"
        )
    scaled = (array - ranges.low) / (ranges.high - ranges.low) * _LEVELS + INT8_MIN
    return np.clip(np.rint(scaled), INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(codes: npt.ArrayLike, ranges: Int8Ranges) -> npt.NDArray[np.float32]:
    """Map int8 codes back to the centre of their float bucket (for diagnostics and tests)."""
    array = np.asarray(codes, dtype=np.float32)
    return ((array - INT8_MIN) / _LEVELS * (ranges.high - ranges.low) + ranges.low).astype(np.float32)


def int8_scores(
    rows: npt.NDArray[np.int8], query: npt.NDArray[np.int8], similarity: str
) -> npt.NDArray[np.float32]:
    """Score int8 rows against an int8 query as Atlas does for int8 vectors.

    cosine: ``(1 + cos) / 2`` on the integer codes; dotProduct: ``0.5 + dot / (dims * 2**15)``;
    euclidean: ``1 / (1 + squared distance)``. Products accumulate in int32, which cannot
    overflow for up to 2**31 / 128**2 = 131,072 dimensions.
    """
    rows32 = rows.astype(np.int32)
    query32 = query.astype(np.int32)
    if similarity == "euclidean":
        squared = np.sum((rows32 - query32) ** 2, axis=-1, dtype=np.int64)
        return np.asarray(1.0 / (1.0 + squared), dtype=np.float32)
    dots = (rows32 @ query32).astype(np.float64)
    if similarity == "dotProduct":
        return (0.5 + dots / (rows.shape[-1] * 2.0**15)).astype(np.float32)
    row_norms = np.sqrt(np.einsum("ij,ij->i", rows32, rows32, dtype=np.int64).astype(np.float64))
    query_norm = float(np.sqrt(np.dot(query32, query32)))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosines = np.nan_to_num(dots / (row_norms * query_norm), nan=-1.0)
    return ((1.0 + cosines) / 2.0).astype(np.float32)


def int8_top(
    rows: npt.NDArray[np.int8],
    query: npt.NDArray[np.int8],
    similarity: str,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Return the rows with the ``k`` best int8 scores and those scores, best first.

    Only rows where ``mask`` is true (or all rows, for ``None``) take part.
    """
    from leafsearch.scoring import masked_top_k

    return masked_top_k(int8_scores(np.asarray(rows), query, similarity), k, mask)


def int8_rescore_top(
    packed_rows: npt.NDArray[np.uint8],
    int8_rows: npt.NDArray[np.int8],
    packed_query: npt.NDArray[np.uint8],
    int8_query: npt.NDArray[np.int8],
    bits: int,
    similarity: str,
    candidates: int,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Take the best ``candidates`` rows by bit score, then rank them by their int8 vectors."""
    from leafsearch.scoring import bit_top_k, top_k

    found, _ = bit_top_k(packed_rows, packed_query, bits, candidates, mask)
    if found.size == 0:
        return found, np.empty(0, dtype=np.float32)
    scores = int8_scores(np.asarray(int8_rows[found]), int8_query, similarity)
    order = top_k(scores, k)
    return found[order], scores[order]
