"""Orders for whole-genome sequencing: priorities, family relationships, what an order says.

A submitted order (a FHIR ``ServiceRequest``, read by :mod:`helgenom.adapters.fhir`)
becomes :class:`OrderFacts`: everything that could be read, and an
:class:`~helgenom.core.errors.Issue` for everything that could not. The service adds
the catalogue's checks and accepts the order only when no issue is an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from helgenom.core.cpr import Cpr
from helgenom.core.errors import Issue


class Priority(enum.StrEnum):
    """How urgent an order is (FHIR request-priority)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class Relationship(enum.StrEnum):
    """A sequenced person's place in the order: the patient, or a parent for a trio."""

    PROBAND = "proband"
    MOTHER = "mother"
    FATHER = "father"


@dataclass(frozen=True, slots=True)
class OrderedPerson:
    """A person to sequence, identified by CPR (the ``repr`` of a Cpr is redacted)."""

    cpr: Cpr
    """The person's CPR number."""
    relationship: Relationship
    """Proband, mother or father."""
    location: str
    """Where the person's CPR identifier is in the resource (for issues)."""


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What was read from a submitted order; None where it could not be (an issue says why)."""

    order_key: str | None = None
    """The order's identity for duplicate detection: ``system|value`` of its first
    identifier, else ``id|<resource id>``."""
    department: str | None = None
    """Code of the requesting department."""
    department_location: str = ""
    """Where the department code is in the resource."""
    indication: str | None = None
    """Indication code (``urn:helgenom:indication``)."""
    indication_location: str = ""
    """Where the indication code is in the resource."""
    priority: Priority | None = None
    """The order's priority."""
    hpo_terms: tuple[str, ...] = ()
    """The proband's phenotype: HPO codings beside the indication in ``reasonCode``."""
    persons: tuple[OrderedPerson, ...] = ()
    """Proband first, then family members; only those whose CPR was valid."""
    issues: tuple[Issue, ...] = field(default_factory=tuple)
    """Every problem found."""

    @property
    def ok(self) -> bool:
        """Whether no issue is an error."""
        return not any(i.is_error for i in self.issues)


__all__ = ["OrderFacts", "OrderedPerson", "Priority", "Relationship"]
