"""Retrieval metrics against hand-computed values, and the BEIR query loader."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from leafsearch.errors import ConfigurationError
from leafsearch.evaluation import (
    check_modes,
    load_beir_queries,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    score_run,
)


def test_ndcg_single_relevant_at_rank_three() -> None:
    assert ndcg_at_k(["a", "b", "c"], {"c": 1}, 10) == pytest.approx(1 / math.log2(4))


def test_ndcg_two_relevant() -> None:
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "y", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(expected)


def test_ndcg_ignores_hits_past_k() -> None:
    assert ndcg_at_k(["z"] * 10 + ["a"], {"a": 1}, 10) == 0.0


def test_ndcg_graded_relevance() -> None:
    # Gains 1 then 2 against the ideal order 2 then 1.
    dcg = 1 + 2 / math.log2(3)
    idcg = 2 + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 2}, 10) == pytest.approx(dcg / idcg)


def test_recall_at_k() -> None:
    relevant = {"a": 1, "b": 1, "c": 1, "d": 0}
    assert recall_at_k(["a", "x", "c"], relevant, 10) == pytest.approx(2 / 3)
    assert recall_at_k(["a", "x", "c"], relevant, 1) == pytest.approx(1 / 3)
    assert recall_at_k(["d"], relevant, 10) == 0.0


def test_mrr_at_k() -> None:
    assert mrr_at_k(["x", "y", "a"], {"a": 1}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a"], {"a": 1}, 2) == 0.0


def test_score_run_counts_missing_queries_as_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    metrics = score_run({"q1": ["a"]}, qrels)
    assert metrics["ndcg@10"] == pytest.approx(0.5)
    assert metrics["mrr@10"] == pytest.approx(0.5)
    assert metrics["recall@100"] == pytest.approx(0.5)


def test_load_beir_queries(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t1\n3\td9\t2\n")
    (tmp_path / "queries.jsonl").write_text(
        '{"_id": "1", "text": "first"}\n{"_id": "2", "text": "unjudged"}\n{"_id": "3", "text": "third"}\n'
    )
    beir = load_beir_queries(tmp_path)
    assert beir.queries == {"1": "first", "3": "third"}
    assert beir.qrels == {"1": {"d1": 1, "d2": 1}, "3": {"d9": 2}}


def test_load_beir_queries_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="qrels"):
        load_beir_queries(tmp_path)


def test_check_modes_rejects_unknown() -> None:
    assert check_modes(["full", "rescore"]) == ["full", "rescore"]
    with pytest.raises(ConfigurationError, match="hnsw"):
        check_modes(["full", "hnsw"])


def test_scifact_qrels_shape() -> None:
    scifact = Path(__file__).resolve().parents[2] / "shared" / "data" / "beir" / "scifact"
    if not scifact.exists():
        pytest.skip("the SciFact copy in ../shared is not present")
    beir = load_beir_queries(scifact)
    assert len(beir.queries) == 300
    assert sum(len(docs) for docs in beir.qrels.values()) == 339
