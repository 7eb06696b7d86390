"""The ``leafsearch`` command: index, search and eval."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leafsearch import __version__
from leafsearch.collection import Collection
from leafsearch.config import DEFAULT_TRUNCATE_DIM
from leafsearch.errors import ConfigurationError, LeafsearchError
from leafsearch.evaluation import (
    EVAL_DEPTH,
    check_modes,
    format_table,
    load_beir_queries,
    quality_retention,
    run_ids,
    score_run,
)
from leafsearch.indexing import DEFAULT_BATCH_SIZE, IndexReport
from leafsearch.readers import ReaderOptions
from leafsearch.types import INT8_MODES, SEARCH_MODES

logger = logging.getLogger("leafsearch.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BAD_RECORDS = 3
EXIT_INTERRUPTED = 130
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="embedded store directory or mongodb:// URI (default: $MONGODB_URI, $LEAFSEARCH_STORE, ~/.local/share/leafsearch)")
    common.add_argument("--collection", help="collection name (default: $LEAFSEARCH_COLLECTION or 'default')")
    common.add_argument("--query-model", help="query model hub id or local directory (default: $LEAFSEARCH_QUERY_MODEL, the collection's, MongoDB/mdbr-leaf-mt)")
    common.add_argument("--document-model", help="document model hub id or local directory (default: $LEAFSEARCH_DOCUMENT_MODEL, the query model)")
    common.add_argument("--query-prompt", help="override the query prompt; pass '' for none")
    common.add_argument("--device", help="torch device for the models: auto, cpu, cuda, cuda:N or mps (default: auto)")
    common.add_argument("--query-backend", choices=["torch", "onnx"], default=os.environ.get("LEAFSEARCH_QUERY_BACKEND") or "torch", help="run the query model with torch (fp32) or an int8 ONNX Runtime export (needs leafsearch[onnx]); default: $LEAFSEARCH_QUERY_BACKEND or torch")
    common.add_argument("--processes", type=_positive_int, default=1, help="encoder processes for documents; with --device cuda, one per GPU (default: 1)")
    common.add_argument("--allow-model-mismatch", action="store_true", help="search with a query model other than the collection's (same dimensions only)")
    common.add_argument("--allow-unaligned-models", action="store_true", help="accept a query/document model pair that is not a known aligned pair (recorded in the manifest)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")

    parser = argparse.ArgumentParser(prog="leafsearch", description="Semantic search with LEAF embedding models on MongoDB Atlas or an embedded store.")
    parser.add_argument("--version", action="version", version=f"leafsearch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", parents=[common], help="index a JSONL/CSV file or a BEIR folder")
    index.add_argument("path", help="corpus file (.jsonl, .jsonl.gz, .csv) or BEIR dataset folder")
    index.add_argument("--filter-field", action="append", default=[], metavar="FIELD", help="metadata field usable in search filters (repeatable)")
    index.add_argument("--text-field", default="text", help="field holding the document text (default: text)")
    index.add_argument("--title-field", help="field prepended to the text, if any")
    index.add_argument("--id-field", help="field holding the document id (default: _id or id, else a content hash)")
    index.add_argument("--truncate-dim", type=int, default=DEFAULT_TRUNCATE_DIM, help=f"dimensions kept in the Matryoshka-truncated vector (default: {DEFAULT_TRUNCATE_DIM})")
    index.add_argument("--similarity", default="cosine", choices=["cosine", "dotProduct", "euclidean"], help="vector similarity (default: cosine)")
    index.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help=f"documents encoded and written per batch (default: {DEFAULT_BATCH_SIZE})")
    index.add_argument("--int8", action="store_true", default=None, help="also store int8 vectors (ranges calibrated on the first 1,000 documents)")
    index.add_argument("--quiet", action="store_true", help="hide the progress bar")

    search = commands.add_parser("search", parents=[common], help="search a collection")
    search.add_argument("query", help="query text")
    search.add_argument("-k", "--limit", type=int, default=10, help="number of hits (default: 10)")
    search.add_argument("--mode", default="rescore", choices=SEARCH_MODES, help="vectors to search (default: rescore)")
    search.add_argument("--filter", help='filter as JSON, e.g. \'{"module": {"$in": ["json", "csv"]}}\'')
    search.add_argument("--num-candidates", type=int, help="candidates for approximate search (default: 20 x limit, at most 10000)")
    search.add_argument("--exact", action="store_true", help="exhaustive (exact) search")
    search.add_argument("--rescore-candidates", type=int, help="binary candidates ranked again in the rescore modes (default: 40 x limit, at least 400)")

    evaluate = commands.add_parser("eval", parents=[common], help="index a BEIR dataset and report retrieval metrics per mode")
    evaluate.add_argument("path", help="BEIR dataset folder (corpus.jsonl[.gz], queries.jsonl, qrels/)")
    evaluate.add_argument("--split", default="test", help="qrels split (default: test)")
    evaluate.add_argument("--modes", type=_mode_list, help="comma-separated modes (default: all the collection supports)")
    evaluate.add_argument("--approximate", action="store_true", help="use approximate search instead of exact")
    evaluate.add_argument("--truncate-dim", type=int, default=DEFAULT_TRUNCATE_DIM, help=f"Matryoshka dimensions when indexing (default: {DEFAULT_TRUNCATE_DIM})")
    evaluate.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help=f"documents per indexing batch (default: {DEFAULT_BATCH_SIZE})")
    evaluate.add_argument("--int8", action="store_true", default=None, help="also store int8 vectors, so the int8 modes are evaluated")
    evaluate.add_argument("--quiet", action="store_true", help="hide the progress bar")

    migrate = commands.add_parser("migrate", parents=[common], help="re-embed a collection with other models or settings, then switch searches over")
    migrate.add_argument("--truncate-dim", type=int, help="new Matryoshka dimensions")
    migrate.add_argument("--similarity", choices=["cosine", "dotProduct", "euclidean"], help="new vector similarity")
    int8_group = migrate.add_mutually_exclusive_group()
    int8_group.add_argument("--int8", action="store_true", default=None, help="add int8 vectors")
    int8_group.add_argument("--no-int8", dest="int8", action="store_false", help="stop storing int8 vectors")
    migrate.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help=f"documents per backfill batch (default: {DEFAULT_BATCH_SIZE})")
    migrate.add_argument("--drop-old", action="store_true", help="delete earlier generations after switching over")
    migrate.add_argument("--abort", action="store_true", help="discard an unfinished migration")
    migrate.add_argument("--quiet", action="store_true", help="hide the progress bar")

    commands.add_parser("status", parents=[common], help="show the manifest, documents per generation and index states")

    drop = commands.add_parser("drop", parents=[common], help="delete a collection, its manifest and its indexes")
    drop.add_argument("--yes", action="store_true", help="confirm; without it nothing is deleted")
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {number}")
    return number


def _mode_list(value: str) -> list[str]:
    try:
        return list(check_modes([mode.strip() for mode in value.split(",") if mode.strip()]))
    except LeafsearchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    from dotenv import find_dotenv, load_dotenv

    # Without usecwd, find_dotenv searches from this module's directory, not the user's.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        _quiet_model_loading()
    try:
        return _run(args)
    except LeafsearchError as exc:
        print(f"leafsearch: error: {_redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, sqlite3.Error) as exc:
        # Disk full, permissions, unreadable files: one line instead of a traceback.
        print(f"leafsearch: error: {_redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("leafsearch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "device": args.device,
        "allow_model_mismatch": args.allow_model_mismatch,
        "allow_unaligned_models": args.allow_unaligned_models,
        "processes": args.processes,
        "query_backend": args.query_backend,
    }
    if args.query_prompt is not None:
        options["query_prompt"] = args.query_prompt or None
    collection_name = args.collection
    if args.command == "eval" and not collection_name:
        collection_name = f"beir-{Path(args.path).resolve().name}"
    with Collection.open(
        args.store,
        collection_name,
        query_model=args.query_model,
        document_model=args.document_model,
        **options,
    ) as collection:
        if args.command == "index":
            return _index(collection, args)
        if args.command == "search":
            return _search(collection, args)
        if args.command == "migrate":
            return _migrate(collection, args)
        if args.command == "status":
            return _status(collection, args)
        if args.command == "drop":
            return _drop(collection, args)
        return _evaluate(collection, args)


def _index(collection: Collection, args: argparse.Namespace) -> int:
    reader_options = ReaderOptions(text_field=args.text_field, title_field=args.title_field, id_field=args.id_field)
    report = collection.index(
        args.path,
        filter_fields=args.filter_field,
        truncate_dim=args.truncate_dim,
        similarity=args.similarity,
        batch_size=args.batch_size,
        progress=False if args.quiet else None,
        reader_options=reader_options,
        int8=args.int8,
    )
    _print_report(report, args.json)
    return EXIT_OK if report.ok else EXIT_BAD_RECORDS


def _print_report(report: IndexReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(
        f"indexed {report.indexed} documents, {report.unchanged} unchanged, "
        f"{len(report.bad_records)} skipped, {len(report.failed)} failed "
        f"({report.read} read in {report.seconds:.1f} s)"
    )
    if report.duplicates:
        print(f"{report.duplicates} records repeated the id of an earlier record; the last one of each id was kept")
    if report.truncated:
        print(f"{report.truncated} documents were longer than the model's maximum sequence length and were encoded from their leading tokens")
    for bad in report.bad_records:
        print(f"skipped {bad}", file=sys.stderr)
    for doc_id, reason in report.failed.items():
        print(f"failed {doc_id}: {reason}", file=sys.stderr)
    if not report.ok:
        print("fix the records above and run the same command again; indexed documents are kept", file=sys.stderr)


def _search(collection: Collection, args: argparse.Namespace) -> int:
    search_filter = None
    if args.filter:
        try:
            search_filter = json.loads(args.filter)
        except json.JSONDecodeError as exc:
            print(f"leafsearch: error: --filter is not valid JSON ({exc.msg}): {args.filter}", file=sys.stderr)
            return EXIT_USAGE
        if not isinstance(search_filter, dict):
            print(f"leafsearch: error: --filter must be a JSON object such as '{{\"topic\": \"x\"}}', got {args.filter}", file=sys.stderr)
            return EXIT_USAGE
    hits = collection.search(
        args.query,
        args.limit,
        filter=search_filter,
        mode=args.mode,
        num_candidates=args.num_candidates,
        exact=args.exact,
        rescore_candidates=args.rescore_candidates,
    )
    if args.json:
        print(json.dumps([{"id": hit.id, "score": hit.score, "text": hit.text, "metadata": hit.metadata} for hit in hits], indent=2, ensure_ascii=False, default=str))
        return EXIT_OK
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(_CONTROL_CHARACTERS.sub(" ", hit.text).split())
        snippet = snippet if len(snippet) <= 100 else snippet[:97] + "..."
        print(f"{rank:>3}. {hit.score:.4f}  {hit.id}  {snippet}")
    if not hits:
        print("no hits")
    return EXIT_OK


def _migrate(collection: Collection, args: argparse.Namespace) -> int:
    report = collection.migrate(
        truncate_dim=args.truncate_dim,
        similarity=args.similarity,
        int8=args.int8,
        batch_size=args.batch_size,
        progress=False if args.quiet else None,
        drop_old=args.drop_old,
        abort=args.abort,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif args.abort:
        print(f"discarded the unfinished generation {report.generation}")
    else:
        if report.switched:
            print(f"re-embedded {report.backfilled} documents; searches now use generation {report.generation} ({report.total} documents)")
        if report.dropped:
            print(f"dropped generation(s) {', '.join(map(str, report.dropped))}")
    return EXIT_OK


def _drop(collection: Collection, args: argparse.Namespace) -> int:
    if collection.manifest is None and collection.count() == 0:
        raise ConfigurationError("the collection does not exist; nothing to drop")
    if not args.yes:
        print(
            f"this deletes {collection.count()} documents and their vectors; "
            "run again with --yes to confirm",
            file=sys.stderr,
        )
        return EXIT_USAGE
    count = collection.count()
    collection.store.drop()
    print(json.dumps({"dropped": count}) if args.json else f"dropped the collection ({count} documents)")
    return EXIT_OK


def _status(collection: Collection, args: argparse.Namespace) -> int:
    status = collection.status()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return EXIT_OK
    manifest = status["manifest"]
    print(f"documents: {status['documents']}")
    for key in ("query_model", "document_model", "query_prompt", "query_backend", "dims", "truncate_dim", "similarity", "int8", "filter_fields", "library_version"):
        print(f"{key}: {manifest.get(key)}")
    for generation in status["generations"]:
        print(
            f"generation {generation['generation']} ({generation['role']}): {generation['documents']} documents, "
            f"{generation['document_model']}; index: {generation['index']}"
        )
    return EXIT_OK


def _evaluate(collection: Collection, args: argparse.Namespace) -> int:
    beir = load_beir_queries(args.path, args.split)
    report = collection.index(
        args.path,
        truncate_dim=args.truncate_dim,
        batch_size=args.batch_size,
        progress=False if args.quiet else None,
        int8=args.int8,
    )
    manifest = collection.manifest
    has_int8 = manifest is not None and manifest.int8
    if args.modes is None:
        modes = [mode for mode in SEARCH_MODES if has_int8 or mode not in INT8_MODES]
    else:
        modes = args.modes
        missing = [mode for mode in modes if mode in INT8_MODES and not has_int8]
        if missing:
            raise ConfigurationError(
                f"mode(s) {', '.join(missing)} need int8 vectors; run eval with --int8"
            )
    query_ids = list(beir.queries)
    texts = [beir.queries[qid] for qid in query_ids]
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        hits = collection.search_many(texts, EVAL_DEPTH, mode=mode, exact=not args.approximate)
        results[mode] = score_run(run_ids(hits, query_ids), beir.qrels)
    retention = quality_retention(results)
    if args.json:
        print(json.dumps({"dataset": str(args.path), "queries": len(query_ids), "documents": collection.count(), "exact": not args.approximate, "index": report.to_dict(), "metrics": results, "ndcg@10_retention": retention}, indent=2))
    else:
        print(f"{len(query_ids)} queries, {collection.count()} documents, {'approximate' if args.approximate else 'exact'} search")
        print(format_table(results))
        if retention:
            print("nDCG@10 kept against full float vectors: " + ", ".join(f"{mode} {value:.1%}" for mode, value in retention.items()))
    return EXIT_OK if report.ok else EXIT_BAD_RECORDS


def _quiet_model_loading() -> None:
    """Hide the weight-loading progress bars that transformers prints for every model."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def _redact(message: str) -> str:
    from leafsearch.atlas.uri import redact_text

    return redact_text(message)


if __name__ == "__main__":
    sys.exit(main())
