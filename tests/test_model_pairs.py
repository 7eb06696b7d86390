"""Aligned query/document model pairs for the asymmetric mode."""

from __future__ import annotations

import pytest

from leafsearch.errors import ConfigurationError
from leafsearch.model_pairs import canonical_model_id, check_model_pair, expand_alias


def test_aliases_expand() -> None:
    assert expand_alias("mxbai-large") == "mixedbread-ai/mxbai-embed-large-v1"
    assert expand_alias("some/other-model") == "some/other-model"


def test_local_directory_recognized() -> None:
    assert canonical_model_id("/models/mdbr-leaf-mt") == "MongoDB/mdbr-leaf-mt"
    assert canonical_model_id("./cache/mxbai-embed-large-v1") == "mixedbread-ai/mxbai-embed-large-v1"
    assert canonical_model_id("/models/minilm") == "/models/minilm"


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("MongoDB/mdbr-leaf-mt", "mixedbread-ai/mxbai-embed-large-v1"),
        ("leaf-mt", "mxbai-large"),
        ("MongoDB/mdbr-leaf-ir", "Snowflake/snowflake-arctic-embed-m-v1.5"),
        ("/models/mdbr-leaf-mt", "/models/mxbai-embed-large-v1"),
        ("/models/minilm", "/models/minilm"),
    ],
)
def test_aligned_pairs_accepted(query: str, document: str) -> None:
    assert check_model_pair(query, document, 1024, 1024) is False


def test_teacher_of_other_student_rejected() -> None:
    with pytest.raises(ConfigurationError, match="not a known aligned pair"):
        check_model_pair("MongoDB/mdbr-leaf-mt", "Snowflake/snowflake-arctic-embed-m-v1.5", 768, 768)


def test_override_is_reported() -> None:
    assert check_model_pair("a/query", "b/docs", 384, 384, allow_unaligned=True) is True


def test_dimension_mismatch_always_rejected() -> None:
    with pytest.raises(ConfigurationError, match="1024 dimensions"):
        check_model_pair("MongoDB/mdbr-leaf-ir", "mixedbread-ai/mxbai-embed-large-v1", 768, 1024, allow_unaligned=True)
