"""Retrieval evaluation on BEIR datasets: nDCG@10, recall@10, recall@100 and MRR@10."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leafsearch.errors import ConfigurationError
from leafsearch.types import SEARCH_MODES, Hit, SearchMode

logger = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
EVAL_DEPTH = 100


@dataclass
class BeirQueries:
    """The queries of a BEIR split and their relevance judgments."""

    queries: dict[str, str]
    qrels: Qrels


def load_beir_queries(folder: str | Path, split: str = "test") -> BeirQueries:
    """Read ``queries.jsonl`` and ``qrels/<split>.tsv``; keep only queries that have judgments."""
    root = Path(folder)
    qrels_path = root / "qrels" / f"{split}.tsv"
    queries_path = root / "queries.jsonl"
    for path in (qrels_path, queries_path):
        if not path.exists():
            raise ConfigurationError(f"{str(path)!r} not found; pass a BEIR dataset folder")
    qrels: Qrels = {}
    with open(qrels_path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is not None and header[:1] != ["query-id"]:
            handle.seek(0)
            reader = csv.reader(handle, delimiter="\t")
        for row in reader:
            if len(row) < 3:
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries: dict[str, str] = {}
    with open(queries_path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                data = json.loads(line)
                if str(data["_id"]) in qrels:
                    queries[str(data["_id"])] = data["text"]
    missing = set(qrels) - set(queries)
    if missing:
        logger.warning("%d judged queries have no text in %s", len(missing), queries_path)
    return BeirQueries(queries=queries, qrels={qid: qrels[qid] for qid in queries})


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Normalized discounted cumulative gain with linear gains, as BEIR computes it."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    positives = {doc for doc, grade in relevant.items() if grade > 0}
    if not positives:
        return 0.0
    return len(positives.intersection(ranked[:k])) / len(positives)


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def score_run(run: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Average every metric over the judged queries; a query with no run counts as zero."""
    totals = dict.fromkeys(METRICS, 0.0)
    for query_id, relevant in qrels.items():
        ranked = run.get(query_id, [])
        totals["ndcg@10"] += ndcg_at_k(ranked, relevant, 10)
        totals["recall@10"] += recall_at_k(ranked, relevant, 10)
        totals["recall@100"] += recall_at_k(ranked, relevant, 100)
        totals["mrr@10"] += mrr_at_k(ranked, relevant, 10)
    count = max(len(qrels), 1)
    return {name: total / count for name, total in totals.items()}


def check_modes(modes: Sequence[str]) -> list[SearchMode]:
    unknown = [mode for mode in modes if mode not in SEARCH_MODES]
    if unknown:
        raise ConfigurationError(
            f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(SEARCH_MODES)}"
        )
    return list(modes)  # type: ignore[arg-type]


def run_ids(hits_per_query: Sequence[Sequence[Hit]], query_ids: Sequence[str]) -> dict[str, list[str]]:
    return {qid: [hit.id for hit in hits] for qid, hits in zip(query_ids, hits_per_query)}


def quality_retention(results: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Return each mode's nDCG@10 as a fraction of the ``full`` mode's (empty without it)."""
    full = results.get("full", {}).get("ndcg@10")
    if not full:
        return {}
    return {mode: metrics["ndcg@10"] / full for mode, metrics in results.items() if mode != "full"}


def format_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Render ``{mode: {metric: value}}`` as a fixed-width text table."""
    header = f"{'mode':<14}" + "".join(f"{name:>12}" for name in METRICS)
    lines = [header, "-" * len(header)]
    for mode, metrics in results.items():
        lines.append(f"{mode:<14}" + "".join(f"{metrics[name]:>12.5f}" for name in METRICS))
    return "\n".join(lines)
