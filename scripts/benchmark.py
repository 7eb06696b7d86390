#!/usr/bin/env python
"""Measure leafsearch's speed targets as ratios of two variants run in one process.

Every pair runs interleaved (A B A B ...) after a warm-up, and the report gives the median
(p50) and p95 of each variant and the ratio of the medians next to its target. Ratios, not
absolute times, are the result, because the machine may be shared.

    python scripts/benchmark.py --quick            # small sizes, under 2 minutes on 2 cores
    python scripts/benchmark.py                    # full sizes (100k and 1M documents)
    python scripts/benchmark.py --quick --smoke    # tiny sizes, for CI

Pass ``--scifact DIR`` (a BEIR SciFact folder) for the indexing and nDCG@10 pairs. Without
it, the indexing pair runs on generated text and the nDCG check is skipped. Results go to
``bench-results/benchmark-<setting>.json``; with ``--update-docs`` the generated section of
docs/benchmarks.md is rewritten from them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_support import SETTINGS, Sizes, build_leaf_shaped_model, environment, generated_texts

logger = logging.getLogger("benchmark")

DOCS_START = "<!-- benchmark:start -->"
DOCS_END = "<!-- benchmark:end -->"
RESULT_KEYS = ("setting", "command", "environment", "rows", "seconds")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.render:
        results = [json.loads(Path(name).read_text(encoding="utf-8")) for name in args.render]
        merged = dict(results[0])
        # A row of a later file replaces the row of the same name from an earlier one, so a
        # partial rerun (--only query) updates its measurements in place.
        rows: dict[str, dict[str, Any]] = {}
        for result in results:
            for row in result["rows"]:
                rows[row["name"]] = row
        merged["rows"] = list(rows.values())
        merged["command"] = "\n".join(result["command"] for result in results)
        merged["seconds"] = sum(result["seconds"] for result in results)
        update_docs(REPO / "docs" / "benchmarks.md", render_docs(merged))
        print(render_table(merged["rows"]))
        return 0
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="leafsearch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.memory_child:
        from bench_cases import memory_child

        print(json.dumps(memory_child(args.model, args.memory_child, work)))
        return 0

    # The int8 ONNX export goes to the scratch directory unless a cache is configured.
    os.environ.setdefault("LEAFSEARCH_ONNX_CACHE", str(work / "onnx"))
    setting = "full"
    if args.smoke:
        setting = "smoke"
    elif args.quick:
        setting = "quick"
    try:
        result = run(setting, SETTINGS[setting], args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    output = Path(args.output) if args.output else REPO / "bench-results" / f"benchmark-{setting}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(render_table(result["rows"]))
    print(f"wrote {output}")
    if args.update_docs:
        update_docs(REPO / "docs" / "benchmarks.md", render_docs(result))
    return 0


def run(setting: str, sizes: Sizes, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch
    from bench_cases import (
        build_synthetic_store,
        complete_index,
        indexing_throughput,
        manifest_for,
        memory_pair,
        onnx_backend,
        query_path,
    )

    from leafsearch.encoding import Encoder
    from leafsearch.evaluation import load_beir_queries
    from leafsearch.readers import SourceRecord, read_corpus

    started = time.perf_counter()
    torch.set_num_threads(os.cpu_count() or 1)
    model = args.model or build_leaf_shaped_model(work / "leaf-shaped-model")
    encoder = Encoder(model)
    rows: list[dict[str, Any]] = []

    scifact = Path(args.scifact) if args.scifact else None
    if scifact is not None:
        beir = load_beir_queries(scifact)
        queries, qrels = beir.queries, beir.qrels
        records = [record for record in read_corpus(scifact) if isinstance(record, SourceRecord)]
    else:
        texts = generated_texts(sizes.onnx_queries, seed=7, min_words=4, max_words=10)
        queries, qrels = {f"q{index}": text for index, text in enumerate(texts)}, None
        records = [
            SourceRecord(id=f"g{index}", text=text, metadata={}, source="generated", line=index + 1)
            for index, text in enumerate(generated_texts(sizes.index_docs or 2_000, 8, 40, 120))
        ]
    subset = records[: sizes.index_docs] if sizes.index_docs is not None else records
    query_texts = list(queries.values())
    only = set(args.only or ["index", "onnx", "query", "ann", "memory"])

    # 3. Indexing throughput (also yields real document vectors for the synthetic stores).
    if only != {"memory"}:
        logger.info("indexing pair on %d documents", len(subset))
        index_rows, centres, indexed_store = indexing_throughput(model, encoder, subset, work, sizes.index_reps)
        if "index" in only:
            rows += index_rows

    # 2. ONNX int8 query encoder; nDCG@10 needs the whole corpus, so index the rest first.
    if "onnx" in only:
        whole = setting == "full" and scifact is not None
        if whole:
            logger.info("indexing the remaining %d documents for nDCG@10", len(records) - len(subset))
            complete_index(model, encoder, indexed_store, records)
        logger.info("ONNX pair")
        onnx_queries = dict(list(queries.items())[: sizes.onnx_queries])
        onnx_qrels = {key: qrels[key] for key in onnx_queries} if qrels is not None else None
        store = indexed_store if scifact else None
        rows += onnx_backend(model, encoder, onnx_queries, onnx_qrels, store, sizes.query_reps, whole)

    # 1, 5. Query path over synthetic stores; the first size also carries the HNSW pairs.
    manifest = manifest_for(model, encoder)
    ann_done = False
    for docs in sizes.query_docs if "query" in only else ():
        root = work / f"store-{docs}"
        logger.info("writing a synthetic %d-document store", docs)
        seconds = build_synthetic_store(root, manifest_for(model, encoder), centres, docs, seed=docs)
        logger.info("wrote it in %.1f s", seconds)
        target = 1.2 if docs <= 100_000 else 2.0
        rows += query_path(model, encoder, root, query_texts, sizes.query_reps, docs, target, sizes.recall_queries)
        if docs == sizes.ann_docs and "ann" in only:
            rows += _ann_rows(encoder, root, query_texts, sizes, docs)
            ann_done = True
        shutil.rmtree(root, ignore_errors=True)
    if not ann_done and "ann" in only:
        root = work / "store-ann"
        build_synthetic_store(root, manifest, centres, sizes.ann_docs, seed=11)
        rows += _ann_rows(encoder, root, query_texts, sizes, sizes.ann_docs)
        shutil.rmtree(root, ignore_errors=True)

    # 4. Peak RSS, each size in its own process (skipped in the smoke setting: two more model
    # loads would double its run time).
    if setting != "smoke" and "memory" in only:
        logger.info("memory pair")
        memory_docs = tuple(args.memory_sizes) if args.memory_sizes else sizes.memory_docs
        rows += memory_pair(Path(__file__).resolve(), model, memory_docs, work)

    return {
        "setting": setting,
        "command": "python scripts/benchmark.py " + " ".join(sys.argv[1:]),
        "environment": environment(REPO),
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _ann_rows(encoder: Any, root: Path, queries: list[str], sizes: Sizes, docs: int) -> list[dict[str, Any]]:
    from bench_cases import ann_and_peer

    from leafsearch.stores import embedded

    if sizes.ann_min_rows is not None:
        # SMOKE ONLY: lower the HNSW threshold so a tiny store exercises the graph path.
        embedded.ANN_MIN_ROWS = sizes.ann_min_rows  # type: ignore[misc]
    logger.info("HNSW pairs on %d documents", docs)
    return ann_and_peer(encoder, root, queries, sizes.query_reps, docs, sizes.recall_queries)


# -- report ---------------------------------------------------------------------------------


def render_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| measurement | baseline p50 / p95 (ms) | candidate p50 / p95 (ms) | ratio or value | target | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        base = row.get("baseline")
        cand = row.get("candidate")
        base_text = f"{base['p50_ms']:.2f} / {base['p95_ms']:.2f}" if base else ""
        cand_text = f"{cand['p50_ms']:.2f} / {cand['p95_ms']:.2f}" if cand else ""
        verdict = {True: "pass", False: "**FAIL**", None: "info"}[row["passed"]]
        name = row["name"] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(f"| {name} | {base_text} | {cand_text} | {row['ratio']:.3f} | {row['target']} | {verdict} |")
    return "\n".join(lines)


def render_docs(result: dict[str, Any]) -> str:
    env = result["environment"]
    versions = ", ".join(f"{name} {version}" for name, version in env["versions"].items() if version)
    baselines = "\n".join(
        f"- {row['name']}: baseline = {row['baseline']['label']}; candidate = {row['candidate']['label']}"
        for row in result["rows"]
        if "baseline" in row
    )
    missed = "\n".join(
        f"- {row['name']}: measured {row['ratio']:.3f}, target {row['target']}."
        for row in result["rows"]
        if row["passed"] is False
    )
    return "\n".join(
        [
            DOCS_START,
            "<!-- Generated by scripts/benchmark.py --update-docs; edits here are overwritten. -->",
            "",
            f"## Speed targets ({result['setting']} run)",
            "",
            (
                f"Machine: {env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB RAM, CPU flags "
                f"{', '.join(env['cpu_flags'])}. Python {env['python']}; {versions}. Commit {env['commit']}."
            ),
            "",
            "```bash",
            # The dataset's local path says nothing to a reader; name it by its role.
            _portable_command(result["command"]),
            "```",
            "",
            "`$SCIFACT` is a BEIR SciFact folder (corpus.jsonl.gz, queries.jsonl, qrels/test.tsv).",
            "",
            "Each pair ran interleaved (A B A B) in one process after a warm-up. The ratio is the",
            "candidate's median over the baseline's (inverted for throughput and QPS, marked >=).",
            f"The whole run took {result['seconds']:.0f} s on a machine shared with other jobs.",
            "Model: a LEAF-shaped 1024-d model built from the offline all-MiniLM-L6-v2 (Transformer,",
            "mean pooling, seeded random Dense 384->1024, Normalize; max 128 tokens). The 100k and 1M",
            "stores are SYNTHETIC: unit vectors clustered around the model's embeddings of the indexed",
            "corpus, written with bulk upserts instead of the encoder. Queries are real text.",
            "",
            render_table(result["rows"]),
            "",
            "Variants:",
            "",
            baselines,
            "",
            "Targets missed in this run (the NOTE comments in the code say where each limit sits):",
            "",
            missed or "- none",
            DOCS_END,
        ]
    )


def _portable_command(command: str) -> str:
    """Replace machine-specific paths in the recorded command with placeholders."""
    command = re.sub(r"--scifact \S+", '--scifact "$SCIFACT"', command)
    return re.sub(r" --work-dir \S+", "", command)


def update_docs(path: Path, section: str) -> None:
    """Replace the text between the benchmark markers, or append the section at the end."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if DOCS_START in text and DOCS_END in text:
        before = text[: text.index(DOCS_START)]
        after = text[text.index(DOCS_END) + len(DOCS_END) :]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes on 2 cores)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI; implies --quick")
    parser.add_argument("--scifact", help="BEIR SciFact folder for the indexing and nDCG@10 pairs")
    parser.add_argument("--model", help="model directory (default: build the LEAF-shaped test model)")
    parser.add_argument("--work-dir", help="scratch directory for stores and models (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--output", help="JSON result path (default: bench-results/benchmark-<setting>.json)")
    parser.add_argument("--update-docs", action="store_true", help="rewrite the generated section of docs/benchmarks.md")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["index", "onnx", "query", "ann", "memory"],
        help="run only these pairs (the indexing pass always runs: it provides the vectors)",
    )
    parser.add_argument(
        "--memory-sizes",
        nargs=2,
        type=int,
        metavar=("SMALL", "LARGE"),
        help="document counts of the peak-RSS pair (default: 10000 100000 in the full setting)",
    )
    parser.add_argument("--render", nargs="+", metavar="JSON", help="merge result files into docs/benchmarks.md and exit")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
