"""The one mapping from helgenom error codes to HTTP statuses."""

from __future__ import annotations

HTTP_STATUS: dict[str, int] = {
    "invalid_input": 400,
    "format_error": 400,
    "invalid_cpr": 400,
    "fhir_invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "authentication_failed": 401,
    "permission_denied": 403,
    "consent_denied": 403,
    "disclosure_risk": 403,
    "quota_exceeded": 429,
    "integrity_error": 500,
    "storage_unavailable": 503,
    "configuration_error": 500,
    "pipeline_error": 500,
    "tool_not_found": 500,
    "tool_failed": 500,
}
"""HTTP status per error code; anything else is 500."""


def status_for(code: str) -> int:
    """The HTTP status of an error code (500 for anything unknown)."""
    return HTTP_STATUS.get(code, 500)


__all__ = ["HTTP_STATUS", "status_for"]
