"""Services: the only layer that enforces access, consent and disclosure and writes audit.

Interfaces (CLI, API) import from here only; the domain names they need are
re-exported below.
"""

from helgenom.core.consent import ResearchChoice
from helgenom.core.errors import (
    AuthenticationError,
    ConfigurationError,
    FhirValidationError,
    HelgenomError,
    InvalidInputError,
    PermissionDeniedError,
    PipelineError,
)
from helgenom.core.models import Purpose, Role, SampleOrigin
from helgenom.services.settings import Environment

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "Environment",
    "FhirValidationError",
    "HelgenomError",
    "InvalidInputError",
    "PermissionDeniedError",
    "PipelineError",
    "Purpose",
    "ResearchChoice",
    "Role",
    "SampleOrigin",
]
