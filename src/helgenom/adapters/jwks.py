"""JSON Web Key Sets and OpenID Connect discovery documents, over HTTP(S) or from a file.

This module reads and parses; it trusts no one. Which issuers are accepted, which
algorithms count, and how long keys are kept are the token service's decisions
(:mod:`helgenom.services.tokens`), passed in as arguments.

Errors: a document that cannot be fetched, read or parsed is a
:class:`~helgenom.core.errors.StorageUnavailableError` (the caller may keep older keys);
a URL that is not ``http(s)://`` is a :class:`~helgenom.core.errors.ConfigurationError`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from helgenom.core.errors import ConfigurationError, StorageUnavailableError

TIMEOUT_SECONDS = 5.0
"""Time allowed to fetch one JWKS or discovery document."""
MAX_DOCUMENT_BYTES = 1 << 20
"""Largest JWKS or discovery document read."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
"""Hosts a discovered ``jwks_uri`` may name over plain ``http`` (a provider on this machine)."""

FileStamp = tuple[float, int]
"""A file's (mtime, size): a key file is read again when it changes."""


@dataclass(frozen=True, slots=True)
class KeySet:
    """The signing keys of one JWKS document."""

    keys: dict[str | None, Any]
    """Key id (``kid``; None when a key has none) -> ``jwt.PyJWK``."""
    stamp: FileStamp | None = None
    """The file's (mtime, size) when the keys were read from a file."""


def pyjwt() -> Any:
    """The PyJWT module (ConfigurationError naming the extra when it is missing)."""
    try:
        import jwt
    except ImportError:
        raise ConfigurationError("bearer tokens need PyJWT: pip install 'helgenom[api]'") from None
    return jwt


def read_json_url(url: str, what: str, *, timeout: float = TIMEOUT_SECONDS) -> Any:
    """GET ``url`` (``http`` or ``https`` only) and parse its JSON body.

    ``what`` names the document in messages ("signing keys (JWKS) of issuer ...").

    Raises
    ------
    ConfigurationError
        ``url`` is not an ``http(s)://`` URL.
    StorageUnavailableError
        The request failed, or the body is too large or not JSON.
    """
    if urlsplit(url).scheme not in ("https", "http"):
        raise ConfigurationError(f"{url} is not an https:// URL: check jwks_uri and issuer")
    # The scheme is http(s), checked above (never file: or another opener).
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise StorageUnavailableError(
            f"the {what} could not be fetched from {url} ({reason}); try again later, or "
            "configure a local jwks_path for an air-gapped site"
        ) from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise StorageUnavailableError(
            f"the {what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes"
        )
    try:
        return json.loads(body)
    except ValueError as exc:
        raise StorageUnavailableError(f"the {what} at {url} is not JSON") from exc


def discover_jwks_uri(issuer: str, *, timeout: float = TIMEOUT_SECONDS) -> str:
    """The ``jwks_uri`` of ``issuer``'s OpenID discovery document
    (``ISSUER/.well-known/openid-configuration``).

    The document must name the same issuer, and its ``jwks_uri`` must be ``https`` (or
    ``http`` on a loopback address).

    Raises
    ------
    StorageUnavailableError
        The document cannot be fetched, is for another issuer, or names no usable URI.
    """
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    config = read_json_url(url, f"OpenID configuration of issuer {issuer}", timeout=timeout)
    if not isinstance(config, dict) or config.get("issuer") != issuer:
        raise StorageUnavailableError(
            f"the OpenID configuration at {url} is not for issuer {issuer}: "
            "check the configured issuer, or give jwks_uri"
        )
    uri = config.get("jwks_uri")
    parts = urlsplit(uri) if isinstance(uri, str) else None
    loopback = parts is not None and parts.hostname in LOOPBACK_HOSTS
    if parts is None or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise StorageUnavailableError(f"the OpenID configuration at {url} names no https jwks_uri")
    return str(uri)


def parse_key_set(
    document: Any, *, issuer: str, algorithms: Collection[str]
) -> dict[str | None, Any]:
    """The signature keys of a JWKS document for ``algorithms``, by key id.

    Entries that are not signature keys (``use`` other than ``sig``), that PyJWT cannot
    load, or whose algorithm is not in ``algorithms`` are left out.

    Raises
    ------
    StorageUnavailableError
        The document has no ``keys`` list.
    """
    jwt = pyjwt()
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise StorageUnavailableError(
            f"the JWKS of issuer {issuer} has no 'keys' list: check jwks_uri/jwks_path"
        )
    keys: dict[str | None, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type not accepted here
        if key.algorithm_name in algorithms:
            keys[entry.get("kid")] = key
    return keys


def fetch_key_set(
    url: str, *, issuer: str, algorithms: Collection[str], timeout: float = TIMEOUT_SECONDS
) -> KeySet:
    """The keys of the JWKS at ``url`` (see :func:`parse_key_set`)."""
    document = read_json_url(url, f"signing keys (JWKS) of issuer {issuer}", timeout=timeout)
    return KeySet(parse_key_set(document, issuer=issuer, algorithms=algorithms))


def file_stamp(path: Path) -> FileStamp | None:
    """``path``'s (mtime, size), or None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


def read_key_set(path: Path, *, issuer: str, algorithms: Collection[str]) -> KeySet:
    """The keys of the JWKS file at ``path``, with the file's stamp.

    Raises
    ------
    StorageUnavailableError
        The file cannot be read or is not a JWKS.
    """
    try:
        stat = path.stat()
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageUnavailableError(
            f"the JWKS file {path} of issuer {issuer} cannot be read "
            f"({type(exc).__name__}): put the issuer's JWKS there"
        ) from None
    keys = parse_key_set(document, issuer=issuer, algorithms=algorithms)
    return KeySet(keys, (stat.st_mtime, stat.st_size))


__all__ = [
    "LOOPBACK_HOSTS",
    "MAX_DOCUMENT_BYTES",
    "TIMEOUT_SECONDS",
    "FileStamp",
    "KeySet",
    "discover_jwks_uri",
    "fetch_key_set",
    "file_stamp",
    "parse_key_set",
    "read_json_url",
    "read_key_set",
]
