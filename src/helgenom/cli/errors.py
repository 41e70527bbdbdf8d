"""The one mapping from helgenom error codes to process exit codes."""

from __future__ import annotations

EXIT_CODES: dict[str, int] = {
    "error": 1,
    "invalid_input": 2,
    "format_error": 2,
    "invalid_cpr": 2,
    "fhir_invalid": 2,
    "not_found": 3,
    "conflict": 4,
    "authentication_failed": 5,
    "permission_denied": 6,
    "consent_denied": 6,
    "disclosure_risk": 6,
    "quota_exceeded": 6,
    "integrity_error": 7,
    "storage_unavailable": 8,
    "configuration_error": 9,
    "pipeline_error": 10,
    "tool_not_found": 10,
    "tool_failed": 10,
}
"""Exit code per error code. 0 is success; click's usage errors also exit with 2."""


def exit_code_for(code: str) -> int:
    """The exit code of an error code (1 for anything unknown)."""
    return EXIT_CODES.get(code, 1)
