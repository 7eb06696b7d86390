"""Storage backends behind the :class:`~leafsearch.stores.base.VectorStore` interface."""
