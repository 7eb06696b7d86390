"""The per-collection manifest: which models and settings built the stored vectors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from leafsearch.errors import ManifestMismatchError
from leafsearch.int8 import Int8Ranges
from leafsearch.types import Layout, Similarity

MANIFEST_FORMAT = 1


@dataclass
class Manifest:
    """Models and settings that built a collection's vectors, persisted next to the documents."""

    query_model: str
    document_model: str
    query_prompt: str | None
    dims: int
    truncate_dim: int
    similarity: Similarity
    filter_fields: list[str] = field(default_factory=list)
    library_version: str = ""
    document_count: int = 0
    model_mismatch_override: bool = False
    format: int = MANIFEST_FORMAT
    # Optional int8 representation, with per-dimension ranges [low, high] calibrated on
    # the first indexed documents.
    int8: bool = False
    int8_ranges: list[list[float]] | None = None
    # Generation of the stored vectors that searches use, and the manifest (as a dict) of a
    # newer generation that is being backfilled but not yet searched.
    generation: int = 1
    pending: dict[str, Any] | None = None
    # Manifests (as dicts) of earlier generations whose vectors are still stored.
    previous_generations: list[dict[str, Any]] = field(default_factory=list)
    # "torch" or "onnx-int8": how the query encoder runs.
    query_backend: str = "torch"

    @property
    def binary_bits(self) -> int:
        return self.dims

    def layout(self) -> Layout:
        return Layout.for_generation(
            self.generation,
            dims=self.dims,
            truncate_dim=self.truncate_dim,
            similarity=self.similarity,
            filter_fields=tuple(self.filter_fields),
            int8=self.int8,
        )

    def ranges(self) -> Int8Ranges | None:
        """Return the int8 calibration ranges, or None before calibration."""
        return Int8Ranges.from_lists(self.int8_ranges) if self.int8_ranges else None

    def pending_manifest(self) -> Manifest | None:
        return Manifest.from_dict(self.pending) if self.pending else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["binary_bits"] = self.binary_bits
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def check_query_model(
    manifest: Manifest, query_model: str, query_dims: int, *, allow_mismatch: bool = False
) -> None:
    """Raise :class:`ManifestMismatchError` unless the query model fits the collection.

    A different dimension count is always an error, because such vectors cannot be compared.
    A different model id with the same dimensions is an error unless ``allow_mismatch`` is set.
    """
    if query_dims != manifest.dims:
        raise ManifestMismatchError(
            f"query model {query_model!r} outputs {query_dims} dimensions but the collection "
            f"stores {manifest.dims}-dimensional vectors from {manifest.document_model!r}; "
            f"use the query model {manifest.query_model!r} or re-index"
        )
    if query_model != manifest.query_model and not allow_mismatch:
        raise ManifestMismatchError(
            f"query model {query_model!r} differs from {manifest.query_model!r}, which the "
            "collection was built for; pass --query-model "
            f"{manifest.query_model!r}, or --allow-model-mismatch if the two are aligned"
        )


def check_document_settings(manifest: Manifest, requested: Manifest) -> None:
    """Raise :class:`ManifestMismatchError` if indexing with ``requested`` would mix vectors."""
    differences = []
    for name in ("document_model", "dims", "truncate_dim", "similarity", "int8"):
        stored, wanted = getattr(manifest, name), getattr(requested, name)
        if stored != wanted:
            differences.append(f"{name} {stored!r} (stored) vs {wanted!r} (requested)")
    if differences:
        raise ManifestMismatchError(
            "the collection was built with other settings: "
            + "; ".join(differences)
            + ". Migrate the collection to the new settings (leafsearch migrate), index into a "
            "new collection (--collection NAME), or drop this one (leafsearch drop --yes)"
        )
