"""BSON binary vector (subtype 9) encoding: bit-exact round-trips, padding, rejected values."""

from __future__ import annotations

import struct

import bson
import numpy as np
import pytest
from bson.binary import VECTOR_SUBTYPE, Binary, BinaryVectorDtype

from leafsearch.atlas.bson_vectors import (
    binary_to_float32,
    binary_to_int8,
    binary_to_packed_bits,
    float32_to_binary,
    int8_to_binary,
    packed_bits_to_binary,
    to_bson_value,
    vector_dtype,
)
from leafsearch.errors import EncodingError
from leafsearch.quantization import pack_sign_bits

RNG = np.random.default_rng(20261204)


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dims", [1, 7, 256, 384, 1024])
def test_float32_random_round_trip(dims: int) -> None:
    for _ in range(20):
        vector = RNG.standard_normal(dims).astype(np.float32)
        encoded = float32_to_binary(vector)
        assert encoded.subtype == VECTOR_SUBTYPE
        assert len(encoded) == 2 + 4 * dims
        assert _bits_equal(binary_to_float32(encoded), vector)


def test_float32_edge_values_bit_exact() -> None:
    info = np.finfo(np.float32)
    edges = np.array(
        [
            0.0,
            -0.0,
            info.max,
            -info.max,
            info.tiny,  # smallest normal
            -info.tiny,
            np.float32(1e-45),  # smallest denormal
            np.float32(-3e-40),  # denormal
            info.eps,
            1.0,
            -1.0,
        ],
        dtype=np.float32,
    )
    decoded = binary_to_float32(float32_to_binary(edges))
    assert _bits_equal(decoded, edges)
    assert np.signbit(decoded[1])


def test_float32_survives_bson_document() -> None:
    vector = RNG.standard_normal(1024).astype(np.float32)
    document = bson.decode(bson.encode({"v": float32_to_binary(vector)}))
    assert isinstance(document["v"], Binary)
    assert _bits_equal(binary_to_float32(document["v"]), vector)


def test_float32_matches_pymongo_decoder() -> None:
    vector = np.array([-0.0, 1.5, 3e-41, -2.25], dtype=np.float32)
    decoded = float32_to_binary(vector).as_vector()
    assert decoded.dtype == BinaryVectorDtype.FLOAT32
    assert decoded.padding == 0
    assert struct.pack("<4f", *decoded.data) == vector.tobytes()


def test_float32_header_bytes() -> None:
    encoded = bytes(float32_to_binary(np.ones(3, np.float32)))
    assert encoded[:2] == b"\x27\x00"


def test_float64_input_is_narrowed_to_float32() -> None:
    vector = RNG.standard_normal(64)
    decoded = binary_to_float32(float32_to_binary(vector))
    assert _bits_equal(decoded, vector.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float32_rejects_non_finite(bad: float) -> None:
    vector = np.ones(16, np.float32)
    vector[5] = bad
    with pytest.raises(EncodingError, match="position 5"):
        float32_to_binary(vector)


def test_float32_rejects_nan_payload() -> None:
    payload_nan = np.array([0x7FC00123], dtype=np.uint32).view(np.float32)
    with pytest.raises(EncodingError, match="not a finite float32"):
        float32_to_binary(np.concatenate([np.ones(3, np.float32), payload_nan]))


def test_float32_rejects_float64_overflow() -> None:
    with pytest.raises(EncodingError, match="not a finite float32"):
        float32_to_binary(np.array([1.0, 1e39]))


@pytest.mark.parametrize("shape", [(0,), (2, 3)])
def test_float32_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(EncodingError):
        float32_to_binary(np.zeros(shape, np.float32))


@pytest.mark.parametrize("dims", [8, 100, 1024, 1023, 1, 9])
def test_packed_bits_round_trip(dims: int) -> None:
    for _ in range(20):
        packed = pack_sign_bits(RNG.standard_normal(dims))
        encoded = packed_bits_to_binary(packed, dims)
        data, bits = binary_to_packed_bits(encoded)
        assert bits == dims
        assert _bits_equal(data, packed)


def test_packed_bits_high_bytes_accepted() -> None:
    # Bytes above 127 are what the numpy path of pymongo 4.20.1 from_vector rejects.
    packed = np.array([255, 128, 200, 0], dtype=np.uint8)
    data, bits = binary_to_packed_bits(packed_bits_to_binary(packed, 32))
    assert bits == 32
    assert data.tolist() == [255, 128, 200, 0]


def test_packed_bits_100_dims_padding() -> None:
    packed = pack_sign_bits(np.ones(100))
    encoded = packed_bits_to_binary(packed, 100)
    raw = bytes(encoded)
    assert len(raw) == 2 + 13
    assert raw[0] == 0x10
    assert raw[1] == 4
    assert raw[-1] & 0x0F == 0
    vector = encoded.as_vector()
    assert vector.dtype == BinaryVectorDtype.PACKED_BIT
    assert vector.padding == 4
    assert vector.data == packed.tolist()
    unpacked = np.unpackbits(np.array(vector.data, np.uint8), count=100)
    assert unpacked.sum() == 100


def test_packed_bits_rejects_set_padding_bits() -> None:
    packed = np.zeros(13, np.uint8)
    packed[-1] = 0b0000_0001
    with pytest.raises(EncodingError, match="unused low-order"):
        packed_bits_to_binary(packed, 100)


def test_packed_bits_rejects_wrong_length() -> None:
    with pytest.raises(EncodingError, match="13 bytes"):
        packed_bits_to_binary(np.zeros(12, np.uint8), 100)


def test_packed_bits_rejects_signed_bytes() -> None:
    with pytest.raises(EncodingError, match=r"\[0, 255\]"):
        packed_bits_to_binary(np.array([-1, 5], np.int8), 16)


def test_packed_bits_rejects_floats() -> None:
    with pytest.raises(EncodingError):
        packed_bits_to_binary(np.array([1.0, 2.0]), 16)


def test_int8_round_trip() -> None:
    values = np.array([-128, -1, 0, 1, 127], np.int8)
    encoded = int8_to_binary(values)
    assert bytes(encoded)[:2] == b"\x03\x00"
    assert _bits_equal(binary_to_int8(encoded), values)
    assert encoded.as_vector().data == values.tolist()


def test_int8_rejects_out_of_range() -> None:
    with pytest.raises(EncodingError, match="-128, 127"):
        int8_to_binary(np.array([0, 128]))


def test_decoders_reject_other_dtypes() -> None:
    bits = packed_bits_to_binary(np.array([1], np.uint8), 8)
    floats = float32_to_binary(np.ones(2, np.float32))
    with pytest.raises(EncodingError, match="packed-bit"):
        binary_to_float32(bits)
    with pytest.raises(EncodingError, match="float32"):
        binary_to_packed_bits(floats)
    with pytest.raises(EncodingError, match="subtype"):
        binary_to_float32(Binary(b"\x27\x00\x00\x00\x80\x3f", 0))
    with pytest.raises(EncodingError, match="multiple of 4"):
        binary_to_float32(Binary(b"\x27\x00\x00\x00", VECTOR_SUBTYPE))


def test_vector_dtype_names() -> None:
    assert vector_dtype(float32_to_binary(np.ones(2))) == "float32"
    assert vector_dtype(int8_to_binary(np.ones(2, np.int8))) == "int8"
    assert vector_dtype(packed_bits_to_binary(np.ones(1, np.uint8) * 2, 8)) == "packed-bit"


def test_to_bson_value_converts_numpy() -> None:
    converted = to_bson_value(
        {"score": np.float32(0.5), "n": np.int64(3), "tags": [np.bool_(True)], "v": np.arange(2)}
    )
    assert converted == {"score": 0.5, "n": 3, "tags": [True], "v": [0, 1]}
    assert type(converted["score"]) is float
    assert type(converted["n"]) is int
    assert type(converted["tags"][0]) is bool
    bson.encode(converted)  # numpy scalars would raise InvalidDocument here


def test_list_of_numpy_scalars_is_not_bson() -> None:
    # The failure to_bson_value prevents: list(array) yields numpy scalars.
    with pytest.raises(bson.errors.InvalidDocument):
        bson.encode({"v": list(np.ones(2, np.float32))})


def test_int8_every_value_bit_exact() -> None:
    values = np.arange(-128, 128, dtype=np.int8)
    encoded = int8_to_binary(values)
    assert encoded.subtype == 9
    assert bytes(encoded)[2:] == values.tobytes()
    assert bytes(encoded)[2] == 0x80  # -128 in two's complement
    assert bytes(encoded)[-1] == 0x7F  # 127
    decoded = binary_to_int8(encoded)
    assert decoded.dtype == np.int8
    assert decoded.tobytes() == values.tobytes()


def test_int8_survives_bson_document() -> None:
    values = np.array([-128, 127, 0, -1], np.int8)
    document = bson.decode(bson.encode({"v": int8_to_binary(values)}))
    assert binary_to_int8(document["v"]).tobytes() == values.tobytes()
