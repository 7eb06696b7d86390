"""Atlas score formulas and ranking helpers against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from leafsearch.scoring import bit_scores, float_scores, rescore, top_k, unit_cosine_scores


def test_cosine_hand_computed() -> None:
    rows = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    query = np.array([2.0, 0.0], dtype=np.float32)
    scores = float_scores(rows, query, "cosine")
    # (1 + cos) / 2 with cos = 1, 0, -1, 1/sqrt(2)
    expected = [1.0, 0.5, 0.0, (1 + 1 / np.sqrt(2)) / 2]
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_dot_product_hand_computed() -> None:
    rows = np.array([[0.6, 0.8], [0.0, -1.0]], dtype=np.float32)
    query = np.array([0.8, 0.6], dtype=np.float32)
    scores = float_scores(rows, query, "dotProduct")
    np.testing.assert_allclose(scores, [(1 + 0.96) / 2, (1 - 0.6) / 2], atol=1e-6)


def test_dot_product_clamped_at_zero() -> None:
    rows = np.array([[-2.0, 0.0]], dtype=np.float32)
    query = np.array([1.0, 0.0], dtype=np.float32)
    assert float_scores(rows, query, "dotProduct")[0] == 0.0


def test_euclidean_uses_squared_distance() -> None:
    rows = np.array([[0.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    query = np.array([0.0, 0.0], dtype=np.float32)
    scores = float_scores(rows, query, "euclidean")
    # squared distance 25, not 5: 1 / 26
    np.testing.assert_allclose(scores, [1.0, 1.0 / 26.0], atol=1e-7)


def test_unit_cosine_matches_cosine() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(50, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    query = rows[7]
    np.testing.assert_allclose(
        unit_cosine_scores(rows, query), float_scores(rows, query, "cosine"), atol=1e-6
    )


def test_bit_scores_hamming() -> None:
    # 10 bits: query 1111111111, row 0 equal, row 1 differs in 3 bits, row 2 in all 10.
    query = np.packbits(np.ones(10, dtype=bool))
    rows = np.stack(
        [
            np.packbits(np.ones(10, dtype=bool)),
            np.packbits(np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)),
            np.packbits(np.zeros(10, dtype=bool)),
        ]
    )
    np.testing.assert_allclose(bit_scores(rows, query, 10), [1.0, 0.7, 0.0], atol=1e-7)


def test_unknown_similarity_rejected() -> None:
    with pytest.raises(ValueError, match="manhattan"):
        float_scores(np.zeros((1, 2), np.float32), np.zeros(2, np.float32), "manhattan")  # type: ignore[arg-type]


def test_top_k_orders_and_breaks_ties_by_index() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 4, 0]
    assert top_k(scores, 10).tolist() == [1, 4, 0, 2, 3]
    assert top_k(scores, 0).tolist() == []


def test_rescore_ranks_by_full_vectors() -> None:
    candidates = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    order, scores = rescore(candidates, np.array([1.0, 0.0], np.float32), "cosine", 2)
    assert order.tolist() == [1, 2]
    np.testing.assert_allclose(scores, [1.0, 0.8], atol=1e-6)
