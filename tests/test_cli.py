"""The ``leafsearch`` command, run in-process through ``main`` and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from leafsearch.cli import EXIT_BAD_RECORDS, EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from leafsearch.collection import Collection
from leafsearch.errors import LeafsearchError

ENV_NAMES = (
    "MONGODB_URI",
    "LEAFSEARCH_STORE",
    "LEAFSEARCH_COLLECTION",
    "LEAFSEARCH_QUERY_MODEL",
    "LEAFSEARCH_DOCUMENT_MODEL",
)

DOCS = [
    {"_id": "s1", "text": "The telescope photographed a distant spiral galaxy.", "topic": "space"},
    {
        "_id": "s2",
        "text": "Astronauts repaired the solar array on the space station.",
        "topic": "space",
    },
    {"_id": "a1", "text": "The puppy chased its tail around the garden.", "topic": "animals"},
    {
        "_id": "a2",
        "text": "Elephants remember the paths to distant water holes.",
        "topic": "animals",
    },
    {
        "_id": "c1",
        "text": "Whisk the eggs and sugar until the mixture is pale.",
        "topic": "cooking",
    },
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unset leafsearch variables, restoring them even if a .env file sets them in-process."""
    for name in ENV_NAMES:
        # setenv first, so that monkeypatch restores the original state after main() runs
        # load_dotenv, which writes into os.environ.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main`` and return (exit code, stdout, stderr); argparse exits become codes."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code) if exc.code is not None else 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ENV_NAMES}
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.update(extra)
    return env


def run_subprocess(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leafsearch.cli", *args],
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {stderr!r}"
    assert lines[0].startswith("leafsearch: error: ")
    return lines[0]


def store_rows(store: Path, collection: str = "default") -> int:
    with Collection.open(str(store), collection) as opened:
        return opened.count()


@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory: pytest.TempPathFactory, minilm_path: str) -> Path:
    """A store whose collection "docs" holds DOCS, with "topic" declared as a filter field."""
    root = tmp_path_factory.mktemp("cli-indexed")
    corpus = write_jsonl(root / "corpus.jsonl", DOCS)
    with Collection.open(str(root / "store"), "docs", query_model=minilm_path) as collection:
        report = collection.index(corpus, filter_fields=["topic"], progress=False)
    assert report.indexed == len(DOCS)
    return root / "store"


# -- index exit codes ---------------------------------------------------------------------


def test_index_clean_exits_zero(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)
    store = tmp_path / "store"

    code, out, err = run_cli(
        capsys, "index", str(corpus), "--store", str(store), "--query-model", minilm_path, "--quiet"
    )

    assert code == EXIT_OK
    assert f"indexed {len(DOCS)} documents" in out
    assert "skipped" not in err
    assert store_rows(store) == len(DOCS)


def test_index_bad_records_exits_three(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps(DOCS[0]),
        "{not json",
        json.dumps({"_id": "x", "text": 7}),
        json.dumps(DOCS[2]),
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = tmp_path / "store"

    code, out, err = run_cli(
        capsys, "index", str(corpus), "--store", str(store), "--query-model", minilm_path, "--quiet"
    )

    assert code == EXIT_BAD_RECORDS
    assert "indexed 2 documents" in out
    assert f"{corpus}:2: invalid JSON" in err
    assert f"{corpus}:3: text field 'text' is int" in err

    code, out, err = run_cli(
        capsys, "search", DOCS[2]["text"], "--store", str(store), "-k", "1", "--json"
    )
    assert code == EXIT_OK
    assert json.loads(out)[0]["id"] == DOCS[2]["_id"]


def test_subprocess_bad_records_then_search(tmp_path: Path, minilm_path: str) -> None:
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps(doc) for doc in DOCS] + ['"just a string"']
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = tmp_path / "store"

    indexed = run_subprocess(
        tmp_path,
        "index",
        str(corpus),
        "--store",
        str(store),
        "--query-model",
        minilm_path,
        "--batch-size",
        "2",
        "--quiet",
        "--json",
    )
    assert indexed.returncode == EXIT_BAD_RECORDS, indexed.stderr
    assert "Traceback" not in indexed.stderr
    report = json.loads(indexed.stdout)
    assert report["indexed"] == len(DOCS)
    assert report["bad_records"] == [
        {"source": str(corpus), "line": len(DOCS) + 1, "reason": "expected a JSON object, got str"}
    ]

    with Collection.open(str(store), "default", query_model=minilm_path) as collection:
        hits = collection.search("a photograph of a galaxy", 1, mode="full", exact=True)
    assert hits[0].id == "s1"


# -- usage errors -------------------------------------------------------------------------


def test_usage_errors_exit_two(
    tmp_path: Path, indexed_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(indexed_store)

    code, _, err = run_cli(
        capsys, "search", "galaxy", "--store", store, "--collection", "docs", "--mode", "nearest"
    )
    assert code == EXIT_USAGE
    assert "invalid choice: 'nearest'" in err

    code, _, err = run_cli(
        capsys,
        "search",
        "galaxy",
        "--store",
        store,
        "--collection",
        "docs",
        "--filter",
        "{topic: space}",
    )
    assert code == EXIT_USAGE
    assert "--filter is not valid JSON" in err

    code, _, err = run_cli(capsys, "index", "--store", store)
    assert code == EXIT_USAGE
    assert "required: path" in err

    code, _, err = run_cli(capsys, "search", "--store", store)
    assert code == EXIT_USAGE
    assert "required: query" in err

    code, _, err = run_cli(capsys, "frobnicate")
    assert code == EXIT_USAGE


def test_eval_unknown_mode_exits_two(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_beir(tmp_path / "beir")

    code, _, err = run_cli(
        capsys,
        "eval",
        str(folder),
        "--store",
        str(tmp_path / "store"),
        "--query-model",
        minilm_path,
        "--modes",
        "full,nearest",
        "--quiet",
    )

    assert "nearest" in err
    assert code == EXIT_USAGE


# -- one-line errors ----------------------------------------------------------------------


def test_missing_model_dir_one_line(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)
    missing = tmp_path / "no-such-model"

    result = run_subprocess(
        tmp_path,
        "index",
        str(corpus),
        "--store",
        str(tmp_path / "store"),
        "--query-model",
        str(missing),
        "--quiet",
    )

    assert result.returncode == EXIT_ERROR
    line = assert_one_line_error(result.stderr)
    assert str(missing) in line
    assert "does not exist" in line


def test_search_empty_collection_one_line(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "search",
        "anything",
        "--store",
        str(tmp_path / "store"),
        "--query-model",
        minilm_path,
    )

    assert code == EXIT_ERROR
    line = assert_one_line_error(err)
    assert "empty" in line
    assert out == ""


def test_undeclared_filter_field_one_line(
    indexed_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "search",
        "galaxy",
        "--store",
        str(indexed_store),
        "--collection",
        "docs",
        "--filter",
        '{"author": "Ada"}',
    )

    assert code == EXIT_ERROR
    line = assert_one_line_error(err)
    assert "author" in line
    assert out == ""


def test_unsupported_filter_operator_one_line(
    indexed_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "search",
        "galaxy",
        "--store",
        str(indexed_store),
        "--collection",
        "docs",
        "--filter",
        '{"topic": {"$regex": "^sp"}}',
    )

    assert code == EXIT_ERROR
    line = assert_one_line_error(err)
    assert "$regex" in line
    assert out == ""


# -- JSON output and filters --------------------------------------------------------------


def test_index_json_keys(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)

    code, out, _ = run_cli(
        capsys,
        "index",
        str(corpus),
        "--store",
        str(tmp_path / "store"),
        "--query-model",
        minilm_path,
        "--quiet",
        "--json",
    )

    report = json.loads(out)
    assert code == EXIT_OK
    assert set(report) == {
        "read",
        "indexed",
        "unchanged",
        "truncated",
        "duplicates",
        "bad_records",
        "failed",
        "seconds",
    }
    assert report["duplicates"] == 0
    assert report["read"] == len(DOCS)
    assert report["indexed"] == len(DOCS)
    assert report["unchanged"] == 0
    assert report["bad_records"] == []
    assert report["failed"] == {}


def test_search_json_keys(indexed_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "search",
        "photographs of galaxies",
        "--store",
        str(indexed_store),
        "--collection",
        "docs",
        "-k",
        "3",
        "--json",
    )

    hits = json.loads(out)
    assert code == EXIT_OK
    assert len(hits) == 3
    for hit in hits:
        assert set(hit) == {"id", "score", "text", "metadata"}
    assert hits[0]["id"] == "s1"
    assert hits[0]["metadata"] == {"topic": "space"}
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]


def test_search_filter_restricts_hits(
    indexed_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--store", str(indexed_store), "--collection", "docs", "-k", "10", "--json"]

    code, out, _ = run_cli(capsys, "search", "galaxy", *common, "--filter", '{"topic": "animals"}')
    filtered = json.loads(out)
    code_in, out_in, _ = run_cli(
        capsys, "search", "galaxy", *common, "--filter", '{"topic": {"$in": ["space", "cooking"]}}'
    )
    filtered_in = json.loads(out_in)
    _, out_all, _ = run_cli(capsys, "search", "galaxy", *common)
    unfiltered = json.loads(out_all)

    assert code == EXIT_OK
    assert sorted(hit["id"] for hit in filtered) == ["a1", "a2"]
    assert code_in == EXIT_OK
    assert sorted(hit["id"] for hit in filtered_in) == ["c1", "s1", "s2"]
    assert len(unfiltered) == len(DOCS)


def write_beir(folder: Path) -> Path:
    folder.mkdir()
    write_jsonl(
        folder / "corpus.jsonl", [{"_id": d["_id"], "title": "", "text": d["text"]} for d in DOCS]
    )
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "q1", "text": "pictures of a galaxy"},
            {"_id": "q2", "text": "a dog in the garden"},
        ],
    )
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\ts1\t1\nq2\ta1\t1\n", encoding="utf-8"
    )
    return folder


def test_eval_json_keys(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_beir(tmp_path / "tiny")

    code, out, _ = run_cli(
        capsys,
        "eval",
        str(folder),
        "--store",
        str(tmp_path / "store"),
        "--query-model",
        minilm_path,
        "--modes",
        "full,rescore",
        "--quiet",
        "--json",
    )

    result = json.loads(out)
    assert code == EXIT_OK
    assert set(result) == {"dataset", "queries", "documents", "exact", "index", "metrics", "ndcg@10_retention"}
    assert set(result["ndcg@10_retention"]) == {"rescore"}
    assert result["queries"] == 2
    assert result["documents"] == len(DOCS)
    assert result["exact"] is True
    assert result["index"]["indexed"] == len(DOCS)
    assert set(result["metrics"]) == {"full", "rescore"}
    for mode, metrics in result["metrics"].items():
        assert set(metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}, mode
        # With five documents every relevant one is within the top 100.
        assert metrics["recall@100"] == 1.0, mode
        assert 0.0 < metrics["ndcg@10"] <= 1.0, mode


# -- settings from flags, environment and .env --------------------------------------------


def index_one(capsys: pytest.CaptureFixture[str], corpus: Path, *extra: str) -> int:
    code, _, err = run_cli(capsys, "index", str(corpus), "--quiet", *extra)
    assert "Traceback" not in err
    return code


def test_store_flag_beats_env(
    tmp_path: Path,
    minilm_path: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    env_store = tmp_path / "env-store"
    flag_store = tmp_path / "flag-store"
    monkeypatch.setenv("LEAFSEARCH_STORE", str(env_store))

    code = index_one(capsys, corpus, "--store", str(flag_store), "--query-model", minilm_path)

    assert code == EXIT_OK
    assert store_rows(flag_store) == 2
    assert not env_store.exists()


def test_store_from_env(
    tmp_path: Path,
    minilm_path: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    env_store = tmp_path / "env-store"
    monkeypatch.setenv("LEAFSEARCH_STORE", str(env_store))

    code = index_one(capsys, corpus, "--query-model", minilm_path)

    assert code == EXIT_OK
    assert store_rows(env_store) == 2
    assert not (tmp_path / "xdg-data").exists()


def test_query_model_from_env(
    tmp_path: Path,
    minilm_path: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    missing = tmp_path / "missing-model"

    monkeypatch.setenv("LEAFSEARCH_QUERY_MODEL", str(missing))
    code, _, err = run_cli(
        capsys, "index", str(corpus), "--store", str(tmp_path / "bad"), "--quiet"
    )
    assert code == EXIT_ERROR
    assert str(missing) in assert_one_line_error(err)

    monkeypatch.setenv("LEAFSEARCH_QUERY_MODEL", minilm_path)
    code = index_one(capsys, corpus, "--store", str(tmp_path / "good"))
    assert code == EXIT_OK
    with Collection.open(str(tmp_path / "good"), "default") as collection:
        manifest = collection.manifest
    assert manifest is not None
    assert manifest.query_model == str(Path(minilm_path).resolve())
    assert manifest.dims == 384


def test_dotenv_in_cwd_read(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    dotenv_store = tmp_path / "dotenv-store"
    (tmp_path / ".env").write_text(f"LEAFSEARCH_STORE={dotenv_store}\n", encoding="utf-8")

    code = index_one(capsys, corpus, "--query-model", minilm_path)

    assert code == EXIT_OK
    assert dotenv_store.exists(), "LEAFSEARCH_STORE from ./.env was not used"
    assert store_rows(dotenv_store) == 2


def test_subprocess_dotenv_in_cwd_read(tmp_path: Path, minilm_path: str) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    dotenv_store = tmp_path / "dotenv-store"
    (tmp_path / ".env").write_text(f"LEAFSEARCH_STORE={dotenv_store}\n", encoding="utf-8")

    result = run_subprocess(
        tmp_path,
        "index",
        str(corpus),
        "--query-model",
        minilm_path,
        "--quiet",
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
    )

    assert result.returncode == EXIT_OK, result.stderr
    assert dotenv_store.exists(), "LEAFSEARCH_STORE from ./.env was not used"
    assert not (tmp_path / "xdg-data").exists()


def test_env_beats_dotenv(
    tmp_path: Path,
    minilm_path: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:2])
    dotenv_store = tmp_path / "dotenv-store"
    env_store = tmp_path / "env-store"
    (tmp_path / ".env").write_text(f"LEAFSEARCH_STORE={dotenv_store}\n", encoding="utf-8")
    monkeypatch.setenv("LEAFSEARCH_STORE", str(env_store))

    code = index_one(capsys, corpus, "--query-model", minilm_path)

    assert code == EXIT_OK
    assert store_rows(env_store) == 2
    assert not dotenv_store.exists()


# -- credentials --------------------------------------------------------------------------

SECRET_URI = "mongodb://user:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"


def test_uri_password_never_printed(tmp_path: Path, minilm_path: str) -> None:
    pytest.importorskip(
        "leafsearch.stores.atlas",
        reason="the Atlas store (leafsearch.stores.atlas) is not importable yet",
    )
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:1])
    runs = [
        run_subprocess(
            tmp_path, "search", "galaxy", "--store", SECRET_URI, "--query-model", minilm_path
        ),
        run_subprocess(
            tmp_path,
            "index",
            str(corpus),
            "--query-model",
            minilm_path,
            "--quiet",
            "-v",
            MONGODB_URI=SECRET_URI,
        ),
    ]

    for result in runs:
        assert "s3cret" not in result.stdout
        assert "s3cret" not in result.stderr
        assert result.returncode == EXIT_ERROR, result.stderr
        assert "Traceback" not in result.stderr


def test_uri_timeout_option_honoured() -> None:
    pytest.importorskip(
        "leafsearch.stores.atlas",
        reason="the Atlas store (leafsearch.stores.atlas) is not importable yet",
    )
    started = time.monotonic()
    with (
        pytest.raises(LeafsearchError) as raised,
        Collection.open(SECRET_URI, "docs") as collection,
    ):
        collection.count()
    elapsed = time.monotonic() - started

    assert "s3cret" not in str(raised.value)
    # The URI's serverSelectionTimeoutMS=200 must win over the store's 10 s default.
    assert elapsed < 5.0, f"unreachable server took {elapsed:.1f} s to report"


def test_drop_needs_confirmation(
    tmp_path: Path, minilm_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS[:3])
    store = tmp_path / "store"
    code, _, _ = run_cli(capsys, "index", str(corpus), "--store", str(store), "--query-model", minilm_path, "--quiet")
    assert code == EXIT_OK

    code, _, err = run_cli(capsys, "drop", "--store", str(store))
    assert code == EXIT_USAGE
    assert "--yes" in err
    assert store_rows(store) == 3

    code, out, _ = run_cli(capsys, "drop", "--store", str(store), "--yes")
    assert code == EXIT_OK
    assert "3 documents" in out
    assert not (store / "default").exists()

    code, _, err = run_cli(capsys, "drop", "--store", str(store), "--yes")
    assert code == EXIT_ERROR
    assert "does not exist" in assert_one_line_error(err)


def test_filter_not_a_document_rejected(indexed_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("[]", "null", "0", "false"):
        code, _, err = run_cli(
            capsys, "search", "anything", "--store", str(indexed_store), "--collection", "docs", "--filter", value
        )
        assert code == EXIT_USAGE, value
        assert "must be a JSON object" in assert_one_line_error(err)
