"""Exceptions raised by leafsearch.

Every error the library raises on purpose derives from :class:`LeafsearchError`, so callers
can catch the whole family with one ``except`` clause. Messages name the value that failed
and the fix; none of them contains credentials.
"""

from __future__ import annotations


class LeafsearchError(Exception):
    """Base class for all leafsearch errors."""


class ConfigurationError(LeafsearchError):
    """A setting is missing, invalid or contradicts another one."""


class ModelLoadError(LeafsearchError):
    """An embedding model could not be loaded from the hub id or directory given."""


class EncodingError(LeafsearchError):
    """A text could not be encoded (empty text, non-finite output)."""


class ManifestMismatchError(LeafsearchError):
    """The collection was built with other models or settings than the ones requested."""


class InvalidFilterError(LeafsearchError):
    """A search filter uses an unsupported operator or a field not declared as a filter field."""


class InvalidQueryError(LeafsearchError):
    """A search parameter is out of range (limit, num_candidates, mode, vector length)."""


class DimensionMismatchError(InvalidQueryError):
    """A query vector's length differs from the indexed field's number of dimensions."""


class StoreError(LeafsearchError):
    """The storage backend failed (I/O, corrupt files, server errors)."""


class BulkWriteFailure(StoreError):
    """Some records of a bulk write failed; ``failures`` maps each record id to its reason."""

    def __init__(self, message: str, failures: dict[str, str]) -> None:
        super().__init__(message)
        self.failures = failures


class IndexNotReadyError(StoreError):
    """A vector search index exists but cannot serve queries yet."""


class IndexTimeoutError(IndexNotReadyError):
    """Waiting for a vector search index (or for new documents to show) timed out."""


class IndexBuildFailedError(StoreError):
    """The server reported a vector search index as FAILED."""


class SearchNotEnabledError(StoreError):
    """The MongoDB server has no search engine (a plain mongod without mongot)."""


class AuthenticationError(StoreError):
    """The MongoDB server rejected the credentials in the connection string."""


class ServerTimeoutError(StoreError):
    """The MongoDB server could not be reached, or a query ran past its time limit."""
