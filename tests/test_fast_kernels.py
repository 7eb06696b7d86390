"""The fast scan kernels give the same results as the plain numpy definitions."""

from __future__ import annotations

import numpy as np
import pytest

from leafsearch import quantization
from leafsearch.scoring import bit_scores, bit_top_k, top_k, unit_cosine_scores


def _packed(rows: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(rows, width), dtype=np.uint8)


def _reference_hamming(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.unpackbits(rows ^ query, axis=1).sum(axis=1)


@pytest.mark.parametrize("width", [3, 8, 16, 128])
def test_hamming_matches_unpacked_bits(width: int) -> None:
    rows = _packed(40_000, width, seed=width)
    query = _packed(1, width, seed=99)[0]
    np.testing.assert_array_equal(quantization.hamming_distances(rows, query), _reference_hamming(rows, query))


def test_numpy_hamming_kernel_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantization, "_faiss_kernel", [None])
    rows = _packed(40_000, 16, seed=1)
    query = _packed(1, 16, seed=2)[0]
    np.testing.assert_array_equal(quantization.hamming_distances(rows, query), _reference_hamming(rows, query))


def test_bit_top_k_equals_top_k_of_scores() -> None:
    # 12 bits give many tied distances, which exercises the tie order.
    rows = _packed(5_000, 2, seed=3) & np.uint8(0xF0)
    query = _packed(1, 2, seed=4)[0] & np.uint8(0xF0)
    scores = bit_scores(rows, query, 12)
    for k in (1, 10, 100, 5_000, 6_000):
        best, best_scores = bit_top_k(rows, query, 12, k)
        np.testing.assert_array_equal(best, top_k(scores, k))
        np.testing.assert_allclose(best_scores, scores[best])


def test_bit_top_k_honours_mask() -> None:
    rows = _packed(2_000, 4, seed=5)
    query = _packed(1, 4, seed=6)[0]
    mask = np.zeros(2_000, dtype=bool)
    mask[::7] = True
    best, _ = bit_top_k(rows, query, 32, 50, mask)
    scores = np.where(mask, bit_scores(rows, query, 32), -np.inf).astype(np.float32)
    np.testing.assert_array_equal(best, top_k(scores, 50))
    assert mask[best].all()


def test_bit_top_k_mask_with_few_rows() -> None:
    rows = _packed(100, 4, seed=7)
    mask = np.zeros(100, dtype=bool)
    mask[[5, 60]] = True
    best, _ = bit_top_k(rows, rows[60], 32, 10, mask)
    assert best.tolist() == [60, 5]


def test_top_k_many_ties_keeps_low_indices() -> None:
    scores = np.zeros(1_000, dtype=np.float32)
    scores[[900, 901]] = 1.0
    assert top_k(scores, 5).tolist() == [900, 901, 0, 1, 2]


def test_unit_cosine_clamps_and_keeps_float32() -> None:
    rows = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    scores = unit_cosine_scores(rows, np.array([1.0, 0.0], dtype=np.float32))
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.5])
