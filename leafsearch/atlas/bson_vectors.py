"""Conversions between numpy vectors and BSON binary vectors (binData subtype 9).

A BSON vector is ``<dtype byte><padding byte><little-endian data>``. The dtype bytes are
0x27 for float32, 0x03 for int8 and 0x10 for packed bits. Padding (0..7) is the number of
unused low-order bits in the last byte of a packed-bit vector, and 0 for the other dtypes.
The bytes are built here directly from numpy, so every float32 value, including -0.0 and
denormals, round-trips bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from bson.binary import VECTOR_SUBTYPE, Binary, BinaryVectorDtype

from leafsearch.errors import EncodingError
from leafsearch.quantization import bit_padding

FLOAT32_DTYPE = BinaryVectorDtype.FLOAT32.value[0]
INT8_DTYPE = BinaryVectorDtype.INT8.value[0]
PACKED_BIT_DTYPE = BinaryVectorDtype.PACKED_BIT.value[0]
_DTYPE_NAMES = {FLOAT32_DTYPE: "float32", INT8_DTYPE: "int8", PACKED_BIT_DTYPE: "packed-bit"}


def float32_to_binary(vector: npt.ArrayLike) -> Binary:
    """Encode a 1-D vector as a BSON float32 vector.

    Raises :class:`EncodingError` for an empty vector or one with NaN or infinite values,
    including float64 values that overflow float32; Atlas would reject such a query vector
    and a stored one would never be found.
    """
    array = _one_dimensional(vector, "float32")
    if array.dtype.kind not in "fiu":
        raise EncodingError(f"a float32 vector needs numbers, got dtype {array.dtype}")
    with np.errstate(over="ignore"):
        values = array.astype("<f4", copy=False)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise EncodingError(
            f"vector value at position {bad} is {array[bad]!r}, which is not a finite float32; "
            "re-encode the text (an empty text or a model error can produce NaN)"
        )
    return _vector(FLOAT32_DTYPE, 0, values.tobytes())


def int8_to_binary(vector: npt.ArrayLike) -> Binary:
    """Encode a 1-D vector of integers in [-128, 127] as a BSON int8 vector."""
    array = _one_dimensional(vector, "int8")
    if array.dtype.kind not in "iu":
        raise EncodingError(f"an int8 vector needs integers, got dtype {array.dtype}")
    if array.min() < -128 or array.max() > 127:
        raise EncodingError(
            f"int8 vector values must lie in [-128, 127], got [{array.min()}, {array.max()}]"
        )
    return _vector(INT8_DTYPE, 0, array.astype(np.int8).tobytes())


def packed_bits_to_binary(packed: npt.ArrayLike, bits: int) -> Binary:
    """Encode ``bits`` sign bits, packed eight to a byte (MSB first), as a BSON packed-bit vector.

    ``packed`` must hold ``ceil(bits / 8)`` values in [0, 255], and the unused low-order bits
    of the last byte must be zero. Signed int8 input (as from a "binary" precision that
    subtracts 128) is rejected rather than reinterpreted, because that would flip bits.
    """
    # NOTE: this builds the bytes itself instead of calling Binary.from_vector(ndarray,
    # PACKED_BIT, padding): the numpy path of pymongo 4.20.1 rejects every byte above 127
    # ("Values found outside UINT8 range."), so half of all packed vectors would fail.
    array = _one_dimensional(packed, "packed-bit")
    if array.dtype.kind not in "iu":
        raise EncodingError(f"packed bits must be integers in [0, 255], got dtype {array.dtype}")
    if bits < 1:
        raise EncodingError(f"a packed-bit vector needs at least 1 bit, got {bits}")
    expected_bytes = (bits + 7) // 8
    if array.shape[0] != expected_bytes:
        raise EncodingError(
            f"{bits} bits pack into {expected_bytes} bytes, got {array.shape[0]}; "
            "pack each vector separately with numpy.packbits(..., axis=-1)"
        )
    if array.min() < 0 or array.max() > 255:
        raise EncodingError(
            f"packed bytes must lie in [0, 255], got [{array.min()}, {array.max()}]; "
            "use unsigned (ubinary) packing, not signed int8"
        )
    data = array.astype(np.uint8)
    padding = bit_padding(bits)
    if padding and int(data[-1]) & ((1 << padding) - 1):
        raise EncodingError(
            f"the last byte {int(data[-1]):#010b} has non-zero bits in its {padding} unused "
            f"low-order positions ({bits} bits); clear them before encoding"
        )
    return _vector(PACKED_BIT_DTYPE, padding, data.tobytes())


def binary_to_float32(value: Any) -> npt.NDArray[np.float32]:
    """Decode a BSON float32 vector into a new float32 array."""
    data = _payload(value, FLOAT32_DTYPE)
    if len(data) % 4:
        raise EncodingError(f"corrupt float32 vector: {len(data)} data bytes is not a multiple of 4")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def binary_to_int8(value: Any) -> npt.NDArray[np.int8]:
    """Decode a BSON int8 vector into a new int8 array."""
    return np.frombuffer(_payload(value, INT8_DTYPE), dtype=np.uint8).astype(np.int8)


def binary_to_packed_bits(value: Any) -> tuple[npt.NDArray[np.uint8], int]:
    """Decode a BSON packed-bit vector into ``(packed bytes, number of bits)``."""
    data = _payload(value, PACKED_BIT_DTYPE)
    padding = bytes(value)[1]
    if not data:
        raise EncodingError("corrupt packed-bit vector: no data bytes")
    return np.frombuffer(data, dtype=np.uint8).copy(), len(data) * 8 - padding


def vector_dtype(value: Any) -> str:
    """Return ``"float32"``, ``"int8"`` or ``"packed-bit"`` for a BSON vector."""
    _check_vector(value)
    dtype = bytes(value)[0]
    return _DTYPE_NAMES.get(dtype, f"unknown ({dtype:#04x})")


def to_bson_value(value: Any) -> Any:
    """Convert numpy scalars and arrays (also inside dicts and lists) to Python values.

    bson cannot encode ``numpy.float32`` and friends, which is what ``list(array)`` yields.
    Other values are returned unchanged.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {key: to_bson_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_bson_value(item) for item in value]
    return value


def _vector(dtype: int, padding: int, data: bytes) -> Binary:
    vector: Binary = Binary(bytes((dtype, padding)) + data, VECTOR_SUBTYPE)
    return vector


def _one_dimensional(vector: npt.ArrayLike, what: str) -> npt.NDArray[Any]:
    array = np.asarray(vector)
    if array.ndim != 1:
        raise EncodingError(f"a {what} vector must be 1-D, got shape {array.shape}")
    if array.shape[0] == 0:
        raise EncodingError(f"a {what} vector must not be empty")
    return array


def _check_vector(value: Any) -> None:
    if not isinstance(value, Binary) or value.subtype != VECTOR_SUBTYPE:
        subtype = getattr(value, "subtype", None)
        raise EncodingError(
            f"expected a BSON vector (binData subtype {VECTOR_SUBTYPE}), got "
            f"{type(value).__name__}" + (f" subtype {subtype}" if subtype is not None else "")
        )
    if len(value) < 2:
        raise EncodingError("corrupt BSON vector: shorter than its 2-byte header")


def _payload(value: Any, dtype: int) -> bytes:
    _check_vector(value)
    raw = bytes(value)
    if raw[0] != dtype:
        raise EncodingError(
            f"expected a {_DTYPE_NAMES[dtype]} BSON vector, got "
            f"{_DTYPE_NAMES.get(raw[0], f'dtype {raw[0]:#04x}')}"
        )
    if raw[1] and dtype != PACKED_BIT_DTYPE:
        raise EncodingError(f"corrupt {_DTYPE_NAMES[dtype]} vector: padding {raw[1]} must be 0")
    if raw[1] > 7:
        raise EncodingError(f"corrupt packed-bit vector: padding {raw[1]} is outside 0..7")
    return raw[2:]
