"""helgenom: a national genome platform for personalised medicine."""

from helgenom.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ConsentDeniedError,
    DisclosureRiskError,
    FormatError,
    HelgenomError,
    IntegrityError,
    InvalidCprError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PipelineError,
    StorageUnavailableError,
    ToolFailedError,
    ToolNotFoundError,
)
from helgenom.core.version import __version__

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
    "__version__",
]
