"""The Python API: one object that indexes into and searches a collection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leafsearch import __version__
from leafsearch.config import (
    DEFAULT_COLLECTION,
    DEFAULT_TRUNCATE_DIM,
    ENV_COLLECTION,
    ENV_DOCUMENT_MODEL,
    ENV_QUERY_MODEL,
    IndexSettings,
    resolve_option,
    resolve_store,
)
from leafsearch.encoding import DEFAULT_QUERY_MODEL, MODEL_PROMPT, Encoder, resolve_model_name
from leafsearch.errors import InvalidQueryError, StoreError
from leafsearch.indexing import DEFAULT_BATCH_SIZE, IndexReport, index_records, prepare_collection
from leafsearch.manifest import Manifest, check_query_model
from leafsearch.migration import MigrationReport
from leafsearch.model_pairs import check_model_pair, expand_alias
from leafsearch.readers import BadRecord, ReaderOptions, SourceRecord, read_corpus
from leafsearch.representations import query_vectors
from leafsearch.search_params import check_mode, resolve_num_candidates, resolve_rescore_candidates
from leafsearch.stores import open_store
from leafsearch.stores.base import VectorStore
from leafsearch.types import INT8_MODES, Hit, SearchMode, SearchRequest

logger = logging.getLogger(__name__)


class Collection:
    """A searchable collection on the embedded store or on MongoDB Atlas.

    Models load on first use. Without an explicit query model, searches use the query model
    recorded in the collection's manifest.

    Example::

        with Collection.open(collection="docs") as docs:
            docs.index("corpus.jsonl", filter_fields=["module"])
            for hit in docs.search("parse command line arguments", k=5):
                print(hit.score, hit.id)
    """

    def __init__(
        self,
        store: VectorStore,
        *,
        query_model: str | None = None,
        document_model: str | None = None,
        query_prompt: str | None = MODEL_PROMPT,
        device: str | None = None,
        allow_model_mismatch: bool = False,
        allow_unaligned_models: bool = False,
        processes: int = 1,
        query_backend: str = "torch",
    ) -> None:
        from leafsearch.onnx_backend import check_backend

        self.store = store
        # "onnx" runs queries through an int8 ONNX Runtime copy of the query model.
        self._query_backend = check_backend(query_backend)
        self._query_model = expand_alias(query_model) if query_model else None
        self._document_model = expand_alias(document_model) if document_model else None
        self._allow_unaligned_models = allow_unaligned_models
        self._processes = processes
        self._query_prompt = query_prompt
        self._device = device
        self._allow_model_mismatch = allow_model_mismatch
        self._encoders: dict[str, Encoder] = {}

    @classmethod
    def open(
        cls,
        store: str | None = None,
        collection: str | None = None,
        *,
        query_model: str | None = None,
        document_model: str | None = None,
        **options: Any,
    ) -> Collection:
        """Open a collection, filling unset arguments from the environment.

        ``store`` is a directory (embedded store) or a ``mongodb://`` / ``mongodb+srv://``
        URI; it falls back to MONGODB_URI, then LEAFSEARCH_STORE, then a per-user directory.
        """
        location = resolve_store(store)
        name = resolve_option(collection, ENV_COLLECTION) or DEFAULT_COLLECTION
        return cls(
            open_store(location, name),
            query_model=resolve_option(query_model, ENV_QUERY_MODEL),
            document_model=resolve_option(document_model, ENV_DOCUMENT_MODEL),
            **options,
        )

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def manifest(self) -> Manifest | None:
        return self.store.read_manifest()

    def count(self) -> int:
        return self.store.count()

    # -- indexing -------------------------------------------------------------------------

    def index(
        self,
        source: str | Path | Iterable[SourceRecord | BadRecord],
        *,
        filter_fields: Sequence[str] = (),
        truncate_dim: int = DEFAULT_TRUNCATE_DIM,
        similarity: str = "cosine",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        reader_options: ReaderOptions | None = None,
        int8: bool | None = None,
    ) -> IndexReport:
        """Index a corpus file, a BEIR folder or an iterable of records; return the report.

        ``int8`` adds scalar-quantized vectors (ranges calibrated on the first documents);
        ``None`` keeps the collection's setting.
        """
        # Opening the corpus first means a wrong path fails before any setting is stored.
        records = read_corpus(source, reader_options) if isinstance(source, (str, Path)) else source
        stored = self.store.read_manifest()
        requested = self._requested_manifest(stored, filter_fields, truncate_dim, similarity, int8)
        manifest = prepare_collection(self.store, requested)
        encoder = self._encoder(manifest.document_model)
        return index_records(
            self.store, encoder, manifest, records, batch_size=batch_size, progress=progress
        )

    def _requested_manifest(
        self,
        stored: Manifest | None,
        filter_fields: Sequence[str],
        truncate_dim: int,
        similarity: str,
        int8: bool | None,
    ) -> Manifest:
        """Build the manifest that explicit settings, the stored manifest and defaults give."""
        document_model = self._document_model or (stored.document_model if stored else None)
        document_model = document_model or self._query_model or DEFAULT_QUERY_MODEL
        query_model = self._query_model or (stored.query_model if stored else None) or document_model
        document_encoder = self._encoder(document_model)
        query_encoder = self._encoder(query_model, self._query_backend)
        override = check_model_pair(
            query_encoder.model_name,
            document_encoder.model_name,
            query_encoder.dims,
            document_encoder.dims,
            allow_unaligned=self._allow_unaligned_models,
        )
        IndexSettings(truncate_dim=truncate_dim, similarity=similarity).check(document_encoder.dims)
        return Manifest(
            query_model=query_encoder.model_name,
            document_model=document_encoder.model_name,
            query_prompt=query_encoder.query_prompt,
            dims=document_encoder.dims,
            truncate_dim=truncate_dim,
            similarity=similarity,  # type: ignore[arg-type]
            filter_fields=sorted(set(filter_fields)),
            library_version=__version__,
            model_mismatch_override=override,
            int8=int8 if int8 is not None else bool(stored and stored.int8),
            query_backend="onnx-int8" if self._query_backend == "onnx" else "torch",
        )

    # -- re-embedding ---------------------------------------------------------------------

    def migrate(
        self,
        *,
        truncate_dim: int | None = None,
        similarity: str | None = None,
        int8: bool | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        drop_old: bool = False,
        abort: bool = False,
        ready_timeout: float = 600.0,
    ) -> MigrationReport:
        """Re-embed the collection with the models given to this object and/or new settings.

        Searches keep using the current vectors until every document has the new ones and
        their index is ready; then they switch over. Calling it again after a crash resumes
        the backfill. ``drop_old`` deletes earlier generations afterwards; ``abort`` discards
        an unfinished migration.
        """
        from leafsearch import migration

        active = self._require_manifest()
        if abort:
            return MigrationReport(generation=migration.abort(self.store, active))
        target = None
        wants_change = any(
            value is not None
            for value in (self._document_model, self._query_model, truncate_dim, similarity, int8)
        )
        if wants_change:
            target = self._requested_manifest(
                active,
                active.filter_fields,
                truncate_dim if truncate_dim is not None else active.truncate_dim,
                similarity or active.similarity,
                int8 if int8 is not None else active.int8,
            )
        return migration.run(
            self.store,
            active,
            target,
            self._encoder,
            batch_size=batch_size,
            progress=progress,
            drop_old=drop_old,
            ready_timeout=ready_timeout,
        )

    def status(self) -> dict[str, Any]:
        """Return the manifest, document counts per generation and index states."""
        manifest = self._require_manifest()
        generations = []
        entries = [("active", manifest)]
        entries += [("previous", Manifest.from_dict(old)) for old in manifest.previous_generations]
        pending = manifest.pending_manifest()
        if pending is not None:
            entries.append(("pending", pending))
        for role, generation in entries:
            layout = generation.layout()
            generations.append(
                {
                    "generation": generation.generation,
                    "role": role,
                    "document_model": generation.document_model,
                    "query_model": generation.query_model,
                    "documents": self.store.generation_count(layout),
                    "index": self.store.index_status(layout),
                }
            )
        summary = manifest.to_dict()
        summary.pop("int8_ranges", None)
        summary.pop("pending", None)
        summary.pop("previous_generations", None)
        return {"documents": self.store.count(), "manifest": summary, "generations": generations}

    # -- search ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        mode: SearchMode | str = "rescore",
        num_candidates: int | None = None,
        exact: bool = False,
        rescore_candidates: int | None = None,
    ) -> list[Hit]:
        """Return the ``k`` best hits for ``query``.

        ``mode`` selects the vectors searched: ``full``, ``truncated`` (Matryoshka),
        ``binary`` (sign bits, Hamming), ``rescore`` (binary candidates ranked again by
        their full vectors), and with int8 vectors ``int8`` and ``rescore-int8``. ``filter``
        takes the Atlas ``$vectorSearch`` filter operators on fields declared as filter
        fields at index time. ``rescore_candidates`` sets how many binary candidates the
        rescore modes rank again. The default is 40 per hit and at least 400; the embedded
        store also ranks at least one per 500 documents.
        """
        return self.search_many(
            [query],
            k,
            filter=filter,
            mode=mode,
            num_candidates=num_candidates,
            exact=exact,
            rescore_candidates=rescore_candidates,
        )[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        mode: SearchMode | str = "rescore",
        num_candidates: int | None = None,
        exact: bool = False,
        rescore_candidates: int | None = None,
    ) -> list[list[Hit]]:
        """Run :meth:`search` for several queries, encoding them in one batch."""
        checked_mode = check_mode(mode)
        candidates = resolve_num_candidates(k, num_candidates, exact)
        rescore_pool = resolve_rescore_candidates(k, rescore_candidates)
        manifest = self._require_manifest()
        if checked_mode in INT8_MODES and not manifest.int8:
            raise InvalidQueryError(
                f"mode {checked_mode!r} needs int8 vectors, which this collection does not "
                "store; re-index with --int8 or migrate with --int8"
            )
        if filter is not None:
            from leafsearch.filters import validate_filter

            validate_filter(filter, manifest.filter_fields)
        encoder = self._encoder(self._query_model or manifest.query_model, self._query_backend)
        check_query_model(
            manifest, encoder.model_name, encoder.dims, allow_mismatch=self._allow_model_mismatch
        )
        vectors = encoder.encode_queries(queries)
        results = []
        for full in vectors:
            request = SearchRequest(
                mode=checked_mode,
                vectors=query_vectors(full, manifest.layout(), manifest.ranges()),
                limit=k,
                num_candidates=candidates,
                exact=exact,
                filter=dict(filter) if filter else None,
                rescore_candidates=rescore_pool,
            )
            results.append(self.store.search(request))
        return results

    def _require_manifest(self) -> Manifest:
        manifest = self.store.read_manifest()
        if manifest is None:
            raise StoreError("the collection is empty; index documents first (leafsearch index PATH)")
        return manifest

    def _encoder(self, model: str, backend: str = "torch") -> Encoder:
        key = f"{backend}:{resolve_model_name(model)}"
        if key not in self._encoders:
            self._encoders[key] = Encoder(
                model,
                device=self._device,
                query_prompt=self._query_prompt,
                processes=self._processes,
                backend=backend,
            )
        return self._encoders[key]
