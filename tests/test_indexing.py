"""Indexing through the public API: re-runs, edits, ids, bad records, BEIR input, limits, NFC."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leafsearch.collection import Collection
from leafsearch.encoding import Encoder
from leafsearch.readers import ReaderOptions

DOCS = [
    {"_id": "d1", "text": "The cat sleeps on the warm windowsill all afternoon."},
    {"_id": "d2", "text": "Stock markets fell sharply after the interest rate decision."},
    {"_id": "d3", "text": "A recipe for sourdough bread needs flour, water, salt and time."},
    {"_id": "d4", "text": "The goalkeeper saved a penalty in the final minute of the match."},
    {"_id": "d5", "text": "Python lists can be sorted in place with the sort method."},
    {"_id": "d6", "text": "Glaciers in the Alps have lost much of their ice since 1900."},
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep settings from the developer's shell out of these tests."""
    for name in (
        "MONGODB_URI",
        "LEAFSEARCH_STORE",
        "LEAFSEARCH_COLLECTION",
        "LEAFSEARCH_QUERY_MODEL",
        "LEAFSEARCH_DOCUMENT_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def encoded_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every text passed to the real Encoder.encode_documents, which still runs."""
    texts: list[str] = []
    original = Encoder.encode_documents

    def recording_encode_documents(self: Encoder, batch: Any) -> Any:
        texts.extend(batch)
        return original(self, batch)

    monkeypatch.setattr(Encoder, "encode_documents", recording_encode_documents)
    return texts


def write_jsonl(path: Path, records: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return path


def open_collection(store: Path, model: str, name: str = "docs") -> Collection:
    return Collection.open(str(store), name, query_model=model)


def stored_documents(collection: Collection) -> dict[str, tuple[str, dict[str, Any]]]:
    documents: Iterator[tuple[str, str, dict[str, Any]]] = collection.store.iter_documents()  # type: ignore[attr-defined]
    return {doc_id: (text, metadata) for doc_id, text, metadata in documents}


def top_hit_id(collection: Collection, query: str) -> str:
    hits = collection.search(query, 1, mode="full", exact=True)
    assert len(hits) == 1, f"no hit for {query!r}"
    return hits[0].id


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- idempotent re-indexing ---------------------------------------------------------------


def test_reindex_unchanged_encodes_nothing(
    tmp_path: Path, minilm_path: str, encoded_texts: list[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)

    with open_collection(tmp_path / "store", minilm_path) as collection:
        first = collection.index(corpus, progress=False)
    assert first.indexed == len(DOCS)
    assert first.unchanged == 0
    assert len(encoded_texts) == len(DOCS)

    encoded_texts.clear()
    with open_collection(tmp_path / "store", minilm_path) as collection:
        second = collection.index(corpus, progress=False)
        count = collection.count()

    assert count == len(DOCS)
    assert second.read == len(DOCS)
    assert second.indexed == 0
    assert second.unchanged == len(DOCS)
    assert second.ok
    assert encoded_texts == []


def test_edit_reencodes_only_edited(
    tmp_path: Path, minilm_path: str, encoded_texts: list[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", DOCS)
    query = "volcanic eruption with lava flowing down the mountain"
    new_text = "The volcano erupted overnight and lava flowed down the mountain slope."

    with open_collection(tmp_path / "store", minilm_path) as collection:
        collection.index(corpus, progress=False)
        before = top_hit_id(collection, query)
        assert before != "d3"

        edited = [dict(doc) for doc in DOCS]
        edited[2]["text"] = new_text
        write_jsonl(corpus, edited)
        encoded_texts.clear()
        report = collection.index(corpus, progress=False)

        assert report.indexed == 1
        assert report.unchanged == len(DOCS) - 1
        assert encoded_texts == [new_text]
        assert collection.count() == len(DOCS)

        hits = collection.search(query, 1, mode="full", exact=True)
        assert hits[0].id == "d3"
        assert hits[0].text == new_text
        for mode in ("truncated", "binary", "rescore"):
            assert top_hit_id(collection, new_text) == "d3", mode


def test_metadata_edit_reencodes_document(
    tmp_path: Path, minilm_path: str, encoded_texts: list[str]
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{**DOCS[0], "topic": "pets"}, DOCS[1]])

    with open_collection(tmp_path / "store", minilm_path) as collection:
        collection.index(corpus, progress=False)
        write_jsonl(corpus, [{**DOCS[0], "topic": "animals"}, DOCS[1]])
        encoded_texts.clear()
        report = collection.index(corpus, progress=False)
        documents = stored_documents(collection)

    assert report.indexed == 1
    assert report.unchanged == 1
    assert documents["d1"][1] == {"topic": "animals"}


# -- ids ----------------------------------------------------------------------------------


def test_ids_from_source_or_hash(tmp_path: Path, minilm_path: str) -> None:
    untitled = "A lighthouse keeper writes letters during the winter storms."
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "alpha", "text": "Bees collect nectar from clover flowers."},
            {"id": 42, "text": "Trains to the coast leave every hour."},
            {"id": "beta", "text": "Solar panels work poorly under heavy snow."},
            {"text": untitled},
        ],
    )

    ids_per_run = []
    for run in ("first", "second"):
        with open_collection(tmp_path / f"store-{run}", minilm_path) as collection:
            collection.index(corpus, progress=False)
            ids_per_run.append(set(stored_documents(collection)))

    first_ids, second_ids = ids_per_run
    assert "alpha" in first_ids
    assert "42" in first_ids
    assert "beta" in first_ids
    assert sha256_hex(untitled) in first_ids
    assert len(first_ids) == 4
    assert first_ids == second_ids


def test_hash_id_stable_across_runs(tmp_path: Path, minilm_path: str) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": "Owls hunt mice at night."}])

    with open_collection(tmp_path / "store", minilm_path) as collection:
        collection.index(corpus, progress=False)
        second = collection.index(corpus, progress=False)
        assert collection.count() == 1
    assert second.unchanged == 1
    assert second.indexed == 0


@pytest.mark.parametrize("batch_size", [256, 2])
def test_duplicate_ids_last_wins(tmp_path: Path, minilm_path: str, batch_size: int) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "dup", "text": "First version: the meeting is on Monday."},
            {"_id": "x", "text": "Maple trees turn red in October."},
            {"_id": "y", "text": "The ferry was cancelled because of fog."},
            {"_id": "dup", "text": "Last version: the meeting moved to Thursday."},
        ],
    )

    with open_collection(tmp_path / "store", minilm_path) as collection:
        collection.index(corpus, progress=False, batch_size=batch_size)
        documents = stored_documents(collection)
        count = collection.count()
        hit = top_hit_id(collection, "the meeting moved to Thursday")

    assert count == 3
    assert documents["dup"][0] == "Last version: the meeting moved to Thursday."
    assert hit == "dup"


# -- bad records --------------------------------------------------------------------------

GOOD_JSONL = {
    "g1": "Whales communicate with long low songs across the ocean.",
    "g2": "The library extends its opening hours during exam week.",
    "g3": "Copper wire conducts electricity better than steel wire.",
}


def test_bad_jsonl_records_reported(tmp_path: Path, minilm_path: str) -> None:
    lines = [
        json.dumps({"_id": "g1", "text": GOOD_JSONL["g1"]}),  # 1
        '{"_id": "broken", "text": "no closing brace"',  # 2
        "[1, 2, 3]",  # 3
        json.dumps({"_id": "m", "body": "text under another key"}),  # 4
        json.dumps({"_id": "n", "text": 42}),  # 5
        json.dumps({"_id": "e", "text": ""}),  # 6
        json.dumps({"_id": "w", "text": " \t\u00a0 "}),  # 7
        json.dumps({"_id": ["a", "b"], "text": "an id that is a list"}),  # 8
        json.dumps({"_id": True, "text": "an id that is a boolean"}),  # 9
        json.dumps({"_id": "g2", "text": GOOD_JSONL["g2"]}),  # 10
        json.dumps({"_id": "r1", "text": "reserved hash", "content_hash": "abc"}),  # 11
        json.dumps({"_id": "r2", "text": "dollar key", "$where": "1"}),  # 12
        json.dumps({"_id": "g3", "text": GOOD_JSONL["g3"]}),  # 13
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected_reasons = {
        2: "invalid JSON",
        3: "JSON object",
        4: "missing text field",
        5: "expected a string",
        6: "empty",
        7: "empty",
        8: "id",
        9: "id",
        11: "content_hash",
        12: "$where",
    }

    with open_collection(tmp_path / "store", minilm_path) as collection:
        report = collection.index(corpus, progress=False)
        count = collection.count()
        found = {doc_id: top_hit_id(collection, text) for doc_id, text in GOOD_JSONL.items()}

    reasons = {bad.line: bad.reason for bad in report.bad_records}
    assert {bad.source for bad in report.bad_records} == {str(corpus)}
    assert sorted(reasons) == sorted(expected_reasons)
    for line, word in expected_reasons.items():
        assert word in reasons[line], f"line {line}: {reasons[line]!r} does not name {word!r}"
    assert "reserved" in reasons[11]
    assert "reserved" in reasons[12]
    assert not report.ok
    assert report.indexed == len(GOOD_JSONL)
    assert count == len(GOOD_JSONL)
    for doc_id, hit_id in found.items():
        assert hit_id == doc_id


@pytest.mark.parametrize("reserved", ["text", "_id"])
def test_reserved_metadata_name_reported(tmp_path: Path, minilm_path: str, reserved: str) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"key": "ok", "body": "Lemon trees need plenty of sun."},
            {"key": "bad", "body": "A record with a reserved field.", reserved: "value"},
        ],
    )
    options = ReaderOptions(text_field="body", id_field="key")

    with open_collection(tmp_path / "store", minilm_path) as collection:
        report = collection.index(corpus, progress=False, reader_options=options)
        ids = set(stored_documents(collection))

    assert len(report.bad_records) == 1
    bad = report.bad_records[0]
    assert bad.source == str(corpus)
    assert bad.line == 2
    assert repr(reserved) in bad.reason
    assert "reserved" in bad.reason
    assert ids == {"ok"}


def test_bad_csv_rows_reported(tmp_path: Path, minilm_path: str) -> None:
    corpus = tmp_path / "corpus.csv"
    corpus.write_text(
        "id,text,topic\n"
        "c1,Bicycles are allowed on the night train.,travel\n"  # 2
        "c2,A row without its topic value\n"  # 3: fewer values than columns
        "c3,A row with one value too many,misc,extra\n"  # 4
        'c4,"A quoted text\nthat spans two lines",misc\n'  # 5-6
        "c5,,empty\n"  # 7
        "c6,Fresh basil loses its smell in the fridge.,food\n",  # 8
        encoding="utf-8",
    )

    with open_collection(tmp_path / "store", minilm_path) as collection:
        report = collection.index(corpus, progress=False)
        documents = stored_documents(collection)
        hit = top_hit_id(collection, "Fresh basil loses its smell in the fridge.")

    reasons = {bad.line: bad.reason for bad in report.bad_records}
    assert {bad.source for bad in report.bad_records} == {str(corpus)}
    assert "more values" in reasons.get(4, "")
    assert "empty" in reasons.get(7, "")
    assert 3 in reasons, f"short row c2 was accepted as {documents.get('c2')!r}"
    assert "values" in reasons[3] or "missing" in reasons[3]
    assert sorted(reasons) == [3, 4, 7]
    assert set(documents) == {"c1", "c4", "c6"}
    assert documents["c4"][0] == "A quoted text\nthat spans two lines"
    assert documents["c1"][1] == {"topic": "travel"}
    assert hit == "c6"


# -- BEIR folders, long texts, Unicode ----------------------------------------------------


def test_beir_folder_joins_title(tmp_path: Path, minilm_path: str) -> None:
    folder = tmp_path / "tinybeir"
    folder.mkdir()
    records = [
        {"_id": "b1", "title": "Photosynthesis", "text": "Plants turn light into chemical energy."},
        {"_id": "b2", "title": "", "text": "Rivers carry sediment to the sea."},
        {"_id": "b3", "text": "Comets have tails that point away from the sun."},
    ]
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")

    with open_collection(tmp_path / "store", minilm_path) as collection:
        report = collection.index(folder, progress=False)
        documents = stored_documents(collection)

    assert report.indexed == 3
    assert documents["b1"][0] == "Photosynthesis Plants turn light into chemical energy."
    assert documents["b2"][0] == "Rivers carry sediment to the sea."
    assert documents["b3"][0] == "Comets have tails that point away from the sun."


def test_long_text_counted_truncated(tmp_path: Path, minilm_path: str) -> None:
    words = ["harbor", "lantern", "quiet", "orchard", "silver", "meadow", "thunder", "velvet"]
    long_text = " ".join(words[i % len(words)] for i in range(600))
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "long", "text": long_text},
            {"_id": "short1", "text": "Short texts fit the model easily."},
            {"_id": "short2", "text": "So does this one."},
        ],
    )

    with open_collection(tmp_path / "store", minilm_path) as collection:
        report = collection.index(corpus, progress=False)
        count = collection.count()

    assert report.truncated == 1
    assert report.indexed == 3
    assert count == 3
    assert report.to_dict()["truncated"] == 1


def test_decomposed_text_stored_nfc(tmp_path: Path, minilm_path: str) -> None:
    decomposed = "Cafe\u0301 au lait is served at noon."
    composed = "Caf\u00e9 au lait is served at noon."
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"_id": "cafe", "text": decomposed}, {"text": decomposed}, {"text": composed}],
    )

    with open_collection(tmp_path / "store", minilm_path) as collection:
        collection.index(corpus, progress=False)
        documents = stored_documents(collection)
        hits = collection.search(decomposed, 2, mode="full", exact=True)

    assert documents["cafe"][0] == composed
    assert "\u0301" not in documents["cafe"][0]
    # The decomposed and composed copies without ids share one NFC content-hash id.
    assert set(documents) == {"cafe", sha256_hex(composed)}
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert all(hit.text == composed for hit in hits)


def test_bom_and_invalid_utf8_lines(tmp_path: Path, minilm_path: str) -> None:
    from leafsearch.readers import BadRecord, SourceRecord, read_corpus

    corpus = tmp_path / "bom.jsonl"
    corpus.write_bytes(
        b"\xef\xbb\xbf" + b'{"_id": "a", "text": "first line after a BOM"}\n'
        + b'{"_id": "b", "text": "caf\xe9 latin-1 byte"}\n'
        + b'{"_id": "c", "text": "fine", "score": NaN}\n'
        + b'{"_id": "d", "text": "last good line"}\n'
    )
    records = list(read_corpus(corpus))
    good = [record.id for record in records if isinstance(record, SourceRecord)]
    bad = {record.line: record.reason for record in records if isinstance(record, BadRecord)}
    assert good == ["a", "d"]
    assert "UTF-8" in bad[2]
    assert "NaN" in bad[3]


def test_csv_bom_keeps_id_column(tmp_path: Path) -> None:
    from leafsearch.readers import SourceRecord, read_corpus

    corpus = tmp_path / "bom.csv"
    corpus.write_bytes(b"\xef\xbb\xbf_id,text\nx1,hello there\n")
    records = list(read_corpus(corpus))
    assert isinstance(records[0], SourceRecord)
    assert records[0].id == "x1"
    assert records[0].metadata == {}


def test_corrupt_gzip_is_one_error(tmp_path: Path) -> None:
    from leafsearch.errors import ConfigurationError
    from leafsearch.readers import read_corpus

    corpus = tmp_path / "broken.jsonl.gz"
    corpus.write_bytes(b"this is not gzip data")
    with pytest.raises(ConfigurationError, match="cannot read"):
        list(read_corpus(corpus))


def test_missing_corpus_stores_no_settings(tmp_path: Path, minilm_path: str) -> None:
    from leafsearch import Collection
    from leafsearch.errors import ConfigurationError
    from leafsearch.stores.embedded import EmbeddedStore

    collection = Collection(EmbeddedStore(tmp_path / "store", "x"), query_model=minilm_path)
    with pytest.raises(ConfigurationError, match="does not exist"):
        collection.index(tmp_path / "missing.jsonl", truncate_dim=128)
    assert collection.manifest is None


def test_duplicate_ids_counted(tmp_path: Path, minilm_path: str) -> None:
    from leafsearch.stores.embedded import EmbeddedStore

    corpus = tmp_path / "dupes.jsonl"
    corpus.write_text(
        '{"_id": "d", "text": "first version"}\n{"_id": "e", "text": "other"}\n{"_id": "d", "text": "second version"}\n',
        encoding="utf-8",
    )
    collection = Collection(EmbeddedStore(tmp_path / "store", "dupes"), query_model=minilm_path)
    report = collection.index(corpus)
    assert report.duplicates == 1
    assert report.read == 3
    assert collection.count() == 2
    hit = collection.search("second version", k=1, mode="full", exact=True)[0]
    assert hit.id == "d"
    assert hit.text == "second version"
