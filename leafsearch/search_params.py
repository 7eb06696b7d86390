"""Pure functions that check search parameters and fill in their defaults.

The limits are those of Atlas ``$vectorSearch``: ``numCandidates`` lies in 1..10000, is at
least ``limit``, and is omitted for exact search.
"""

from __future__ import annotations

from leafsearch.errors import InvalidQueryError
from leafsearch.types import SEARCH_MODES, SearchMode

MAX_NUM_CANDIDATES = 10_000
# Atlas documentation recommends numCandidates of at least 20 times the limit.
NUM_CANDIDATES_FACTOR = 20
# rescore mode ranks binary candidates again with a finer representation: 40 per requested
# hit, at least 400, and at least one per 500 stored documents. On synthetic stores of
# 1024-bit vectors clustered around real embeddings (scripts/benchmark.py, 2-core AMD EPYC),
# recall@10 against exact float search was 0.980 at 100,000 documents with 400 candidates.
# At 1,000,000 documents it was 0.986 with 2,000 candidates and only 0.862 with 400.
RESCORE_FACTOR = 40
MIN_RESCORE_CANDIDATES = 400
DOCUMENTS_PER_RESCORE_CANDIDATE = 500


def default_num_candidates(limit: int) -> int:
    """Return ``20 * limit`` clamped to ``[limit, 10000]``."""
    return max(limit, min(NUM_CANDIDATES_FACTOR * limit, MAX_NUM_CANDIDATES))


def default_rescore_candidates(limit: int, documents: int = 0) -> int:
    """Return how many binary candidates rescore modes rank for ``limit`` hits.

    ``documents`` is the collection size, when the store can count it cheaply. Larger
    collections get a larger pool, up to 10,000.
    """
    by_size = -(-documents // DOCUMENTS_PER_RESCORE_CANDIDATE)
    return min(MAX_NUM_CANDIDATES, max(RESCORE_FACTOR * limit, MIN_RESCORE_CANDIDATES, limit, by_size))


def check_mode(mode: str) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise InvalidQueryError(f"unknown search mode {mode!r}; expected one of {', '.join(SEARCH_MODES)}")
    return mode


def resolve_num_candidates(limit: int, num_candidates: int | None, exact: bool) -> int | None:
    """Check ``limit`` and ``num_candidates`` and return the value to send (``None`` if exact)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidQueryError(f"the number of hits (k, -k) must be a positive integer, got {limit!r}")
    if limit > MAX_NUM_CANDIDATES:
        raise InvalidQueryError(f"the number of hits (k, -k) must be at most {MAX_NUM_CANDIDATES}, got {limit}")
    if exact:
        if num_candidates is not None:
            raise InvalidQueryError(
                "num_candidates (--num-candidates) must be omitted for exact search; "
                "drop it or turn exact search (--exact) off"
            )
        return None
    if num_candidates is None:
        return default_num_candidates(limit)
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int):
        raise InvalidQueryError(f"num_candidates must be an integer, got {num_candidates!r}")
    if not 1 <= num_candidates <= MAX_NUM_CANDIDATES:
        raise InvalidQueryError(
            f"num_candidates must be in 1..{MAX_NUM_CANDIDATES}, got {num_candidates}"
        )
    if num_candidates < limit:
        raise InvalidQueryError(
            f"num_candidates ({num_candidates}) must be at least limit ({limit})"
        )
    return num_candidates


def resolve_rescore_candidates(limit: int, rescore_candidates: int | None) -> int:
    """Check ``rescore_candidates``; return 0 for None, which lets the store pick its default."""
    if rescore_candidates is None:
        return 0
    if isinstance(rescore_candidates, bool) or not isinstance(rescore_candidates, int):
        raise InvalidQueryError(f"rescore_candidates must be an integer, got {rescore_candidates!r}")
    if not limit <= rescore_candidates <= MAX_NUM_CANDIDATES:
        raise InvalidQueryError(
            f"rescore_candidates (--rescore-candidates) must be between the number of hits "
            f"({limit}) and {MAX_NUM_CANDIDATES}, got {rescore_candidates}"
        )
    return rescore_candidates
