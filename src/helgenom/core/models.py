"""Plain domain values shared by every layer: roles, purposes, sexes, origins."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Sex(enum.StrEnum):
    """Legal sex as carried by the CPR number (odd last digit = male)."""

    MALE = "male"
    FEMALE = "female"


class Role(enum.StrEnum):
    """What a principal does on the platform. One role per principal."""

    ADMIN = "admin"
    OPERATOR = "operator"
    CLINICIAN = "clinician"
    GENETICIST = "geneticist"
    RESEARCHER = "researcher"
    STEWARD = "steward"
    CITIZEN = "citizen"
    AUDITOR = "auditor"


class Purpose(enum.StrEnum):
    """Why data is used. Consent and access are decided per purpose."""

    CLINICAL_CARE = "clinical_care"
    RESEARCH = "research"
    QUALITY_ASSURANCE = "quality_assurance"
    CITIZEN_INSIGHT = "citizen_insight"
    PUBLIC_AGGREGATE = "public_aggregate"
    ADMINISTRATION = "administration"
    AUDIT = "audit"


CONSENT_PURPOSES: tuple[Purpose, ...] = (
    Purpose.CLINICAL_CARE,
    Purpose.RESEARCH,
    Purpose.QUALITY_ASSURANCE,
    Purpose.CITIZEN_INSIGHT,
    Purpose.PUBLIC_AGGREGATE,
)
"""The purposes for which a person's consent state is consulted."""


class OrgKind(enum.StrEnum):
    """An organisation is a hospital department or the platform itself."""

    DEPARTMENT = "department"
    PLATFORM = "platform"


class SampleOrigin(enum.StrEnum):
    """Why a sample was taken; research-origin data follows its project's consent."""

    CLINICAL = "clinical"
    RESEARCH = "research"
    VOLUNTARY = "voluntary"


class ObjectKind(enum.StrEnum):
    """What a stored object is."""

    FASTQ = "fastq"
    BAM = "bam"
    BAI = "bai"
    CRAM = "cram"
    CRAI = "crai"
    VCF = "vcf"
    GVCF = "gvcf"
    TBI = "tbi"
    CSI = "csi"
    REPORT = "report"
    OTHER = "other"


PLATFORM_ORG_CODE = "platform"
"""Code of the organisation that runs the platform, created by ``helgenom init``."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor: a person or service acting on the platform."""

    name: str
    """Unique login name."""
    role: Role
    """The principal's one role."""
    org_code: str
    """Code of the organisation the principal belongs to."""
    person_pseudonym: str | None = None
    """For citizens: the pseudonym of the person they are (bound to one CPR)."""


@dataclass(frozen=True, slots=True)
class VisaGrant:
    """A verified GA4GH Passport ``ControlledAccessGrants`` visa for one research project.

    It counts as membership of that project for the one request that presented it; the
    project must still be approved and unexpired. Nothing is stored.
    """

    project: str
    """Code of the research project the visa grants access to."""
    issuer: str
    """``iss`` of the visa (an allow-listed visa issuer)."""
    value: str
    """The visa's ``value`` (the dataset or project URL it names)."""
    expires_at: dt.datetime
    """When the visa lapses (its ``exp``, UTC)."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asks, and why. Every service method touching personal data takes one."""

    actor: Principal
    """The acting principal."""
    purpose: Purpose
    """The declared purpose of the request."""
    project: str | None = None
    """Research project code, required for the research purpose."""
    grants: tuple[VisaGrant, ...] = ()
    """Verified Passport visas the request's bearer token carried (external issuers only)."""
