"""Matryoshka truncation, normalization and sign-bit packing."""

from __future__ import annotations

import numpy as np
import pytest

from leafsearch.errors import EncodingError
from leafsearch.quantization import (
    bit_padding,
    hamming_distances,
    l2_normalize,
    pack_sign_bits,
    truncate,
)


def test_truncate_renormalizes() -> None:
    rng = np.random.default_rng(0)
    full = l2_normalize(rng.normal(size=(8, 1024)))
    short = truncate(full, 256)
    assert short.shape == (8, 256)
    # Without re-normalization a 256-of-1024 slice has a norm near 0.5.
    assert np.linalg.norm(full[:, :256], axis=1).max() < 0.7
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)


def test_truncate_keeps_direction_of_prefix() -> None:
    vector = np.array([3.0, 4.0, 12.0], dtype=np.float32)
    np.testing.assert_allclose(truncate(vector, 2), [0.6, 0.8], atol=1e-6)


def test_truncate_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="truncate dims"):
        truncate(np.ones((2, 4), np.float32), 5)


def test_normalize_rejects_zero_vector() -> None:
    with pytest.raises(EncodingError):
        l2_normalize(np.zeros((1, 4)))


def test_normalize_rejects_nan() -> None:
    with pytest.raises(EncodingError):
        l2_normalize(np.array([[1.0, np.nan]]))


@pytest.mark.parametrize("shape", [(4, 10), (1, 1024), (1024,), (2, 100), (3, 7)])
def test_pack_sign_bits_per_row(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    vectors = rng.normal(size=shape).astype(np.float32)
    packed = pack_sign_bits(vectors)
    dims = shape[-1]
    assert packed.shape == shape[:-1] + ((dims + 7) // 8,)
    assert packed.dtype == np.uint8
    unpacked = np.unpackbits(packed, axis=-1, count=dims).astype(bool)
    np.testing.assert_array_equal(unpacked, vectors > 0)
    padding = bit_padding(dims)
    if padding:
        # The unused low bits of each row's last byte stay zero.
        assert not np.any(packed[..., -1] & ((1 << padding) - 1))


def test_pack_sign_bits_100_dims_layout() -> None:
    packed = pack_sign_bits(np.ones(100, dtype=np.float32))
    assert packed.shape == (13,)
    assert bit_padding(100) == 4
    assert packed[-1] == 0b11110000
    assert packed[:12].tolist() == [255] * 12


def test_pack_sign_bits_zero_is_bit_zero() -> None:
    assert pack_sign_bits(np.array([0.0, -0.0, 1e-30, -1e-30], np.float32)).tolist() == [0b00100000]


def test_hamming_distances() -> None:
    rows = np.array([[0b10101010, 0xFF], [0b10101010, 0x00]], dtype=np.uint8)
    query = np.array([0b10101011, 0xFF], dtype=np.uint8)
    assert hamming_distances(rows, query).tolist() == [1, 9]


def test_bit_padding_values() -> None:
    assert [bit_padding(n) for n in (8, 9, 15, 16, 1024, 100)] == [0, 7, 1, 0, 0, 4]
