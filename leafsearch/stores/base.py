"""The interface that every storage backend implements.

leafsearch ships two: the embedded on-disk store (the default) and the MongoDB Atlas store.
Both return the same ranking for the same data and request, so switching between them is a
change of configuration only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from leafsearch.manifest import Manifest
from leafsearch.types import EncodedBatch, Hit, Layout, SearchRequest, WriteReport


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

    def close(self) -> None:
        """Release files and connections."""
        ...
