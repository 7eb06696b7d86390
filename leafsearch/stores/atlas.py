"""The MongoDB Atlas store: documents in a collection, searched with ``$vectorSearch``.

Each document is ``{_id: record id, text, content_hash, <metadata fields>, <full vector>,
<truncated vector>, <packed-bit vector>}``, with the vectors stored as BSON binary vectors
at the layout's paths. Manifests live in the ``leafsearch_manifests`` collection of the same
database, keyed by collection name. Works with Atlas, atlas-local and mongod 8.2+ with mongot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np
from pymongo import MongoClient, ReplaceOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure, PyMongoError
from pymongo.errors import ConfigurationError as PyMongoConfigurationError
from pymongo.operations import SearchIndexModel

from leafsearch.atlas.bson_vectors import binary_to_float32, to_bson_value
from leafsearch.atlas.definitions import (
    DEFAULT_INDEX_NAME,
    Quantization,
    build_index_definition,
    definition_differences,
)
from leafsearch.atlas.documents import (
    build_document,
    bulk_write_failures,
    chunks,
    hit_from_document,
    visibility_pipeline,
)
from leafsearch.atlas.errors import ErrorContext, RetryPolicy, call_with_retries, translate_error
from leafsearch.atlas.pipelines import (
    DEFAULT_MAX_TIME_MS,
    FULL_VECTOR_FIELD,
    SCORE_FIELD,
    build_search_plan,
)
from leafsearch.atlas.uri import redact_text, redact_uri
from leafsearch.errors import (
    ConfigurationError,
    IndexBuildFailedError,
    IndexNotReadyError,
    IndexTimeoutError,
    LeafsearchError,
    StoreError,
)
from leafsearch.manifest import Manifest
from leafsearch.scoring import rescore
from leafsearch.types import EncodedBatch, Hit, Layout, SearchRequest, WriteReport

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DATABASE = "leafsearch"
MANIFEST_COLLECTION = "leafsearch_manifests"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 10_000
# Building an index over a large collection takes minutes on small Atlas tiers.
DEFAULT_INDEX_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 2.0
# Ids per $in query when reading hashes or checking index visibility.
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
        self._poll_interval = poll_interval
        self._update_index = update_index
        self._quantization: Quantization = quantization
        self._retry_policy = retry_policy
        self._layout: Layout | None = None
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
        """Create (or check) the collection and its vector search index, then wait until queryable.

        Raises:
            ConfigurationError: if an index of this name exists with another definition and
                ``update_index`` is false.
            IndexBuildFailedError: if the server reports the index as FAILED.
            IndexTimeoutError: if the index is not queryable within ``index_wait_timeout``.
        """
        expected_definition = build_index_definition(layout, quantization=self._quantization)
        self._layout = layout
        self._create_collection()

        existing = self._list_index()
        updated = False
        if existing is None:
            model = SearchIndexModel(definition=expected_definition, name=self.index_name, type="vectorSearch")
            self._call("create search index", lambda: self._collection.create_search_index(model))
            logger.info("created vector search index %r on %s", self.index_name, self._namespace)
        else:
            if existing.get("type", "vectorSearch") != "vectorSearch":
                raise ConfigurationError(
                    f"index {self.index_name!r} on {self._namespace} is a {existing.get('type')!r} "
                    "index, not vectorSearch; drop it or choose another index name"
                )
            current = existing.get("latestDefinition", existing.get("definition"))
            differences = definition_differences(current, expected_definition)
            if differences and not self._update_index:
                raise ConfigurationError(
                    f"vector search index {self.index_name!r} on {self._namespace} has another "
                    f"definition: {'; '.join(differences)}. Allow the update (update_index=True, "
                    "which rebuilds the index) or drop the collection"
                )
            if differences:
                self._call(
                    "update search index",
                    lambda: self._collection.update_search_index(self.index_name, expected_definition),
                )
                logger.info(
                    "updated vector search index %r on %s: %s",
                    self.index_name,
                    self._namespace,
                    "; ".join(differences),
                )
                updated = True
        self.wait_until_index_ready(expected=expected_definition if updated else None)

    def wait_until_index_ready(
        self, timeout: float | None = None, *, expected: dict[str, Any] | None = None
    ) -> None:
        """Poll ``$listSearchIndexes`` until the index is queryable, for at most ``timeout`` s.

        ``queryable: true`` counts as ready even without ``status: READY``, because
        atlas-local reports it that way. After an update (``expected`` given) the index must
        be READY with ``expected`` as its latest definition, since until then the old
        definition is serving.
        """
        limit = self._index_wait_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        last_state: tuple[Any, Any] | None = None
        while True:
            index = self._list_index()
            status = index.get("status", "UNKNOWN") if index else "DOES_NOT_EXIST"
            queryable = bool(index.get("queryable")) if index else False
            if (status, queryable) != last_state:
                logger.info(
                    "waiting for vector search index %r on %s: status %s, queryable %s",
                    self.index_name,
                    self._namespace,
                    status,
                    queryable,
                )
                last_state = (status, queryable)
            if status == "FAILED":
                raise IndexBuildFailedError(
                    f"vector search index {self.index_name!r} on {self._namespace} FAILED: "
                    f"{_status_message(index)}. Fix the definition (see the server's message), "
                    "drop the index and run again"
                )
            if status == "DELETING":
                raise IndexNotReadyError(
                    f"vector search index {self.index_name!r} on {self._namespace} is being "
                    "deleted; wait for the drop to finish and run again"
                )
            if index and _is_ready(index, queryable, status, expected):
                if status == "STALE":
                    logger.warning(
                        "vector search index %r on %s is STALE: results may be out of date",
                        self.index_name,
                        self._namespace,
                    )
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IndexTimeoutError(
                    f"vector search index {self.index_name!r} on {self._namespace} was not "
                    f"queryable after {limit:.0f} s (last status {status}, queryable "
                    f"{queryable}). Wait and run again, or raise index_wait_timeout"
                )
            time.sleep(min(self._poll_interval, remaining))

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
        pending = list(dict.fromkeys(ids))
        deadline = time.monotonic() + timeout
        logged_count = -1
        while pending:
            try:
                visible = self._visible_ids(pending, layout)
            except IndexNotReadyError:
                visible = set()
            pending = [record_id for record_id in pending if record_id not in visible]
            if not pending:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IndexTimeoutError(
                    f"{len(pending)} of {len(ids)} documents were not searchable in index "
                    f"{self.index_name!r} on {self._namespace} after {timeout:.0f} s "
                    f"(first: {', '.join(pending[:5])}). Wait longer; if it persists, check "
                    "that the vectors have the indexed dimensions"
                )
            if len(pending) != logged_count:
                logger.info(
                    "waiting for %d documents to become searchable in %s",
                    len(pending),
                    self._namespace,
                )
                logged_count = len(pending)
            time.sleep(min(self._poll_interval, remaining))
        for record_id in ids:
            self._written_hashes.pop(record_id, None)

    # --- search ------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> list[Hit]:
        layout = self._require_layout()
        plan = build_search_plan(request, layout, self.index_name, max_time_ms=self._max_time_ms)
        documents = self._call(
            "vector search", partial(self._aggregate, plan.pipeline, plan.max_time_ms)
        )
        if not documents:
            self._check_index_exists()
            return []
        if plan.rescore_limit is None:
            return [hit_from_document(document, float(document[SCORE_FIELD])) for document in documents]

        with_vectors = [document for document in documents if FULL_VECTOR_FIELD in document]
        if len(with_vectors) < len(documents):
            logger.warning(
                "%d candidates in %s have no full vector at %r and were skipped",
                len(documents) - len(with_vectors),
                self._namespace,
                layout.full_path,
            )
        if not with_vectors:
            return []
        full = np.stack([binary_to_float32(d[FULL_VECTOR_FIELD]) for d in with_vectors])
        order, scores = rescore(full, request.vectors.full, layout.similarity, plan.rescore_limit)
        return [hit_from_document(with_vectors[int(i)], float(s)) for i, s in zip(order, scores)]

    # --- cleanup -----------------------------------------------------------------------------

    def drop(self) -> None:
        try:
            self._collection.drop_search_index(self.index_name)
        except OperationFailure as exc:
            # Dropping the collection below removes its search indexes as well.
            logger.debug("drop search index %r: %s", self.index_name, redact_text(str(exc)))
        except PyMongoError as exc:
            raise self._translate("drop search index", exc) from None
        self._call("drop collection", lambda: self._collection.drop())
        self._call("delete manifest", lambda: self._manifests.delete_one({"_id": self._name}))
        self._written_hashes.clear()
        logger.info("dropped %s, its manifest and index %r", self._namespace, self.index_name)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- helpers -----------------------------------------------------------------------------

    def _call(
        self,
        action: str,
        operation: Callable[[], T],
        passthrough: tuple[type[PyMongoError], ...] = (),
    ) -> T:
        context = ErrorContext(action, self._namespace, self._server, self.index_name)
        return call_with_retries(operation, context, self._retry_policy, passthrough=passthrough)

    def _translate(self, action: str, exc: PyMongoError) -> LeafsearchError:
        context = ErrorContext(action, self._namespace, self._server, self.index_name)
        return translate_error(exc, context)

    def _require_layout(self) -> Layout:
        if self._layout is None:
            manifest = self.read_manifest()
            if manifest is None:
                raise StoreError(
                    f"{self._namespace} has no manifest; index documents first "
                    "(leafsearch index PATH) or call prepare(layout)"
                )
            self._layout = manifest.layout()
        return self._layout

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

    def _list_index(self) -> dict[str, Any] | None:
        indexes = self._call(
            "list search indexes",
            lambda: list(self._collection.list_search_indexes(self.index_name)),
        )
        return dict(indexes[0]) if indexes else None

    def _check_index_exists(self) -> None:
        # $vectorSearch on a missing index returns no documents instead of an error.
        index = self._list_index()
        if index is None:
            raise IndexNotReadyError(
                f"no vector search index {self.index_name!r} on {self._namespace}; create it "
                "by indexing documents (leafsearch index PATH) or with prepare(layout)"
            )
        if not index.get("queryable"):
            raise IndexNotReadyError(
                f"vector search index {self.index_name!r} on {self._namespace} is not "
                f"queryable yet (status {index.get('status')}); wait and retry"
            )

    def _visible_ids(self, ids: list[str], layout: Layout) -> set[str]:
        visible: set[str] = set()
        for chunk in chunks(ids, ID_CHUNK):
            pipeline = visibility_pipeline(self.index_name, layout, chunk, self._written_hashes)
            documents = self._call(
                "check searchable ids", partial(self._aggregate, pipeline, self._max_time_ms)
            )
            visible.update(str(document["_id"]) for document in documents)
        return visible


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
