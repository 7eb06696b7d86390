"""The interface that every storage backend implements.

leafsearch ships two: the embedded on-disk store (the default) and the MongoDB Atlas store.
Both return the same ranking for the same data and request, so switching between them is a
change of configuration only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from leafsearch.manifest import Manifest
from leafsearch.types import BackfillBatch, EncodedBatch, Hit, Layout, SearchRequest, WriteReport


class VectorStore(Protocol):
    """One collection of documents with their vectors and manifest."""

    def read_manifest(self) -> Manifest | None:
        """Return the stored manifest, or ``None`` for a new collection."""
        ...

    def write_manifest(self, manifest: Manifest) -> None:
        """Store ``manifest``, replacing any previous one."""
        ...

    def prepare(self, layout: Layout) -> None:
        """Create whatever the layout needs before the first write (files, search indexes)."""
        ...

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Return the stored content hash of each id in ``ids`` that exists."""
        ...

    def upsert(self, batch: EncodedBatch) -> WriteReport:
        """Insert or replace the batch's documents, keyed by id.

        A batch is all-or-nothing on the embedded store. On Atlas, failed records are listed
        in the report and may be retried alone.
        """
        ...

    def count(self) -> int:
        """Return the number of documents in the collection."""
        ...

    def wait_until_searchable(self, ids: Sequence[str], timeout: float) -> None:
        """Block until searches see the documents ``ids``, or raise after ``timeout`` seconds."""
        ...

    def search(self, request: SearchRequest) -> list[Hit]:
        """Run one vector search and return hits, best first."""
        ...

    def drop(self) -> None:
        """Delete the collection, its manifest and its indexes."""
        ...

    # -- generations: re-embedding with another model or other settings -----------------
    #
    # A new generation gets its own vector fields (and, on Atlas, its own search index).
    # Searches keep using the active generation, the one ``prepare`` was last called with,
    # until the caller switches the manifest over. Two generations never share a field.

    def prepare_generation(self, layout: Layout) -> None:
        """Create the fields, files or index of a new generation without activating it."""
        ...

    def iter_backfill(self, layout: Layout, batch_size: int) -> Iterator[BackfillBatch]:
        """Yield the documents that lack ``layout``'s vectors, ``batch_size`` at a time.

        Each batch must be passed to :meth:`write_backfill` before the next is requested.
        After a crash, a new call resumes with the documents still missing.
        """
        ...

    def write_backfill(self, layout: Layout, batch: BackfillBatch, vectors: EncodedBatch) -> None:
        """Store ``layout``'s vectors for the documents of ``batch``.

        ``vectors.ids`` must equal ``batch.ids``, in order. The embedded store writes a batch
        all or nothing. Atlas keeps the documents that succeeded and raises
        :class:`~leafsearch.errors.BulkWriteFailure` listing the others, which the next
        backfill pass retries.
        """
        ...

    def generation_count(self, layout: Layout) -> int:
        """Return how many documents have ``layout``'s vectors."""
        ...

    def wait_until_generation_ready(self, layout: Layout, timeout: float) -> None:
        """Block until ``layout``'s index can serve searches, or raise after ``timeout``."""
        ...

    def drop_generation(self, layout: Layout) -> None:
        """Delete ``layout``'s vectors and index. It must not be the active generation."""
        ...

    def index_status(self, layout: Layout) -> str:
        """Return a one-line state of ``layout``'s search index, for status reports."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
