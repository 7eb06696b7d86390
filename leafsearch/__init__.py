"""leafsearch: semantic search over MongoDB Atlas Vector Search with MongoDB's LEAF models."""

from __future__ import annotations

__version__ = "0.1.0"

from leafsearch.collection import Collection
from leafsearch.errors import LeafsearchError
from leafsearch.indexing import IndexReport
from leafsearch.types import Hit

__all__ = ["Collection", "Hit", "IndexReport", "LeafsearchError", "__version__"]
