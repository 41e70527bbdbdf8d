"""The one error tree of helgenom.

Every error raised on purpose by helgenom derives from :class:`HelgenomError` and
carries a stable ``code``. Interfaces map errors in one place: the CLI to an exit
code, the API (later) to an HTTP status.

::

    HelgenomError
     +-- InvalidInputError (ValueError)
     |    +-- FormatError
     |    +-- InvalidCprError
     |    +-- FhirValidationError (carries every Issue; renders an OperationOutcome)
     +-- NotFoundError (LookupError)
     +-- ConflictError
     +-- AuthenticationError
     +-- PermissionDeniedError (PermissionError)
     |    +-- ConsentDeniedError
     |    +-- DisclosureRiskError
     |         +-- QuotaExceededError (the asker's own query budget; carries retry_after)
     +-- IntegrityError
     +-- StorageUnavailableError
     +-- ConfigurationError
     +-- PipelineError
          +-- ToolNotFoundError
          +-- ToolFailedError

Messages name the bad value and the fix; they never contain a secret, a key, a CPR
number or other personal data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NUMBER_RUN = re.compile(r"\d{6,}(?:[- ]?\d+)*|\d{2}[ .]?\d{2}[ .]?\d{2}[- ]\d{4}")
"""Digit runs that may be (part of) a CPR number."""


def redact_numbers(text: str) -> str:
    """Replace every run of six or more digits (a possible CPR number) by ``<redacted>``.

    Defence in depth for messages built from submitted documents: a CPR number typed
    into the wrong field must not come back in an error message or log.
    """
    return _NUMBER_RUN.sub("<redacted>", text)


class HelgenomError(Exception):
    """Base class of every error helgenom raises on purpose."""

    code: str = "error"
    """Stable machine-readable code; part of the CLI and API contract."""


class InvalidInputError(HelgenomError, ValueError):
    """Input that helgenom cannot accept (malformed, impossible or out of range)."""

    code = "invalid_input"


class FormatError(InvalidInputError):
    """A file or document does not follow its format."""

    code = "format_error"


class InvalidCprError(InvalidInputError):
    """A string is not a valid Danish CPR number. The message never echoes it."""

    code = "invalid_cpr"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a submitted document, as in a FHIR ``OperationOutcome.issue``."""

    severity: str
    """``fatal``, ``error``, ``warning`` or ``information`` (FHIR issue-severity)."""
    code: str
    """FHIR issue-type: ``structure``, ``required``, ``value``, ``code-invalid``,
    ``not-found``, ``business-rule``, ``duplicate`` ..."""
    location: str
    """Where, as a FHIRPath-like expression: ``ServiceRequest.reasonCode[0].coding[0].code``."""
    diagnostics: str
    """What is wrong and how to fix it; never a CPR number."""

    @property
    def is_error(self) -> bool:
        """Whether the issue stops the document from being accepted."""
        return self.severity in ("fatal", "error")


class FhirValidationError(InvalidInputError):
    """A FHIR resource was rejected; :attr:`issues` lists every problem found, not the first.

    The diagnostics are passed through :func:`redact_numbers` so a CPR number never
    comes back in the message.
    """

    code = "fhir_invalid"

    def __init__(self, issues: Sequence[Issue], resource_type: str = "resource") -> None:
        self.resource_type = resource_type
        self.issues: tuple[Issue, ...] = tuple(
            Issue(i.severity, i.code, i.location, redact_numbers(i.diagnostics)) for i in issues
        )
        count = len(self.issues)
        listed = "; ".join(
            f"{i.location}: {i.diagnostics}" if i.location else i.diagnostics for i in self.issues
        )
        noun = "problem" if count == 1 else "problems"
        self.summary = f"the {resource_type} is not valid ({count} {noun})"
        """One line without the issues, for interfaces that list them apart."""
        super().__init__(f"{self.summary}: {listed}")

    def operation_outcome(self) -> dict[str, Any]:
        """The issues as a FHIR R4 ``OperationOutcome`` resource (a JSON-ready dict)."""
        issues: list[dict[str, Any]] = []
        for i in self.issues:
            entry: dict[str, Any] = {
                "severity": i.severity,
                "code": i.code,
                "diagnostics": i.diagnostics,
            }
            if i.location:
                entry["expression"] = [i.location]
            issues.append(entry)
        return {"resourceType": "OperationOutcome", "issue": issues}


class NotFoundError(HelgenomError, LookupError):
    """A named thing (person, principal, organisation, instance) does not exist."""

    code = "not_found"


class ConflictError(HelgenomError):
    """The request conflicts with the current state (already exists, wrong state)."""

    code = "conflict"


class AuthenticationError(HelgenomError):
    """The caller could not be identified."""

    code = "authentication_failed"


class PermissionDeniedError(HelgenomError, PermissionError):
    """The access policy denies the request (deny by default)."""

    code = "permission_denied"


class ConsentDeniedError(PermissionDeniedError):
    """The person's consent does not allow this purpose."""

    code = "consent_denied"


class DisclosureRiskError(PermissionDeniedError):
    """An output would risk disclosing individuals."""

    code = "disclosure_risk"


class QuotaExceededError(DisclosureRiskError):
    """The asker's own query budget is spent: rate limiting, not a refusal about data.

    Raised only for a budget that depends on nothing but the asker's own requests (the
    Beacon's per-user query budget), so saying so reveals nothing about anyone else.
    Budgets that protect persons never raise it (nor any error that tells which person).
    It stays a :class:`DisclosureRiskError`, as the budget is a defence against
    membership attacks; interfaces map its own code (HTTP 429).
    """

    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Whole seconds until the next request is allowed (HTTP ``Retry-After``), or
        None if the budget never refills."""


class IntegrityError(HelgenomError):
    """Stored data fails a check: checksum, MAC, audit chain, corrupt key file."""

    code = "integrity_error"


class StorageUnavailableError(HelgenomError):
    """A backing store (database, object store) cannot be reached."""

    code = "storage_unavailable"


class ConfigurationError(HelgenomError):
    """The instance is missing, incomplete or unsafely configured."""

    code = "configuration_error"


class PipelineError(HelgenomError):
    """A pipeline step failed."""

    code = "pipeline_error"


class ToolNotFoundError(PipelineError):
    """An external tool needed by a pipeline step is not installed."""

    code = "tool_not_found"


class ToolFailedError(PipelineError):
    """An external tool exited with an error."""

    code = "tool_failed"


__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ConsentDeniedError",
    "DisclosureRiskError",
    "FhirValidationError",
    "FormatError",
    "HelgenomError",
    "IntegrityError",
    "InvalidCprError",
    "InvalidInputError",
    "Issue",
    "NotFoundError",
    "PermissionDeniedError",
    "PipelineError",
    "QuotaExceededError",
    "StorageUnavailableError",
    "ToolFailedError",
    "ToolNotFoundError",
    "redact_numbers",
]
