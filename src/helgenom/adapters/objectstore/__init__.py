"""Object storage: local directory and S3 backends, Crypt4GH encryption as a wrapper."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from helgenom.adapters.objectstore.base import ObjectInfo, ObjectStore
from helgenom.adapters.objectstore.local import LocalStore
from helgenom.core.errors import ConfigurationError


def create_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
) -> ObjectStore:
    """Build a store from a URL: ``file:///path`` (or a plain path) or ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        path = unquote(parts.path if parts.scheme else url)
        if not path:
            raise ConfigurationError("object store URL has no path: use file:///PATH")
        return LocalStore(Path(path))
    if parts.scheme == "s3":
        from helgenom.adapters.objectstore.s3 import S3Store

        if not parts.netloc:
            raise ConfigurationError("object store URL has no bucket: use s3://BUCKET/PREFIX")
        return S3Store(
            parts.netloc,
            parts.path.strip("/"),
            endpoint_url=endpoint_url,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
        )
    raise ConfigurationError(
        f"unsupported object store URL scheme {parts.scheme!r}: use file:///PATH or "
        "s3://BUCKET/PREFIX"
    )


__all__ = ["LocalStore", "ObjectInfo", "ObjectStore", "create_store"]
