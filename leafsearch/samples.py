"""The sample corpus bundled with leafsearch: Python standard library docstrings."""

from __future__ import annotations

from pathlib import Path


def sample_corpus_dir() -> Path:
    """Return the BEIR-layout folder of the bundled sample corpus (corpus, queries, qrels)."""
    return Path(__file__).parent / "data" / "sample"
