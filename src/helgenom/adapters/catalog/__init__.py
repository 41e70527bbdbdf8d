"""The catalog: organisations, principals, persons, consent, requisitions, audit."""

from helgenom.adapters.catalog.database import Catalog, create_catalog, redact_url

__all__ = ["Catalog", "create_catalog", "redact_url"]
