"""Encoders on real models: prompts, normalization, dimensions, truncation and load errors."""

from __future__ import annotations

import numpy as np
import pytest

from leafsearch.encoding import RETRIEVAL_QUERY_PROMPT, Encoder, known_query_prompt
from leafsearch.errors import EncodingError, ModelLoadError


@pytest.fixture(scope="module")
def leaf_encoder(leaf_model_path: str) -> Encoder:
    return Encoder(leaf_model_path)


@pytest.fixture(scope="module")
def minilm_encoder(minilm_path: str) -> Encoder:
    return Encoder(minilm_path)


def test_leaf_shaped_model_dimensions(leaf_encoder: Encoder) -> None:
    assert leaf_encoder.dims == 1024
    vectors = leaf_encoder.encode_queries(["what is a vector index?"])
    assert vectors.shape == (1, 1024)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)


def test_prompt_read_from_model_config(leaf_encoder: Encoder, minilm_encoder: Encoder) -> None:
    assert leaf_encoder.query_prompt == RETRIEVAL_QUERY_PROMPT
    assert minilm_encoder.query_prompt is None


def test_only_queries_get_prompt(leaf_encoder: Encoder) -> None:
    text = "binary quantization keeps one bit per dimension"
    query = leaf_encoder.encode_queries([text])[0]
    document = leaf_encoder.encode_documents([text]).vectors[0]
    prompted = leaf_encoder.model.encode([RETRIEVAL_QUERY_PROMPT + text], normalize_embeddings=True)[0]
    plain = leaf_encoder.model.encode([text], normalize_embeddings=True)[0]
    np.testing.assert_allclose(query, prompted, atol=1e-5)
    np.testing.assert_allclose(document, plain, atol=1e-5)
    assert float(query @ document) < 0.9999


def test_prompt_override_and_disable(leaf_model_path: str) -> None:
    none = Encoder(leaf_model_path, query_prompt=None)
    custom = Encoder(leaf_model_path, query_prompt="query: ")
    assert none.query_prompt is None
    assert custom.query_prompt == "query: "
    text = "how to rotate logs"
    np.testing.assert_allclose(
        none.encode_queries([text])[0], none.encode_documents([text]).vectors[0], atol=1e-5
    )


def test_known_prompt_fallback() -> None:
    assert known_query_prompt("MongoDB/mdbr-leaf-mt") == RETRIEVAL_QUERY_PROMPT
    assert known_query_prompt("mixedbread-ai/mxbai-embed-large-v1") == RETRIEVAL_QUERY_PROMPT
    assert known_query_prompt("sentence-transformers/all-MiniLM-L6-v2") is None


def test_documents_are_unit_norm(minilm_encoder: Encoder) -> None:
    encoding = minilm_encoder.encode_documents(["first text", "second, longer text about bits"])
    assert encoding.valid.tolist() == [True, True]
    np.testing.assert_allclose(np.linalg.norm(encoding.vectors, axis=1), 1.0, atol=1e-5)


def test_empty_query_rejected(minilm_encoder: Encoder) -> None:
    with pytest.raises(EncodingError, match="empty"):
        minilm_encoder.encode_queries(["   "])


def test_long_texts_counted_as_truncated(minilm_encoder: Encoder) -> None:
    long_text = " ".join(["vector"] * 400)
    assert minilm_encoder.max_seq_length == 256
    assert minilm_encoder.encode_documents([long_text, "short"]).truncated == 1


def test_nfc_equivalent_queries_encode_alike(minilm_encoder: Encoder) -> None:
    composed = "caf\u00e9 menu"
    decomposed = "cafe\u0301 menu"
    vectors = minilm_encoder.encode_queries([composed, decomposed])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_missing_directory_gives_one_line_error(tmp_path: object) -> None:
    with pytest.raises(ModelLoadError) as caught:
        Encoder("./no/such/model-dir")
    message = str(caught.value)
    assert "no/such/model-dir" in message
    assert "\n" not in message


def test_unreachable_hub_id_names_model_and_fix() -> None:
    with pytest.raises(ModelLoadError) as caught:
        Encoder("MongoDB/mdbr-leaf-mt-not-cached")
    message = str(caught.value)
    assert "MongoDB/mdbr-leaf-mt-not-cached" in message
    assert "local directory" in message
    assert "\n" not in message


def test_process_pool_matches_single_process(minilm_path: str, minilm_encoder: Encoder) -> None:
    texts = [f"document number {i} about topic {i % 7}" for i in range(40)]
    pooled = Encoder(minilm_path, processes=2, batch_size=8, device="cpu")
    try:
        vectors = pooled.encode_documents(texts).vectors
    finally:
        pooled.close()
    np.testing.assert_allclose(vectors, minilm_encoder.encode_documents(texts).vectors, atol=1e-5)


def test_unknown_device_rejected(minilm_path: str) -> None:
    from leafsearch.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="tpu"):
        Encoder(minilm_path, device="tpu")
