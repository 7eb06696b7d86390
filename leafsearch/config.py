"""Settings resolution: explicit arguments win, then environment variables, then defaults.

The CLI loads a ``.env`` file into the environment first (python-dotenv, without overriding
variables that are already set).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from leafsearch.errors import ConfigurationError

ENV_MONGODB_URI = "MONGODB_URI"
ENV_STORE = "LEAFSEARCH_STORE"
ENV_QUERY_MODEL = "LEAFSEARCH_QUERY_MODEL"
ENV_DOCUMENT_MODEL = "LEAFSEARCH_DOCUMENT_MODEL"
ENV_COLLECTION = "LEAFSEARCH_COLLECTION"
DEFAULT_COLLECTION = "default"
DEFAULT_TRUNCATE_DIM = 256
MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


def default_store_directory(env: Mapping[str, str] | None = None) -> str:
    """Return ``$XDG_DATA_HOME/leafsearch``, or ``~/.local/share/leafsearch``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "leafsearch")


def is_mongodb_uri(location: str) -> bool:
    return location.startswith(MONGODB_SCHEMES)


def resolve_store(explicit: str | None, env: Mapping[str, str] | None = None) -> str:
    """Return the store location: ``explicit``, MONGODB_URI, LEAFSEARCH_STORE or the default."""
    env = os.environ if env is None else env
    for value in (explicit, env.get(ENV_MONGODB_URI), env.get(ENV_STORE)):
        if value and value.strip():
            return value.strip()
    return default_store_directory(env)


def resolve_option(explicit: str | None, variable: str, env: Mapping[str, str] | None = None) -> str | None:
    """Return ``explicit`` if given, else the environment variable ``variable``, else None."""
    env = os.environ if env is None else env
    if explicit:
        return explicit
    value = env.get(variable, "").strip()
    return value or None


@dataclass(frozen=True)
class IndexSettings:
    """Settings that fix the stored vectors; changing one needs a new collection."""

    truncate_dim: int = DEFAULT_TRUNCATE_DIM
    similarity: str = "cosine"

    def check(self, dims: int) -> None:
        if not 1 <= self.truncate_dim <= dims:
            raise ConfigurationError(
                f"truncate dimension {self.truncate_dim} must be between 1 and the model's "
                f"{dims} dimensions; pass --truncate-dim N"
            )
        if self.similarity not in ("cosine", "dotProduct", "euclidean"):
            raise ConfigurationError(
                f"similarity {self.similarity!r} is not one of cosine, dotProduct, euclidean"
            )
