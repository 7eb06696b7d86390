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

from leafsearch.quantization import hamming_distances
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
    what the stores use on their own normalized vectors.
    """
    return np.maximum((1.0 + rows @ query) * np.float32(0.5), 0.0).astype(np.float32, copy=False)


def bit_scores(
    packed_rows: npt.NDArray[np.uint8], packed_query: npt.NDArray[np.uint8], bits: int
) -> npt.NDArray[np.float32]:
    """Score packed-bit rows against a packed-bit query: ``1 - hamming / bits``."""
    distances = hamming_distances(packed_rows, packed_query)
    return (1.0 - distances / np.float32(bits)).astype(np.float32)


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Return the indices of the ``k`` highest scores, best first.

    Ties keep the lower index first, so two stores that hold the same rows in the same order
    return the same ranking.
    """
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < scores.shape[0]:
        # argpartition picks arbitrarily among ties at the boundary, so take every row above
        # the k-th score and fill up with the lowest-index rows equal to it.
        negated = -scores
        boundary = np.partition(negated, k - 1)[k - 1]
        above = np.flatnonzero(negated < boundary)
        tied = np.flatnonzero(negated == boundary)[: k - above.size]
        candidates = np.concatenate([above, tied])
    else:
        candidates = np.arange(scores.shape[0])
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order].astype(np.int64)


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
