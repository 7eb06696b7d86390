"""The int8 ONNX query encoder agrees with the float32 torch model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leafsearch.errors import ConfigurationError
from leafsearch.onnx_backend import check_backend

SENTENCES = [
    "what is the capital of france",
    "how do vaccines train the immune system",
    "BRCA1 mutations and breast cancer risk",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "a",
]


def test_unknown_backend_rejected() -> None:
    with pytest.raises(ConfigurationError, match="openvino"):
        check_backend("openvino")


def test_onnx_int8_cosine_to_torch(
    minilm_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime", reason="the onnx backend needs onnxruntime (the 'onnx' extra)")
    pytest.importorskip("onnx", reason="the onnx backend needs onnx (the 'onnx' extra)")
    from leafsearch.encoding import Encoder

    monkeypatch.setenv("LEAFSEARCH_ONNX_CACHE", str(tmp_path))
    torch_encoder = Encoder(minilm_path, device="cpu", query_prompt="query: ")
    onnx_encoder = Encoder(minilm_path, device="cpu", query_prompt="query: ", backend="onnx")

    expected = torch_encoder.encode_queries(SENTENCES)
    actual = onnx_encoder.encode_queries(SENTENCES)

    assert actual.shape == expected.shape
    cosines = np.sum(actual * expected, axis=1)
    assert cosines.mean() >= 0.99
    assert cosines.min() >= 0.97
    assert list(tmp_path.glob("*/model_qint8.onnx"))


def test_collection_records_onnx_backend(tmp_path: Path, minilm_path: str) -> None:
    pytest.importorskip("onnxruntime")
    from leafsearch import Collection
    from leafsearch.readers import SourceRecord
    from leafsearch.stores.embedded import EmbeddedStore

    texts = ["binary vectors use one bit per dimension", "bread needs a long rise", "the goalkeeper saved it"]
    records = [SourceRecord(id=f"t{i}", text=text, metadata={}, source="memory", line=i + 1) for i, text in enumerate(texts)]
    collection = Collection(EmbeddedStore(tmp_path, "onnx"), query_model=minilm_path, query_backend="onnx")
    collection.index(records)
    manifest = collection.manifest
    assert manifest is not None
    assert manifest.query_backend == "onnx-int8"
    assert collection.search("how many bits per dimension", k=1, mode="full", exact=True)[0].id == "t0"


def test_onnx_vector_independent_of_batch(minilm_path: str) -> None:
    pytest.importorskip("onnxruntime")
    from leafsearch.encoding import Encoder

    encoder = Encoder(minilm_path, backend="onnx")
    alone = encoder.encode_queries(["short query"])[0]
    batched = encoder.encode_queries(["short query", "a much longer query " * 20])[0]
    np.testing.assert_array_equal(alone, batched)
