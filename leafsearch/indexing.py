"""The indexer: stream records in batches, encode changed ones, and upsert all representations."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from leafsearch.encoding import Encoder
from leafsearch.errors import ConfigurationError
from leafsearch.int8 import calibrate
from leafsearch.manifest import Manifest, check_document_settings
from leafsearch.readers import BadRecord, SourceRecord, content_hash
from leafsearch.representations import encoded_batch
from leafsearch.stores.base import VectorStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 256
# Number of documents whose vectors calibrate the int8 ranges; the first batch contains at
# least this many.
INT8_CALIBRATION_SIZE = 1000
DEFAULT_SEARCHABLE_TIMEOUT_S = 120.0


@dataclass
class IndexReport:
    """Counts of one indexing run; ``bad_records`` and ``failed`` list what was not indexed."""

    read: int = 0
    indexed: int = 0
    unchanged: int = 0
    truncated: int = 0
    duplicates: int = 0
    bad_records: list[BadRecord] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad_records and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "truncated": self.truncated,
            "duplicates": self.duplicates,
            "bad_records": [
                {"source": bad.source, "line": bad.line, "reason": bad.reason}
                for bad in self.bad_records
            ],
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }


def prepare_collection(store: VectorStore, requested: Manifest) -> Manifest:
    """Check ``requested`` against the stored manifest, store the result and prepare indexes.

    Filter fields accumulate: fields declared by an earlier run stay declared.
    """
    stored = store.read_manifest()
    if stored is None:
        manifest = requested
    else:
        if stored.pending:
            raise ConfigurationError(
                f"the collection is being migrated to generation {stored.pending['generation']}; "
                "finish that first (leafsearch migrate), then index"
            )
        check_document_settings(stored, requested)
        manifest = stored
        manifest.query_model = requested.query_model
        manifest.query_prompt = requested.query_prompt
        manifest.query_backend = requested.query_backend
        manifest.filter_fields = sorted(set(stored.filter_fields) | set(requested.filter_fields))
        manifest.library_version = requested.library_version
    store.write_manifest(manifest)
    store.prepare(manifest.layout())
    return manifest


def index_records(
    store: VectorStore,
    encoder: Encoder,
    manifest: Manifest,
    records: Iterable[SourceRecord | BadRecord],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool | None = None,
    searchable_timeout: float = DEFAULT_SEARCHABLE_TIMEOUT_S,
) -> IndexReport:
    """Encode and upsert ``records`` batch by batch; return what was done.

    Unchanged documents (same id and content hash) are skipped without encoding. Bad records
    are collected in the report, and every good record is still indexed.
    """
    from tqdm import tqdm

    report = IndexReport()
    started = time.perf_counter()
    first_batch_size = batch_size
    if manifest.int8 and manifest.int8_ranges is None:
        first_batch_size = max(batch_size, INT8_CALIBRATION_SIZE)
    show_progress = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(unit="doc", desc="indexing", disable=not show_progress, file=sys.stderr)
    last_ids: list[str] = []
    try:
        for batch in _batches(records, batch_size, report, first_batch_size):
            written_ids = _index_batch(store, encoder, manifest, batch, report)
            if written_ids:
                last_ids = written_ids
            bar.update(len(batch))
    finally:
        bar.close()

    manifest.document_count = store.count()
    store.write_manifest(manifest)
    if last_ids:
        store.wait_until_searchable(last_ids[-1:], searchable_timeout)
    report.seconds = time.perf_counter() - started
    if report.bad_records:
        first = report.bad_records[0]
        logger.warning("skipped %d bad records, the first: %s", len(report.bad_records), first)
    logger.info(
        "indexed %d documents (%d unchanged, %d bad, %d failed) in %.1f s",
        report.indexed,
        report.unchanged,
        len(report.bad_records),
        len(report.failed),
        report.seconds,
    )
    return report


def _batches(
    records: Iterable[SourceRecord | BadRecord],
    batch_size: int,
    report: IndexReport,
    first_batch_size: int,
) -> Iterator[list[SourceRecord]]:
    batch: dict[str, SourceRecord] = {}
    size = first_batch_size
    # Hashes of the ids read so far, to count records that repeat an id (the last one wins).
    # Storing 64-bit hashes keeps the set small. A collision only changes the count, because
    # records are still keyed by their full id.
    seen: set[int] = set()
    for record in records:
        if isinstance(record, BadRecord):
            logger.debug("skipping %s", record)
            report.bad_records.append(record)
            report.read += 1
            continue
        report.read += 1
        key = hash(record.id)
        if key in seen:
            report.duplicates += 1
        seen.add(key)
        # A later record with the same id replaces an earlier one of the same batch.
        batch.pop(record.id, None)
        batch[record.id] = record
        if len(batch) >= size:
            yield list(batch.values())
            batch = {}
            size = batch_size
    if batch:
        yield list(batch.values())


def _index_batch(
    store: VectorStore,
    encoder: Encoder,
    manifest: Manifest,
    batch: list[SourceRecord],
    report: IndexReport,
) -> list[str]:
    hashes = [content_hash(record.text, record.metadata) for record in batch]
    stored = store.content_hashes([record.id for record in batch])
    changed = [
        (record, digest) for record, digest in zip(batch, hashes) if stored.get(record.id) != digest
    ]
    report.unchanged += len(batch) - len(changed)
    if not changed:
        return []

    encoding = encoder.encode_documents([record.text for record, _ in changed])
    report.truncated += encoding.truncated
    keep = []
    for position, (record, _) in enumerate(changed):
        if encoding.valid[position]:
            keep.append(position)
        else:
            report.bad_records.append(
                BadRecord(record.source, record.line, "the model produced a zero or non-finite vector")
            )
    if not keep:
        return []

    full = encoding.vectors[keep]
    kept = [changed[position] for position in keep]
    if manifest.int8 and manifest.int8_ranges is None:
        # The ranges are fixed by the first batch and reused for every later document and
        # query, so that all int8 codes of a generation are comparable.
        manifest.int8_ranges = calibrate(full).to_lists()
        store.write_manifest(manifest)
        logger.info("calibrated int8 ranges on %d documents", len(full))
    encoded = encoded_batch(
        full,
        manifest.layout(),
        manifest.ranges(),
        ids=[record.id for record, _ in kept],
        texts=[record.text for record, _ in kept],
        metadata=[record.metadata for record, _ in kept],
        content_hashes=[digest for _, digest in kept],
    )
    result = store.upsert(encoded)
    report.indexed += result.written
    report.failed.update(result.failed)
    return [doc_id for doc_id in encoded.ids if doc_id not in result.failed]
