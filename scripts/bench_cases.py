"""The measured pairs of scripts/benchmark.py. Each function returns rows for the report."""

from __future__ import annotations

import gc
import json
import logging
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_support import (
    check,
    clustered_vectors,
    generated_texts,
    interleave,
    pair,
    stats_ms,
    write_jsonl,
)

from leafsearch import __version__
from leafsearch.config import DEFAULT_TRUNCATE_DIM
from leafsearch.encoding import Encoder, resolve_model_name
from leafsearch.evaluation import score_run
from leafsearch.indexing import DEFAULT_BATCH_SIZE, index_records, prepare_collection
from leafsearch.manifest import Manifest
from leafsearch.readers import SourceRecord, read_corpus
from leafsearch.representations import encoded_batch, query_vectors
from leafsearch.scoring import bit_top_k
from leafsearch.search_params import default_num_candidates, default_rescore_candidates
from leafsearch.stores.embedded import EmbeddedStore
from leafsearch.types import SearchRequest

logger = logging.getLogger("benchmark")

COLLECTION = "bench"
# Rows per bulk write of the synthetic stores.
_BULK_ROWS = 50_000


def manifest_for(model: str, encoder: Encoder) -> Manifest:
    return Manifest(
        query_model=resolve_model_name(model),
        document_model=resolve_model_name(model),
        query_prompt=encoder.query_prompt,
        dims=encoder.dims,
        truncate_dim=DEFAULT_TRUNCATE_DIM,
        similarity="cosine",
        library_version=__version__,
    )


def build_synthetic_store(
    root: Path, manifest: Manifest, centres: np.ndarray, count: int, seed: int
) -> float:
    """Write ``count`` synthetic documents straight into an embedded store; return seconds.

    SYNTHETIC: the vectors are a clustered mixture around real model embeddings
    (``clustered_vectors``), written with bulk ``upsert`` calls instead of the encoder, so
    a 1,000,000 x 1024 store takes about a minute instead of hours of encoding.
    """
    started = time.perf_counter()
    store = EmbeddedStore(root, COLLECTION)
    store.write_manifest(manifest)
    layout = manifest.layout()
    store.prepare(layout)
    for start in range(0, count, _BULK_ROWS):
        size = min(_BULK_ROWS, count - start)
        vectors = clustered_vectors(centres, size, seed + start)
        ids = [f"s{start + offset}" for offset in range(size)]
        batch = encoded_batch(
            vectors,
            layout,
            None,
            ids=ids,
            texts=[f"synthetic document {doc_id}" for doc_id in ids],
            metadata=[{"bucket": (start + offset) % 100} for offset in range(size)],
            content_hashes=ids,
        )
        store.upsert(batch)
        del vectors, batch
    manifest.document_count = count
    store.write_manifest(manifest)
    store.close()
    return time.perf_counter() - started


def _request(
    vectors: Any, mode: str, k: int = 10, exact: bool = False, rescore_pool: int | None = None
) -> SearchRequest:
    return SearchRequest(
        mode=mode,  # type: ignore[arg-type]
        vectors=vectors,
        limit=k,
        num_candidates=None if exact else default_num_candidates(k),
        exact=exact,
        # 0 lets the store size the pool for its document count, as Collection.search does.
        rescore_candidates=rescore_pool or 0,
    )


def query_path(
    model: str, encoder: Encoder, store_root: Path, queries: list[str], reps: int, docs: int,
    target: float, recall_queries: int,
) -> list[dict[str, Any]]:
    """Time Collection.search (rescore) against bare SentenceTransformer.encode, then check the store."""
    from leafsearch.collection import Collection

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    store = EmbeddedStore(store_root, COLLECTION)
    manifest = store.read_manifest()
    assert manifest is not None
    layout = manifest.layout()
    first_vectors = query_vectors(encoder.encode_queries(queries[:1])[0], layout, None)
    store.search(_request(first_vectors, "rescore"))
    open_seconds = time.perf_counter() - started
    rows.append(check(f"open store + first search, {docs:,} docs (s)", open_seconds, 1.0, at_least=False))

    collection = Collection(store, query_model=model)
    collection._encoders[resolve_model_name(model)] = encoder  # reuse the loaded model
    bare = encoder.model
    prompt = encoder.query_prompt
    times = interleave(
        {
            "encode": lambda i: bare.encode([queries[i % len(queries)]], prompt=prompt, show_progress_bar=False),
            "search": lambda i: collection.search(queries[i % len(queries)], k=10, mode="rescore"),
        },
        reps,
        warmup=5,
    )
    rows.append(
        pair(
            f"query path: Collection.search rescore / encode, {docs:,} docs",
            ("SentenceTransformer.encode([query])", times["encode"]),
            ("Collection.search(mode='rescore')", times["search"]),
            target,
        )
    )

    # Binary scan against the memory-bandwidth floor: numpy sum over a 1 GiB float32 array.
    snapshot = store._current_snapshot(layout)
    bits = first_vectors.binary
    stream = np.ones(2**28, dtype=np.float32)
    scan = interleave(
        {
            "sum": lambda i: stream.sum(),
            "scan": lambda i: bit_top_k(snapshot.binary, bits, layout.binary_bits, 100),
        },
        max(10, reps // 5),
        warmup=2,
    )
    bandwidth = stream.nbytes / float(np.median(scan["sum"]))
    floor_s = snapshot.binary.nbytes / bandwidth
    ratio = float(np.median(scan["scan"])) / floor_s
    rows.append(
        check(
            f"binary scan / bandwidth floor, {docs:,} docs",
            ratio,
            2.0,
            at_least=False,
            informational=docs < 1_000_000,
            note=f"scan p50 {stats_ms(scan['scan'])['p50_ms']} ms over {snapshot.binary.nbytes / 1e6:.0f} MB; "
            f"numpy sum bandwidth {bandwidth / 1e9:.1f} GB/s, floor {floor_s * 1000:.2f} ms",
        )
    )

    # Recall@10 of rescore mode against the exact float scan, at the default candidate
    # pool and at larger ones.
    # 0 is the store's default, which grows with the number of documents.
    pools = (0, 1000, 2000, 4000)
    overlaps: dict[int, list[float]] = {pool: [] for pool in pools}
    encoded = encoder.encode_queries(queries[:recall_queries])
    for full in encoded:
        vectors = query_vectors(full, layout, None)
        exact = {hit.id for hit in store.search(_request(vectors, "full", exact=True))}
        for pool in pools:
            rescored = {hit.id for hit in store.search(_request(vectors, "rescore", rescore_pool=pool))}
            overlaps[pool].append(len(exact & rescored) / 10)
    recalls = {pool: float(np.mean(values)) for pool, values in overlaps.items()}
    rows.append(
        check(
            f"rescore recall@10 vs exact float, {docs:,} docs",
            recalls[pools[0]],
            0.97,
            at_least=True,
            note=f"{len(encoded)} queries, {default_rescore_candidates(10, docs)} binary candidates (default); "
            + ", ".join(f"{recalls[pool]:.3f} with {pool}" for pool in pools[1:]),
        )
    )
    store.close()
    return rows


def ann_and_peer(
    encoder: Encoder, store_root: Path, queries: list[str], reps: int, docs: int, recall_queries: int
) -> list[dict[str, Any]]:
    """Time HNSW against the exact float scan, and leafsearch's HNSW step against faiss directly."""
    import faiss

    store = EmbeddedStore(store_root, COLLECTION)
    manifest = store.read_manifest()
    assert manifest is not None
    layout = manifest.layout()
    started = time.perf_counter()
    store.build_ann_index()
    build_seconds = time.perf_counter() - started
    encoded = encoder.encode_queries(queries)
    requests = [query_vectors(full, layout, None) for full in encoded]

    overlaps = []
    for vectors in requests[:recall_queries]:
        exact = {hit.id for hit in store.search(_request(vectors, "full", exact=True))}
        approximate = {hit.id for hit in store.search(_request(vectors, "full"))}
        overlaps.append(len(exact & approximate) / 10)
    recall = float(np.mean(overlaps))
    rows = [
        check(
            f"HNSW recall@10 vs exact, {docs:,} docs, num_candidates={default_num_candidates(10)}",
            recall,
            0.95,
            at_least=True,
            note=f"faiss HNSW M=16, efConstruction=100, built in {build_seconds:.0f} s",
        )
    ]
    count = len(requests)
    times = interleave(
        {
            "exact": lambda i: store.search(_request(requests[i % count], "full", exact=True)),
            "hnsw": lambda i: store.search(_request(requests[i % count], "full")),
        },
        max(10, reps // 3),
        warmup=3,
    )
    rows.append(
        pair(
            f"HNSW QPS / exact float scan QPS, {docs:,} docs",
            ("exact=True float scan", times["exact"]),
            ("HNSW, default num_candidates", times["hnsw"]),
            10.0,
            higher_is_better=True,
        )
    )

    index = store._ann
    assert index is not None
    graph = index._index
    params = faiss.SearchParametersHNSW()
    params.efSearch = default_num_candidates(10)
    matrix = [full.reshape(1, -1).astype(np.float32) for full in encoded]
    peer = interleave(
        {
            "faiss": lambda i: graph.search(matrix[i % count], 10, params=params),
            "leafsearch": lambda i: store.search(_request(requests[i % count], "full")),
        },
        reps * 2,
        warmup=10,
    )
    rows.append(
        pair(
            f"peer: EmbeddedStore.search (HNSW) / faiss search, {docs:,} docs",
            ("faiss IndexHNSWFlat.search, same graph", peer["faiss"]),
            ("EmbeddedStore.search incl. exact scores + SQLite hits", peer["leafsearch"]),
            1.3,
        )
    )
    store.close()
    return rows


def indexing_throughput(
    model: str, encoder: Encoder, records: list[SourceRecord], work: Path, reps: int
) -> tuple[list[dict[str, Any]], np.ndarray, Path]:
    """Time the indexing pipeline against bare encode of the same texts; return the vectors too."""
    texts = [record.text for record in records]
    bare = encoder.model
    stores: list[Path] = []
    outputs: list[np.ndarray] = []

    def run_bare(_: int) -> None:
        vectors = bare.encode(texts, batch_size=encoder.batch_size, convert_to_numpy=True, show_progress_bar=False)
        outputs[:] = [np.asarray(vectors, dtype=np.float32)]

    def run_index(index: int) -> None:
        root = work / f"index-{index}"
        shutil.rmtree(root, ignore_errors=True)
        store = EmbeddedStore(root, COLLECTION)
        manifest = prepare_collection(store, manifest_for(model, encoder))
        report = index_records(store, encoder, manifest, iter(records), batch_size=DEFAULT_BATCH_SIZE, progress=False)
        assert report.indexed == len(records), report.to_dict()
        store.close()
        stores.append(root)

    times = interleave({"bare": run_bare, "index": run_index}, reps, warmup=0)
    rows = [
        pair(
            f"indexing throughput: index_records / bare encode, {len(records):,} docs",
            (f"SentenceTransformer.encode(batch_size={encoder.batch_size})", times["bare"]),
            (f"index_records(batch_size={DEFAULT_BATCH_SIZE})", times["index"]),
            0.95,
            higher_is_better=True,
            note="ratio = docs/s of indexing / docs/s of bare encode",
        )
    ]
    return rows, outputs[0], stores[-1]


def complete_index(model: str, encoder: Encoder, store_root: Path, records: list[SourceRecord]) -> None:
    """Index every record into an existing store; documents already there are skipped."""
    store = EmbeddedStore(store_root, COLLECTION)
    manifest = prepare_collection(store, manifest_for(model, encoder))
    index_records(store, encoder, manifest, iter(records), progress=False)
    store.close()


def onnx_backend(
    model: str, torch_encoder: Encoder, queries: dict[str, str], qrels: Any,
    scifact_store: Path | None, reps: int, whole_corpus: bool,
) -> list[dict[str, Any]]:
    """Measure the int8 ONNX query encoder against torch float32: latency, cosine, nDCG@10."""
    onnx_encoder = Encoder(model, backend="onnx")
    texts = list(queries.values())
    ids = list(queries)
    times = interleave(
        {
            "torch": lambda i: torch_encoder.encode_queries([texts[i % len(texts)]]),
            "onnx": lambda i: onnx_encoder.encode_queries([texts[i % len(texts)]]),
        },
        reps,
        warmup=5,
    )
    rows = [
        pair(
            "ONNX int8 query encode / torch fp32, batch 1",
            ("torch fp32 Encoder.encode_queries", times["torch"]),
            ("onnx int8 Encoder.encode_queries", times["onnx"]),
            0.5,
        )
    ]
    reference = torch_encoder.encode_queries(texts)
    quantized = onnx_encoder.encode_queries(texts)
    cosines = np.sum(reference * quantized, axis=1)
    rows.append(
        check(
            f"ONNX int8 mean cosine to fp32, {len(texts)} queries",
            float(cosines.mean()),
            0.99,
            at_least=True,
            note=f"min {cosines.min():.4f}",
        )
    )
    if scifact_store is None or qrels is None:
        return rows
    store = EmbeddedStore(scifact_store, COLLECTION)
    manifest = store.read_manifest()
    assert manifest is not None
    layout = manifest.layout()
    scores = {}
    for name, matrix in (("torch", reference), ("onnx", quantized)):
        run = {
            query_id: [hit.id for hit in store.search(_request(query_vectors(full, layout, None), "full", k=100, exact=True))]
            for query_id, full in zip(ids, matrix)
        }
        scores[name] = score_run(run, qrels)["ndcg@10"]
    store.close()
    rows.append(
        check(
            "SciFact nDCG@10, ONNX int8 / torch fp32 queries",
            scores["onnx"] / scores["torch"] if scores["torch"] > 0 else float("nan"),
            0.99,
            at_least=True,
            informational=not whole_corpus,
            note=("" if whole_corpus else "partial corpus, so nDCG is not comparable; ") + f"nDCG@10 torch {scores['torch']:.4f}, onnx {scores['onnx']:.4f} (LEAF-shaped MiniLM, exact full search)",
        )
    )
    return rows


def memory_child(model: str, docs: int, work: Path) -> dict[str, Any]:
    """Index ``docs`` generated documents in this process; return its peak RSS."""
    # Short generated documents (4-8 words) keep 100,000 encodes affordable on 2 cores.
    texts = generated_texts(docs, seed=docs, min_words=4, max_words=8)
    corpus = write_jsonl(
        work / f"memory-{docs}.jsonl",
        ({"_id": f"m{index}", "text": text} for index, text in enumerate(texts)),
    )
    encoder = Encoder(model)
    gc.collect()
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # Reset the kernel's peak-RSS counter (VmHWM) so the peak below covers indexing only;
    # the model stays resident, so it is still part of that peak.
    reset = _reset_peak_rss()
    store = EmbeddedStore(work / f"memory-store-{docs}", COLLECTION)
    manifest = prepare_collection(store, manifest_for(model, encoder))
    started = time.perf_counter()
    report = index_records(store, encoder, manifest, read_corpus(corpus), progress=False)
    seconds = time.perf_counter() - started
    store.close()
    peak = _status_bytes("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "docs": docs,
        "indexed": report.indexed,
        "peak_rss": peak,
        "peak_rss_while_loading_model": load_peak,
        "peak_reset": reset,
        "seconds": seconds,
    }


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def memory_pair(script: Path, model: str, sizes: tuple[int, int], work: Path) -> list[dict[str, Any]]:
    """Compare the peak RSS of indexing the larger size with the smaller, each in a fresh process."""
    results = []
    for docs in sizes:
        completed = subprocess.run(
            [sys.executable, str(script), "--memory-child", str(docs), "--model", model, "--work-dir", str(work)],
            capture_output=True, text=True, timeout=3600, check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"memory child for {docs} docs failed: {completed.stderr[-2000:]}")
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    small, large = results
    ratio = large["peak_rss"] / small["peak_rss"]
    return [
        check(
            f"peak RSS indexing {large['docs']:,} / {small['docs']:,} docs",
            ratio,
            1.1,
            at_least=False,
            note=f"peak while indexing {small['peak_rss'] / 2**20:.0f} MiB vs {large['peak_rss'] / 2**20:.0f} MiB, "
            f"model load peak {large['peak_rss_while_loading_model'] / 2**20:.0f} MiB; "
            f"{large['docs'] / large['seconds']:.0f} docs/s on generated text. One run each (RSS is not noisy)",
        )
    ]
