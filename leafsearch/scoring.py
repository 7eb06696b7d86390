"""Atlas Vector Search score formulas and client-side rescoring.

The formulas are those that mongot computes through Lucene (mongot source, 2025):

* cosine: ``max((1 + cos) / 2, 0)``
* dotProduct: ``max((1 + dot) / 2, 0)``
* euclidean: ``1 / (1 + squared L2 distance)``
* packed bits (euclidean fields only): ``1 - hamming / bits``
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from leafsearch.quantization import hamming_distances_int32
from leafsearch.types import Similarity


def float_scores(
    rows: npt.NDArray[np.float32], query: npt.NDArray[np.float32], similarity: Similarity
) -> npt.NDArray[np.float32]:
    """Score every row against ``query`` with an Atlas float-vector similarity."""
    if similarity == "dotProduct":
        return np.maximum((1.0 + rows @ query) / 2.0, 0.0).astype(np.float32)
    if similarity == "cosine":
        row_norms = np.linalg.norm(rows, axis=-1)
        query_norm = np.linalg.norm(query)
        with np.errstate(divide="ignore", invalid="ignore"):
            cosines = (rows @ query) / (row_norms * query_norm)
        cosines = np.nan_to_num(cosines, nan=-1.0)
        return np.maximum((1.0 + cosines) / 2.0, 0.0).astype(np.float32)
    if similarity == "euclidean":
        squared = np.sum((rows - query) ** 2, axis=-1)
        return (1.0 / (1.0 + squared)).astype(np.float32)
    raise ValueError(f"unknown similarity {similarity!r}; expected cosine, dotProduct or euclidean")


def unit_cosine_scores(
    rows: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Score unit-norm rows against a unit-norm query: ``(1 + dot) / 2``.

    For unit vectors this equals the cosine formula and skips the norm computation, which is
    what the stores use on their own normalized vectors. The dot products come from one
    float32 matrix-vector product, and the formula is applied in place on its result.
    """
    scores = np.asarray(rows @ np.asarray(query, dtype=np.float32), dtype=np.float32)
    scores += np.float32(1.0)
    scores *= np.float32(0.5)
    return np.maximum(scores, np.float32(0.0), out=scores)


def bit_scores(
    packed_rows: npt.NDArray[np.uint8], packed_query: npt.NDArray[np.uint8], bits: int
) -> npt.NDArray[np.float32]:
    """Score packed-bit rows against a packed-bit query: ``1 - hamming / bits``."""
    return _hamming_to_scores(hamming_distances_int32(packed_rows, packed_query), bits)


def bit_top_k(
    packed_rows: npt.NDArray[np.uint8],
    packed_query: npt.NDArray[np.uint8],
    bits: int,
    k: int,
    mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Return the rows with the ``k`` best bit scores and those scores, best first.

    Only rows where ``mask`` is true take part. The result equals ``top_k`` over
    :func:`bit_scores` (ties keep the lower row first). Because Hamming distances are small
    integers, a histogram of the distances finds the k-th distance in one pass instead of a
    partition of the float scores.
    """
    distances = hamming_distances_int32(packed_rows, packed_query)
    excluded = bits + 1
    if mask is not None and not mask.all():
        np.putmask(distances, ~mask, np.int32(excluded))
    counts = np.cumsum(np.bincount(distances, minlength=excluded + 1)[:excluded])
    k = min(k, int(counts[-1]) if counts.size else 0)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    threshold = int(np.searchsorted(counts, k))
    candidates = np.flatnonzero(distances <= threshold)
    order = np.lexsort((candidates, distances[candidates]))[:k]
    best = candidates[order].astype(np.int64, copy=False)
    return best, _hamming_to_scores(distances[best], bits)


def _hamming_to_scores(distances: npt.NDArray[np.int32], bits: int) -> npt.NDArray[np.float32]:
    scores = distances.astype(np.float32)
    scores *= np.float32(-1.0 / bits)
    scores += np.float32(1.0)
    return scores


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Return the indices of the ``k`` highest scores, best first.

    Ties keep the lower index first, so two stores that hold the same rows in the same order
    return the same ranking.
    """
    count = scores.shape[0]
    k = min(k, count)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < count:
        # argpartition picks arbitrarily among ties at the boundary, so take every row at or
        # above the k-th score and let the sort below keep the lowest-index tied rows.
        boundary = scores[np.argpartition(scores, count - k)[count - k]]
        candidates = np.flatnonzero(scores >= boundary)
    else:
        candidates = np.arange(count)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    return candidates[order].astype(np.int64, copy=False)


def masked_top_k(
    scores: npt.NDArray[np.float32], k: int, mask: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Return the ``k`` best rows where ``mask`` is true (all rows for None) and their scores.

    ``scores`` is overwritten where ``mask`` is false.
    """
    if mask is not None:
        np.putmask(scores, ~mask, np.float32(-np.inf))
    best = top_k(scores, k)
    best = best[np.isfinite(scores[best])]
    return best, scores[best]


def rescore(
    full_vectors: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    similarity: Similarity,
    limit: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Rank candidate rows by their full-vector score; return (row positions, scores), best first."""
    scores = float_scores(full_vectors, query, similarity)
    order = top_k(scores, limit)
    return order, scores[order]
