"""The MongoDB Atlas store: documents in a collection, searched with ``$vectorSearch``.

Each document is ``{_id: record id, text, content_hash, <metadata fields>, <full vector>,
<truncated vector>, <packed-bit vector>, [<int8 vector>]}``, with the vectors stored as BSON
binary vectors at the layout's paths. Each generation of vectors has its own paths and its
own search index; searches use the generation that :meth:`AtlasStore.prepare` activated (or
the manifest names). Manifests live in the ``leafsearch_manifests`` collection of the same
database, keyed by collection name. Works with Atlas, atlas-local and mongod 8.2+ with mongot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

from pymongo import MongoClient, ReplaceOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure, PyMongoError
from pymongo.errors import ConfigurationError as PyMongoConfigurationError

from leafsearch.atlas.bson_vectors import to_bson_value
from leafsearch.atlas.definitions import (
    DEFAULT_INDEX_NAME,
    Quantization,
    build_index_definition,
    generation_index_name,
)
from leafsearch.atlas.documents import (
    build_document,
    bulk_write_failures,
    chunks,
    hit_from_document,
    rescored_hits,
)
from leafsearch.atlas.errors import ErrorContext, RetryPolicy, call_with_retries, translate_error
from leafsearch.atlas.generations import AtlasGenerations
from leafsearch.atlas.indexes import SearchIndexes
from leafsearch.atlas.pipelines import DEFAULT_MAX_TIME_MS, SCORE_FIELD, build_search_plan
from leafsearch.atlas.uri import redact_text, redact_uri
from leafsearch.errors import (
    ConfigurationError,
    LeafsearchError,
    StoreError,
)
from leafsearch.manifest import Manifest
from leafsearch.types import BackfillBatch, EncodedBatch, Hit, Layout, SearchRequest, WriteReport

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DATABASE = "leafsearch"
MANIFEST_COLLECTION = "leafsearch_manifests"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 10_000
# Building an index over a large collection takes minutes on small Atlas tiers.
DEFAULT_INDEX_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 2.0
# Ids per $in query when reading content hashes.
ID_CHUNK = 1000
# Content hashes kept for wait_until_searchable. Beyond this count the oldest ids are
# matched on _id alone, so memory stays bounded when no caller waits.
MAX_REMEMBERED_HASHES = 100_000
NAMESPACE_EXISTS = 48
DEFAULT_RETRY_POLICY = RetryPolicy()


class AtlasStore:
    """A :class:`~leafsearch.stores.base.VectorStore` backed by MongoDB Atlas Vector Search."""

    def __init__(
        self,
        uri: str,
        collection: str,
        *,
        database: str = DEFAULT_DATABASE,
        index_name: str | None = None,
        server_selection_timeout_ms: int | None = None,
        max_time_ms: int = DEFAULT_MAX_TIME_MS,
        index_wait_timeout: float = DEFAULT_INDEX_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        update_index: bool = False,
        quantization: Quantization = "none",
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        client: MongoClient[dict[str, Any]] | None = None,
    ) -> None:
        """Connect lazily to ``uri``; ``client`` replaces the connection (and is not closed).

        ``update_index`` lets :meth:`prepare` replace an existing index whose definition
        differs; without it such an index raises :class:`ConfigurationError`.
        """
        if not collection or "$" in collection or collection == MANIFEST_COLLECTION:
            raise ConfigurationError(
                f"invalid collection name {collection!r}: it must be non-empty, contain no '$' "
                f"and differ from {MANIFEST_COLLECTION!r}, where leafsearch keeps manifests"
            )
        self._server = redact_uri(uri)
        self._owns_client = client is None
        if client is None:
            # A keyword argument overrides the same option in the URI, so the default applies
            # only when the URI does not set serverSelectionTimeoutMS itself.
            options: dict[str, Any] = {"appname": "leafsearch"}
            if server_selection_timeout_ms is not None:
                options["serverSelectionTimeoutMS"] = server_selection_timeout_ms
            elif "serverselectiontimeoutms=" not in uri.lower():
                options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_TIMEOUT_MS
            try:
                client = MongoClient(uri, **options)
            except (PyMongoConfigurationError, ValueError) as exc:
                raise ConfigurationError(
                    f"invalid MongoDB connection string {self._server}: {redact_text(str(exc))}"
                ) from None
        self._client = client
        self._db = client[database]
        self._collection: Collection[dict[str, Any]] = self._db[collection]
        self._manifests: Collection[dict[str, Any]] = self._db[MANIFEST_COLLECTION]
        self._name = collection
        self._namespace = f"{database}.{collection}"
        self.index_name = index_name or DEFAULT_INDEX_NAME
        self._max_time_ms = max_time_ms
        self._index_wait_timeout = index_wait_timeout
        self._quantization: Quantization = quantization
        self._retry_policy = retry_policy
        self._layout: Layout | None = None
        self._indexes = SearchIndexes(
            self._collection,
            self._namespace,
            self._call,
            poll_interval=poll_interval,
            update_index=update_index,
            max_time_ms=max_time_ms,
        )
        self._generations = AtlasGenerations(
            self._collection,
            self._namespace,
            self._call,
            self._indexes,
            index_name=self._index_name,
            active_layout=self._active_layout,
            create_collection=self._create_collection,
            quantization=quantization,
            max_time_ms=max_time_ms,
        )
        # Content hash written for each id by upsert(), so wait_until_searchable can tell
        # the new version of a replaced document from the old one.
        self._written_hashes: dict[str, str] = {}

    # --- manifest ----------------------------------------------------------------------------

    def read_manifest(self) -> Manifest | None:
        document = self._call("read manifest", lambda: self._manifests.find_one({"_id": self._name}))
        if document is None:
            return None
        document.pop("_id", None)
        return Manifest.from_dict(document)

    def write_manifest(self, manifest: Manifest) -> None:
        document = {"_id": self._name, **to_bson_value(manifest.to_dict())}
        self._call(
            "write manifest",
            lambda: self._manifests.replace_one({"_id": self._name}, document, upsert=True),
        )

    # --- index lifecycle ---------------------------------------------------------------------

    def prepare(self, layout: Layout) -> None:
        """Create (or check) the collection and the layout's search index, then wait until queryable.

        ``layout`` becomes the active generation: later writes and searches use its paths
        and its index.

        Raises:
            ConfigurationError: if an index of this name exists with another definition and
                ``update_index`` is false.
            IndexBuildFailedError: if the server reports the index as FAILED.
            IndexTimeoutError: if the index is not queryable within ``index_wait_timeout``.
        """
        expected_definition = build_index_definition(layout, quantization=self._quantization)
        self._layout = layout
        self._create_collection()
        name = self._index_name(layout)
        updated = self._indexes.ensure(
            name,
            expected_definition,
            purpose="Allow the update (update_index=True, which rebuilds the index) or drop "
            "the collection",
        )
        self._indexes.wait_until_ready(
            name, self._index_wait_timeout, expected=expected_definition if updated else None
        )

    def wait_until_index_ready(
        self, timeout: float | None = None, *, expected: dict[str, Any] | None = None
    ) -> None:
        """Poll until the active generation's index is queryable, for at most ``timeout`` s.

        See :meth:`SearchIndexes.wait_until_ready` for what counts as ready.
        """
        limit = self._index_wait_timeout if timeout is None else timeout
        self._indexes.wait_until_ready(self._active_index_name(), limit, expected=expected)

    # --- writes ------------------------------------------------------------------------------

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for chunk in chunks(list(ids), ID_CHUNK):
            query = {"_id": {"$in": chunk}}
            documents = self._call("read content hashes", partial(self._find_hashes, query))
            for document in documents:
                if "content_hash" in document:
                    hashes[str(document["_id"])] = str(document["content_hash"])
        return hashes

    def upsert(self, batch: EncodedBatch) -> WriteReport:
        """Replace-or-insert each record by id in one unordered bulk write.

        Records that cannot be encoded (a non-finite vector, a reserved metadata key) and
        records the server rejects are listed in ``WriteReport.failed`` with the reason. The
        others are written. Retrying the failed ids alone never duplicates a document,
        because each write replaces the document with the same ``_id``.
        """
        layout = self._require_layout()
        report = WriteReport()
        operations: list[ReplaceOne[dict[str, Any]]] = []
        op_ids: list[str] = []
        positions: dict[str, int] = {}
        for position, record_id in enumerate(batch.ids):
            positions[record_id] = position  # A repeated id keeps its last version.
        for record_id, position in positions.items():
            try:
                document = build_document(batch, position, layout)
            except LeafsearchError as exc:
                report.failed[record_id] = str(exc)
                continue
            operations.append(ReplaceOne({"_id": record_id}, document, upsert=True))
            op_ids.append(record_id)
        if report.failed:
            logger.warning(
                "%d of %d records not written to %s (invalid): %s",
                len(report.failed),
                len(positions),
                self._namespace,
                ", ".join(list(report.failed)[:10]),
            )
        if not operations:
            return report

        try:
            self._call(
                "bulk upsert",
                lambda: self._collection.bulk_write(operations, ordered=False),
                passthrough=(BulkWriteError,),
            )
            report.written += len(operations)
        except BulkWriteError as error:
            report.failed.update(bulk_write_failures(error.details or {}, op_ids))
            report.written += sum(1 for record_id in op_ids if record_id not in report.failed)
            logger.warning(
                "bulk upsert into %s: %d of %d records failed: %s",
                self._namespace,
                len(report.failed),
                len(positions),
                "; ".join(f"{k}: {v}" for k, v in list(report.failed.items())[:5]),
            )
        for record_id in op_ids:
            if record_id not in report.failed:
                self._written_hashes.pop(record_id, None)
                self._written_hashes[record_id] = batch.content_hashes[positions[record_id]]
        while len(self._written_hashes) > MAX_REMEMBERED_HASHES:
            del self._written_hashes[next(iter(self._written_hashes))]
        return report

    def count(self) -> int:
        return self._call(
            "count documents",
            lambda: self._collection.count_documents({}, maxTimeMS=self._max_time_ms),
        )

    def wait_until_searchable(self, ids: Sequence[str], timeout: float) -> None:
        """Poll the index until every id in ``ids`` is searchable, for at most ``timeout`` s.

        mongot indexes writes asynchronously from the change stream. Each poll runs an exact
        ``$vectorSearch`` on the packed-bit field with ``filter: {_id: {$in: ids},
        content_hash: {$in: hashes}}``. mongot evaluates the filter on its own index, so an
        id comes back only once the index contains it with the content hash this store last
        wrote for it. Ids this store did not write are matched on ``_id`` alone.
        """
        layout = self._require_layout()
        self._indexes.wait_until_visible(
            self._index_name(layout), layout, ids, timeout, self._written_hashes
        )
        for record_id in ids:
            self._written_hashes.pop(record_id, None)

    # --- search ------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> list[Hit]:
        """Run one ``$vectorSearch`` on the active generation's index; see :func:`build_search_plan`."""
        layout = self._require_layout()
        name = self._index_name(layout)
        plan = build_search_plan(request, layout, name, max_time_ms=self._max_time_ms)
        documents = self._call(
            "vector search",
            partial(self._aggregate, plan.pipeline, plan.max_time_ms),
            index_name=name,
        )
        if not documents:
            self._indexes.require_queryable(name)
            return []
        if plan.rescore_limit is None:
            return [hit_from_document(document, float(document[SCORE_FIELD])) for document in documents]

        hits, skipped = rescored_hits(documents, plan, request, layout)
        if skipped:
            logger.warning(
                "%d candidates in %s have no usable %s vector and were skipped",
                skipped,
                self._namespace,
                "int8" if request.mode == "rescore-int8" else "full",
            )
        return hits

    # --- generations: see AtlasGenerations for what each method sends ----------------------

    def prepare_generation(self, layout: Layout) -> None:
        self._generations.prepare(layout)

    def iter_backfill(self, layout: Layout, batch_size: int) -> Iterator[BackfillBatch]:
        return self._generations.iter_backfill(layout, batch_size)

    def write_backfill(self, layout: Layout, batch: BackfillBatch, vectors: EncodedBatch) -> None:
        self._generations.write_backfill(layout, batch, vectors)

    def generation_count(self, layout: Layout) -> int:
        return self._generations.count(layout)

    def wait_until_generation_ready(self, layout: Layout, timeout: float) -> None:
        self._generations.wait_until_ready(layout, timeout)

    def drop_generation(self, layout: Layout) -> None:
        self._generations.drop(layout)

    def index_status(self, layout: Layout) -> str:
        """Return ``"<index name>: <STATUS> (queryable)"``, ``"... (not queryable)"`` or ``"...: missing"``."""
        return self._indexes.status_line(self._index_name(layout))

    # --- cleanup -----------------------------------------------------------------------------

    def drop(self) -> None:
        """Drop the active index, the collection (with every generation's index) and the manifest."""
        name = self._active_index_name()
        try:
            self._indexes.drop(name)
        except OperationFailure as exc:
            # Dropping the collection below removes its search indexes as well.
            logger.debug("drop search index %r: %s", name, redact_text(str(exc)))
        except PyMongoError as exc:
            raise self._translate("drop search index", exc) from None
        self._call("drop collection", lambda: self._collection.drop())
        self._call("delete manifest", lambda: self._manifests.delete_one({"_id": self._name}))
        self._written_hashes.clear()
        self._generations.forget()
        logger.info("dropped %s, its manifest and index %r", self._namespace, name)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- helpers -----------------------------------------------------------------------------

    def _call(
        self,
        action: str,
        operation: Callable[[], T],
        passthrough: tuple[type[PyMongoError], ...] = (),
        *,
        index_name: str | None = None,
    ) -> T:
        context = ErrorContext(
            action, self._namespace, self._server, index_name or self._active_index_name()
        )
        return call_with_retries(operation, context, self._retry_policy, passthrough=passthrough)

    def _translate(self, action: str, exc: PyMongoError) -> LeafsearchError:
        context = ErrorContext(action, self._namespace, self._server, self._active_index_name())
        return translate_error(exc, context)

    def _active_layout(self) -> Layout | None:
        """Return the active layout: the one last prepared, else the manifest's, else None."""
        if self._layout is None:
            manifest = self.read_manifest()
            if manifest is not None:
                self._layout = manifest.layout()
        return self._layout

    def _require_layout(self) -> Layout:
        layout = self._active_layout()
        if layout is None:
            raise StoreError(
                f"{self._namespace} has no manifest; index documents first "
                "(leafsearch index PATH) or call prepare(layout)"
            )
        return layout

    def _index_name(self, layout: Layout) -> str:
        return generation_index_name(self.index_name, layout.generation)

    def _active_index_name(self) -> str:
        return self.index_name if self._layout is None else self._index_name(self._layout)

    def _create_collection(self) -> None:
        # createSearchIndexes fails on a collection that does not exist yet.
        try:
            self._call(
                "create collection",
                lambda: self._db.create_collection(self._name, check_exists=False),
                passthrough=(OperationFailure, CollectionInvalid),
            )
        except (OperationFailure, CollectionInvalid) as exc:
            if getattr(exc, "code", None) != NAMESPACE_EXISTS:
                raise self._translate("create collection", exc) from None

    def _aggregate(self, pipeline: list[dict[str, Any]], max_time_ms: int) -> list[dict[str, Any]]:
        return list(self._collection.aggregate(pipeline, maxTimeMS=max_time_ms))

    def _find_hashes(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self._collection.find(query, {"content_hash": 1}, max_time_ms=self._max_time_ms)
        return list(cursor)
