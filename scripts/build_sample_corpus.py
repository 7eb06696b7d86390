"""Build the bundled sample corpus from the docstrings of Python's standard library.

The corpus is read from the source files of the running interpreter's standard library with
``ast``, so nothing is imported. It goes to ``leafsearch/data/sample/`` in the BEIR layout that
``leafsearch eval`` reads:

- ``corpus.jsonl``: one record per docstring, ``{"_id", "title", "text", "module", "kind"}``;
- ``queries.jsonl`` and ``qrels/test.tsv``: a hand-labelled query set from ``QUERIES`` below;
- ``SOURCE.md`` and ``LICENSE-PSF.txt``: provenance and the Python licence.

Usage: ``python scripts/build_sample_corpus.py [--out DIR]``. The output depends on the
Python version (docstrings change between releases), which SOURCE.md records.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "leafsearch" / "data" / "sample"
MIN_TEXT_CHARS = 40
# Longer docstrings (those of the re and configparser modules, for example) are cut at the
# last paragraph break before this many characters, to keep the corpus file small.
MAX_TEXT_CHARS = 3000

# (module name used in ids, source modules to try in order). The first candidate that exists
# is read, which lets "decimal" use its pure-Python twin and "os.path" the POSIX version.
MODULES: list[tuple[str, tuple[str, ...]]] = [
    ("argparse", ("argparse",)),
    ("json", ("json",)),
    ("json.encoder", ("json.encoder",)),
    ("json.decoder", ("json.decoder",)),
    ("csv", ("csv",)),
    ("pathlib", ("pathlib",)),
    ("datetime", ("_pydatetime", "datetime")),
    ("calendar", ("calendar",)),
    ("collections", ("collections",)),
    ("functools", ("functools",)),
    ("operator", ("operator",)),
    ("re", ("re",)),
    ("logging", ("logging",)),
    ("logging.handlers", ("logging.handlers",)),
    ("subprocess", ("subprocess",)),
    ("shutil", ("shutil",)),
    ("tempfile", ("tempfile",)),
    ("os.path", ("posixpath",)),
    ("glob", ("glob",)),
    ("fnmatch", ("fnmatch",)),
    ("zipfile", ("zipfile",)),
    ("tarfile", ("tarfile",)),
    ("gzip", ("gzip",)),
    ("hashlib", ("hashlib",)),
    ("hmac", ("hmac",)),
    ("secrets", ("secrets",)),
    ("base64", ("base64",)),
    ("uuid", ("uuid",)),
    ("random", ("random",)),
    ("statistics", ("statistics",)),
    ("decimal", ("_pydecimal", "decimal")),
    ("fractions", ("fractions",)),
    ("heapq", ("heapq",)),
    ("bisect", ("bisect",)),
    ("textwrap", ("textwrap",)),
    ("string", ("string",)),
    ("difflib", ("difflib",)),
    ("shlex", ("shlex",)),
    ("urllib.parse", ("urllib.parse",)),
    ("urllib.request", ("urllib.request",)),
    ("http.client", ("http.client",)),
    ("http.server", ("http.server",)),
    ("email.message", ("email.message",)),
    ("email.utils", ("email.utils",)),
    ("smtplib", ("smtplib",)),
    ("socket", ("socket",)),
    ("threading", ("threading",)),
    ("queue", ("queue",)),
    ("concurrent.futures", ("concurrent.futures._base",)),
    ("asyncio.tasks", ("asyncio.tasks",)),
    ("contextlib", ("contextlib",)),
    ("dataclasses", ("dataclasses",)),
    ("enum", ("enum",)),
    ("typing", ("typing",)),
    ("abc", ("abc",)),
    ("inspect", ("inspect",)),
    ("ast", ("ast",)),
    ("tokenize", ("tokenize",)),
    ("unittest.case", ("unittest.case",)),
    ("unittest.mock", ("unittest.mock",)),
    ("doctest", ("doctest",)),
    ("pdb", ("pdb",)),
    ("timeit", ("timeit",)),
    ("traceback", ("traceback",)),
    ("warnings", ("warnings",)),
    ("pickle", ("pickle",)),
    ("copy", ("copy",)),
    ("pprint", ("pprint",)),
    ("configparser", ("configparser",)),
    ("getpass", ("getpass",)),
    ("weakref", ("weakref",)),
    ("ipaddress", ("ipaddress",)),
    ("mimetypes", ("mimetypes",)),
    ("html", ("html",)),
    ("sched", ("sched",)),
]

# Hand-labelled queries: (query id, text, relevant corpus ids). Every id must be in the corpus.
QUERIES: list[tuple[str, str, tuple[str, ...]]] = [
    ("q1", "parse command line arguments", ("argparse.ArgumentParser", "argparse")),
    ("q2", "compute the median of a list of numbers", ("statistics.median",)),
    (
        "q3",
        "serialize an object to a JSON string",
        ("json.dumps", "json.encoder.JSONEncoder.encode"),
    ),
    ("q4", "copy a directory tree recursively", ("shutil.copytree",)),
    (
        "q5",
        "create a temporary file that is deleted on close",
        ("tempfile.NamedTemporaryFile", "tempfile.TemporaryFile"),
    ),
    (
        "q6",
        "compare two sequences and show the differences",
        ("difflib.unified_diff", "difflib.ndiff", "difflib.Differ"),
    ),
    (
        "q7",
        "run a shell command and capture its output",
        ("subprocess.run", "subprocess.check_output"),
    ),
    (
        "q8",
        "cache the results of an expensive function",
        ("functools.lru_cache", "functools.cache"),
    ),
    ("q9", "find the n largest items in a list", ("heapq.nlargest",)),
    ("q10", "count how many times each element occurs", ("collections.Counter",)),
    (
        "q11",
        "generate a secure random token for a password reset link",
        ("secrets.token_urlsafe", "secrets.token_hex"),
    ),
    ("q12", "shuffle a list in place randomly", ("random.Random.shuffle",)),
    (
        "q13",
        "encode binary data as base64 text",
        ("base64.b64encode", "base64.urlsafe_b64encode"),
    ),
    ("q14", "extract all files from a zip archive", ("zipfile.ZipFile.extractall",)),
    ("q15", "split a URL into scheme, host and path", ("urllib.parse.urlparse",)),
    ("q16", "build a URL query string from a dictionary", ("urllib.parse.urlencode",)),
    ("q17", "remove common indentation from a multi-line string", ("textwrap.dedent",)),
    ("q18", "split a string the way a Unix shell would", ("shlex.split",)),
    ("q19", "find files matching a wildcard pattern", ("glob.glob", "pathlib.Path.glob")),
    (
        "q20",
        "parse a date and time from a string",
        ("datetime.datetime.strptime", "datetime.datetime.fromisoformat"),
    ),
    ("q21", "check whether a year is a leap year", ("calendar.isleap",)),
    (
        "q22",
        "rotate log files when they get too large",
        ("logging.handlers.RotatingFileHandler",),
    ),
    ("q23", "wait for a thread to finish", ("threading.Thread.join",)),
    (
        "q24",
        "collect results from a pool of workers as each one finishes",
        ("concurrent.futures.as_completed",),
    ),
    (
        "q25",
        "run several coroutines concurrently and wait for all of them",
        ("asyncio.tasks.gather",),
    ),
    ("q26", "cancel an async operation if it takes too long", ("asyncio.tasks.wait_for",)),
    ("q27", "ignore a specific exception inside a with block", ("contextlib.suppress",)),
    ("q28", "convert a dataclass instance to a dictionary", ("dataclasses.asdict",)),
    ("q29", "safely evaluate a string containing a Python literal", ("ast.literal_eval",)),
    ("q30", "replace an object with a mock during a test", ("unittest.mock.patch",)),
    (
        "q31",
        "measure the execution time of a small code snippet",
        ("timeit.timeit", "timeit.Timer"),
    ),
    ("q32", "make a deep copy of a nested object", ("copy.deepcopy",)),
    (
        "q33",
        "read settings from an INI configuration file",
        ("configparser.ConfigParser", "configparser.RawConfigParser.read"),
    ),
    ("q34", "escape special characters for HTML", ("html.escape",)),
    ("q35", "guess the MIME type of a file from its name", ("mimetypes.guess_type",)),
    (
        "q36",
        "round a decimal amount of money to two places",
        ("decimal.Decimal.quantize",),
    ),
    ("q37", "replace every match of a regular expression in a string", ("re.sub",)),
    (
        "q38",
        "send an email through an SMTP server",
        ("smtplib.SMTP", "smtplib.SMTP.send_message"),
    ),
    ("q39", "suggest close matches for a misspelled word", ("difflib.get_close_matches",)),
    ("q40", "insert into a sorted list and keep it sorted", ("bisect.insort_right",)),
]


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    module: str
    kind: str  # "module", "class", "function" or "method"

    def to_json(self) -> str:
        data = {
            "_id": self.id,
            "title": self.id,
            "text": self.text,
            "module": self.module,
            "kind": self.kind,
        }
        return json.dumps(data, ensure_ascii=False)


def source_path(stdlib: Path, module: str) -> Path | None:
    """Return the source file of a standard-library module, or None if it has none."""
    base = stdlib.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def clean(docstring: str | None) -> str | None:
    """Return the cleaned docstring, or None when it is too short to be a useful document."""
    if docstring is None:
        return None
    text = inspect.cleandoc(docstring).strip()
    if len(text) < MIN_TEXT_CHARS:
        return None
    if len(text) > MAX_TEXT_CHARS:
        cut = text.rfind("\n\n", 0, MAX_TEXT_CHARS)
        text = text[: cut if cut > MIN_TEXT_CHARS else MAX_TEXT_CHARS].rstrip()
    return text


def top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Yield module-level statements, including those inside top-level if/try blocks."""
    for node in body:
        if isinstance(node, ast.If):
            yield from top_level_statements(node.body)
            yield from top_level_statements(node.orelse)
        elif isinstance(node, ast.Try):
            yield from top_level_statements(node.body)
            for handler in node.handlers:
                yield from top_level_statements(handler.body)
            yield from top_level_statements(node.orelse)
        else:
            yield node


def module_records(name: str, tree: ast.Module) -> Iterator[Record]:
    """Yield the module, public class, function and method docstrings in source order."""
    text = clean(ast.get_docstring(tree, clean=False))
    if text:
        yield Record(name, text, name, "module")
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in top_level_statements(tree.body):
        if isinstance(node, functions) and not node.name.startswith("_"):
            text = clean(ast.get_docstring(node, clean=False))
            if text:
                yield Record(f"{name}.{node.name}", text, name, "function")
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            class_id = f"{name}.{node.name}"
            text = clean(ast.get_docstring(node, clean=False))
            if text:
                yield Record(class_id, text, name, "class")
            for member in node.body:
                if isinstance(member, functions) and not member.name.startswith("_"):
                    text = clean(ast.get_docstring(member, clean=False))
                    if text:
                        yield Record(f"{class_id}.{member.name}", text, name, "method")


def build_corpus(stdlib: Path) -> list[Record]:
    """Collect the records of every module in MODULES, dropping repeated ids and texts."""
    records: list[Record] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for name, candidates in MODULES:
        paths = [p for p in (source_path(stdlib, c) for c in candidates) if p is not None]
        if not paths:
            raise SystemExit(f"no source file for {name} (tried {', '.join(candidates)})")
        tree = ast.parse(paths[0].read_text(encoding="utf-8"), filename=str(paths[0]))
        for record in module_records(name, tree):
            # Functions defined twice (per-platform branches) keep their first definition.
            if record.id in seen_ids or record.text in seen_texts:
                continue
            seen_ids.add(record.id)
            seen_texts.add(record.text)
            records.append(record)
    return records


def write_queries(out: Path, corpus_ids: set[str]) -> None:
    missing = [
        (query_id, doc_id)
        for query_id, _, relevant in QUERIES
        for doc_id in relevant
        if doc_id not in corpus_ids
    ]
    assert not missing, f"qrels name ids that are not in the corpus: {missing}"
    with open(out / "queries.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(
            json.dumps({"_id": query_id, "text": text}) + "\n" for query_id, text, _ in QUERIES
        )
    (out / "qrels").mkdir(exist_ok=True)
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(
            f"{query_id}\t{doc_id}\t1\n" for query_id, _, relevant in QUERIES for doc_id in relevant
        )


SOURCE_TEMPLATE = """\
# Sample corpus: Python standard library docstrings

This folder is a small search corpus in the BEIR layout, for the README demo and for smoke
evaluations with `leafsearch eval`.

- `corpus.jsonl`: {count} documents, one per docstring of a module, public class, public
  function or public method of {modules} standard-library modules. Fields: `_id` and `title`
  (the dotted name, such as `json.dumps`), `text` (the docstring, cleaned with
  `inspect.cleandoc`), `module` and `kind` (`module`, `class`, `function` or `method`).
  Docstrings shorter than {min_chars} characters and repeated texts are left out, and texts
  longer than {max_chars} characters are cut at a paragraph break.
- `queries.jsonl` and `qrels/test.tsv`: {queries} hand-written developer queries, each with
  1 to 3 relevant documents (score 1).
- `LICENSE-PSF.txt`: the licence of Python, copied from the interpreter that built the files.

Built with Python `{version}` by:

```
python scripts/build_sample_corpus.py
```

Other Python versions produce slightly different docstrings.

## Licence

The docstrings are part of the Python standard library source code.

{copyright}

They are distributed here under the Python Software Foundation License Version 2, whose full
text, together with the other licences that apply to Python, is in `LICENSE-PSF.txt`.
Summary of changes: docstrings were extracted from the source, cleaned with
`inspect.cleandoc` and trimmed as described above. Nothing else was changed. The query set
and relevance labels are part of leafsearch and licensed under Apache-2.0.
"""


def psf_copyright(licence_text: str) -> str:
    """Return PSF's notice of copyright as quoted in Python's licence, on one line."""
    match = re.search(r'i\.e\., "(Copyright \(c\) 2001.*?Reserved)"', licence_text, re.DOTALL)
    if match is None:
        raise SystemExit("PSF copyright notice not found in LICENSE.txt")
    return " ".join(match.group(1).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    stdlib = Path(sysconfig.get_paths()["stdlib"])

    records = build_corpus(stdlib)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(record.to_json() + "\n" for record in records)
    write_queries(out, {record.id for record in records})

    licence = stdlib / "LICENSE.txt"
    shutil.copyfile(licence, out / "LICENSE-PSF.txt")
    source = SOURCE_TEMPLATE.format(
        count=len(records),
        modules=len(MODULES),
        min_chars=MIN_TEXT_CHARS,
        max_chars=MAX_TEXT_CHARS,
        queries=len(QUERIES),
        version=sys.version.replace("\n", " "),
        copyright=psf_copyright(licence.read_text(encoding="utf-8")),
    )
    (out / "SOURCE.md").write_text(source, encoding="utf-8", newline="\n")

    size = (out / "corpus.jsonl").stat().st_size
    print(
        f"wrote {len(records)} documents ({size / 1e6:.2f} MB) and {len(QUERIES)} queries to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
