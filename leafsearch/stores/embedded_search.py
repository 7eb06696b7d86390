"""Search kernels of the embedded store over memory-mapped row matrices.

Each function returns ``(rows, scores)`` best first, with ties broken by the lower row, and
honours an optional mask (one bool per row; ``None`` means every row qualifies).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from leafsearch.ann import HnswIndex, selective
from leafsearch.scoring import bit_top_k, float_scores, masked_top_k, top_k, unit_cosine_scores
from leafsearch.types import Similarity

logger = logging.getLogger(__name__)

Rows = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]

# Rows per chunk for formulas that need temporaries as large as the rows (euclidean): 16,384
# rows of 1024 float32 values make a 64 MiB temporary instead of one as large as the store.
_EUCLIDEAN_CHUNK_ROWS = 16_384


def row_scores(
    rows: npt.NDArray[np.float32], query: npt.NDArray[np.float32], similarity: Similarity
) -> Scores:
    """Score unit-norm stored rows against a unit-norm query with the collection's similarity."""
    if similarity != "euclidean":
        # Stored and query vectors have unit norm, so cosine and dotProduct coincide.
        return unit_cosine_scores(rows, query)
    scores = np.empty(rows.shape[0], dtype=np.float32)
    for start in range(0, rows.shape[0], _EUCLIDEAN_CHUNK_ROWS):
        stop = min(rows.shape[0], start + _EUCLIDEAN_CHUNK_ROWS)
        scores[start:stop] = float_scores(np.asarray(rows[start:stop]), query, "euclidean")
    return scores


def exact_float_top(
    rows: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    similarity: Similarity,
    k: int,
    mask: npt.NDArray[np.bool_] | None,
) -> tuple[Rows, Scores]:
    """Scan every qualifying row and return the ``k`` best.

    A selective mask gathers only its rows, so a filter matching few documents reads only
    their vectors instead of the whole matrix.
    """
    if mask is not None:
        matching = np.flatnonzero(mask)
        if selective(matching.size, rows.shape[0]):
            scores = row_scores(np.asarray(rows[matching]), query, similarity)
            best = top_k(scores, k)
            return matching[best].astype(np.int64, copy=False), scores[best]
    return masked_top_k(row_scores(rows, query, similarity), k, mask)


def rescore_top(
    packed_rows: npt.NDArray[np.uint8],
    full_rows: npt.NDArray[np.float32],
    request_binary: npt.NDArray[np.uint8],
    request_full: npt.NDArray[np.float32],
    bits: int,
    similarity: Similarity,
    candidates: int,
    k: int,
    mask: npt.NDArray[np.bool_] | None,
) -> tuple[Rows, Scores]:
    """Take the best ``candidates`` rows by bit score, then rank them by their full vectors."""
    # NOTE: recall depends on the candidate pool, which search_params sizes by k and by the
    # store's size. scripts/benchmark.py measured recall@10 against the exact float scan on
    # synthetic clustered 1024-d stores; its figures are in docs/benchmarks.md.
    found, _ = bit_top_k(packed_rows, request_binary, bits, candidates, mask)
    if found.size == 0:
        return found, np.empty(0, dtype=np.float32)
    # Fancy indexing a memmap reads only the candidate rows; sorted rows read the file forward.
    ordered = np.sort(found)
    scores = float_scores(np.asarray(full_rows[ordered]), request_full, similarity)
    best = top_k(scores, k)
    return ordered[best], scores[best]


def ann_top(
    index: HnswIndex,
    full_rows: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    similarity: Similarity,
    k: int,
    num_candidates: int,
    mask: npt.NDArray[np.bool_] | None,
) -> tuple[Rows, Scores]:
    """Search the HNSW graph with ``num_candidates`` as its ef, then score the hits exactly."""
    found = index.search(query, k, num_candidates, allowed=mask)
    if found.size == 0:
        return found, np.empty(0, dtype=np.float32)
    ordered = np.sort(found)
    scores = row_scores(np.asarray(full_rows[ordered]), query, similarity)
    best = top_k(scores, k)
    return ordered[best], scores[best]
