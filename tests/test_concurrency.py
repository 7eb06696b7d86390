"""A reader in one process must never damage a store that another process is writing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from leafsearch.stores.embedded import EmbeddedStore

WORDS = ["vector", "index", "binary", "cosine", "shard", "replica", "cursor", "filter", "batch", "query"]


def test_reader_during_indexing_keeps_rows_intact(tmp_path: Path, minilm_path: str) -> None:
    count = 600
    corpus = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"_id": f"d{i}", "text": f"{WORDS[i % 10]} {WORDS[(i // 10) % 10]} {WORDS[(i // 100) % 10]} note {i}"})
        for i in range(count)
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store_dir = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    writer = subprocess.Popen(
        [sys.executable, "-m", "leafsearch.cli", "index", str(corpus), "--store", str(store_dir),
         "--query-model", minilm_path, "--batch-size", "8", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    reads = 0
    deadline = time.monotonic() + 300
    while writer.poll() is None and time.monotonic() < deadline:
        if (store_dir / "default" / "docs.sqlite").exists():
            reader = EmbeddedStore(store_dir, "default")
            reader.count()
            reader.close()
            reads += 1
        time.sleep(0.01)
    _, stderr = writer.communicate(timeout=60)

    assert writer.returncode == 0, stderr.decode()
    assert reads > 10
    store = EmbeddedStore(store_dir, "default")
    manifest = store.read_manifest()
    assert manifest is not None
    assert store.count() == count
    full = np.fromfile(store_dir / "default" / "full.f32", dtype=np.float32).reshape(-1, manifest.dims)
    assert full.shape[0] == count
    norms = np.linalg.norm(full, axis=1)
    assert np.all(np.abs(norms - 1.0) < 1e-4), f"{int(np.sum(norms < 0.5))} rows were zeroed"
