"""Asymmetric mode: documents from one model, queries from another, with the guards around it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from leafsearch import Collection
from leafsearch.encoding import Encoder
from leafsearch.errors import ConfigurationError
from leafsearch.readers import SourceRecord
from leafsearch.stores.embedded import EmbeddedStore

LEAF_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "

TEXTS = [
    "The mitochondria produce most of the cell's chemical energy.",
    "Photosynthesis converts light into chemical energy in plants.",
    "A binary search halves the search interval at every step.",
    "Hash tables give constant average time lookups.",
]


def _records() -> list[SourceRecord]:
    return [SourceRecord(id=f"d{i}", text=text, metadata={}, source="memory", line=i + 1) for i, text in enumerate(TEXTS)]


def _stored_full_vectors(store: EmbeddedStore) -> np.ndarray:
    manifest = store.read_manifest()
    assert manifest is not None
    raw = np.fromfile(store.path / "full.f32", dtype=np.float32)
    return raw.reshape(-1, manifest.dims)


@pytest.fixture
def asymmetric(tmp_path: Path, student_model_path: str, teacher_model_path: str) -> Collection:
    store = EmbeddedStore(tmp_path, "asym")
    collection = Collection(
        store, query_model=student_model_path, document_model=teacher_model_path, allow_unaligned_models=True
    )
    collection.index(_records())
    return collection


def test_documents_encoded_by_document_model(asymmetric: Collection, teacher_model_path: str, student_model_path: str) -> None:
    stored = _stored_full_vectors(asymmetric.store)  # type: ignore[arg-type]
    teacher = SentenceTransformer(teacher_model_path).encode(TEXTS, normalize_embeddings=True)
    student = SentenceTransformer(student_model_path).encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(stored, teacher, atol=1e-5)
    assert not np.allclose(stored, student, atol=1e-3)


def test_manifest_records_both_models(asymmetric: Collection, teacher_model_path: str, student_model_path: str) -> None:
    manifest = asymmetric.manifest
    assert manifest is not None
    assert manifest.document_model == str(Path(teacher_model_path).resolve())
    assert manifest.query_model == str(Path(student_model_path).resolve())
    assert manifest.query_prompt == LEAF_QUERY_PROMPT
    assert manifest.model_mismatch_override is True


def test_queries_encoded_by_query_model_with_prompt(asymmetric: Collection, student_model_path: str) -> None:
    query = "where does a cell get its energy"
    hits = asymmetric.search(query, k=4, mode="full", exact=True)
    stored = _stored_full_vectors(asymmetric.store)  # type: ignore[arg-type]
    student = SentenceTransformer(student_model_path)
    prompted = student.encode([LEAF_QUERY_PROMPT + query], normalize_embeddings=True)[0]
    expected_scores = {f"d{i}": (1 + float(stored[i] @ prompted)) / 2 for i in range(len(TEXTS))}
    for hit in hits:
        assert hit.score == pytest.approx(expected_scores[hit.id], abs=1e-5)


def test_documents_get_no_prompt(student_model_path: str) -> None:
    encoder = Encoder(student_model_path)
    text = TEXTS[0]
    document = encoder.encode_documents([text]).vectors[0]
    query = encoder.encode_queries([text])[0]
    plain = SentenceTransformer(student_model_path).encode([text], normalize_embeddings=True)[0]
    np.testing.assert_allclose(document, plain, atol=1e-5)
    assert float(document @ query) < 0.9999


def test_unaligned_pair_refused(tmp_path: Path, student_model_path: str, teacher_model_path: str) -> None:
    collection = Collection(EmbeddedStore(tmp_path, "refused"), query_model=student_model_path, document_model=teacher_model_path)
    with pytest.raises(ConfigurationError, match="not a known aligned pair"):
        collection.index(_records())
    assert collection.store.read_manifest() is None


def test_dimension_mismatch_refused_even_with_override(tmp_path: Path, leaf_model_path: str, teacher_model_path: str) -> None:
    collection = Collection(
        EmbeddedStore(tmp_path, "dims"),
        query_model=leaf_model_path,
        document_model=teacher_model_path,
        allow_unaligned_models=True,
    )
    with pytest.raises(ConfigurationError, match="1024 dimensions"):
        collection.index(_records())


def test_router_model_routes_queries_and_documents(tmp_path: Path, student_model_path: str, teacher_model_path: str) -> None:
    from sentence_transformers.sentence_transformer.modules import Router

    student = SentenceTransformer(student_model_path)
    teacher = SentenceTransformer(teacher_model_path)
    router = Router.for_query_document(query_modules=list(student), document_modules=list(teacher))
    packaged = SentenceTransformer(modules=[router], prompts={"query": LEAF_QUERY_PROMPT})
    path = tmp_path / "asym-package"
    packaged.save(str(path))

    encoder = Encoder(str(path))
    assert encoder.is_router
    assert encoder.query_prompt == LEAF_QUERY_PROMPT
    query = "hash table lookups"
    np.testing.assert_allclose(
        encoder.encode_queries([query])[0],
        student.encode([LEAF_QUERY_PROMPT + query], normalize_embeddings=True)[0],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        encoder.encode_documents([TEXTS[3]]).vectors[0],
        teacher.encode([TEXTS[3]], normalize_embeddings=True)[0],
        atol=1e-5,
    )
