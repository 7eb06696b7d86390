"""Lifecycle of the Atlas vector search indexes of one collection: create, check, wait, drop.

A collection has one index per generation (see
:func:`~leafsearch.atlas.definitions.generation_index_name`), so every method takes the
index name. Server calls go through the store's retrying, error-translating caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.operations import SearchIndexModel

from leafsearch.atlas.definitions import definition_differences
from leafsearch.atlas.documents import chunks, visibility_pipeline
from leafsearch.atlas.uri import redact_text
from leafsearch.errors import (
    ConfigurationError,
    IndexBuildFailedError,
    IndexNotReadyError,
    IndexTimeoutError,
)
from leafsearch.types import Layout

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Server error code for a search index that does not exist.
INDEX_NOT_FOUND = 27
# Ids per $vectorSearch filter when checking which ids an index serves.
ID_CHUNK = 1000


class ServerCaller(Protocol):
    """Runs one server operation with retries and translates its errors for ``index_name``."""

    def __call__(
        self,
        action: str,
        operation: Callable[[], T],
        passthrough: tuple[type[PyMongoError], ...] = ...,
        *,
        index_name: str,
    ) -> T: ...


class SearchIndexes:
    """The ``vectorSearch`` indexes of one collection, addressed by name."""

    def __init__(
        self,
        collection: Collection[dict[str, Any]],
        namespace: str,
        call: ServerCaller,
        *,
        poll_interval: float,
        update_index: bool,
        max_time_ms: int,
    ) -> None:
        self._collection = collection
        self._namespace = namespace
        self._call = call
        self._poll_interval = poll_interval
        self._update_index = update_index
        self._max_time_ms = max_time_ms

    def find(self, name: str) -> dict[str, Any] | None:
        """Return the ``$listSearchIndexes`` entry of index ``name``, or ``None`` if missing."""
        indexes = self._call(
            "list search indexes",
            lambda: list(self._collection.list_search_indexes(name)),
            index_name=name,
        )
        return dict(indexes[0]) if indexes else None

    def ensure(self, name: str, definition: dict[str, Any], *, purpose: str) -> bool:
        """Create index ``name`` with ``definition``, or check (and maybe update) an existing one.

        Returns True when an existing index was updated, so that the caller waits for the new
        definition. ``purpose`` ends the message for a differing definition, naming the fix.

        Raises:
            ConfigurationError: if a non-vectorSearch index has this name, or the existing
                definition differs and ``update_index`` is false.
        """
        existing = self.find(name)
        if existing is None:
            model = SearchIndexModel(definition=definition, name=name, type="vectorSearch")
            self._call(
                "create search index",
                lambda: self._collection.create_search_index(model),
                index_name=name,
            )
            logger.info("created vector search index %r on %s", name, self._namespace)
            return False

        if existing.get("type", "vectorSearch") != "vectorSearch":
            raise ConfigurationError(
                f"index {name!r} on {self._namespace} is a {existing.get('type')!r} "
                "index, not vectorSearch; drop it or choose another index name"
            )
        current = existing.get("latestDefinition", existing.get("definition"))
        differences = definition_differences(current, definition)
        if not differences:
            return False
        if not self._update_index:
            raise ConfigurationError(
                f"vector search index {name!r} on {self._namespace} has another "
                f"definition: {'; '.join(differences)}. {purpose}"
            )
        self._call(
            "update search index",
            lambda: self._collection.update_search_index(name, definition),
            index_name=name,
        )
        logger.info(
            "updated vector search index %r on %s: %s",
            name,
            self._namespace,
            "; ".join(differences),
        )
        return True

    def wait_until_ready(
        self, name: str, timeout: float, *, expected: dict[str, Any] | None = None
    ) -> None:
        """Poll ``$listSearchIndexes`` until index ``name`` is queryable, for at most ``timeout`` s.

        ``queryable: true`` counts as ready even without ``status: READY``, because
        atlas-local reports it that way. After an update (``expected`` given) the index must
        be READY with ``expected`` as its latest definition, since until then the old
        definition is serving.

        Raises:
            IndexBuildFailedError: if the server reports the index as FAILED.
            IndexNotReadyError: if the index is being deleted.
            IndexTimeoutError: if the index is not queryable within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        last_state: tuple[Any, Any] | None = None
        while True:
            index = self.find(name)
            status = index.get("status", "UNKNOWN") if index else "DOES_NOT_EXIST"
            queryable = bool(index.get("queryable")) if index else False
            if (status, queryable) != last_state:
                logger.info(
                    "waiting for vector search index %r on %s: status %s, queryable %s",
                    name,
                    self._namespace,
                    status,
                    queryable,
                )
                last_state = (status, queryable)
            if status == "FAILED":
                raise IndexBuildFailedError(
                    f"vector search index {name!r} on {self._namespace} FAILED: "
                    f"{_status_message(index)}. Fix the definition (see the server's message), "
                    "drop the index and run again"
                )
            if status == "DELETING":
                raise IndexNotReadyError(
                    f"vector search index {name!r} on {self._namespace} is being "
                    "deleted; wait for the drop to finish and run again"
                )
            if index and _is_ready(index, queryable, status, expected):
                if status == "STALE":
                    logger.warning(
                        "vector search index %r on %s is STALE: results may be out of date",
                        name,
                        self._namespace,
                    )
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IndexTimeoutError(
                    f"vector search index {name!r} on {self._namespace} was not "
                    f"queryable after {timeout:.0f} s (last status {status}, queryable "
                    f"{queryable}). Wait and run again, or raise index_wait_timeout"
                )
            time.sleep(min(self._poll_interval, remaining))

    def wait_until_visible(
        self,
        name: str,
        layout: Layout,
        ids: Sequence[str],
        timeout: float,
        written_hashes: Mapping[str, str],
    ) -> None:
        """Poll index ``name`` until it serves every id in ``ids``, for at most ``timeout`` s.

        Each poll runs :func:`~leafsearch.atlas.documents.visibility_pipeline` on
        ``layout``'s packed-bit field. An id in ``written_hashes`` counts only once the index
        has it with that content hash.

        Raises:
            IndexTimeoutError: naming the ids still missing after ``timeout``.
        """
        pending = list(dict.fromkeys(ids))
        deadline = time.monotonic() + timeout
        logged_count = -1
        while pending:
            try:
                visible = self._visible_ids(name, layout, pending, written_hashes)
            except IndexNotReadyError:
                visible = set()
            pending = [record_id for record_id in pending if record_id not in visible]
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IndexTimeoutError(
                    f"{len(pending)} of {len(ids)} documents were not searchable in index "
                    f"{name!r} on {self._namespace} after {timeout:.0f} s "
                    f"(first: {', '.join(pending[:5])}). Wait longer; if it persists, check "
                    "that the vectors have the indexed dimensions"
                )
            if len(pending) != logged_count:
                logger.info(
                    "waiting for %d documents to become searchable in index %r on %s",
                    len(pending),
                    name,
                    self._namespace,
                )
                logged_count = len(pending)
            time.sleep(min(self._poll_interval, remaining))

    def require_queryable(self, name: str) -> None:
        """Raise :class:`IndexNotReadyError` unless index ``name`` exists and is queryable.

        ``$vectorSearch`` on a missing index returns no documents instead of an error, so a
        search with no results calls this to tell the two cases apart.
        """
        index = self.find(name)
        if index is None:
            raise IndexNotReadyError(
                f"no vector search index {name!r} on {self._namespace}; create it "
                "by indexing documents (leafsearch index PATH) or with prepare(layout)"
            )
        if not index.get("queryable"):
            raise IndexNotReadyError(
                f"vector search index {name!r} on {self._namespace} is not "
                f"queryable yet (status {index.get('status')}); wait and retry"
            )

    def drop(self, name: str) -> None:
        """Drop index ``name``; a missing index is not an error."""
        try:
            self._collection.drop_search_index(name)
        except OperationFailure as exc:
            if exc.code != INDEX_NOT_FOUND:
                raise
            logger.debug("drop search index %r: %s", name, redact_text(str(exc)))
            return
        logger.info("dropped vector search index %r on %s", name, self._namespace)

    def status_line(self, name: str) -> str:
        """Return ``"<name>: <STATUS> (queryable)"``, ``"... (not queryable)"`` or ``"<name>: missing"``."""
        index = self.find(name)
        if index is None:
            return f"{name}: missing"
        status = index.get("status", "UNKNOWN")
        state = "queryable" if index.get("queryable") else "not queryable"
        return f"{name}: {status} ({state})"


    def _visible_ids(
        self, name: str, layout: Layout, ids: list[str], written_hashes: Mapping[str, str]
    ) -> set[str]:
        visible: set[str] = set()
        for chunk in chunks(ids, ID_CHUNK):
            pipeline = visibility_pipeline(name, layout, chunk, written_hashes)
            documents = self._call(
                "check searchable ids",
                partial(self._aggregate, pipeline),
                index_name=name,
            )
            visible.update(str(document["_id"]) for document in documents)
        return visible


    def _aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self._collection.aggregate(pipeline, maxTimeMS=self._max_time_ms))


def _is_ready(
    index: Mapping[str, Any], queryable: bool, status: str, expected: dict[str, Any] | None
) -> bool:
    if expected is None:
        return queryable or status == "READY"
    if status != "READY":
        return False
    return not definition_differences(index.get("latestDefinition"), expected)


def _status_message(index: Mapping[str, Any] | None) -> str:
    if not index:
        return "no details"
    messages = [
        str(detail.get("message"))
        for detail in index.get("statusDetail", [])
        if isinstance(detail, Mapping) and detail.get("message")
    ]
    return redact_text("; ".join(messages) or str(index.get("message", "no details")))
