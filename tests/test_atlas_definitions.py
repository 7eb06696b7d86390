"""vectorSearch index definition builder and definition comparison."""

from __future__ import annotations

import copy

import pytest

from leafsearch.atlas.definitions import (
    DEFAULT_INDEX_NAME,
    build_index_definition,
    definition_differences,
    generation_index_name,
)
from leafsearch.errors import ConfigurationError
from leafsearch.types import Layout

LAYOUT = Layout(dims=1024, truncate_dim=256, similarity="cosine", filter_fields=("lang", "year"))


def _by_path(definition: dict) -> dict[str, dict]:
    return {field["path"]: field for field in definition["fields"]}


def test_definition_vector_fields() -> None:
    fields = _by_path(build_index_definition(LAYOUT))
    assert fields["embedding"] == {
        "type": "vector",
        "path": "embedding",
        "numDimensions": 1024,
        "similarity": "cosine",
    }
    assert fields["embedding_mrl"] == {
        "type": "vector",
        "path": "embedding_mrl",
        "numDimensions": 256,
        "similarity": "cosine",
    }
    assert fields["embedding_bits"] == {
        "type": "vector",
        "path": "embedding_bits",
        "numDimensions": 1024,
        "similarity": "euclidean",
    }


def test_definition_filter_fields() -> None:
    definition = build_index_definition(LAYOUT)
    filters = [f["path"] for f in definition["fields"] if f["type"] == "filter"]
    assert filters == ["_id", "content_hash", "lang", "year"]


def test_definition_deduplicates_builtin_filter() -> None:
    layout = Layout(dims=8, truncate_dim=8, filter_fields=("_id", "lang"))
    filters = [f["path"] for f in build_index_definition(layout)["fields"] if f["type"] == "filter"]
    assert filters == ["_id", "content_hash", "lang"]


def test_definition_truncate_dim_follows_layout() -> None:
    layout = Layout(dims=768, truncate_dim=128, similarity="dotProduct")
    fields = _by_path(build_index_definition(layout))
    assert fields["embedding"]["numDimensions"] == 768
    assert fields["embedding_mrl"]["numDimensions"] == 128
    assert fields["embedding_mrl"]["similarity"] == "dotProduct"
    assert fields["embedding_bits"]["similarity"] == "euclidean"


def test_definition_custom_paths() -> None:
    layout = Layout(dims=16, truncate_dim=8, full_path="v.full", truncated_path="v.mrl",
                    binary_path="v.bits")
    assert set(_by_path(build_index_definition(layout))) >= {"v.full", "v.mrl", "v.bits"}


@pytest.mark.parametrize("quantization", ["scalar", "binary"])
def test_quantization_on_full_field_only(quantization: str) -> None:
    fields = _by_path(build_index_definition(LAYOUT, quantization=quantization))  # type: ignore[arg-type]
    assert fields["embedding"]["quantization"] == quantization
    assert "quantization" not in fields["embedding_mrl"]
    assert "quantization" not in fields["embedding_bits"]


def test_no_quantization_key_by_default() -> None:
    fields = _by_path(build_index_definition(LAYOUT))
    assert all("quantization" not in field for field in fields.values())


def test_unknown_quantization_rejected() -> None:
    with pytest.raises(ConfigurationError, match="unknown quantization 'int4'"):
        build_index_definition(LAYOUT, quantization="int4")  # type: ignore[arg-type]


def test_dims_not_multiple_of_8_rejected() -> None:
    with pytest.raises(ConfigurationError, match="multiple of 8"):
        build_index_definition(Layout(dims=100, truncate_dim=50))


def test_dims_above_8192_rejected() -> None:
    with pytest.raises(ConfigurationError, match="8192"):
        build_index_definition(Layout(dims=8200, truncate_dim=256))


def test_truncate_dim_above_dims_rejected() -> None:
    with pytest.raises(ConfigurationError, match="truncate_dim 2048"):
        build_index_definition(Layout(dims=1024, truncate_dim=2048))


def test_filter_field_on_vector_path_rejected() -> None:
    with pytest.raises(ConfigurationError, match="also a vector path"):
        build_index_definition(Layout(dims=8, truncate_dim=8, filter_fields=("embedding",)))


def test_duplicate_vector_paths_rejected() -> None:
    with pytest.raises(ConfigurationError, match="distinct"):
        build_index_definition(Layout(dims=8, truncate_dim=8, truncated_path="embedding"))


def test_invalid_filter_path_rejected() -> None:
    with pytest.raises(ConfigurationError, match="invalid field path"):
        build_index_definition(Layout(dims=8, truncate_dim=8, filter_fields=("$where",)))


def test_default_index_name() -> None:
    assert DEFAULT_INDEX_NAME == "leafsearch_vector_index"


def test_same_definition_has_no_differences() -> None:
    wanted = build_index_definition(LAYOUT)
    assert definition_differences(copy.deepcopy(wanted), wanted) == []


def test_field_order_and_defaults_ignored() -> None:
    wanted = build_index_definition(LAYOUT)
    existing = copy.deepcopy(wanted)
    existing["fields"].reverse()
    existing["fields"][-1]["quantization"] = "none"  # what a server may echo back
    existing["fields"][-1]["indexingMethod"] = "hnsw"
    assert definition_differences(existing, wanted) == []


def test_changed_dimensions_reported() -> None:
    wanted = build_index_definition(LAYOUT)
    existing = build_index_definition(Layout(dims=1024, truncate_dim=512, filter_fields=("lang", "year")))
    assert definition_differences(existing, wanted) == [
        "field 'embedding_mrl': numDimensions is 512, expected 256"
    ]


def test_missing_filter_field_reported() -> None:
    wanted = build_index_definition(LAYOUT)
    existing = build_index_definition(Layout(dims=1024, truncate_dim=256, filter_fields=("lang",)))
    assert definition_differences(existing, wanted) == ["missing filter field 'year'"]


def test_unexpected_field_and_quantization_reported() -> None:
    wanted = build_index_definition(LAYOUT)
    existing = build_index_definition(
        Layout(dims=1024, truncate_dim=256, filter_fields=("lang", "year", "tenant")),
        quantization="binary",
    )
    assert definition_differences(existing, wanted) == [
        "unexpected filter field 'tenant'",
        "field 'embedding': quantization is 'binary', expected not set",
    ]


def test_malformed_existing_definition_reported() -> None:
    differences = definition_differences({"mappings": {}}, build_index_definition(LAYOUT))
    assert len(differences) == 1
    assert "no list of fields" in differences[0]


INT8_LAYOUT = Layout(dims=1024, truncate_dim=256, similarity="dotProduct", int8=True)


def test_int8_field_added_when_layout_stores_int8() -> None:
    fields = _by_path(build_index_definition(INT8_LAYOUT))
    assert fields["embedding_int8"] == {
        "type": "vector",
        "path": "embedding_int8",
        "numDimensions": 1024,
        "similarity": "dotProduct",
    }


def test_no_int8_field_without_int8() -> None:
    assert "embedding_int8" not in _by_path(build_index_definition(LAYOUT))


@pytest.mark.parametrize("quantization", ["scalar", "binary"])
def test_int8_field_never_quantized(quantization: str) -> None:
    fields = _by_path(build_index_definition(INT8_LAYOUT, quantization=quantization))  # type: ignore[arg-type]
    assert "quantization" not in fields["embedding_int8"]
    assert fields["embedding"]["quantization"] == quantization


def test_generation_2_definition_uses_suffixed_paths() -> None:
    layout = Layout.for_generation(2, dims=64, truncate_dim=16, filter_fields=("lang",), int8=True)
    fields = _by_path(build_index_definition(layout))
    vectors = sorted(path for path, field in fields.items() if field["type"] == "vector")
    assert vectors == ["embedding_bits_g2", "embedding_g2", "embedding_int8_g2", "embedding_mrl_g2"]
    assert fields["lang"] == {"type": "filter", "path": "lang"}


@pytest.mark.parametrize(
    ("generation", "expected"),
    [(1, "leafsearch_vector_index"), (2, "leafsearch_vector_index_g2"), (13, "leafsearch_vector_index_g13")],
)
def test_generation_index_name(generation: int, expected: str) -> None:
    assert generation_index_name(DEFAULT_INDEX_NAME, generation) == expected


@pytest.mark.parametrize("generation", [0, -1, True, 1.0])
def test_generation_index_name_rejects_invalid(generation: object) -> None:
    with pytest.raises(ConfigurationError, match="generation must be a positive integer"):
        generation_index_name(DEFAULT_INDEX_NAME, generation)  # type: ignore[arg-type]
