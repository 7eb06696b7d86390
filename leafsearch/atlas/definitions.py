"""Pure builders and comparison for the Atlas ``vectorSearch`` index definition.

Each generation of a collection has its own index (see :func:`generation_index_name`). It
contains a vector field for each stored representation of that generation and a filter field
for each declared filter path. ``_id`` and ``content_hash`` are always
declared as filter fields, because :meth:`AtlasStore.wait_until_searchable` asks the index
itself (not mongod) which ids and content versions it has indexed.
"""

from __future__ import annotations

from typing import Any, Literal

from leafsearch.errors import ConfigurationError
from leafsearch.types import Layout

Quantization = Literal["none", "scalar", "binary"]
QUANTIZATIONS: tuple[Quantization, ...] = ("none", "scalar", "binary")

# Search index names are per collection, so one fixed default never collides.
DEFAULT_INDEX_NAME = "leafsearch_vector_index"
# Filter fields that every leafsearch index declares (see the module docstring).
BUILTIN_FILTER_FIELDS: tuple[str, ...] = ("_id", "content_hash")
# mongot accepts numDimensions in 1..8192.
MAX_DIMENSIONS = 8192
# Keys whose server-side default may be echoed back or left out by listSearchIndexes.
_FIELD_DEFAULTS: dict[str, Any] = {"quantization": "none", "indexingMethod": "hnsw"}


class _Unset:
    def __repr__(self) -> str:
        return "not set"


_UNSET = _Unset()


def build_index_definition(
    layout: Layout, *, quantization: Quantization = "none"
) -> dict[str, Any]:
    """Return the ``vectorSearch`` definition (``{"fields": [...]}``) for ``layout``.

    ``quantization`` ("scalar" or "binary") applies to the full-dimension field only, and
    the truncated field stays exact. The packed-bit and int8 fields are stored quantized
    already, and mongot skips such vectors without an error in a field with quantization.

    Raises:
        ConfigurationError: for dimension counts Atlas rejects, an unknown quantization or
            paths that collide.
    """
    if quantization not in QUANTIZATIONS:
        raise ConfigurationError(
            f"unknown quantization {quantization!r}; expected one of {', '.join(QUANTIZATIONS)}"
        )
    _check_dimensions(layout, quantization)
    _check_paths(layout)

    fields: list[dict[str, Any]] = []
    for vector_field in layout.vector_fields:
        spec: dict[str, Any] = {
            "type": "vector",
            "path": layout.path(vector_field),
            "numDimensions": layout.num_dimensions(vector_field),
            "similarity": layout.field_similarity(vector_field),
        }
        if vector_field == "full" and quantization != "none":
            spec["quantization"] = quantization
        fields.append(spec)

    for path in filter_paths(layout):
        fields.append({"type": "filter", "path": path})
    return {"fields": fields}


def generation_index_name(base: str, generation: int) -> str:
    """Return the search index name of ``generation``: ``base`` for 1, ``base_g<N>`` after."""
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise ConfigurationError(f"generation must be a positive integer, got {generation!r}")
    return base if generation == 1 else f"{base}_g{generation}"


def filter_paths(layout: Layout) -> list[str]:
    """Return the built-in filter paths followed by the layout's, without duplicates."""
    paths: list[str] = []
    for path in (*BUILTIN_FILTER_FIELDS, *layout.filter_fields):
        if path not in paths:
            paths.append(path)
    return paths


def definition_differences(existing: Any, expected: dict[str, Any]) -> list[str]:
    """Return what differs between an index's current definition and ``expected``, one line each.

    Field order and server-side defaults (``quantization: "none"``, ``indexingMethod:
    "hnsw"``) are ignored. An empty list means the definitions are equivalent.
    """
    if not isinstance(existing, dict) or not isinstance(existing.get("fields"), list):
        return [f"the existing definition has no list of fields: {existing!r}"]
    current = _fields_by_path(existing["fields"])
    expected_fields = _fields_by_path(expected["fields"])

    differences: list[str] = []
    for path in sorted(expected_fields.keys() - current.keys()):
        differences.append(f"missing {expected_fields[path]['type']} field {path!r}")
    for path in sorted(current.keys() - expected_fields.keys()):
        differences.append(f"unexpected {current[path]['type']} field {path!r}")
    for path in sorted(current.keys() & expected_fields.keys()):
        for key in sorted(current[path].keys() | expected_fields[path].keys()):
            have, want = current[path].get(key, _UNSET), expected_fields[path].get(key, _UNSET)
            if have != want:
                differences.append(f"field {path!r}: {key} is {have!r}, expected {want!r}")
    return differences


def _fields_by_path(fields: list[Any]) -> dict[str, dict[str, Any]]:
    by_path: dict[str, dict[str, Any]] = {}
    for field in fields:
        if not isinstance(field, dict):
            continue
        normalized = {
            key: value
            for key, value in field.items()
            if not (key in _FIELD_DEFAULTS and value == _FIELD_DEFAULTS[key])
        }
        by_path[str(field.get("path"))] = normalized
    return by_path


def _check_dimensions(layout: Layout, quantization: Quantization) -> None:
    for vector_field in layout.vector_fields:
        dims = layout.num_dimensions(vector_field)
        if not 1 <= dims <= MAX_DIMENSIONS:
            raise ConfigurationError(
                f"{vector_field} vectors have {dims} dimensions; Atlas indexes 1..{MAX_DIMENSIONS}"
            )
    if layout.truncate_dim > layout.dims:
        raise ConfigurationError(
            f"truncate_dim {layout.truncate_dim} exceeds the model's {layout.dims} dimensions"
        )
    if layout.dims % 8:
        # Atlas indexes packed-bit (int1) vectors only when numDimensions is a multiple of 8,
        # and binary quantization has the same rule.
        raise ConfigurationError(
            f"the model has {layout.dims} dimensions, but Atlas indexes packed-bit vectors "
            "only when the bit count is a multiple of 8; use a model whose dimension count "
            "is a multiple of 8, or the embedded store"
        )
    del quantization  # The multiple-of-8 rule above also covers binary quantization.


def _check_paths(layout: Layout) -> None:
    vector_paths = layout.vector_paths
    if len(set(vector_paths)) != len(vector_paths):
        raise ConfigurationError(f"the vector paths {vector_paths} must be distinct")
    for path in (*vector_paths, *layout.filter_fields):
        if not path or path.startswith("$") or "" in path.split("."):
            raise ConfigurationError(f"invalid field path {path!r}")
    for path in layout.filter_fields:
        if path in vector_paths:
            raise ConfigurationError(
                f"filter field {path!r} is also a vector path; choose another filter field"
            )
