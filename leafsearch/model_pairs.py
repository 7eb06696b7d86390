"""Rules for query and document models that share a collection (the asymmetric mode).

A LEAF student is trained to reproduce its teacher's embedding space, so documents encoded
by the teacher can be searched with queries encoded by the student. Other pairs live in
unrelated spaces, and their scores mean nothing.
"""

from __future__ import annotations

from pathlib import Path

from leafsearch.errors import ConfigurationError

# Short names accepted wherever a model id is.
MODEL_ALIASES = {
    "leaf-mt": "MongoDB/mdbr-leaf-mt",
    "leaf-ir": "MongoDB/mdbr-leaf-ir",
    "mxbai-large": "mixedbread-ai/mxbai-embed-large-v1",
    "arctic-m": "Snowflake/snowflake-arctic-embed-m-v1.5",
    "leaf-mt-asym": "MongoDB/mdbr-leaf-mt-asym",
    "leaf-ir-asym": "MongoDB/mdbr-leaf-ir-asym",
}

# (query model, document model) pairs trained to share one embedding space, from the
# mdbr-leaf-mt-asym and mdbr-leaf-ir-asym model cards.
ALIGNED_PAIRS = frozenset(
    {
        ("MongoDB/mdbr-leaf-mt", "mixedbread-ai/mxbai-embed-large-v1"),
        ("MongoDB/mdbr-leaf-ir", "Snowflake/snowflake-arctic-embed-m-v1.5"),
    }
)


def expand_alias(name: str) -> str:
    """Return the hub id for a short alias such as ``mxbai-large``; other names unchanged."""
    return MODEL_ALIASES.get(name, name)


def canonical_model_id(name: str) -> str:
    """Return the hub id a model name or local directory stands for.

    A local directory counts as a known model when its folder name equals the last part of
    that model's hub id (``models/mdbr-leaf-mt`` is ``MongoDB/mdbr-leaf-mt``). Any other
    name is returned unchanged.
    """
    name = expand_alias(name)
    folder = Path(name).name
    for query_id, document_id in ALIGNED_PAIRS:
        for hub_id in (query_id, document_id):
            if name == hub_id or folder == hub_id.split("/")[-1]:
                return hub_id
    return name


def check_model_pair(
    query_model: str, document_model: str, query_dims: int, document_dims: int, *, allow_unaligned: bool = False
) -> bool:
    """Check that queries from ``query_model`` can search documents from ``document_model``.

    Returns True when the pair needed the ``allow_unaligned`` override, so the caller can
    record it. A dimension mismatch is always an error.
    """
    if query_dims != document_dims:
        raise ConfigurationError(
            f"query model {query_model!r} outputs {query_dims} dimensions but document model "
            f"{document_model!r} outputs {document_dims} dimensions; they cannot share a collection"
        )
    query_id, document_id = canonical_model_id(query_model), canonical_model_id(document_model)
    if query_id == document_id or Path(query_model) == Path(document_model):
        return False
    if (query_id, document_id) in ALIGNED_PAIRS:
        return False
    if allow_unaligned:
        return True
    known = ", ".join(f"{query} with {document}" for query, document in sorted(ALIGNED_PAIRS))
    raise ConfigurationError(
        f"query model {query_model!r} and document model {document_model!r} are not a known "
        f"aligned pair (known: {known}); pass --allow-unaligned-models if you trained them to "
        "share one embedding space"
    )
