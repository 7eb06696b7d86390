"""Vector transforms: L2 normalization, Matryoshka truncation and sign-bit packing."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from leafsearch.errors import EncodingError


def l2_normalize(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Scale each row (or a single vector) to unit L2 norm, as float32.

    Raises :class:`EncodingError` for a zero or non-finite vector, because neither has a
    direction that cosine similarity could compare.
    """
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    if not np.all(np.isfinite(array)) or np.any(norms == 0):
        raise EncodingError("cannot normalize a zero or non-finite vector")
    return (array / norms).astype(np.float32, copy=False)


def truncate(vectors: npt.ArrayLike, dims: int) -> npt.NDArray[np.float32]:
    """Keep the first ``dims`` dimensions and re-normalize (Matryoshka truncation).

    Without the re-normalization a 256-of-1024 slice of a unit vector has a norm near 0.5,
    which shrinks dot-product scores.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if not 1 <= dims <= array.shape[-1]:
        raise ValueError(f"truncate dims must be in [1, {array.shape[-1]}], got {dims}")
    return l2_normalize(array[..., :dims])


def pack_sign_bits(vectors: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Pack the sign bits of each row, eight to a byte, most significant bit first.

    A dimension > 0 gives bit 1. Rows are packed independently (``axis=-1``), so a
    dimension count that is not a multiple of 8 leaves zero bits at the end of each row's
    last byte, as the BSON packed-bit vector format requires.
    """
    array = np.asarray(vectors)
    return np.packbits(array > 0, axis=-1)


def bit_padding(bits: int) -> int:
    """Return the number of unused low-order bits in the last byte of a ``bits``-long vector."""
    return (8 - bits % 8) % 8


def hamming_distances(
    packed_rows: npt.NDArray[np.uint8], packed_query: npt.NDArray[np.uint8]
) -> npt.NDArray[np.int64]:
    """Count differing bits between each packed row and the packed query."""
    xor = np.bitwise_xor(packed_rows, packed_query)
    return np.bitwise_count(xor).sum(axis=-1, dtype=np.int64)
