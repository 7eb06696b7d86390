"""Re-embedding: move a collection to another model or other settings without mixing vectors.

A migration writes a new generation of vector fields next to the active one and backfills
it batch by batch; like indexing, a killed backfill resumes where it stopped. Searches
switch over only when every document has the new vectors and the new index can serve
queries. The old generation stays until it is dropped on request.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leafsearch.encoding import Encoder
from leafsearch.errors import ConfigurationError
from leafsearch.int8 import calibrate
from leafsearch.manifest import Manifest
from leafsearch.representations import encoded_batch
from leafsearch.stores.base import VectorStore

logger = logging.getLogger(__name__)

DEFAULT_READY_TIMEOUT_S = 600.0
# Settings a migration may change; each defines what the stored vectors are.
MIGRATABLE = ("query_model", "document_model", "query_prompt", "dims", "truncate_dim", "similarity", "int8")


@dataclass
class MigrationReport:
    """Progress and outcome of one ``migrate`` call."""

    generation: int
    backfilled: int = 0
    total: int = 0
    switched: bool = False
    dropped: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _changes(active: Manifest, target: Manifest) -> list[str]:
    return [name for name in MIGRATABLE if getattr(active, name) != getattr(target, name)]


def plan_generation(active: Manifest, target: Manifest) -> Manifest:
    """Return the manifest of the next generation: ``target``'s settings, a new number."""
    if not _changes(active, target):
        raise ConfigurationError(
            "the requested settings equal the collection's; there is nothing to migrate"
        )
    return dataclasses.replace(
        target,
        generation=active.generation + 1,
        int8_ranges=None,
        pending=None,
        previous_generations=[],
        filter_fields=list(active.filter_fields),
        document_count=0,
    )


def start(store: VectorStore, active: Manifest, planned: Manifest) -> Manifest:
    """Record ``planned`` as the pending generation and create its fields and index."""
    active.pending = planned.to_dict()
    store.write_manifest(active)
    store.prepare_generation(planned.layout())
    logger.info("started migration to generation %d (%s)", planned.generation, planned.document_model)
    return planned


def backfill(
    store: VectorStore,
    active: Manifest,
    pending: Manifest,
    encoder: Encoder,
    *,
    batch_size: int,
    progress: bool | None = None,
) -> int:
    """Encode every document that lacks the pending generation's vectors; return the count."""
    from tqdm import tqdm

    layout = pending.layout()
    total = store.count()
    done = store.generation_count(layout)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=total, initial=done, unit="doc", desc="re-embedding", disable=not show, file=sys.stderr)
    written = 0
    try:
        for batch in store.iter_backfill(layout, batch_size):
            encoding = encoder.encode_documents(batch.texts)
            full = encoding.vectors
            invalid = [doc_id for doc_id, ok in zip(batch.ids, encoding.valid) if not ok]
            if invalid:
                logger.warning("documents %s encode to a zero vector; they will not match", invalid)
                full = np.where(encoding.valid[:, None], full, np.float32(0.0)).astype(np.float32)
            if pending.int8 and pending.int8_ranges is None:
                pending.int8_ranges = calibrate(full[encoding.valid]).to_lists()
                active.pending = pending.to_dict()
                store.write_manifest(active)
            vectors = encoded_batch(full, layout, pending.ranges(), ids=batch.ids, texts=batch.texts)
            store.write_backfill(layout, batch, vectors)
            written += len(batch.ids)
            bar.update(len(batch.ids))
    finally:
        bar.close()
    return written


def switch_over(store: VectorStore, active: Manifest, pending: Manifest, timeout: float) -> Manifest:
    """Make ``pending`` the active generation once it covers every document and is ready."""
    layout = pending.layout()
    covered, total = store.generation_count(layout), store.count()
    if covered < total:
        raise ConfigurationError(
            f"generation {pending.generation} has vectors for {covered} of {total} documents; "
            "run leafsearch migrate again to finish the backfill"
        )
    store.wait_until_generation_ready(layout, timeout)
    previous = dataclasses.replace(active, pending=None, previous_generations=[])
    pending.previous_generations = [*active.previous_generations, previous.to_dict()]
    pending.document_count = total
    pending.pending = None
    store.write_manifest(pending)
    store.prepare(layout)
    logger.info("searches now use generation %d", pending.generation)
    return pending


def drop_previous(store: VectorStore, active: Manifest) -> list[int]:
    """Delete the vectors and indexes of every generation before the active one."""
    dropped = []
    for old in active.previous_generations:
        manifest = Manifest.from_dict(old)
        store.drop_generation(manifest.layout())
        dropped.append(manifest.generation)
    active.previous_generations = []
    store.write_manifest(active)
    return dropped


def abort(store: VectorStore, active: Manifest) -> int:
    """Discard the pending generation; searches are unaffected. Return its number."""
    pending = active.pending_manifest()
    if pending is None:
        raise ConfigurationError("no migration is in progress")
    store.drop_generation(pending.layout())
    active.pending = None
    store.write_manifest(active)
    return pending.generation


def run(
    store: VectorStore,
    active: Manifest,
    target: Manifest | None,
    encoder_for: Any,
    *,
    batch_size: int,
    progress: bool | None = None,
    drop_old: bool = False,
    ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
) -> MigrationReport:
    """Start or resume a migration to ``target``, backfill, switch over and optionally drop.

    ``target`` may be None to resume the pending migration, or to only drop old generations.
    ``encoder_for`` maps a model name to an :class:`~leafsearch.encoding.Encoder`.
    """
    started = time.perf_counter()
    pending = active.pending_manifest()
    if pending is None and target is not None and drop_old and not _changes(active, target):
        # Settings equal to the active generation's only ask to drop older generations.
        target = None
    if pending is None and target is not None:
        pending = start(store, active, plan_generation(active, target))
    elif pending is not None and target is not None:
        differing = _changes(pending, target)
        if differing:
            raise ConfigurationError(
                f"a migration to generation {pending.generation} with other settings "
                f"({', '.join(differing)}) is in progress; finish it or run leafsearch migrate --abort"
            )

    report = MigrationReport(generation=active.generation)
    if pending is not None:
        report.generation = pending.generation
        encoder = encoder_for(pending.document_model)
        report.backfilled = backfill(store, active, pending, encoder, batch_size=batch_size, progress=progress)
        report.total = store.count()
        active = switch_over(store, active, pending, ready_timeout)
        report.switched = True
    elif not drop_old:
        raise ConfigurationError(
            "no migration is in progress; pass the new settings (for example --document-model)"
        )
    if drop_old:
        report.dropped = drop_previous(store, active)
    report.seconds = time.perf_counter() - started
    return report
