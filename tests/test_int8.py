"""int8 calibration, saturation, query/document agreement and BSON round trips."""

from __future__ import annotations

import numpy as np
import pytest

from leafsearch.errors import EncodingError
from leafsearch.int8 import Int8Ranges, calibrate, dequantize, int8_scores, quantize
from leafsearch.quantization import l2_normalize


def test_calibrate_per_dimension_min_max() -> None:
    sample = np.array([[0.1, -0.5, 2.0], [0.3, 0.5, 4.0], [0.2, 0.0, 3.0]], dtype=np.float32)
    ranges = calibrate(sample)
    np.testing.assert_allclose(ranges.low, [0.1, -0.5, 2.0])
    np.testing.assert_allclose(ranges.high, [0.3, 0.5, 4.0])


def test_range_ends_map_to_int8_ends() -> None:
    ranges = Int8Ranges(np.array([-1.0, 0.0], np.float32), np.array([1.0, 2.0], np.float32))
    codes = quantize(np.array([[-1.0, 0.0], [1.0, 2.0]], np.float32), ranges)
    assert codes.dtype == np.int8
    assert codes.tolist() == [[-128, -128], [127, 127]]


def test_saturates_instead_of_wrapping() -> None:
    ranges = Int8Ranges(np.array([-1.0], np.float32), np.array([1.0], np.float32))
    codes = quantize(np.array([[-50.0], [-1.01], [1.01], [50.0]], np.float32), ranges)
    assert codes[:, 0].tolist() == [-128, -128, 127, 127]


def test_single_query_not_collapsed() -> None:
    rng = np.random.default_rng(1)
    documents = l2_normalize(rng.normal(size=(500, 64)))
    ranges = calibrate(documents)
    query = l2_normalize(rng.normal(size=64))
    codes = quantize(query, ranges)
    # Calibrated on documents, a lone query keeps its spread instead of becoming constant.
    assert len(set(codes.tolist())) > 20


def test_query_and_documents_share_ranges() -> None:
    rng = np.random.default_rng(2)
    documents = l2_normalize(rng.normal(size=(300, 32)))
    ranges = calibrate(documents)
    # A query identical to a document quantizes to exactly that document's codes.
    np.testing.assert_array_equal(quantize(documents[17], ranges), quantize(documents, ranges)[17])


def test_roundtrip_error_within_one_step() -> None:
    rng = np.random.default_rng(3)
    vectors = l2_normalize(rng.normal(size=(200, 48)))
    ranges = calibrate(vectors)
    restored = dequantize(quantize(vectors, ranges), ranges)
    step = (ranges.high - ranges.low) / 255
    assert np.all(np.abs(restored - vectors) <= step / 2 + 1e-6)


def test_constant_dimension_calibrates() -> None:
    sample = np.array([[0.5, 1.0], [0.5, 2.0]], dtype=np.float32)
    ranges = calibrate(sample)
    assert ranges.high[0] > ranges.low[0]
    assert quantize(sample, ranges).shape == (2, 2)


def test_wrong_dimensions_rejected() -> None:
    ranges = calibrate(np.eye(4, dtype=np.float32))
    with pytest.raises(EncodingError, match="dimensions"):
        quantize(np.ones(3, np.float32), ranges)


def test_empty_sample_rejected() -> None:
    with pytest.raises(EncodingError, match="non-empty"):
        calibrate(np.empty((0, 4), np.float32))


def test_ranges_serialize() -> None:
    ranges = calibrate(np.random.default_rng(4).normal(size=(10, 6)))
    restored = Int8Ranges.from_lists(ranges.to_lists())
    np.testing.assert_array_equal(restored.low, ranges.low)
    np.testing.assert_array_equal(restored.high, ranges.high)


def test_int8_cosine_scores_hand_computed() -> None:
    rows = np.array([[3, 4], [-3, -4], [4, -3]], dtype=np.int8)
    query = np.array([3, 4], dtype=np.int8)
    np.testing.assert_allclose(int8_scores(rows, query, "cosine"), [1.0, 0.0, 0.5], atol=1e-6)


def test_int8_dot_product_uses_lucene_scale() -> None:
    rows = np.array([[127, 127]], dtype=np.int8)
    query = np.array([127, -128], dtype=np.int8)
    expected = 0.5 + (127 * 127 - 127 * 128) / (2 * 2**15)
    assert int8_scores(rows, query, "dotProduct")[0] == pytest.approx(expected)


def test_int8_cosine_ranking_tracks_float() -> None:
    rng = np.random.default_rng(5)
    centers = l2_normalize(rng.normal(size=(8, 64)))
    documents = l2_normalize(centers[rng.integers(0, 8, 400)] + 0.3 * rng.normal(size=(400, 64)))
    ranges = calibrate(documents)
    query = l2_normalize(centers[3] + 0.3 * rng.normal(size=64))
    float_top = set(np.argsort(-(documents @ query))[:10].tolist())
    int8_top = set(np.argsort(-int8_scores(quantize(documents, ranges), quantize(query, ranges), "cosine"))[:10].tolist())
    assert len(float_top & int8_top) >= 7


def test_bson_int8_roundtrip() -> None:
    from bson.binary import Binary, BinaryVectorDtype

    codes = np.array([-128, -1, 0, 1, 127], dtype=np.int8)
    binary = Binary.from_vector(codes.tolist(), BinaryVectorDtype.INT8)
    decoded = binary.as_vector()
    assert decoded.dtype == BinaryVectorDtype.INT8
    assert decoded.data == codes.tolist()
