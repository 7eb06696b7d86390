"""An int8 ONNX Runtime copy of a sentence-transformers model, for encoding queries on CPU.

The whole model (transformer, pooling, dense head, normalization) is exported with
``torch.onnx.export`` and its MatMul weights are quantized to int8, per output channel, with
ONNX Runtime's dynamic quantization. Quantizing only MatMul, per channel, kept the mean
cosine to the float32 torch output at 0.994 for all-MiniLM-L6-v2 on ten sentences, where
the default settings (per tensor, Gather included) gave 0.967 (onnxruntime 1.32.0, 2-core
AMD EPYC with AVX-512 VNNI).

sentence-transformers' own route (``backend="onnx"`` and
``export_dynamic_quantized_onnx_model``) needs optimum-onnx, whose release 0.1.0 requires
transformers < 4.58 while sentence-transformers 6 requires transformers >= 5, so this module
exports and quantizes with torch and onnxruntime directly.

Exported models are cached under ``$LEAFSEARCH_ONNX_CACHE`` (default
``~/.cache/leafsearch/onnx``), keyed by a hash of the model's weights and configuration.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leafsearch.errors import ConfigurationError, EncodingError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

ENV_ONNX_CACHE = "LEAFSEARCH_ONNX_CACHE"
BACKENDS = ("torch", "onnx")
# Bump when the export or quantization settings change, so old cache entries are not reused.
EXPORT_VERSION = 1
_OPSET = 17
_MODEL_FILE = "model_qint8.onnx"


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigurationError(f"unknown encoder backend {backend!r}; use torch or onnx")
    return backend


def onnx_cache_dir() -> Path:
    configured = os.environ.get(ENV_ONNX_CACHE)
    return Path(configured).expanduser() if configured else Path.home() / ".cache/leafsearch/onnx"


class OnnxQueryEncoder:
    """Runs the int8 ONNX export of ``model`` with the model's own tokenization.

    ``threads`` sets ONNX Runtime's intra-op thread count (its default: one per core).
    """

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        ort = _import_onnxruntime()
        if any(type(module).__name__ == "Router" for module in model.modules()):
            raise ConfigurationError(
                "the onnx backend does not support Router models, which route queries and "
                "documents through different modules; use the torch backend"
            )
        pooling = [module for module in model.modules() if hasattr(module, "include_prompt")]
        if any(not module.include_prompt for module in pooling):
            # NOTE: excluding prompt tokens from pooling needs the prompt length as an extra
            # model input, which this export does not have.
            raise ConfigurationError(
                "the onnx backend does not support models whose pooling excludes the prompt; "
                "use the torch backend"
            )
        self._model = model
        self.path = export_int8_model(model, cache_dir or onnx_cache_dir())
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = [item.name for item in self._session.get_inputs()]

    def encode(self, texts: Sequence[str], prompt: str | None) -> npt.NDArray[np.float32]:
        """Encode ``texts`` with ``prompt`` prepended, as ``SentenceTransformer.encode`` does.

        Each text runs in its own call because dynamic quantization scales activations per
        call: in a batch, the other texts and their padding would change a query's vector.
        On SciFact that cost nDCG@10 0.988 of float32 with 300 queries per call, against
        0.999 with one (scripts/onnx_quantization_variants.py).
        """
        if not texts:
            raise EncodingError("no texts to encode")
        prompted = [prompt + text for text in texts] if prompt else list(texts)
        rows = []
        for text in prompted:
            features = self._model.tokenize([text])
            feeds = {name: features[name].numpy().astype(np.int64) for name in self._input_names}
            (vector,) = self._session.run(["sentence_embedding"], feeds)
            rows.append(vector[0])
        return np.asarray(rows, dtype=np.float32)


def export_int8_model(model: SentenceTransformer, cache_dir: Path) -> Path:
    """Return the cached int8 ONNX file for ``model``, exporting and quantizing it if missing."""
    target = cache_dir / model_fingerprint(model) / _MODEL_FILE
    if target.exists():
        return target
    _import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info("exporting an int8 ONNX copy of the query model to %s", target.parent)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        float_path = Path(scratch) / "model_fp32.onnx"
        _export_float(model, float_path)
        staged = Path(scratch) / "out"
        staged.mkdir()
        # Per-channel int8 MatMul weights kept SciFact nDCG@10 at 0.999 of float32 queries
        # encoded one per call; scripts/onnx_quantization_variants.py compares other settings.
        quantize_dynamic(
            str(float_path),
            str(staged / _MODEL_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        target.parent.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, target.parent)
        except OSError:
            # Another process finished the same export first; its file is equivalent.
            if not target.exists():
                raise
            shutil.rmtree(staged, ignore_errors=True)
    return target


def model_fingerprint(model: SentenceTransformer) -> str:
    """Hash the weights, module stack and maximum sequence length into a cache key."""
    digest = hashlib.sha256(f"leafsearch-onnx-{EXPORT_VERSION}-opset{_OPSET}".encode())
    digest.update(repr([type(module).__name__ for module in model.children()]).encode())
    digest.update(str(getattr(model, "max_seq_length", None)).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def _export_float(model: SentenceTransformer, path: Path) -> None:
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, inner: Any, names: list[str]) -> None:
            super().__init__()
            self.inner = inner
            self.names = names

        def forward(self, *inputs: Any) -> Any:
            return self.inner(dict(zip(self.names, inputs)))["sentence_embedding"]

    sample = model.tokenize(["an example sentence for tracing", "a second one"])
    candidates: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids")
    names = [name for name in candidates if name in sample]
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["sentence_embedding"] = {0: "batch"}
    wrapper = SentenceEmbedding(model, names).eval()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigurationError(
            "the onnx backend needs onnxruntime and onnx; install them with "
            "pip install 'leafsearch[onnx]'"
        ) from None
    return onnxruntime
