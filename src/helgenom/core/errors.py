"""The one error tree of helgenom.

Every error raised on purpose by helgenom derives from :class:`HelgenomError` and
carries a stable ``code``. Interfaces map errors in one place: the CLI to an exit
code, the API (later) to an HTTP status.

::

    HelgenomError
     +-- InvalidInputError (ValueError)
     |    +-- FormatError
     |    +-- InvalidCprError
     +-- NotFoundError (LookupError)
     +-- ConflictError
     +-- AuthenticationError
     +-- PermissionDeniedError (PermissionError)
     |    +-- ConsentDeniedError
     |    +-- DisclosureRiskError
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
    "FormatError",
    "HelgenomError",
    "IntegrityError",
    "InvalidCprError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "PipelineError",
    "StorageUnavailableError",
    "ToolFailedError",
    "ToolNotFoundError",
]
