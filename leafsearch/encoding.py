"""Text encoders: load a sentence-transformers model and turn queries and documents into vectors.

Queries get the model's query prompt; documents get none. Every vector leaves this module as
float32 with unit L2 norm.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leafsearch.errors import ConfigurationError, EncodingError, ModelLoadError
from leafsearch.onnx_backend import OnnxQueryEncoder, check_backend

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DEFAULT_QUERY_MODEL = "MongoDB/mdbr-leaf-mt"
TEACHER_MODEL = "mixedbread-ai/mxbai-embed-large-v1"
RETRIEVAL_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "

# Models whose published query prompt is RETRIEVAL_QUERY_PROMPT. Used when a snapshot's
# config_sentence_transformers.json carries no "query" prompt (older mxbai snapshots).
_KNOWN_PROMPT_MODELS = frozenset(
    {
        "MongoDB/mdbr-leaf-mt",
        "MongoDB/mdbr-leaf-ir",
        "MongoDB/mdbr-leaf-mt-asym",
        "MongoDB/mdbr-leaf-ir-asym",
        "mixedbread-ai/mxbai-embed-large-v1",
        "Snowflake/snowflake-arctic-embed-m-v1.5",
    }
)

# Sentinel for "use the model's own prompt" as opposed to an explicit None (no prompt).
MODEL_PROMPT: Any = object()


def normalize_text(text: str) -> str:
    """Return ``text`` in Unicode NFC form."""
    return unicodedata.normalize("NFC", text)


def resolve_model_name(name: str) -> str:
    """Return a local model directory as an absolute path, and a hub id unchanged."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return name


def known_query_prompt(model_name: str) -> str | None:
    """Return the published query prompt for a known model id, else ``None``."""
    return RETRIEVAL_QUERY_PROMPT if model_name in _KNOWN_PROMPT_MODELS else None


def load_sentence_transformer(name: str, device: str | None = None) -> SentenceTransformer:
    """Load a model from a hub id or a local directory, raising :class:`ModelLoadError`."""
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model_name(name)
    is_local = Path(resolved).is_dir()
    if not is_local and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise ModelLoadError(
            f"model directory {name!r} does not exist; pass an existing directory or a hub id "
            "such as MongoDB/mdbr-leaf-mt"
        )
    try:
        return SentenceTransformer(resolved, device=device, local_files_only=is_local)
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "CUDA" in reason or "MPS" in reason:
            raise ModelLoadError(
                f"could not load model {name!r} on device {device!r} ({reason}); "
                "pass --device cpu or --device auto"
            ) from None
        raise ModelLoadError(
            f"could not load model {name!r} ({reason}). If the Hugging Face Hub is "
            "unreachable, download the model elsewhere and pass its local directory "
            "(--query-model / --document-model, or LEAFSEARCH_QUERY_MODEL / "
            "LEAFSEARCH_DOCUMENT_MODEL)"
        ) from None


@dataclass
class DocumentEncoding:
    """Vectors for a batch of documents, with the rows that could not be encoded."""

    vectors: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    truncated: int


class Encoder:
    """A sentence-transformers model used for queries, documents or both.

    ``query_prompt`` defaults to the model's own "query" prompt, then to the published prompt
    of known LEAF and teacher ids. Pass ``None`` to encode queries without a prompt.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        query_prompt: str | None = MODEL_PROMPT,
        batch_size: int = 32,
        backend: str = "torch",
        processes: int = 1,
    ) -> None:
        if processes < 1:
            raise ConfigurationError(f"processes must be at least 1, got {processes}")
        self.model_name = resolve_model_name(model)
        self.batch_size = batch_size
        # Queries only: documents are always encoded by the torch model.
        self.backend = check_backend(backend)
        self._onnx: OnnxQueryEncoder | None = None
        self.device = check_device(device)
        self.processes = processes
        self._pool: dict[Any, Any] | None = None
        self._model = load_sentence_transformer(model, self.device)
        self.is_router = _has_router(self._model)
        if query_prompt is MODEL_PROMPT:
            query_prompt = self._model.prompts.get("query") or known_query_prompt(model)
        self.query_prompt: str | None = query_prompt or None
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dims = get_dimension()
        if dims is None:
            raise ModelLoadError(f"model {model!r} does not report its embedding dimension")
        self.dims: int = int(dims)
        logger.info(
            "loaded model %s (%d dimensions, max %s tokens, query prompt %r)",
            self.model_name,
            self.dims,
            self.max_seq_length,
            self.query_prompt,
        )

    @property
    def max_seq_length(self) -> int | None:
        length = getattr(self._model, "max_seq_length", None)
        return int(length) if length else None

    @property
    def model(self) -> SentenceTransformer:
        return self._model

    def encode_queries(self, queries: Sequence[str]) -> npt.NDArray[np.float32]:
        """Encode queries with the query prompt; raise :class:`EncodingError` on empty text."""
        texts = [normalize_text(query) for query in queries]
        for text in texts:
            if not text.strip():
                raise EncodingError("query text is empty; pass a non-empty query")
        vectors = self._encode_query_texts(texts)
        norms = np.linalg.norm(vectors, axis=-1)
        if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
            raise EncodingError(f"model {self.model_name!r} produced a zero or non-finite vector")
        return (vectors / norms[:, None]).astype(np.float32, copy=False)

    def _encode_query_texts(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if self.backend == "onnx":
            if self._onnx is None:
                self._onnx = OnnxQueryEncoder(self._model)
            return self._onnx.encode(texts, self.query_prompt)
        return self._encode(texts, prompt=self.query_prompt, task="query")

    def encode_documents(self, texts: Sequence[str]) -> DocumentEncoding:
        """Encode document texts without a prompt.

        Texts longer than the model's maximum sequence length are encoded from their leading
        tokens and counted in ``truncated``. Rows with a zero or non-finite vector are marked
        invalid instead of raising, so the caller can report them per record.
        """
        vectors = self._encode(list(texts), prompt=None, task="document")
        norms = np.linalg.norm(vectors, axis=-1)
        valid = np.isfinite(vectors).all(axis=-1) & (norms > 0)
        safe_norms = np.where(valid, norms, 1.0)
        vectors = (vectors / safe_norms[:, None]).astype(np.float32, copy=False)
        return DocumentEncoding(vectors=vectors, valid=valid, truncated=self.count_truncated(texts))

    def count_truncated(self, texts: Sequence[str]) -> int:
        """Count the texts whose token count exceeds the model's maximum sequence length."""
        limit = self.max_seq_length
        tokenizer = getattr(self._model, "tokenizer", None)
        if not limit or tokenizer is None or not texts:
            return 0
        encoded = tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        return sum(1 for ids in encoded["input_ids"] if len(ids) > limit)

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._model.stop_multi_process_pool(self._pool)
            self._pool = None

    def _worker_pool(self) -> dict[Any, Any]:
        if self._pool is None:
            device = self.device or "cpu"
            if device.startswith("cuda") and ":" not in device:
                targets = [f"cuda:{index}" for index in range(self.processes)]
            else:
                targets = [device] * self.processes
            logger.info("starting %d encoder processes on %s", self.processes, ", ".join(targets))
            self._pool = dict(self._model.start_multi_process_pool(targets))
        return self._pool

    def _encode(self, texts: list[str], prompt: str | None, task: str) -> npt.NDArray[np.float32]:
        if not texts:
            return np.empty((0, self.dims), dtype=np.float32)
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "convert_to_numpy": True,
            "normalize_embeddings": False,
            "show_progress_bar": False,
        }
        if self.processes > 1 and len(texts) > self.batch_size:
            options["pool"] = self._worker_pool()
        if self.is_router:
            # A Router model sends queries and documents through different modules. An empty
            # prompt stops encode_query/encode_document from adding a configured one again.
            encode = self._model.encode_query if task == "query" else self._model.encode_document
            vectors = encode(texts, prompt=prompt or "", **options)
        else:
            vectors = self._model.encode(texts, prompt=prompt, **options)
        return np.asarray(vectors, dtype=np.float32)


_DEVICES = ("cpu", "cuda", "mps")


def check_device(device: str | None) -> str | None:
    """Return a torch device string, or None for automatic choice (``auto``)."""
    if device is None or device == "auto":
        return None
    base = device.split(":", 1)[0]
    if base not in _DEVICES:
        raise ConfigurationError(
            f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps"
        )
    return device


def _has_router(model: SentenceTransformer) -> bool:
    try:
        from sentence_transformers.sentence_transformer.modules import Router
    except ImportError:
        try:
            from sentence_transformers.models import Router  # type: ignore[no-redef]
        except ImportError:
            return False
    return any(isinstance(module, Router) for module in model.modules())
