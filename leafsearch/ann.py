"""Approximate nearest-neighbour search for the embedded store: a faiss HNSW graph.

The graph indexes the full (unit-norm) vectors by inner product, which ranks unit vectors
the same way as cosine, dotProduct and euclidean similarity do. It lives next to the row
files as ``hnsw.faiss`` plus ``hnsw.json``. The row files stay the source of truth: a
missing, unreadable or stale graph is rebuilt or extended from them, so a crash while
writing the graph never loses data. Rows are append-only, so a graph over fewer rows than
the store is extended with the new rows, and a graph over more rows (the store dropped an
interrupted batch) is rebuilt.

faiss, not usearch, provides the graph because importing usearch 2.26.6 before onnxruntime
1.32.0 crashed the interpreter (segmentation fault) in the same environment, and one process
may load both the ONNX query encoder and this index.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leafsearch.errors import StoreError

logger = logging.getLogger(__name__)

INDEX_FILE = "hnsw.faiss"
META_FILE = "hnsw.json"
INDEX_FORMAT = 1

# The embedded store follows the Atlas $vectorSearch guidance: exact search (ENN) for
# collections under 10,000 documents and for pre-filters that match under 5 % of them.
ANN_MIN_ROWS = 10_000
SELECTIVE_FILTER_FRACTION = 0.05

# Graph parameters: M=16 is the default of hnswlib and usearch. efConstruction 100 sits
# between faiss's 40 and usearch's 128, trading build time for recall.
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 100
_ADD_CHUNK_ROWS = 16_384


def load_faiss() -> Any:
    """Import faiss, raising :class:`StoreError` with the install hint when it is missing."""
    try:
        import faiss
    except ImportError:
        raise StoreError(
            "approximate search needs faiss; install it with pip install 'leafsearch[ann]' "
            "or search with exact=True"
        ) from None
    return faiss


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class HnswIndex:
    """An HNSW graph over the rows ``0 .. rows-1`` of a full-vector row file."""

    def __init__(
        self,
        directory: Path,
        dims: int,
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ) -> None:
        self.directory = directory
        self.dims = dims
        self.m = m
        self.ef_construction = ef_construction
        self._lock = threading.Lock()
        self._index: Any = None

    @property
    def rows(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def sync(self, vectors: npt.NDArray[np.float32]) -> None:
        """Make the graph cover exactly the rows of ``vectors``, loading, extending or rebuilding it.

        Saves the graph when it changed. Safe to call from several threads.
        """
        with self._lock:
            if self._index is None:
                self._index = self._load()
            target = vectors.shape[0]
            if self._index is not None and self.rows > target:
                logger.warning(
                    "HNSW graph in %s covers %d rows but the store has %d; rebuilding it",
                    self.directory,
                    self.rows,
                    target,
                )
                self._index = None
            if self._index is None:
                self._index = self._new_index()
            if self.rows == target:
                return
            started = time.perf_counter()
            first = self.rows
            for start in range(first, target, _ADD_CHUNK_ROWS):
                stop = min(target, start + _ADD_CHUNK_ROWS)
                self._index.add(np.ascontiguousarray(vectors[start:stop], dtype=np.float32))
            logger.info(
                "added rows %d..%d to the HNSW graph in %s in %.1f s",
                first,
                target - 1,
                self.directory,
                time.perf_counter() - started,
            )
            self._save()

    def search(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        ef: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.int64]:
        """Return up to ``k`` rows nearest to ``query``, exploring ``ef`` candidates.

        ``allowed`` (one bool per row) restricts the result to rows where it is true.
        """
        faiss = load_faiss()
        index = self._index
        if index is None:
            raise StoreError("the HNSW graph is not loaded; call sync() first")
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef, k)
        bitmap = None
        if allowed is not None:
            bitmap = np.packbits(allowed[: self.rows], bitorder="little")
            selector = faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(bitmap))
            params.sel = selector
        matrix = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        _, labels = index.search(matrix, k, params=params)
        found = labels[0]
        del bitmap
        return found[found >= 0].astype(np.int64, copy=False)

    # -- persistence ----------------------------------------------------------------------

    def _new_index(self) -> Any:
        faiss = load_faiss()
        index = faiss.IndexHNSWFlat(self.dims, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _load(self) -> Any:
        index_path = self.directory / INDEX_FILE
        meta_path = self.directory / META_FILE
        if not index_path.exists() or not meta_path.exists():
            return None
        faiss = load_faiss()
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            index = faiss.read_index(str(index_path))
        except (OSError, ValueError, RuntimeError) as exc:
            logger.warning("cannot read the HNSW graph in %s (%s); rebuilding it", self.directory, exc)
            return None
        expected = {"format": INDEX_FORMAT, "dims": self.dims, "m": self.m, "rows": int(index.ntotal)}
        if any(meta.get(key) != value for key, value in expected.items()) or index.d != self.dims:
            logger.warning(
                "HNSW graph in %s does not match (stored %s, expected %s); rebuilding it",
                self.directory,
                meta,
                expected,
            )
            return None
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _save(self) -> None:
        faiss = load_faiss()
        index_path = self.directory / INDEX_FILE
        temporary = index_path.with_suffix(".faiss.tmp")
        faiss.write_index(self._index, str(temporary))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        meta = {
            "format": INDEX_FORMAT,
            "dims": self.dims,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "rows": self.rows,
        }
        meta_temporary = self.directory / (META_FILE + ".tmp")
        meta_temporary.write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        # The graph file is replaced before its metadata. A crash between the two leaves a
        # row count that disagrees with the graph, which _load detects and rebuilds.
        os.replace(temporary, index_path)
        os.replace(meta_temporary, self.directory / META_FILE)


def selective(matching: int, rows: int) -> bool:
    """Return whether a filter matching ``matching`` of ``rows`` rows should use exact search."""
    return matching < SELECTIVE_FILTER_FRACTION * rows
