"""Remove credentials from MongoDB connection strings before they reach a message or a log."""

from __future__ import annotations

import re

REDACTED = "***"
_SCHEMES = ("mongodb+srv://", "mongodb://")
# Connection-string options whose values are secrets. authMechanismProperties can carry an
# AWS session token or a token callback setting, so its whole value is hidden.
_SECRET_OPTIONS = frozenset(
    {
        "authmechanismproperties",
        "password",
        "tlscertificatekeyfilepassword",
        "sslpemkeypassword",
        "tlscertificatekeypassword",
    }
)
_SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key")
_URI_IN_TEXT = re.compile(r"mongodb(?:\+srv)?://[^\s'\"<>]*", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """Return ``uri`` with its user name, password and secret query options replaced by ``***``.

    Hosts, database and the other options stay visible, so a message still shows where the
    client tried to connect. A password that contains an unescaped ``@``, ``/`` or ``?`` is
    removed as well. The host may then be hidden too, because hiding too much is safer.
    """
    lowered = uri.lower()
    scheme = next((s for s in _SCHEMES if lowered.startswith(s)), None)
    if scheme is None:
        # Not a MongoDB URI; still strip anything shaped like "//user:password@".
        return re.sub(r"//[^/\s]*@", f"//{REDACTED}@", uri)

    rest = uri[len(scheme) :]
    at = _credentials_end(rest)
    if at >= 0:
        rest = REDACTED + rest[at:]

    query_start = rest.find("?")
    if query_start == -1:
        return scheme + rest
    return scheme + rest[: query_start + 1] + _redact_options(rest[query_start + 1 :])


def redact_text(text: str) -> str:
    """Return ``text`` with every MongoDB URI in it passed through :func:`redact_uri`."""
    return _URI_IN_TEXT.sub(lambda match: redact_uri(match.group(0)), text)


def _credentials_end(rest: str) -> int:
    """Return the position of the ``@`` that ends the user-info part, or -1 if there is none."""
    query_start = rest.find("?")
    head = rest if query_start == -1 else rest[:query_start]
    at = head.rfind("@")
    if at >= 0:
        return at
    if query_start == -1:
        return -1
    # A "?" comes before every "@". Either the query contains an "@" (appName=a@b) or the
    # password contains an unescaped "?". A query option always has "=" before its "@".
    at = rest.find("@", query_start)
    if at >= 0 and "=" not in rest[query_start:at]:
        return at
    return -1


def _redact_options(query: str) -> str:
    parts = re.split(r"([&;])", query)
    for position, part in enumerate(parts):
        key, separator, _value = part.partition("=")
        if separator and _is_secret_option(key):
            parts[position] = f"{key}={REDACTED}"
    return "".join(parts)


def _is_secret_option(key: str) -> bool:
    name = key.strip().lower()
    return name in _SECRET_OPTIONS or any(word in name for word in _SECRET_WORDS)
