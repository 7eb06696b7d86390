"""Storage backends behind the :class:`~leafsearch.stores.base.VectorStore` interface."""

from __future__ import annotations

from leafsearch.config import is_mongodb_uri
from leafsearch.stores.base import VectorStore


def database_from_uri(uri: str) -> str | None:
    """Return the database named in a MongoDB URI's path (``mongodb://host/NAME?...``), if any.

    Parsed by hand because pymongo's parser resolves ``mongodb+srv`` hosts through DNS.
    """
    rest = uri.split("://", 1)[1]
    path = rest.split("?", 1)[0]
    if "/" not in path:
        return None
    name = path.split("/", 1)[1]
    return name or None


def open_store(location: str, collection: str) -> VectorStore:
    """Open ``collection`` in the embedded store at a directory, or on MongoDB at a URI.

    On MongoDB the database is the one the URI names, else ``leafsearch``.
    """
    from leafsearch.stores.embedded_files import check_collection_name

    # One naming rule on both stores, checked before any connection is made.
    check_collection_name(collection)
    if is_mongodb_uri(location):
        from leafsearch.stores.atlas import DEFAULT_DATABASE, AtlasStore

        return AtlasStore(location, collection, database=database_from_uri(location) or DEFAULT_DATABASE)
    from leafsearch.stores.embedded import EmbeddedStore

    return EmbeddedStore(location, collection)


__all__ = ["VectorStore", "open_store"]
