"""MongoDB Atlas Vector Search support: BSON vectors, index definitions, pipelines, errors.

The store itself is :class:`leafsearch.stores.atlas.AtlasStore`; these modules are the pure
parts it builds on, testable without a server.
"""
