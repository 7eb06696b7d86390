"""Storage backends behind the :class:`~leafsearch.stores.base.VectorStore` interface."""

from __future__ import annotations

from leafsearch.config import is_mongodb_uri
from leafsearch.stores.base import VectorStore


def open_store(location: str, collection: str) -> VectorStore:
    """Open ``collection`` in the embedded store at a directory, or on MongoDB at a URI."""
    if is_mongodb_uri(location):
        from leafsearch.stores.atlas import AtlasStore

        return AtlasStore(location, collection)
    from leafsearch.stores.embedded import EmbeddedStore

    return EmbeddedStore(location, collection)


__all__ = ["VectorStore", "open_store"]
