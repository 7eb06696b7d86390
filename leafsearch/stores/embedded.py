"""The embedded store: one directory per collection, no server.

Layout of ``<root>/<collection>/``:

* ``docs.sqlite``: ids, texts, metadata, content hashes, the row of each document in the
  vector files, and the manifest;
* ``full.f32``, ``truncated.f32``, ``binary.u8`` and, with int8 enabled, ``int8.i8``: raw
  row-major vector files, memory-mapped for search, so opening a store never reads the
  vectors whole. Generation N >= 2 prefixes its files with ``g<N>-``. Row ``r`` of every
  file belongs to the document whose ``row`` is ``r``.

Crash safety: a batch first appends its vectors to the files and syncs them, then commits
its rows in one SQLite transaction that also records the new row count. On open, bytes past
the committed row count (a batch killed between the two steps) are cut off, so a killed
indexing run loses at most its in-flight batch.

Replacing a document appends a new row and leaves the old one unreferenced.

A new generation (re-embedding with another model or settings) is backfilled row by row in
its own files. Its progress is the number of rows written, recorded in the same SQLite
transaction step as for indexing, so a killed backfill also resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

try:
    import fcntl
except ImportError:  # Windows: writers in one process are still serialized by a thread lock.
    fcntl = None  # type: ignore[assignment]

from leafsearch.ann import ANN_MIN_ROWS, HnswIndex, faiss_available, selective
from leafsearch.errors import InvalidQueryError, StoreError
from leafsearch.int8 import int8_rescore_top, int8_top
from leafsearch.manifest import Manifest
from leafsearch.scoring import bit_top_k
from leafsearch.search_params import default_rescore_candidates
from leafsearch.stores.embedded_files import (
    backfill_key,
    check_collection_name,
    file_name,
    vector_files,
)
from leafsearch.stores.embedded_generations import EmbeddedGenerations
from leafsearch.stores.embedded_search import ann_top, exact_float_top, rescore_top
from leafsearch.types import (
    INT8_MODES,
    BackfillBatch,
    EncodedBatch,
    Hit,
    Layout,
    SearchRequest,
    WriteReport,
)

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    row INTEGER NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_SQL_BATCH = 500
_BUSY_TIMEOUT_S = 30.0


@dataclass
class _Snapshot:
    """Memory-mapped vectors and per-row state for one committed row count."""

    rows: int
    full: npt.NDArray[np.float32]
    truncated: npt.NDArray[np.float32]
    binary: npt.NDArray[np.uint8]
    live: npt.NDArray[np.bool_]
    live_count: int
    int8: npt.NDArray[np.int8] | None = None
    metadata: dict[int, dict[str, Any]] | None = None


class EmbeddedStore:
    """A collection stored in a local directory, searched exactly with Atlas score formulas."""

    def __init__(self, root: str | os.PathLike[str], collection: str) -> None:
        check_collection_name(collection)
        self.root = Path(root).expanduser()
        self.collection = collection
        self.path = self.root / collection
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store location {str(self.root)!r} is a file; pass a directory")
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._layout: Layout | None = None
        self._ann: HnswIndex | None = None
        self._ann_unavailable_logged = False
        self._generations = EmbeddedGenerations(self)
        # Reading a collection that does not exist creates nothing; the first write does.
        self._conn: sqlite3.Connection | None = None
        if (self.path / "docs.sqlite").exists():
            self._connect()
        manifest = self.read_manifest()
        if manifest is not None:
            self._layout = manifest.layout()
            self._check_files_complete(self._layout)

    def _check_files_complete(self, layout: Layout) -> None:
        """Raise if a vector file is shorter than its committed rows (read-only check)."""
        rows = self._committed_rows()
        for vector_file in vector_files(layout):
            file_path = self.path / vector_file.name
            needed = rows * vector_file.row_bytes
            actual = file_path.stat().st_size if file_path.exists() else 0
            if actual < needed:
                raise _short_file_error(file_path, actual, rows, needed)

    @property
    def _db(self) -> sqlite3.Connection:
        return self._conn if self._conn is not None else self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path / "docs.sqlite", timeout=_BUSY_TIMEOUT_S, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the embedded store at {str(self.path)!r} ({exc}); it needs a "
                "writable directory (SQLite keeps its write-ahead log next to the data)"
            ) from None
        self._conn = connection
        return connection

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialize writers across threads and processes (fcntl.flock where available).

        Readers never take it: they map only committed rows, so bytes a writer has appended
        but not committed yet are invisible to them.
        """
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / "write.lock", "a+b") as handle:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- manifest -----------------------------------------------------------------------

    def read_manifest(self) -> Manifest | None:
        value = self._meta("manifest")
        return Manifest.from_dict(json.loads(value)) if value else None

    def write_manifest(self, manifest: Manifest) -> None:
        previous = self.read_manifest()
        with self._transaction() as db:
            if previous is not None and previous.generation != manifest.generation:
                # The old generation's files end at the rows committed so far; record that so
                # generation_count and drop_generation still know its extent.
                self._set_meta(db, backfill_key(previous.layout()), str(self._committed_rows()))
            self._set_meta(db, "manifest", json.dumps(manifest.to_dict(), sort_keys=True))
        self._layout = manifest.layout()

    def prepare(self, layout: Layout) -> None:
        self._layout = layout
        self._snapshot = None
        with self._write_lock():
            for vector_file in vector_files(layout):
                (self.path / vector_file.name).touch(exist_ok=True)
            self._discard_uncommitted_rows()

    # -- writes ---------------------------------------------------------------------------

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        if self._conn is None:
            return found
        for start in range(0, len(ids), _SQL_BATCH):
            chunk = list(ids[start : start + _SQL_BATCH])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, content_hash FROM docs WHERE id IN ({marks})"
            found.update(self._db.execute(query, chunk).fetchall())
        return found

    def upsert(self, batch: EncodedBatch) -> WriteReport:
        layout = self._require_layout()
        if len(batch) == 0:
            return WriteReport()
        if len(set(batch.ids)) != len(batch.ids):
            raise StoreError("a batch must not contain the same id twice")
        self._check_shapes(batch, layout)
        with self._write_lock():
            first_row = self._committed_rows()
            self._append_vectors(batch, first_row)
            rows = range(first_row, first_row + len(batch))
            records = [
                (doc_id, row, content_hash, text, json.dumps(meta, sort_keys=True, default=str))
                for doc_id, row, content_hash, text, meta in zip(
                    batch.ids, rows, batch.content_hashes, batch.texts, batch.metadata
                )
            ]
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO docs (id, row, content_hash, text, metadata) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET row = excluded.row, "
                    "content_hash = excluded.content_hash, text = excluded.text, "
                    "metadata = excluded.metadata",
                    records,
                )
                self._set_meta(db, "rows", str(first_row + len(batch)))
        return WriteReport(written=len(batch))

    def count(self) -> int:
        if self._conn is None:
            return 0
        return int(self._conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def wait_until_searchable(self, ids: Sequence[str], timeout: float) -> None:
        # Writes are visible to searches as soon as their transaction commits.
        return None

    def drop(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        self._snapshot = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- search ---------------------------------------------------------------------------
    # The search path: search, build_ann_index and the helpers down to _map. Writes never
    # call into it, except that _current_snapshot reads the committed row count.

    def search(self, request: SearchRequest) -> list[Hit]:
        layout = self._require_layout()
        snapshot = self._current_snapshot(layout)
        if snapshot.rows == 0:
            return []
        mask = self._search_mask(snapshot, layout, request)
        vectors = request.vectors

        if request.mode == "rescore":
            rows, scores = rescore_top(
                snapshot.binary,
                snapshot.full,
                vectors.binary,
                vectors.full,
                layout.binary_bits,
                layout.similarity,
                self._rescore_pool(request, snapshot),
                request.limit,
                mask,
            )
        elif request.mode == "binary":
            rows, scores = bit_top_k(
                snapshot.binary, vectors.binary, layout.binary_bits, request.limit, mask
            )
        elif request.mode in INT8_MODES:
            rows, scores = self._int8_search(snapshot, layout, request, mask)
        elif request.mode == "full" and self._use_ann(snapshot, request, mask):
            rows, scores = ann_top(
                self._ann_index(snapshot, layout),
                snapshot.full,
                vectors.full,
                layout.similarity,
                request.limit,
                request.num_candidates or request.limit,
                mask,
            )
        else:
            full = request.mode == "full"
            rows, scores = exact_float_top(
                snapshot.full if full else snapshot.truncated,
                vectors.full if full else vectors.truncated,
                layout.similarity,
                request.limit,
                mask,
            )
        return self._hits(rows, scores)

    @staticmethod
    def _rescore_pool(request: SearchRequest, snapshot: _Snapshot) -> int:
        """Return the request's candidate count, or the default for this store's size."""
        return request.rescore_candidates or default_rescore_candidates(request.limit, snapshot.live_count)

    def _int8_search(
        self,
        snapshot: _Snapshot,
        layout: Layout,
        request: SearchRequest,
        mask: npt.NDArray[np.bool_] | None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        if snapshot.int8 is None or request.vectors.int8 is None:
            raise InvalidQueryError(
                f"mode {request.mode!r} needs int8 vectors, which collection "
                f"{self.collection!r} does not store; re-index it with --int8 or migrate it"
            )
        if request.mode == "int8":
            return int8_top(snapshot.int8, request.vectors.int8, layout.similarity, request.limit, mask)
        return int8_rescore_top(
            snapshot.binary,
            snapshot.int8,
            request.vectors.binary,
            request.vectors.int8,
            layout.binary_bits,
            layout.similarity,
            self._rescore_pool(request, snapshot),
            request.limit,
            mask,
        )

    def build_ann_index(self) -> int:
        """Build or extend the HNSW graph over every committed row now; return its row count.

        Without this call the graph is built on the first approximate search that needs it.
        """
        layout = self._require_layout()
        snapshot = self._current_snapshot(layout)
        return self._ann_index(snapshot, layout).rows

    def _use_ann(
        self, snapshot: _Snapshot, request: SearchRequest, mask: npt.NDArray[np.bool_] | None
    ) -> bool:
        """Return whether a full-vector search goes to the HNSW graph instead of a scan.

        Exact requests, collections under ANN_MIN_ROWS live documents and selective filters
        scan; so does every search when faiss is not installed.
        """
        if request.exact or request.num_candidates is None or snapshot.live_count < ANN_MIN_ROWS:
            return False
        if mask is not None and selective(int(np.count_nonzero(mask)), snapshot.live_count):
            return False
        if not faiss_available():
            if not self._ann_unavailable_logged:
                logger.warning(
                    "faiss is not installed, so %s is searched exactly; install "
                    "'leafsearch[ann]' for approximate search",
                    self.path,
                )
                self._ann_unavailable_logged = True
            return False
        return True

    def _ann_index(self, snapshot: _Snapshot, layout: Layout) -> HnswIndex:
        index = self._ann
        if index is None or index.dims != layout.dims:
            index = self._ann = HnswIndex(self.path, layout.dims)
        # Row count decides staleness: rows are append-only, so extra rows are added.
        index.sync(snapshot.full)
        return index

    def _search_mask(
        self, snapshot: _Snapshot, layout: Layout, request: SearchRequest
    ) -> npt.NDArray[np.bool_] | None:
        """Return the rows a request may return, or ``None`` when every row qualifies."""
        mask = None if snapshot.live_count == snapshot.rows else snapshot.live
        if request.filter:
            from leafsearch.filters import compile_filter, validate_filter

            validate_filter(request.filter, layout.filter_fields)
            matched = self._filter_mask(snapshot, compile_filter(request.filter))
            mask = matched if mask is None else mask & matched
        return mask

    # -- generations: see EmbeddedGenerations ---------------------------------------------

    def prepare_generation(self, layout: Layout) -> None:
        self._generations.prepare_generation(layout)

    def iter_backfill(self, layout: Layout, batch_size: int) -> Iterator[BackfillBatch]:
        return self._generations.iter_backfill(layout, batch_size)

    def write_backfill(self, layout: Layout, batch: BackfillBatch, vectors: EncodedBatch) -> None:
        self._generations.write_backfill(layout, batch, vectors)

    def generation_count(self, layout: Layout) -> int:
        return self._generations.generation_count(layout)

    def wait_until_generation_ready(self, layout: Layout, timeout: float) -> None:
        # Backfilled rows are searchable as soon as their transaction commits.
        return None

    def drop_generation(self, layout: Layout) -> None:
        self._generations.drop_generation(layout)

    def index_status(self, layout: Layout) -> str:
        return self._generations.index_status(layout)

    def _backfill_rows(self, layout: Layout) -> int:
        value = self._meta(backfill_key(layout))
        return int(value) if value else 0

    def iter_documents(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Yield ``(id, text, metadata)`` for every document, in row order."""
        if self._conn is None:
            return
        cursor = self._conn.execute("SELECT id, text, metadata FROM docs ORDER BY row")
        for doc_id, text, metadata in cursor:
            yield doc_id, text, json.loads(metadata)

    # -- internals ------------------------------------------------------------------------

    def _hits(self, rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]) -> list[Hit]:
        if rows.size == 0:
            return []
        row_list = [int(row) for row in rows]
        marks = ",".join("?" * len(row_list))
        query = f"SELECT row, id, text, metadata FROM docs WHERE row IN ({marks})"
        by_row = {row: (doc_id, text, meta) for row, doc_id, text, meta in self._db.execute(query, row_list)}
        hits = []
        for row, score in zip(row_list, scores):
            doc_id, text, meta = by_row[row]
            hits.append(Hit(id=doc_id, score=float(score), text=text, metadata=json.loads(meta)))
        return hits

    def _filter_mask(
        self, snapshot: _Snapshot, predicate: Callable[[Mapping[str, Any]], bool]
    ) -> npt.NDArray[np.bool_]:
        if snapshot.metadata is None:
            snapshot.metadata = {
                row: json.loads(meta)
                for row, meta in self._db.execute("SELECT row, metadata FROM docs")
            }
        mask = np.zeros(snapshot.rows, dtype=bool)
        for row, meta in snapshot.metadata.items():
            if row < snapshot.rows and predicate(meta):
                mask[row] = True
        return mask

    def _current_snapshot(self, layout: Layout) -> _Snapshot:
        rows = self._committed_rows()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.rows == rows:
            return snapshot
        # One statement reads the row count and the document count from the same database
        # snapshot. Rows are unique and below the committed count, so as many documents as
        # rows means every row is live, which skips reading one row number per document.
        rows, documents = self._db.execute(
            "SELECT (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'rows'), "
            "(SELECT COUNT(*) FROM docs)"
        ).fetchone()
        rows = int(rows or 0)
        if documents >= rows:
            live = np.ones(rows, dtype=bool)
        else:
            live = np.zeros(rows, dtype=bool)
            live_rows = np.fromiter(
                (row for (row,) in self._db.execute("SELECT row FROM docs")), dtype=np.int64
            )
            live[live_rows[live_rows < rows]] = True
        snapshot = _Snapshot(
            rows=rows,
            live_count=int(np.count_nonzero(live)),
            full=self._map(file_name(layout, "full"), np.float32, rows, layout.dims),
            truncated=self._map(file_name(layout, "truncated"), np.float32, rows, layout.truncate_dim),
            binary=self._map(file_name(layout, "binary"), np.uint8, rows, layout.binary_bytes),
            live=live,
            int8=self._map(file_name(layout, "int8"), np.int8, rows, layout.dims) if layout.int8 else None,
        )
        self._snapshot = snapshot
        return snapshot

    def _map(self, name: str, dtype: type[np.generic], rows: int, width: int) -> Any:
        if rows == 0:
            return np.empty((0, width), dtype=dtype)
        return np.memmap(self.path / name, dtype=dtype, mode="r", shape=(rows, width))

    def _append_vectors(self, batch: EncodedBatch, first_row: int) -> None:
        self._write_rows(self._require_layout(), batch, first_row)

    def _write_rows(self, layout: Layout, batch: EncodedBatch, first_row: int) -> None:
        """Write the batch's vectors at ``first_row`` of each file, cutting anything after."""
        for vector_file in vector_files(layout):
            array = getattr(batch, vector_file.field)
            if array is None:
                raise StoreError(f"the batch has no {vector_file.field} vectors but the layout stores them")
            with open(self.path / vector_file.name, "r+b") as handle:
                handle.seek(first_row * vector_file.row_bytes)
                handle.truncate()
                handle.write(np.ascontiguousarray(array).tobytes())
                handle.flush()
                os.fsync(handle.fileno())

    def _discard_uncommitted_rows(self) -> None:
        layout = self._layout
        if layout is None:
            return
        self._truncate_files(layout, self._committed_rows(), damaged_if_short=True)

    def _truncate_files(self, layout: Layout, rows: int, *, damaged_if_short: bool) -> None:
        for vector_file in vector_files(layout):
            file_path = self.path / vector_file.name
            if not file_path.exists():
                continue
            committed_size = rows * vector_file.row_bytes
            actual = file_path.stat().st_size
            if actual > committed_size:
                logger.warning(
                    "discarding %d uncommitted bytes from %s (an interrupted batch)",
                    actual - committed_size,
                    file_path,
                )
                os.truncate(file_path, committed_size)
            elif actual < committed_size and damaged_if_short:
                raise _short_file_error(file_path, actual, rows, committed_size)

    def _check_shapes(self, batch: EncodedBatch, layout: Layout) -> None:
        expected: dict[str, tuple[npt.NDArray[Any], tuple[int, int], type[np.generic]]] = {
            "full": (batch.full, (len(batch), layout.dims), np.float32),
            "truncated": (batch.truncated, (len(batch), layout.truncate_dim), np.float32),
            "binary": (batch.binary, (len(batch), layout.binary_bytes), np.uint8),
        }
        if layout.int8:
            if batch.int8 is None:
                raise StoreError("the collection stores int8 vectors but the batch has none")
            expected["int8"] = (batch.int8, (len(batch), layout.dims), np.int8)
        for name, (array, shape, dtype) in expected.items():
            if array.shape != shape or array.dtype != dtype:
                raise StoreError(
                    f"{name} vectors have shape {array.shape} and dtype {array.dtype}; "
                    f"the collection expects {shape} {np.dtype(dtype)}"
                )
        if not (np.isfinite(batch.full).all() and np.isfinite(batch.truncated).all()):
            raise StoreError("refusing to store non-finite vector values")

    def _require_layout(self) -> Layout:
        if self._layout is None:
            raise StoreError(
                f"collection {self.collection!r} at {self.path} has no manifest; index documents first"
            )
        return self._layout

    def _committed_rows(self) -> int:
        value = self._meta("rows")
        return int(value) if value else 0

    def _meta(self, key: str) -> str | None:
        if self._conn is None:
            return None
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as exc:
            raise StoreError(f"writing to {self.path / 'docs.sqlite'} failed: {exc}") from exc


def _short_file_error(file_path: Path, actual: int, rows: int, needed: int) -> StoreError:
    return StoreError(
        f"{file_path} is {actual} bytes long but its {rows} committed rows need {needed}; "
        "the store is damaged, re-index into a new directory"
    )
