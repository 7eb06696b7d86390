"""The Python API: one object that indexes into and searches a collection."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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
from leafsearch.errors import StoreError
from leafsearch.indexing import DEFAULT_BATCH_SIZE, IndexReport, index_records, prepare_collection
from leafsearch.manifest import Manifest, check_query_model
from leafsearch.quantization import pack_sign_bits, truncate
from leafsearch.readers import BadRecord, ReaderOptions, SourceRecord, read_corpus
from leafsearch.search_params import check_mode, default_rescore_candidates, resolve_num_candidates
from leafsearch.stores import open_store
from leafsearch.stores.base import VectorStore
from leafsearch.types import Hit, QueryVectors, SearchMode, SearchRequest

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
    ) -> None:
        self.store = store
        self._query_model = query_model
        self._document_model = document_model
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
    ) -> IndexReport:
        """Index a corpus file, a BEIR folder or an iterable of records; return the report."""
        stored = self.store.read_manifest()
        document_model = self._document_model or (stored.document_model if stored else None)
        document_model = document_model or self._query_model or DEFAULT_QUERY_MODEL
        query_model = self._query_model or (stored.query_model if stored else None) or document_model
        encoder = self._encoder(document_model)
        settings = IndexSettings(truncate_dim=truncate_dim, similarity=similarity)
        settings.check(encoder.dims)
        query_prompt = self._encoder(query_model).query_prompt if query_model != document_model else encoder.query_prompt
        requested = Manifest(
            query_model=resolve_model_name(query_model),
            document_model=encoder.model_name,
            query_prompt=query_prompt,
            dims=encoder.dims,
            truncate_dim=truncate_dim,
            similarity=similarity,  # type: ignore[arg-type]
            filter_fields=sorted(set(filter_fields)),
            library_version=__version__,
        )
        manifest = prepare_collection(self.store, requested)
        records = read_corpus(source, reader_options) if isinstance(source, (str, Path)) else source
        return index_records(
            self.store, encoder, manifest, records, batch_size=batch_size, progress=progress
        )

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
    ) -> list[Hit]:
        """Return the ``k`` best hits for ``query``.

        ``mode`` selects the vectors searched: ``full``, ``truncated`` (Matryoshka),
        ``binary`` (sign bits, Hamming) or ``rescore`` (binary candidates ranked again by
        their full vectors). ``filter`` takes the Atlas ``$vectorSearch`` filter operators on
        fields declared as filter fields at index time.
        """
        return self.search_many([query], k, filter=filter, mode=mode, num_candidates=num_candidates, exact=exact)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        mode: SearchMode | str = "rescore",
        num_candidates: int | None = None,
        exact: bool = False,
    ) -> list[list[Hit]]:
        """Run :meth:`search` for several queries, encoding them in one batch."""
        checked_mode = check_mode(mode)
        candidates = resolve_num_candidates(k, num_candidates, exact)
        manifest = self._require_manifest()
        if filter:
            from leafsearch.filters import validate_filter

            validate_filter(filter, manifest.filter_fields)
        encoder = self._encoder(self._query_model or manifest.query_model)
        check_query_model(
            manifest, encoder.model_name, encoder.dims, allow_mismatch=self._allow_model_mismatch
        )
        vectors = encoder.encode_queries(queries)
        results = []
        for full in vectors:
            request = SearchRequest(
                mode=checked_mode,
                vectors=self.query_vectors(full, manifest),
                limit=k,
                num_candidates=candidates,
                exact=exact,
                filter=dict(filter) if filter else None,
                rescore_candidates=default_rescore_candidates(k),
            )
            results.append(self.store.search(request))
        return results

    @staticmethod
    def query_vectors(full: npt.NDArray[np.float32], manifest: Manifest) -> QueryVectors:
        """Derive every stored representation of one unit-norm query vector."""
        return QueryVectors(
            full=full.astype(np.float32, copy=False),
            truncated=truncate(full, manifest.truncate_dim),
            binary=pack_sign_bits(full),
        )

    def _require_manifest(self) -> Manifest:
        manifest = self.store.read_manifest()
        if manifest is None:
            raise StoreError("the collection is empty; index documents first (leafsearch index PATH)")
        return manifest

    def _encoder(self, model: str) -> Encoder:
        key = resolve_model_name(model)
        if key not in self._encoders:
            self._encoders[key] = Encoder(model, device=self._device, query_prompt=self._query_prompt)
        return self._encoders[key]
