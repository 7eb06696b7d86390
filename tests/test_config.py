"""Settings resolution and store selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from leafsearch.config import default_store_directory, is_mongodb_uri, resolve_option, resolve_store
from leafsearch.stores import database_from_uri, open_store
from leafsearch.stores.embedded import EmbeddedStore


def test_store_precedence() -> None:
    env = {"MONGODB_URI": "mongodb://a", "LEAFSEARCH_STORE": "/data/b"}
    assert resolve_store("/explicit", env) == "/explicit"
    assert resolve_store(None, env) == "mongodb://a"
    assert resolve_store(None, {"LEAFSEARCH_STORE": "/data/b"}) == "/data/b"
    assert resolve_store(None, {"XDG_DATA_HOME": "/xdg"}) == str(Path("/xdg") / "leafsearch")


def test_blank_variables_ignored() -> None:
    assert resolve_store(None, {"MONGODB_URI": "  ", "LEAFSEARCH_STORE": "/data/b"}) == "/data/b"
    assert resolve_option(None, "LEAFSEARCH_QUERY_MODEL", {"LEAFSEARCH_QUERY_MODEL": " "}) is None
    assert resolve_option("x", "LEAFSEARCH_QUERY_MODEL", {"LEAFSEARCH_QUERY_MODEL": "y"}) == "x"


def test_default_directory_without_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_store_directory({}).endswith(str(Path(".local") / "share" / "leafsearch"))


@pytest.mark.parametrize(
    ("uri", "database"),
    [
        ("mongodb://localhost:27017/?directConnection=true", None),
        ("mongodb://localhost:27017", None),
        ("mongodb://user:pw@h1,h2/search?replicaSet=rs", "search"),
        ("mongodb+srv://cluster0.example.net/app", "app"),
    ],
)
def test_database_from_uri(uri: str, database: str | None) -> None:
    assert database_from_uri(uri) == database


def test_uri_detection() -> None:
    assert is_mongodb_uri("mongodb+srv://x")
    assert not is_mongodb_uri("/data/mongodb")


def test_directory_opens_embedded_store(tmp_path: Path) -> None:
    store = open_store(str(tmp_path), "docs")
    assert isinstance(store, EmbeddedStore)
    assert store.path == tmp_path / "docs"
