"""Corpus readers: JSONL (optionally gzipped), CSV and BEIR corpus folders.

Each reader yields :class:`SourceRecord` for a usable line and :class:`BadRecord` for one
that is not, so that the indexer can index every good record and report the rest.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from leafsearch.encoding import normalize_text
from leafsearch.errors import ConfigurationError
from leafsearch.types import RESERVED_KEYS, reserved_key_reason

logger = logging.getLogger(__name__)

ID_FIELDS = ("_id", "id")


@dataclass
class SourceRecord:
    """A document read from a corpus file, with its location for error reports."""

    id: str
    text: str
    metadata: dict[str, Any]
    source: str
    line: int


@dataclass
class BadRecord:
    """A corpus line that was skipped, with the reason and how to fix it."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass
class ReaderOptions:
    """Names of the fields that contain the id, the text and an optional title."""

    text_field: str = "text"
    title_field: str | None = None
    id_field: str | None = None
    reserved_keys: frozenset[str] = field(default_factory=lambda: RESERVED_KEYS)


def content_id(text: str) -> str:
    """Return a stable id for a record without one: the SHA-256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(text: str, metadata: dict[str, Any]) -> str:
    """Return the hash that decides whether a stored document must be re-encoded."""
    payload = json.dumps([text, metadata], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def read_corpus(path: str | Path, options: ReaderOptions | None = None) -> Iterator[SourceRecord | BadRecord]:
    """Return the records of a JSONL, JSONL.GZ or CSV file, or of a BEIR corpus folder.

    The path and format are checked before this returns, so a wrong path fails before
    anything is written. In a BEIR folder (``corpus.jsonl`` or ``corpus.jsonl.gz``) the text
    is the title and the text joined by a space, as BEIR and MTEB build it.
    """
    options = options or ReaderOptions()
    source = Path(path)
    if source.is_dir():
        source = beir_corpus_file(source)
        options = ReaderOptions(text_field="text", title_field="title", id_field="_id")
    if not source.is_file():
        raise ConfigurationError(f"corpus {str(source)!r} does not exist or is not a file")
    name = source.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".json")):
        reader = _read_jsonl
    elif name.endswith((".csv", ".csv.gz")):
        reader = _read_csv
    else:
        raise ConfigurationError(
            f"unsupported corpus file {str(source)!r}; use .jsonl, .jsonl.gz, .csv or a BEIR folder"
        )
    return _guarded(reader(source, options), source)


def _guarded(records: Iterator[SourceRecord | BadRecord], source: Path) -> Iterator[SourceRecord | BadRecord]:
    """Turn I/O and decompression failures while reading into one clear error."""
    try:
        yield from records
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigurationError(f"cannot read {str(source)!r}: {exc}") from None


def beir_corpus_file(folder: Path) -> Path:
    """Return the corpus file of a BEIR dataset folder."""
    for candidate in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / candidate).exists():
            return folder / candidate
    raise ConfigurationError(
        f"{str(folder)!r} is a folder without corpus.jsonl or corpus.jsonl.gz; "
        "pass a BEIR dataset folder or a corpus file"
    )


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig drops a byte order mark. surrogateescape keeps invalid bytes, so the line
    # that contains them is reported instead of failing the whole file.
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _has_invalid_bytes(text: str) -> bool:
    return _ESCAPED_BYTE.search(text) is not None


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_INVALID_UTF8 = "invalid UTF-8 bytes; re-encode the file as UTF-8"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON; use null or a string")


def _read_jsonl(path: Path, options: ReaderOptions) -> Iterator[SourceRecord | BadRecord]:
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if _has_invalid_bytes(line):
                yield BadRecord(str(path), line_number, _INVALID_UTF8)
                continue
            try:
                data = json.loads(line, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:
                yield BadRecord(str(path), line_number, f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            except ValueError as exc:
                yield BadRecord(str(path), line_number, str(exc))
                continue
            if not isinstance(data, dict):
                yield BadRecord(str(path), line_number, f"expected a JSON object, got {type(data).__name__}")
                continue
            yield _to_record(data, options, str(path), line_number)


def _read_csv(path: Path, options: ReaderOptions) -> Iterator[SourceRecord | BadRecord]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is not None and any(_has_invalid_bytes(name) for name in reader.fieldnames):
            raise ConfigurationError(f"the header of {str(path)!r} has {_INVALID_UTF8}")
        if reader.fieldnames is None or options.text_field not in reader.fieldnames:
            raise ConfigurationError(
                f"{str(path)!r} has no {options.text_field!r} column (columns: "
                f"{', '.join(reader.fieldnames or [])}); pass --text-field NAME"
            )
        for row in reader:
            # DictReader counts physical lines, so quoted newlines keep line numbers right.
            line_number = reader.line_num
            if None in row:
                yield BadRecord(str(path), line_number, "more values than header columns")
                continue
            if any(isinstance(value, str) and _has_invalid_bytes(value) for value in row.values()):
                yield BadRecord(str(path), line_number, _INVALID_UTF8)
                continue
            # DictReader fills the columns of a short row with None.
            if None in row.values():
                missing = [name for name, value in row.items() if value is None]
                yield BadRecord(
                    str(path), line_number, f"fewer values than header columns (missing {', '.join(missing)})"
                )
                continue
            yield _to_record(dict(row), options, str(path), line_number)


def _to_record(
    data: dict[str, Any], options: ReaderOptions, source: str, line: int
) -> SourceRecord | BadRecord:
    text_value = data.get(options.text_field)
    if options.text_field not in data:
        return BadRecord(source, line, f"missing text field {options.text_field!r}")
    if not isinstance(text_value, str):
        return BadRecord(
            source, line, f"text field {options.text_field!r} is {type(text_value).__name__}, expected a string"
        )
    text = text_value
    if options.title_field:
        title = data.get(options.title_field)
        if isinstance(title, str) and title.strip():
            text = f"{title} {text}"
    text = normalize_text(text).strip()
    if not text:
        return BadRecord(source, line, f"text field {options.text_field!r} is empty")

    id_field = options.id_field or next((name for name in ID_FIELDS if name in data), None)
    raw_id = data.get(id_field) if id_field else None
    if raw_id is None:
        if options.id_field:
            return BadRecord(source, line, f"missing id field {options.id_field!r}")
        doc_id = content_id(text)
    elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
        doc_id = str(raw_id)
    else:
        return BadRecord(source, line, f"id {raw_id!r} must be a non-empty string or an integer")

    metadata: dict[str, Any] = {}
    for key, value in data.items():
        if key in (options.text_field, id_field):
            continue
        reason = reserved_key_reason(key)
        if reason is None and key in options.reserved_keys:
            reason = f"field name {key!r} is reserved; rename it"
        if reason is not None:
            return BadRecord(source, line, reason)
        metadata[key] = value
    return SourceRecord(id=doc_id, text=text, metadata=metadata, source=source, line=line)
