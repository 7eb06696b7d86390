"""Pure helpers for generations on Atlas: backfill queries, vector updates, field removal.

A generation's vectors live at the paths of :meth:`Layout.for_generation`, so writing or
removing them never touches another generation's fields. Each generation also has its own
search index (:func:`~leafsearch.atlas.definitions.generation_index_name`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from leafsearch.atlas.definitions import Quantization, build_index_definition
from leafsearch.atlas.documents import bulk_write_failures, vector_values
from leafsearch.atlas.indexes import SearchIndexes, ServerCaller
from leafsearch.errors import BulkWriteFailure, ConfigurationError, LeafsearchError
from leafsearch.types import BackfillBatch, EncodedBatch, Layout

logger = logging.getLogger(__name__)


def backfill_filter(layout: Layout, after_id: str | None = None) -> dict[str, Any]:
    """Return the ``find`` filter for documents that lack ``layout``'s vectors.

    ``after_id`` restricts the query to ids after the previous batch's last id, so a
    document whose write failed is not handed out again in the same pass.
    """
    query: dict[str, Any] = {layout.full_path: {"$exists": False}}
    if after_id is not None:
        query["_id"] = {"$gt": after_id}
    return query


def backfill_updates(
    layout: Layout, batch: BackfillBatch, vectors: EncodedBatch
) -> tuple[list[UpdateOne], list[str], dict[str, str]]:
    """Return ``(operations, ids of the operations, failures)`` for one backfill batch.

    Each operation is ``UpdateOne({_id}, {$set: {<layout's vector paths>: ...}})`` without
    upsert, so a document deleted since the batch was read stays deleted. Records whose
    vectors cannot be encoded are in ``failures`` (id to reason) and get no operation.

    Raises:
        ConfigurationError: if ``vectors`` does not hold one row per id of ``batch``, in order.
    """
    if list(vectors.ids) != list(batch.ids):
        raise ConfigurationError(
            f"backfill vectors are for {len(vectors.ids)} ids that differ from the batch's "
            f"{len(batch.ids)} ids (first: {batch.ids[:3]}); encode batch.texts in order "
            "and pass batch.ids as the vectors' ids"
        )
    operations: list[UpdateOne] = []
    operation_ids: list[str] = []
    failures: dict[str, str] = {}
    for position, record_id in enumerate(batch.ids):
        try:
            values = vector_values(vectors, position, layout)
        except LeafsearchError as exc:
            failures[record_id] = str(exc)
            continue
        operations.append(UpdateOne({"_id": record_id}, {"$set": values}))
        operation_ids.append(record_id)
    return operations, operation_ids, failures


def unset_document(layout: Layout) -> dict[str, Any]:
    """Return the ``$unset`` update that removes every vector field of ``layout``."""
    return {"$unset": {path: "" for path in layout.vector_paths}}


def check_not_active(layout: Layout, active: Layout, action: str) -> None:
    """Raise :class:`ConfigurationError` if ``layout`` shares a vector path with ``active``."""
    shared = sorted(set(layout.vector_paths) & set(active.vector_paths))
    if layout.generation == active.generation or shared:
        raise ConfigurationError(
            f"cannot {action} generation {layout.generation}: it is (or shares fields "
            f"{shared} with) the active generation {active.generation}, which searches use. "
            "Switch the collection to another generation first"
        )


class AtlasGenerations:
    """The generation operations of :class:`~leafsearch.stores.atlas.AtlasStore`.

    The store passes in its collection, its retrying caller and its index manager, and
    callables for the index name of a layout, the active layout and collection creation.
    """

    def __init__(
        self,
        collection: Collection[dict[str, Any]],
        namespace: str,
        call: ServerCaller,
        indexes: SearchIndexes,
        *,
        index_name: Callable[[Layout], str],
        active_layout: Callable[[], Layout | None],
        create_collection: Callable[[], None],
        quantization: Quantization,
        max_time_ms: int,
    ) -> None:
        self._collection = collection
        self._namespace = namespace
        self._call = call
        self._indexes = indexes
        self._index_name = index_name
        self._active_layout = active_layout
        self._create_collection = create_collection
        self._quantization: Quantization = quantization
        self._max_time_ms = max_time_ms
        # Definition that prepare() updated an index to, per index name, so that
        # wait_until_ready waits for it instead of the old one.
        self._updated_definitions: dict[str, dict[str, Any]] = {}
        # Ids of the last successful write_backfill() per generation, for the visibility check.
        self._last_backfilled: dict[int, list[str]] = {}

    def forget(self) -> None:
        """Clear what this object remembers of past writes (after the collection is dropped)."""
        self._updated_definitions.clear()
        self._last_backfilled.clear()

    def prepare(self, layout: Layout) -> None:
        """Create ``layout``'s search index without activating it or waiting for it.

        An existing index with the same definition is kept, so a resumed migration can call
        this again. Wait with :meth:`wait_until_ready`.

        Raises:
            ConfigurationError: if ``layout`` shares fields with the active generation, or
                its index exists with another definition and ``update_index`` is false.
        """
        active = self._active_layout()
        if active is not None:
            check_not_active(layout, active, "prepare")
        definition = build_index_definition(layout, quantization=self._quantization)
        self._create_collection()
        name = self._index_name(layout)
        updated = self._indexes.ensure(
            name,
            definition,
            purpose=f"Drop the unfinished generation {layout.generation} (drop_generation) "
            "or allow the update (update_index=True)",
        )
        if updated:
            self._updated_definitions[name] = definition

    def iter_backfill(self, layout: Layout, batch_size: int) -> Iterator[BackfillBatch]:
        """Yield the documents that lack ``layout``'s vectors, in ``_id`` order, ``batch_size`` at a time.

        Each batch comes from a new query for documents without ``layout.full_path`` after
        the previous batch's last id, so nothing is held open between batches. One call makes
        one pass: a document whose write failed in this pass, or that was inserted behind
        it, is yielded by the next call. A call after a crash resumes with the documents
        still missing.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
        name = self._index_name(layout)
        after_id: Any = None
        while True:
            query = backfill_filter(layout, after_id)
            documents = self._call(
                "read documents to backfill",
                partial(self._find_backfill, query, batch_size),
                index_name=name,
            )
            if not documents:
                return
            after_id = documents[-1]["_id"]
            yield BackfillBatch(
                ids=[str(document["_id"]) for document in documents],
                texts=[str(document.get("text", "")) for document in documents],
            )

    def write_backfill(self, layout: Layout, batch: BackfillBatch, vectors: EncodedBatch) -> None:
        """Set ``layout``'s vector fields on the documents of ``batch`` in one unordered bulk write.

        Only ``layout``'s paths are written, with ``$set`` on each id (no upsert). Atlas
        writes documents one by one, so the batch is not all or nothing: the documents that
        did not fail keep their new vectors, and the failed ones are yielded again by the
        next :meth:`iter_backfill` call.

        Raises:
            ConfigurationError: if ``layout`` shares fields with the active generation, or
                ``vectors`` does not match ``batch``.
            BulkWriteFailure: listing each failed id with the reason.
        """
        active = self._active_layout()
        if active is not None:
            check_not_active(layout, active, "backfill")
        name = self._index_name(layout)
        operations, operation_ids, failures = backfill_updates(layout, batch, vectors)
        if operations:
            try:
                self._call(
                    "write backfill",
                    lambda: self._collection.bulk_write(operations, ordered=False),
                    passthrough=(BulkWriteError,),
                    index_name=name,
                )
            except BulkWriteError as error:
                failures.update(bulk_write_failures(error.details or {}, operation_ids))
        written = [record_id for record_id in operation_ids if record_id not in failures]
        if written:
            self._last_backfilled[layout.generation] = written
        if failures:
            logger.warning(
                "backfill of generation %d in %s: %d of %d documents failed: %s",
                layout.generation,
                self._namespace,
                len(failures),
                len(batch.ids),
                "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5]),
            )
            raise BulkWriteFailure(
                f"{len(failures)} of {len(batch.ids)} documents in {self._namespace} got no "
                f"generation {layout.generation} vectors (first: "
                f"{', '.join(list(failures)[:5])}); run the backfill again to retry them",
                failures,
            )

    def count(self, layout: Layout) -> int:
        """Return how many documents have ``layout``'s full vector."""
        return self._call(
            "count generation documents",
            lambda: self._collection.count_documents(
                {layout.full_path: {"$exists": True}}, maxTimeMS=self._max_time_ms
            ),
            index_name=self._index_name(layout),
        )

    def wait_until_ready(self, layout: Layout, timeout: float) -> None:
        """Wait until ``layout``'s index is queryable and serves the last backfilled ids.

        Only ids written by this store object are checked, so after a restart this waits
        for the index alone.

        Raises:
            IndexBuildFailedError: if the server reports the index as FAILED.
            IndexTimeoutError: if the index or the ids are not ready within ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        name = self._index_name(layout)
        expected = self._updated_definitions.get(name)
        self._indexes.wait_until_ready(name, timeout, expected=expected)
        self._updated_definitions.pop(name, None)
        last_ids = self._last_backfilled.get(layout.generation, [])
        if last_ids:
            remaining = max(0.0, deadline - time.monotonic())
            self._indexes.wait_until_visible(name, layout, last_ids, remaining, {})

    def drop(self, layout: Layout) -> None:
        """Drop ``layout``'s search index, then remove its vector fields from every document.

        Raises:
            ConfigurationError: if ``layout`` is (or shares fields with) the active generation.
        """
        active = self._active_layout()
        if active is not None:
            check_not_active(layout, active, "drop")
        name = self._index_name(layout)
        # The index goes first, so that mongot does not re-index every document as its
        # vectors are removed.
        self._call("drop search index", lambda: self._indexes.drop(name), index_name=name)
        result = self._call(
            "remove generation vectors",
            lambda: self._collection.update_many({}, unset_document(layout)),
            index_name=name,
        )
        self._last_backfilled.pop(layout.generation, None)
        self._updated_definitions.pop(name, None)
        logger.info(
            "dropped generation %d of %s: index %r, vectors removed from %d documents",
            layout.generation,
            self._namespace,
            name,
            result.modified_count,
        )

    def _find_backfill(self, query: dict[str, Any], batch_size: int) -> list[dict[str, Any]]:
        cursor = self._collection.find(
            query, {"text": 1}, sort=[("_id", 1)], limit=batch_size, max_time_ms=self._max_time_ms
        )
        return list(cursor)
