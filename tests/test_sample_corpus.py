"""Checks of the bundled sample corpus in leafsearch/data/sample (BEIR layout)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "leafsearch" / "data" / "sample"
KINDS = {"module", "class", "function", "method"}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return read_jsonl(SAMPLE / "corpus.jsonl")


@pytest.fixture(scope="module")
def queries() -> list[dict[str, Any]]:
    return read_jsonl(SAMPLE / "queries.jsonl")


@pytest.fixture(scope="module")
def qrels() -> list[dict[str, str]]:
    with open(SAMPLE / "qrels" / "test.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_corpus_size(corpus: list[dict[str, Any]]) -> None:
    assert len(corpus) >= 500
    assert (SAMPLE / "corpus.jsonl").stat().st_size < 2_000_000


def test_corpus_ids_unique(corpus: list[dict[str, Any]]) -> None:
    ids = [doc["_id"] for doc in corpus]
    assert len(ids) == len(set(ids))


def test_corpus_records_complete(corpus: list[dict[str, Any]]) -> None:
    for doc in corpus:
        assert isinstance(doc["_id"], str) and doc["_id"], doc
        assert isinstance(doc["text"], str) and doc["text"].strip(), doc["_id"]
        assert doc["title"] == doc["_id"]
        assert doc["kind"] in KINDS, doc["_id"]
        assert doc["_id"] == doc["module"] or doc["_id"].startswith(doc["module"] + "."), doc


def test_queries_unique_and_nonempty(queries: list[dict[str, Any]]) -> None:
    ids = [query["_id"] for query in queries]
    assert len(ids) == len(set(ids))
    assert 25 <= len(ids) <= 40
    for query in queries:
        assert query["text"].strip(), query["_id"]


def test_qrels_header_and_scores(qrels: list[dict[str, str]]) -> None:
    assert qrels
    for row in qrels:
        assert set(row) == {"query-id", "corpus-id", "score"}
        assert row["score"] == "1"


def test_qrels_ids_in_corpus(corpus: list[dict[str, Any]], qrels: list[dict[str, str]]) -> None:
    corpus_ids = {doc["_id"] for doc in corpus}
    missing = [row["corpus-id"] for row in qrels if row["corpus-id"] not in corpus_ids]
    assert missing == []


def test_every_query_has_qrels(queries: list[dict[str, Any]], qrels: list[dict[str, str]]) -> None:
    judged = {row["query-id"] for row in qrels}
    query_ids = {query["_id"] for query in queries}
    assert query_ids - judged == set()
    assert judged - query_ids == set()


def test_source_and_licence_present() -> None:
    source = (SAMPLE / "SOURCE.md").read_text(encoding="utf-8")
    assert "Python Software Foundation" in source
    assert "scripts/build_sample_corpus.py" in source
    licence = (SAMPLE / "LICENSE-PSF.txt").read_text(encoding="utf-8")
    assert "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2" in licence


def test_project_readers_load_sample() -> None:
    from leafsearch.evaluation import load_beir_queries
    from leafsearch.readers import BadRecord, read_corpus

    records = list(read_corpus(SAMPLE))
    bad = [record for record in records if isinstance(record, BadRecord)]
    assert bad == []
    assert len(records) >= 500
    first = records[0]
    assert not isinstance(first, BadRecord)
    assert first.metadata["kind"] == "module"

    beir = load_beir_queries(SAMPLE)
    assert len(beir.queries) >= 25
    assert set(beir.qrels) == set(beir.queries)
