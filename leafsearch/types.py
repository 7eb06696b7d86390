"""Data types shared by the encoder, the stores, the indexer and the search API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Similarity = Literal["cosine", "dotProduct", "euclidean"]
SearchMode = Literal["full", "truncated", "binary", "rescore"]
VectorField = Literal["full", "truncated", "binary"]

SEARCH_MODES: tuple[SearchMode, ...] = ("full", "truncated", "binary", "rescore")
SIMILARITIES: tuple[Similarity, ...] = ("cosine", "dotProduct", "euclidean")

# Top-level document keys that metadata fields may not use.
RESERVED_KEYS = frozenset({"_id", "text", "content_hash"})

FloatMatrix = npt.NDArray[np.float32]
ByteMatrix = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Layout:
    """Where and how a collection stores its three vector representations.

    ``full`` keeps the model's output, ``truncated`` the first ``truncate_dim`` dimensions
    re-normalized (Matryoshka truncation) and ``binary`` the sign bits of ``full``, packed
    eight to a byte with the last byte zero-padded.
    """

    dims: int
    truncate_dim: int
    similarity: Similarity = "cosine"
    filter_fields: tuple[str, ...] = ()
    full_path: str = "embedding"
    truncated_path: str = "embedding_mrl"
    binary_path: str = "embedding_bits"

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
        }[vector_field]

    def num_dimensions(self, vector_field: VectorField) -> int:
        return {"full": self.dims, "truncated": self.truncate_dim, "binary": self.dims}[
            vector_field
        ]

    def field_similarity(self, vector_field: VectorField) -> Similarity:
        # Atlas indexes packed-bit vectors only under euclidean similarity.
        return "euclidean" if vector_field == "binary" else self.similarity

    @property
    def vector_paths(self) -> tuple[str, str, str]:
        return (self.full_path, self.truncated_path, self.binary_path)


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

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class QueryVectors:
    """One query encoded into every representation a store may search."""

    full: npt.NDArray[np.float32]
    truncated: npt.NDArray[np.float32]
    binary: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SearchRequest:
    """A validated vector search, as a store receives it.

    For ``rescore`` mode the store searches the binary field for ``rescore_candidates`` hits
    and ranks them by the similarity of their full vectors to ``vectors.full``.
    ``num_candidates`` is ``None`` when ``exact`` is true.
    """

    mode: SearchMode
    vectors: QueryVectors
    limit: int
    num_candidates: int | None
    exact: bool
    filter: dict[str, Any] | None = None
    rescore_candidates: int = 0


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class WriteReport:
    """What a bulk write did: how many records were written and which failed, with reasons."""

    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
