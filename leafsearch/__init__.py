"""leafsearch: semantic search over MongoDB Atlas Vector Search with MongoDB's LEAF models."""

from __future__ import annotations

__version__ = "0.1.0"

from leafsearch.collection import Collection  # noqa: E402
from leafsearch.errors import LeafsearchError  # noqa: E402
from leafsearch.indexing import IndexReport  # noqa: E402
from leafsearch.types import Hit  # noqa: E402

__all__ = ["Collection", "Hit", "IndexReport", "LeafsearchError", "__version__"]
