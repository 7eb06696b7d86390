"""Data types shared by the encoder, the stores, the indexer and the search API."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Similarity = Literal["cosine", "dotProduct", "euclidean"]
SearchMode = Literal["full", "truncated", "binary", "rescore", "int8", "rescore-int8"]
VectorField = Literal["full", "truncated", "binary", "int8"]

SEARCH_MODES: tuple[SearchMode, ...] = ("full", "truncated", "binary", "rescore", "int8", "rescore-int8")
# Modes that need the optional int8 representation.
INT8_MODES: tuple[SearchMode, ...] = ("int8", "rescore-int8")
# Modes that rank binary candidates again with a finer representation.
RESCORE_MODES: tuple[SearchMode, ...] = ("rescore", "rescore-int8")
SIMILARITIES: tuple[Similarity, ...] = ("cosine", "dotProduct", "euclidean")

# Top-level document keys that metadata fields may not use.
RESERVED_KEYS = frozenset({"_id", "text", "content_hash"})
# Vector field names of every generation: embedding, embedding_mrl_g2, embedding_int8, ...
_VECTOR_KEY = re.compile(r"embedding(_mrl|_bits|_int8)?(_g[0-9]+)?")


def reserved_key_reason(key: str) -> str | None:
    """Return why ``key`` cannot be a metadata field name, or None if it can.

    The rules are the same for both stores, so a corpus that indexes on the embedded store
    also indexes on Atlas.
    """
    if key in RESERVED_KEYS or _VECTOR_KEY.fullmatch(key):
        return f"field name {key!r} is reserved for leafsearch's own fields; rename it"
    if key.startswith("$"):
        return f"field name {key!r} starts with '$', which is reserved for MongoDB operators; rename it"
    if "." in key:
        return f"field name {key!r} contains '.', which filters would read as a nested path; rename it"
    if not key:
        return "an empty field name cannot be stored; rename it"
    return None

FloatMatrix = npt.NDArray[np.float32]
ByteMatrix = npt.NDArray[np.uint8]
Int8Matrix = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Layout:
    """Field paths and sizes of one generation's vector representations.

    ``full`` keeps the model's output, ``truncated`` the first ``truncate_dim`` dimensions
    re-normalized (Matryoshka truncation), ``binary`` the sign bits of ``full``, packed eight
    to a byte with the last byte zero-padded, and the optional ``int8`` the scalar-quantized
    ``full`` vector. A change of model or settings writes a new generation with its own
    paths (see :meth:`for_generation`), so two models never share a field.
    """

    dims: int
    truncate_dim: int
    similarity: Similarity = "cosine"
    filter_fields: tuple[str, ...] = ()
    full_path: str = "embedding"
    truncated_path: str = "embedding_mrl"
    binary_path: str = "embedding_bits"
    int8: bool = False
    int8_path: str = "embedding_int8"
    generation: int = 1

    @classmethod
    def for_generation(
        cls,
        generation: int,
        *,
        dims: int,
        truncate_dim: int,
        similarity: Similarity = "cosine",
        filter_fields: tuple[str, ...] = (),
        int8: bool = False,
    ) -> Layout:
        """Return the layout of ``generation``: generation 1 uses the plain field names,
        later ones append ``_g<N>``."""
        suffix = "" if generation == 1 else f"_g{generation}"
        return cls(
            dims=dims,
            truncate_dim=truncate_dim,
            similarity=similarity,
            filter_fields=filter_fields,
            full_path=f"embedding{suffix}",
            truncated_path=f"embedding_mrl{suffix}",
            binary_path=f"embedding_bits{suffix}",
            int8=int8,
            int8_path=f"embedding_int8{suffix}",
            generation=generation,
        )

    @property
    def binary_bits(self) -> int:
        return self.dims

    @property
    def binary_bytes(self) -> int:
        return (self.dims + 7) // 8

    def path(self, vector_field: VectorField) -> str:
        return {
            "full": self.full_path,
            "truncated": self.truncated_path,
            "binary": self.binary_path,
            "int8": self.int8_path,
        }[vector_field]

    def num_dimensions(self, vector_field: VectorField) -> int:
        return self.truncate_dim if vector_field == "truncated" else self.dims

    def field_similarity(self, vector_field: VectorField) -> Similarity:
        # Atlas indexes packed-bit vectors only under euclidean similarity.
        return "euclidean" if vector_field == "binary" else self.similarity

    @property
    def vector_fields(self) -> tuple[VectorField, ...]:
        return ("full", "truncated", "binary", "int8") if self.int8 else ("full", "truncated", "binary")

    @property
    def vector_paths(self) -> tuple[str, ...]:
        return tuple(self.path(vector_field) for vector_field in self.vector_fields)


@dataclass
class EncodedBatch:
    """A batch of documents ready to be written: ids, payload and all vector representations."""

    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]
    content_hashes: list[str]
    full: FloatMatrix
    truncated: FloatMatrix
    binary: ByteMatrix
    int8: Int8Matrix | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class QueryVectors:
    """One query encoded into every representation a store may search."""

    full: npt.NDArray[np.float32]
    truncated: npt.NDArray[np.float32]
    binary: npt.NDArray[np.uint8]
    int8: npt.NDArray[np.int8] | None = None


@dataclass(frozen=True)
class SearchRequest:
    """A validated vector search, as a store receives it.

    For ``rescore`` mode the store searches the binary field for ``rescore_candidates`` hits
    and ranks them by the similarity of their full vectors to ``vectors.full``.
    ``rescore-int8`` ranks them by their int8 vectors against ``vectors.int8`` instead.
    ``num_candidates`` is ``None`` when ``exact`` is true.
    """

    mode: SearchMode
    vectors: QueryVectors
    limit: int
    num_candidates: int | None
    exact: bool
    filter: dict[str, Any] | None = None
    rescore_candidates: int = 0


@dataclass
class BackfillBatch:
    """Documents that still lack one generation's vectors, as a store hands them out.

    ``position``, ``end`` and ``rows`` are store-specific bookkeeping (the embedded store's
    row range and the rows of ``ids``) that the store needs back when the batch's vectors
    are written.
    """

    ids: list[str]
    texts: list[str]
    position: int = 0
    end: int = 0
    rows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteReport:
    """Outcome of a bulk write: the number of records written and the failed ids with reasons."""

    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
