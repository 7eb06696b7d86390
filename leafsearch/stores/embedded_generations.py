"""Generations of the embedded store: backfill a new set of vector files row by row.

A new generation's files are written in row order. Its progress is the number of rows
written, stored in SQLite after each batch's vectors are synced, so a killed backfill
resumes where it stopped, exactly as indexing does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from leafsearch.errors import StoreError
from leafsearch.stores.embedded_files import backfill_key, empty_batch, vector_files, zero_block
from leafsearch.types import BackfillBatch, EncodedBatch, Layout

if TYPE_CHECKING:
    from leafsearch.stores.embedded import EmbeddedStore


class EmbeddedGenerations:
    """The generation methods of :class:`~leafsearch.stores.embedded.EmbeddedStore`."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store

    def prepare_generation(self, layout: Layout) -> None:
        store = self._store
        with store._write_lock():
            for vector_file in vector_files(layout):
                (store.path / vector_file.name).touch(exist_ok=True)
            store._truncate_files(layout, store._backfill_rows(layout), damaged_if_short=True)

    def iter_backfill(self, layout: Layout, batch_size: int) -> Iterator[BackfillBatch]:
        store = self._store
        total = store._committed_rows()
        while True:
            start = store._backfill_rows(layout)
            if start >= total:
                return
            end = min(total, start + batch_size)
            found = store._db.execute(
                "SELECT row, id, text FROM docs WHERE row >= ? AND row < ? ORDER BY row",
                (start, end),
            ).fetchall()
            batch = BackfillBatch(
                ids=[doc_id for _, doc_id, _ in found],
                texts=[text for _, _, text in found],
                position=start,
                end=end,
                rows=[row for row, _, _ in found],
            )
            if not found:
                # Only replaced (dead) rows here: write placeholder zeros and move on.
                self.write_backfill(layout, batch, empty_batch(layout))
                continue
            yield batch

    def write_backfill(self, layout: Layout, batch: BackfillBatch, vectors: EncodedBatch) -> None:
        store = self._store
        if vectors.ids != batch.ids:
            raise StoreError("backfill vectors must come in the order of the batch's ids")
        block = zero_block(layout, batch.end - batch.position)
        offsets = [row - batch.position for row in batch.rows]
        for vector_file in vector_files(layout):
            source = getattr(vectors, vector_file.field)
            if source is None:
                raise StoreError(f"backfill vectors lack the {vector_file.field} representation")
            getattr(block, vector_file.field)[offsets] = source
        with store._write_lock():
            # Checked under the lock: another process may have backfilled these rows already.
            if batch.position != store._backfill_rows(layout):
                raise StoreError(
                    f"backfill batch starts at row {batch.position} but generation "
                    f"{layout.generation} has {store._backfill_rows(layout)} rows written; "
                    "is another migration running?"
                )
            store._write_rows(layout, block, batch.position)
            with store._transaction() as db:
                store._set_meta(db, backfill_key(layout), str(batch.end))

    def generation_count(self, layout: Layout) -> int:
        store = self._store
        if store._layout is not None and layout.generation == store._layout.generation:
            return store.count()
        query = "SELECT COUNT(*) FROM docs WHERE row < ?"
        return int(store._db.execute(query, (store._backfill_rows(layout),)).fetchone()[0])

    def drop_generation(self, layout: Layout) -> None:
        store = self._store
        if store._layout is not None and layout.generation == store._layout.generation:
            raise StoreError(f"generation {layout.generation} is the active one and cannot be dropped")
        for vector_file in vector_files(layout):
            (store.path / vector_file.name).unlink(missing_ok=True)
        with store._transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (backfill_key(layout),))

    def index_status(self, layout: Layout) -> str:
        store = self._store
        if store._layout is not None and layout.generation == store._layout.generation:
            return "active, searched by exact scan (HNSW for approximate full-vector search)"
        return f"{store._backfill_rows(layout)} of {store._committed_rows()} rows backfilled"
