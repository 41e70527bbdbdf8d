"""The access policy: which role may do which action on whose data, for what purpose.

Deny by default. :data:`POLICY` is the whole table; :func:`decide_access` is a pure
function of the request context, the action and facts about the subject. Services
gather the facts, call this function, write the audit entry, and only then act.
Consent is decided separately (:mod:`helgenom.core.consent`) and per person.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from helgenom.core.consent import Decision
from helgenom.core.models import Purpose, RequestContext, Role, VisaGrant


class Action(enum.StrEnum):
    """Every service action that touches personal data or the audit log."""

    PERSON_REGISTER = "person.register"
    PERSON_READ = "person.read"
    PERSON_REIDENTIFY = "person.reidentify"
    CONSENT_READ = "consent.read"
    CONSENT_WRITE = "consent.write"
    REQUISITION_CREATE = "requisition.create"
    SAMPLE_REGISTER = "sample.register"
    SAMPLE_LIST = "sample.list"
    SAMPLE_READ = "sample.read"
    SAMPLE_TRANSITION = "sample.transition"
    INDICATION_MANAGE = "indication.manage"
    RESEARCH_COHORT = "research.cohort"
    ORG_MANAGE = "org.manage"
    PRINCIPAL_MANAGE = "principal.manage"
    PROJECT_APPLY = "project.apply"
    PROJECT_DECIDE = "project.decide"
    PROJECT_READ = "project.read"
    OBJECT_PUT = "object.put"
    OBJECT_READ = "object.read"
    OBJECT_EXPORT = "object.export"
    OBJECT_LIST = "object.list"
    OBJECT_VERIFY = "object.verify"
    OBJECT_DELETE = "object.delete"
    KEYS_ROTATE = "keys.rotate"
    REFERENCE_LOAD = "reference.load"
    PIPELINE_RUN = "pipeline.run"
    PIPELINE_READ = "pipeline.read"
    VARIANT_INGEST = "variant.ingest"
    VARIANT_QUERY = "variant.query"
    VARIANT_CARRIERS = "variant.carriers"
    VARIANT_GENOTYPES = "variant.genotypes"
    VARIANT_RELEASE = "variant.release"
    VARIANT_WITHDRAW = "variant.withdraw"
    ANNOTATION_LOAD = "annotation.load"
    PANEL_LOAD = "panel.load"
    CASE_CREATE = "case.create"
    CASE_READ = "case.read"
    CASE_ANALYSE = "case.analyse"
    CASE_CLASSIFY = "case.classify"
    CASE_SIGN = "case.sign"
    REPORT_READ = "report.read"
    TOKEN_ISSUE = "token.issue"  # noqa: S105 - an action name, not a secret
    AUDIT_READ_PERSON = "audit.read_person"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"


class Relation(enum.StrEnum):
    """What must hold between the actor and the subject for a rule to apply."""

    ANY = "any"
    """No subject relation needed (the action is not about one person, or registers one)."""
    OWN_DEPARTMENT = "own_department"
    """The subject has a requisition from the actor's department."""
    SELF = "self"
    """The subject is the citizen principal themself."""
    PROJECT_MEMBER = "project_member"
    """The actor is a member of the approved, unexpired project named in the context, or
    the request carries a verified, unexpired Passport visa for it (``ctx.grants``)."""


ROLE_PURPOSES: dict[Role, frozenset[Purpose]] = {
    Role.ADMIN: frozenset({Purpose.ADMINISTRATION}),
    Role.OPERATOR: frozenset({Purpose.QUALITY_ASSURANCE, Purpose.ADMINISTRATION}),
    Role.CLINICIAN: frozenset({Purpose.CLINICAL_CARE}),
    Role.GENETICIST: frozenset({Purpose.CLINICAL_CARE, Purpose.QUALITY_ASSURANCE}),
    Role.RESEARCHER: frozenset({Purpose.RESEARCH}),
    Role.STEWARD: frozenset({Purpose.ADMINISTRATION}),
    Role.CITIZEN: frozenset({Purpose.CITIZEN_INSIGHT}),
    Role.AUDITOR: frozenset({Purpose.AUDIT}),
}
"""The purposes each role may declare."""

DEFAULT_PURPOSE: dict[Role, Purpose] = {
    Role.ADMIN: Purpose.ADMINISTRATION,
    Role.OPERATOR: Purpose.QUALITY_ASSURANCE,
    Role.CLINICIAN: Purpose.CLINICAL_CARE,
    Role.GENETICIST: Purpose.CLINICAL_CARE,
    Role.RESEARCHER: Purpose.RESEARCH,
    Role.STEWARD: Purpose.ADMINISTRATION,
    Role.CITIZEN: Purpose.CITIZEN_INSIGHT,
    Role.AUDITOR: Purpose.AUDIT,
}
"""The purpose a role acts for when it does not declare one."""

POLICY: dict[Action, dict[Role, Relation]] = {
    Action.PERSON_REGISTER: {
        Role.ADMIN: Relation.ANY,
        Role.CLINICIAN: Relation.ANY,
        Role.GENETICIST: Relation.ANY,
        Role.CITIZEN: Relation.SELF,
    },
    Action.PERSON_READ: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    Action.PERSON_REIDENTIFY: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    Action.CONSENT_READ: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    Action.CONSENT_WRITE: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    Action.REQUISITION_CREATE: {
        Role.CLINICIAN: Relation.ANY,
    },
    Action.SAMPLE_REGISTER: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.STEWARD: Relation.ANY,
    },
    Action.SAMPLE_LIST: {
        Role.OPERATOR: Relation.ANY,
    },
    Action.SAMPLE_READ: {
        Role.OPERATOR: Relation.ANY,
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    # Which role may move a sample into which state is the finer rule of
    # helgenom.core.samples.TRANSITION_ROLES, checked by the sample service.
    Action.SAMPLE_TRANSITION: {
        Role.OPERATOR: Relation.ANY,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.STEWARD: Relation.ANY,
    },
    Action.INDICATION_MANAGE: {
        Role.ADMIN: Relation.ANY,
    },
    Action.RESEARCH_COHORT: {
        Role.RESEARCHER: Relation.PROJECT_MEMBER,
    },
    Action.ORG_MANAGE: {
        Role.ADMIN: Relation.ANY,
    },
    Action.PRINCIPAL_MANAGE: {
        Role.ADMIN: Relation.ANY,
    },
    Action.PROJECT_APPLY: {
        Role.RESEARCHER: Relation.ANY,
    },
    Action.PROJECT_DECIDE: {
        Role.STEWARD: Relation.ANY,
    },
    Action.PROJECT_READ: {
        Role.STEWARD: Relation.ANY,
        Role.RESEARCHER: Relation.ANY,
    },
    Action.OBJECT_PUT: {
        Role.OPERATOR: Relation.ANY,
    },
    Action.OBJECT_READ: {
        Role.OPERATOR: Relation.ANY,
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    Action.OBJECT_EXPORT: {
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.STEWARD: Relation.ANY,
    },
    Action.OBJECT_LIST: {
        Role.OPERATOR: Relation.ANY,
    },
    Action.OBJECT_VERIFY: {
        Role.OPERATOR: Relation.ANY,
        Role.ADMIN: Relation.ANY,
    },
    Action.OBJECT_DELETE: {
        Role.STEWARD: Relation.ANY,
    },
    Action.KEYS_ROTATE: {
        Role.ADMIN: Relation.ANY,
    },
    # Reference genomes are public data; loading one builds indexes in the instance.
    Action.REFERENCE_LOAD: {
        Role.ADMIN: Relation.ANY,
        Role.OPERATOR: Relation.ANY,
    },
    # Running the secondary analysis of a sample (decrypts its reads, stores the products).
    Action.PIPELINE_RUN: {
        Role.OPERATOR: Relation.ANY,
    },
    # Pipeline runs and their QC: the operators, and the ordering department's geneticists.
    Action.PIPELINE_READ: {
        Role.OPERATOR: Relation.ANY,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    # The national genome database. Ingesting a sample's calls is sequencing work.
    Action.VARIANT_INGEST: {
        Role.OPERATOR: Relation.ANY,
    },
    # Aggregates (variant lookup, region, allele frequencies) over the persons whose
    # consent allows the purpose; no person is named.
    Action.VARIANT_QUERY: {
        Role.OPERATOR: Relation.ANY,
        Role.CLINICIAN: Relation.ANY,
        Role.GENETICIST: Relation.ANY,
        Role.RESEARCHER: Relation.ANY,
        Role.STEWARD: Relation.ANY,
    },
    # Carriers of a variant, person by person. A geneticist sees only the carriers with a
    # requisition from their own department (the service filters person by person, each
    # named in the audit entry); a researcher only the consenting carriers, under project
    # pseudonyms, within an approved project.
    Action.VARIANT_CARRIERS: {
        Role.GENETICIST: Relation.ANY,
        Role.RESEARCHER: Relation.PROJECT_MEMBER,
    },
    # One sample's genotypes at given sites (hom-ref told apart from no-call).
    Action.VARIANT_GENOTYPES: {
        Role.OPERATOR: Relation.ANY,
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
        Role.CITIZEN: Relation.SELF,
    },
    # Naming a snapshot of the database for reproducible studies.
    Action.VARIANT_RELEASE: {
        Role.STEWARD: Relation.ANY,
    },
    # Withdrawing a person from research use and research/public frequencies.
    Action.VARIANT_WITHDRAW: {
        Role.STEWARD: Relation.ANY,
        Role.CITIZEN: Relation.SELF,
    },
    # Annotation sources (ClinVar, population frequencies, gene models) and gene panels
    # are public knowledge; loading a version changes what analyses use.
    Action.ANNOTATION_LOAD: {
        Role.ADMIN: Relation.ANY,
        Role.OPERATOR: Relation.ANY,
        Role.GENETICIST: Relation.ANY,
    },
    Action.PANEL_LOAD: {
        Role.ADMIN: Relation.ANY,
        Role.GENETICIST: Relation.ANY,
    },
    # Interpretation cases of the requesting department: the clinician who ordered and
    # the department's geneticists see them; only geneticists analyse, classify and sign.
    # The case service also requires the case's own department (not just any requisition
    # for the person) for everything but creation.
    Action.CASE_CREATE: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    Action.CASE_READ: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    Action.CASE_ANALYSE: {
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    Action.CASE_CLASSIFY: {
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    Action.CASE_SIGN: {
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    # Signed reports go back to the requesting department only.
    Action.REPORT_READ: {
        Role.CLINICIAN: Relation.OWN_DEPARTMENT,
        Role.GENETICIST: Relation.OWN_DEPARTMENT,
    },
    # Bearer tokens of the instance's own issuer (the embedded profile).
    Action.TOKEN_ISSUE: {
        Role.ADMIN: Relation.ANY,
    },
    Action.AUDIT_READ_PERSON: {
        Role.CITIZEN: Relation.SELF,
        Role.AUDITOR: Relation.ANY,
    },
    Action.AUDIT_READ: {
        Role.AUDITOR: Relation.ANY,
    },
    Action.AUDIT_VERIFY: {
        Role.AUDITOR: Relation.ANY,
        Role.ADMIN: Relation.ANY,
    },
}
"""Who may do what. A role absent from an action's row is denied."""

REVEALS_CPR: frozenset[Action] = frozenset({Action.PERSON_REIDENTIFY})
"""Actions whose result contains a CPR number. Operators never get one."""


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What the service knows about the person an action is about."""

    person: str | None = None
    """Person pseudonym, or None when the action is not about one person."""
    requisition_departments: frozenset[str] = field(default_factory=frozenset)
    """Codes of departments that hold a requisition for the person."""


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the service knows about the research project named in the context."""

    code: str
    """Project code."""
    approved: bool
    """Whether the access committee approved it."""
    expires_at: dt.datetime | None
    """When approval lapses (UTC), if ever."""
    members: frozenset[str]
    """Names of member principals."""


def decide_access(
    ctx: RequestContext,
    action: Action,
    subject: SubjectFacts | None = None,
    project: ProjectFacts | None = None,
    *,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide whether ``ctx`` may perform ``action`` on ``subject``. Deny by default."""
    actor = ctx.actor
    rules = POLICY.get(action, {})
    relation = rules.get(actor.role)
    if relation is None:
        return Decision(False, f"role {actor.role.value} may not {action.value}")
    if ctx.purpose not in ROLE_PURPOSES[actor.role]:
        return Decision(
            False, f"role {actor.role.value} may not act for purpose {ctx.purpose.value}"
        )
    if action in REVEALS_CPR and actor.role is Role.OPERATOR:  # defence in depth
        return Decision(False, "operators never see CPR numbers")
    if relation is Relation.ANY:
        return Decision(True, f"role {actor.role.value} may {action.value}")
    if relation is Relation.SELF:
        if actor.person_pseudonym is None:
            return Decision(False, "citizen principal is not bound to a person")
        if subject is None or subject.person != actor.person_pseudonym:
            return Decision(False, "a citizen may only access their own data")
        return Decision(True, "citizen accessing their own data")
    if relation is Relation.OWN_DEPARTMENT:
        if subject is None or subject.person is None:
            return Decision(False, "no subject person given")
        if actor.org_code not in subject.requisition_departments:
            return Decision(
                False, f"no requisition from department {actor.org_code} for this person"
            )
        return Decision(True, f"requisition from department {actor.org_code}")
    # Relation.PROJECT_MEMBER
    if ctx.project is None:
        return Decision(False, "research access needs a project (--project CODE)")
    if project is None or project.code != ctx.project:
        return Decision(False, f"project {ctx.project} does not exist")
    if not project.approved:
        return Decision(False, f"project {project.code} is not approved")
    moment = now or dt.datetime.now(dt.UTC)
    if project.expires_at is not None and moment >= project.expires_at:
        return Decision(False, f"project {project.code} approval expired")
    if actor.name in project.members:
        return Decision(True, f"member of approved project {project.code}")
    visa = visa_grant(ctx, project.code, moment)
    if visa is not None:
        return Decision(True, f"approved project {project.code} via {describe_visa(visa)}")
    if ctx.grants:
        return Decision(
            False,
            f"{actor.name} is not a member of project {project.code} and presented no "
            "valid Passport visa for it",
        )
    return Decision(False, f"{actor.name} is not a member of project {project.code}")


def visa_grant(ctx: RequestContext, project: str, now: dt.datetime) -> VisaGrant | None:
    """The first unexpired Passport visa of ``ctx`` granting ``project``, if any."""
    for grant in ctx.grants:
        if grant.project == project and now < grant.expires_at:
            return grant
    return None


def describe_visa(grant: VisaGrant) -> str:
    """How an audit entry names a visa: type, issuer and value (never the token)."""
    return f"Passport visa ControlledAccessGrants from {grant.issuer} (value {grant.value})"
