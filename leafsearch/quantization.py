"""Vector transforms: L2 normalization, Matryoshka truncation and sign-bit packing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    return hamming_distances_int32(packed_rows, packed_query).astype(np.int64, copy=False)


def hamming_distances_int32(
    packed_rows: npt.NDArray[np.uint8], packed_query: npt.NDArray[np.uint8]
) -> npt.NDArray[np.int32]:
    """Count differing bits per row as int32, the fastest form for large scans.

    Uses faiss's popcount kernel when faiss is installed (the ``ann`` extra) and the rows are
    a 2-d C-contiguous uint8 matrix, else a numpy kernel that works on 64-bit words in
    cache-sized chunks.
    """
    rows = np.asarray(packed_rows)
    query = np.ascontiguousarray(packed_query, dtype=np.uint8)
    if rows.ndim == 2 and rows.shape[0] > 0 and query.shape == (rows.shape[1],):
        kernel = _faiss_hammings()
        if kernel is not None and rows.dtype == np.uint8 and rows.flags.c_contiguous:
            return kernel(rows, query)
        if rows.shape[1] % 8 == 0 and rows.dtype == np.uint8 and rows.flags.c_contiguous:
            return _numpy_hammings_u64(rows, query)
    xor = np.bitwise_xor(rows, query)
    return np.bitwise_count(xor).sum(axis=-1, dtype=np.int32)


# Rows per chunk of the numpy kernel: 16,384 rows of 128 bytes keep each temporary at 2 MiB,
# inside a typical L2/L3 cache.
_CHUNK_ROWS = 16_384


def _numpy_hammings_u64(
    rows: npt.NDArray[np.uint8], query: npt.NDArray[np.uint8]
) -> npt.NDArray[np.int32]:
    words = rows.view(np.uint64)
    query_words = query.view(np.uint64)
    count = rows.shape[0]
    chunk = min(_CHUNK_ROWS, count)
    out = np.empty(count, dtype=np.int32)
    xor = np.empty((chunk, words.shape[1]), dtype=np.uint64)
    bits = np.empty((chunk, words.shape[1]), dtype=np.uint8)
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        size = stop - start
        np.bitwise_xor(words[start:stop], query_words, out=xor[:size])
        np.bitwise_count(xor[:size], out=bits[:size])
        np.sum(bits[:size], axis=1, dtype=np.int32, out=out[start:stop])
    return out


_FaissKernel = Callable[[npt.NDArray[np.uint8], npt.NDArray[np.uint8]], npt.NDArray[np.int32]]
_faiss_kernel: list[_FaissKernel | None] = []


def _faiss_hammings() -> _FaissKernel | None:
    """Return faiss's one-query Hamming kernel, or ``None`` without faiss (checked once)."""
    if not _faiss_kernel:
        try:
            import faiss as faiss_module
        except ImportError:
            _faiss_kernel.append(None)
        else:
            # faiss ships partial type stubs that lack its SWIG helpers.
            faiss: Any = faiss_module

            def kernel(
                rows: npt.NDArray[np.uint8], query: npt.NDArray[np.uint8]
            ) -> npt.NDArray[np.int32]:
                out = np.empty(rows.shape[0], dtype=np.int32)
                faiss.hammings(
                    faiss.swig_ptr(query),
                    faiss.swig_ptr(rows),
                    1,
                    rows.shape[0],
                    rows.shape[1],
                    faiss.swig_ptr(out),
                )
                return out

            _faiss_kernel.append(kernel)
    return _faiss_kernel[0]
