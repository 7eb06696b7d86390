"""Translate pymongo exceptions into leafsearch errors, and retry transient network failures.

mongod wraps mongot's messages as ``PlanExecutor error during aggregation :: caused by ::
<message>``, so the inner texts are matched as substrings. Every message passes through
:func:`~leafsearch.atlas.uri.redact_text`, so no credentials leave this module.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from leafsearch.atlas.uri import redact_text
from leafsearch.errors import (
    AuthenticationError,
    ConfigurationError,
    DimensionMismatchError,
    IndexNotReadyError,
    InvalidFilterError,
    LeafsearchError,
    SearchNotEnabledError,
    ServerTimeoutError,
    StoreError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SEARCH_NOT_ENABLED = 31082
AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13
COMMAND_NOT_FOUND = 59
MAX_TIME_MS_EXPIRED = 50

_DIMENSIONS = re.compile(r"indexed with (\d+) dimensions but queried with (\d+)")
_FILTER_PATH = re.compile(r"Path '([^']*)' needs to be indexed as (filter|token)")
_NOT_READY = re.compile(r"cannot query vector index .* while in state (\w+)", re.DOTALL)
_NOT_VECTOR = re.compile(r"(\S+) is not indexed as vector")
_SEARCH_NOT_ENABLED_TEXT = "requires additional configuration"


@dataclass(frozen=True)
class ErrorContext:
    """The operation, namespace and redacted server URI that error messages name."""

    action: str
    namespace: str
    server: str
    index_name: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often transient network errors are retried: ``attempts`` tries in all."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0


def call_with_retries(
    operation: Callable[[], T],
    context: ErrorContext,
    policy: RetryPolicy | None = None,
    *,
    passthrough: tuple[type[PyMongoError], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``; retry network errors with exponential backoff; translate failures.

    Only dropped connections and network timeouts are retried, because the operations this
    store runs (reads, replace-upserts keyed by id, index commands) are safe to repeat.
    Server selection timeouts are not retried: pymongo has already waited
    ``serverSelectionTimeoutMS`` for them. Exceptions of a ``passthrough`` type are
    re-raised unchanged for the caller to inspect.
    """
    policy = policy or RetryPolicy()
    attempt = 1
    while True:
        try:
            return operation()
        except passthrough:
            raise
        except PyMongoError as exc:
            if not _is_transient(exc) or attempt >= policy.attempts:
                raise translate_error(exc, context) from None
            delay = min(policy.base_delay * 2 ** (attempt - 1), policy.max_delay)
            logger.warning(
                "%s on %s: network error (%s); retry %d of %d in %.1f s",
                context.action,
                context.namespace,
                redact_text(str(exc))[:200],
                attempt,
                policy.attempts - 1,
                delay,
            )
            sleep(delay)
            attempt += 1


def translate_error(exc: PyMongoError, context: ErrorContext) -> LeafsearchError:
    """Return the leafsearch error for a pymongo exception raised during ``context.action``."""
    where = f"{context.action} on {context.namespace} ({context.server})"
    index = repr(context.index_name) if context.index_name else "the vector search index"

    if isinstance(exc, ServerSelectionTimeoutError):
        return ServerTimeoutError(
            f"{where} failed: no server was reachable within the server selection timeout "
            f"({_short(exc)}). Check that the server is running and the URI is right; for "
            "a local atlas-local container add ?directConnection=true"
        )
    if isinstance(exc, ConnectionFailure):
        return ServerTimeoutError(
            f"{where} failed: the network connection failed or timed out ({_short(exc)}). "
            "Check the network and retry"
        )
    if not isinstance(exc, OperationFailure):
        return StoreError(f"{where} failed: {_short(exc)}")

    message = _server_message(exc)
    code = exc.code
    if code == SEARCH_NOT_ENABLED or _SEARCH_NOT_ENABLED_TEXT in message:
        return SearchNotEnabledError(
            f"{where} failed: this MongoDB server has no search engine (SearchNotEnabled, "
            f"code {SEARCH_NOT_ENABLED}). $vectorSearch needs MongoDB Atlas, an atlas-local "
            "deployment (mongodb/mongodb-atlas-local, see docs/atlas.md) or mongod 8.2+ "
            "with mongot; or use the embedded store"
        )
    if code == COMMAND_NOT_FOUND:
        return SearchNotEnabledError(
            f"{where} failed: the server does not know this command ({message}). Search "
            "indexes need MongoDB Atlas 6.0.11+/7.0.2+ (not M0 through the driver), "
            "atlas-local, or mongod 8.2+ with mongot"
        )
    if code == AUTHENTICATION_FAILED or "Authentication failed" in message:
        return AuthenticationError(
            f"{where} failed: authentication failed (code {code}). Check the user name, "
            "password and authSource in the connection string"
        )
    if code == UNAUTHORIZED:
        return AuthenticationError(
            f"{where} failed: the user is not authorized ({message}). Grant it readWrite "
            "on the database and the search index actions (Atlas role: readWriteAnyDatabase "
            "or a custom role)"
        )
    if isinstance(exc, ExecutionTimeout) or code == MAX_TIME_MS_EXPIRED:
        return ServerTimeoutError(
            f"{where} failed: the server stopped the operation at its time limit "
            f"(MaxTimeMSExpired). Raise max_time_ms, lower numCandidates, or retry"
        )

    dimensions = _DIMENSIONS.search(message)
    if dimensions:
        indexed, queried = dimensions.groups()
        return DimensionMismatchError(
            f"{where} failed: the vector field is indexed with {indexed} dimensions but "
            f"queried with {queried}. Query with the model the collection was built with, or "
            "re-index with the new model"
        )
    filter_path = _FILTER_PATH.search(message)
    if filter_path:
        return InvalidFilterError(
            f"{where} failed: field {filter_path.group(1)!r} needs to be indexed as filter "
            f"in {index}. Declare it as a filter field and update the index, or filter the "
            "results after the search"
        )
    not_ready = _NOT_READY.search(message)
    if not_ready:
        return IndexNotReadyError(
            f"{where} failed: {index} is not ready (state {not_ready.group(1)}). Wait until "
            "it is queryable (prepare() waits for it) and retry"
        )
    not_vector = _NOT_VECTOR.search(message)
    if not_vector:
        return ConfigurationError(
            f"{where} failed: {not_vector.group(1)} is not indexed as vector in {index}. "
            "The index definition does not match the collection layout; update the index "
            "(prepare with update_index=True) or drop and re-index"
        )
    return StoreError(f"{where} failed: {message} (code {code})")


def _is_transient(exc: PyMongoError) -> bool:
    return isinstance(exc, AutoReconnect) and not isinstance(exc, ServerSelectionTimeoutError)


def _server_message(exc: OperationFailure) -> str:
    details = exc.details or {}
    message = details.get("errmsg") or str(exc)
    return redact_text(str(message))


def _short(exc: BaseException, limit: int = 160) -> str:
    # pymongo appends its whole topology description after the cause; the cause comes first.
    text = redact_text(str(exc))
    for marker in (", Timeout:", " Topology Description:", " (configured timeouts"):
        text = text.split(marker, 1)[0]
    return text if len(text) <= limit else text[:limit] + "..."
