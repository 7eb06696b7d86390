"""File layout of the embedded store: vector file names, row sizes and name rules."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from leafsearch.errors import StoreError
from leafsearch.types import EncodedBatch, Layout, VectorField


@dataclass(frozen=True)
class VectorFile:
    """One raw vector file of a generation: which representation, its name and row size."""

    field: VectorField
    name: str
    row_bytes: int


_EXTENSIONS: dict[VectorField, str] = {
    "full": "f32",
    "truncated": "f32",
    "binary": "u8",
    "int8": "i8",
}


def file_name(layout: Layout, vector_field: VectorField) -> str:
    """Return the file holding ``vector_field`` for ``layout``'s generation."""
    prefix = "" if layout.generation == 1 else f"g{layout.generation}-"
    return f"{prefix}{vector_field}.{_EXTENSIONS[vector_field]}"


def vector_files(layout: Layout) -> list[VectorFile]:
    """Return the vector files a layout stores, with their row sizes in bytes."""
    sizes: dict[VectorField, int] = {
        "full": layout.dims * 4,
        "truncated": layout.truncate_dim * 4,
        "binary": layout.binary_bytes,
        "int8": layout.dims,
    }
    return [VectorFile(field, file_name(layout, field), sizes[field]) for field in layout.vector_fields]


def backfill_key(layout: Layout) -> str:
    return f"backfill_rows_g{layout.generation}"


def zero_block(layout: Layout, rows: int) -> EncodedBatch:
    """Return an all-zero batch of ``rows`` rows for every representation of ``layout``."""
    return EncodedBatch(
        ids=[],
        texts=[],
        metadata=[],
        content_hashes=[],
        full=np.zeros((rows, layout.dims), dtype=np.float32),
        truncated=np.zeros((rows, layout.truncate_dim), dtype=np.float32),
        binary=np.zeros((rows, layout.binary_bytes), dtype=np.uint8),
        int8=np.zeros((rows, layout.dims), dtype=np.int8) if layout.int8 else None,
    )


def empty_batch(layout: Layout) -> EncodedBatch:
    return zero_block(layout, 0)


_COLLECTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def check_collection_name(name: str) -> None:
    """Raise :class:`StoreError` unless ``name`` is 1 to 100 letters, digits, '-' or '_'."""
    if not _COLLECTION_NAME.fullmatch(name or ""):
        raise StoreError(
            f"invalid collection name {name!r}; use 1 to 100 letters, digits, '-' or '_'"
        )
