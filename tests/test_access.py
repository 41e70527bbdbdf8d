"""Tests of the access policy and the gate: deny by default, every call audited.

1. The pure policy (:func:`decide_access`) against an expectation table written out
   here from the requirements, for every action x role x relation case.
2. Every service method touching personal data x every role x ownership case, on
   SQLite and PostgreSQL: allowed calls succeed, denied calls raise
   PermissionDeniedError, and each call appends exactly one audit entry.
3. Research cohorts: consent evaluated at query time, project pseudonyms, expiry.
4. Operators never reach a CPR number or a person pseudonym.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import (
    POSTGRES_ADMIN_URL,
    World,
    _pg_admin_engine,
    build_world,
    make_cpr,
    require_postgres,
)
from helgenom.adapters.catalog.schema import audit_log, projects, samples
from helgenom.adapters.keys import KeyName, write_crypt4gh_keypair
from helgenom.core.access import (
    POLICY,
    ROLE_PURPOSES,
    Action,
    ProjectFacts,
    Relation,
    SubjectFacts,
    decide_access,
)
from helgenom.core.consent import ResearchChoice
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import PermissionDeniedError
from helgenom.core.models import (
    ObjectKind,
    Principal,
    Purpose,
    RequestContext,
    Role,
    SampleOrigin,
)
from helgenom.core.pseudonyms import project_pseudonym
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform

# =========================================================================== 1. pure policy

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
SELF = "hp-selfselfselfselfselfselfse"
OTHER = "hp-otherotherotherotherother"
PROJECT = "PROJ-1"

OWN_PURPOSES: dict[Role, frozenset[Purpose]] = {
    Role.ADMIN: frozenset({Purpose.ADMINISTRATION}),
    Role.OPERATOR: frozenset({Purpose.QUALITY_ASSURANCE, Purpose.ADMINISTRATION}),
    Role.CLINICIAN: frozenset({Purpose.CLINICAL_CARE}),
    Role.GENETICIST: frozenset({Purpose.CLINICAL_CARE, Purpose.QUALITY_ASSURANCE}),
    Role.RESEARCHER: frozenset({Purpose.RESEARCH}),
    Role.STEWARD: frozenset({Purpose.ADMINISTRATION}),
    Role.CITIZEN: frozenset({Purpose.CITIZEN_INSIGHT}),
    Role.AUDITOR: frozenset({Purpose.AUDIT}),
}
"""The purposes each role may declare, written out independently of ROLE_PURPOSES."""

PRINCIPALS: dict[Role, Principal] = {
    Role.ADMIN: Principal("admin", Role.ADMIN, "platform"),
    Role.OPERATOR: Principal("operator", Role.OPERATOR, "platform"),
    Role.CLINICIAN: Principal("clin-a", Role.CLINICIAN, "DEP-A"),
    Role.GENETICIST: Principal("gen-a", Role.GENETICIST, "DEP-A"),
    Role.RESEARCHER: Principal("researcher", Role.RESEARCHER, "platform"),
    Role.STEWARD: Principal("steward", Role.STEWARD, "platform"),
    Role.CITIZEN: Principal("citizen", Role.CITIZEN, "platform", person_pseudonym=SELF),
    Role.AUDITOR: Principal("auditor", Role.AUDITOR, "platform"),
}


def _project(
    *, approved: bool = True, expires: dt.datetime | None, members: set[str]
) -> ProjectFacts:
    return ProjectFacts(PROJECT, approved, expires, frozenset(members))


LATER = NOW + dt.timedelta(days=30)
MEMBERS = {"researcher", "clin-a", "citizen", "admin", "steward", "auditor", "operator", "gen-a"}


@dataclass(frozen=True)
class Case:
    """A relation between the actor and the subject (or the project) of a request."""

    subject: Callable[[Principal], SubjectFacts | None]
    ctx_project: str | None = None
    project: ProjectFacts | None = None


CASES: dict[str, Case] = {
    # subject cases (no project named)
    "own-department": Case(lambda a: SubjectFacts(OTHER, frozenset({a.org_code}))),
    "other-department": Case(lambda a: SubjectFacts(OTHER, frozenset({"DEP-B"}))),
    "other-person": Case(lambda a: SubjectFacts(OTHER, frozenset())),
    "self": Case(lambda a: SubjectFacts(SELF, frozenset())),
    "no-subject": Case(lambda a: None),
    # project cases (no subject person); MEMBERS holds every principal above
    "project-member": Case(lambda a: None, PROJECT, _project(expires=LATER, members=MEMBERS)),
    "project-not-member": Case(
        lambda a: None, PROJECT, _project(expires=LATER, members={"outsider"})
    ),
    "project-not-approved": Case(
        lambda a: None, PROJECT, _project(approved=False, expires=LATER, members=MEMBERS)
    ),
    "project-expired": Case(
        lambda a: None,
        PROJECT,
        _project(expires=NOW - dt.timedelta(seconds=1), members=MEMBERS),
    ),
    "project-expires-now": Case(lambda a: None, PROJECT, _project(expires=NOW, members=MEMBERS)),
    "project-unknown": Case(lambda a: None, PROJECT, None),
    "no-project": Case(lambda a: None, None, None),
}

ALL = frozenset(CASES)
OWN_DEPT = frozenset({"own-department"})
ONLY_SELF = frozenset({"self"})
MEMBER = frozenset({"project-member"})

A = Action
EXPECTED: dict[Role, dict[Action, frozenset[str]]] = {
    # Admins run the platform: departments, users, registering persons, verifying audit.
    Role.ADMIN: {
        A.PERSON_REGISTER: ALL,
        A.ORG_MANAGE: ALL,
        A.PRINCIPAL_MANAGE: ALL,
        A.AUDIT_VERIFY: ALL,
        A.OBJECT_VERIFY: ALL,
        A.KEYS_ROTATE: ALL,
        A.INDICATION_MANAGE: ALL,
        A.REFERENCE_LOAD: ALL,  # reference genomes are public data
        A.ANNOTATION_LOAD: ALL,  # so are annotation sources and gene panels
        A.PANEL_LOAD: ALL,
        A.TOKEN_ISSUE: ALL,  # the embedded profile's local token issuer
    },
    # Operators run sequencing: the sample table and the encrypted files (reads in,
    # pipelines read them back, integrity checks); never a person, never a CPR, no export.
    # They move samples through the lab states (which states: core/samples.py, tested in
    # test_samples.py) and read a sample's history.
    Role.OPERATOR: {
        A.SAMPLE_LIST: ALL,
        A.SAMPLE_READ: ALL,
        A.SAMPLE_TRANSITION: ALL,
        A.OBJECT_PUT: ALL,
        A.OBJECT_READ: ALL,
        A.OBJECT_LIST: ALL,
        A.OBJECT_VERIFY: ALL,
        # They load reference genomes, run the secondary analysis and watch its QC.
        A.REFERENCE_LOAD: ALL,
        A.PIPELINE_RUN: ALL,
        A.PIPELINE_READ: ALL,
        # They ingest the calls into the genome database, query its aggregates and check
        # a sample's genotypes (QC), without persons.
        A.VARIANT_INGEST: ALL,
        A.VARIANT_QUERY: ALL,
        A.VARIANT_GENOTYPES: ALL,
        A.ANNOTATION_LOAD: ALL,  # ClinVar, population frequencies, gene models
    },
    # Clinicians: persons with a requisition from their own department.
    Role.CLINICIAN: {
        A.PERSON_REGISTER: ALL,
        A.REQUISITION_CREATE: ALL,
        A.PERSON_READ: OWN_DEPT,
        A.PERSON_REIDENTIFY: OWN_DEPT,
        A.CONSENT_READ: OWN_DEPT,
        A.CONSENT_WRITE: OWN_DEPT,
        A.SAMPLE_REGISTER: OWN_DEPT,
        A.OBJECT_READ: OWN_DEPT,
        A.SAMPLE_READ: OWN_DEPT,
        A.SAMPLE_TRANSITION: OWN_DEPT,  # cancel their department's order
        A.VARIANT_QUERY: ALL,  # national frequencies
        A.VARIANT_GENOTYPES: OWN_DEPT,
        A.CASE_CREATE: OWN_DEPT,  # open a case for their order, see it and its report
        A.CASE_READ: OWN_DEPT,
        A.REPORT_READ: OWN_DEPT,
    },
    # Geneticists: read persons of their own department (no consent changes, no orders).
    Role.GENETICIST: {
        A.PERSON_REGISTER: ALL,
        A.PERSON_READ: OWN_DEPT,
        A.PERSON_REIDENTIFY: OWN_DEPT,
        A.CONSENT_READ: OWN_DEPT,
        A.OBJECT_READ: OWN_DEPT,
        A.OBJECT_EXPORT: OWN_DEPT,
        A.SAMPLE_READ: OWN_DEPT,  # interpret and report their department's samples
        A.SAMPLE_TRANSITION: OWN_DEPT,
        A.PIPELINE_READ: OWN_DEPT,  # the QC of their department's samples, not to run them
        A.VARIANT_QUERY: ALL,
        A.VARIANT_GENOTYPES: OWN_DEPT,
        A.VARIANT_CARRIERS: ALL,  # filtered to their own department's persons by the service
        A.ANNOTATION_LOAD: ALL,
        A.PANEL_LOAD: ALL,
        A.CASE_CREATE: OWN_DEPT,  # interpret, classify and sign their department's cases
        A.CASE_READ: OWN_DEPT,
        A.CASE_ANALYSE: OWN_DEPT,
        A.CASE_CLASSIFY: OWN_DEPT,
        A.CASE_SIGN: OWN_DEPT,
        A.REPORT_READ: OWN_DEPT,
    },
    # Researchers: cohorts only through an approved, unexpired project they belong to.
    Role.RESEARCHER: {
        A.RESEARCH_COHORT: MEMBER,
        A.PROJECT_APPLY: ALL,
        A.PROJECT_READ: ALL,
        A.VARIANT_QUERY: ALL,  # aggregates over consenting persons
        A.VARIANT_CARRIERS: MEMBER,
    },
    # Stewards: the access committee, and research/voluntary samples.
    Role.STEWARD: {
        A.SAMPLE_REGISTER: ALL,
        A.SAMPLE_TRANSITION: ALL,  # cancel (research and voluntary samples too)
        A.PROJECT_DECIDE: ALL,
        A.PROJECT_READ: ALL,
        A.OBJECT_EXPORT: ALL,
        A.OBJECT_DELETE: ALL,
        A.VARIANT_QUERY: ALL,
        A.VARIANT_RELEASE: ALL,
        A.VARIANT_WITHDRAW: ALL,
    },
    # Citizens: only themselves.
    Role.CITIZEN: {
        A.PERSON_REGISTER: ONLY_SELF,
        A.PERSON_READ: ONLY_SELF,
        A.PERSON_REIDENTIFY: ONLY_SELF,
        A.CONSENT_READ: ONLY_SELF,
        A.CONSENT_WRITE: ONLY_SELF,
        A.AUDIT_READ_PERSON: ONLY_SELF,
        A.OBJECT_READ: ONLY_SELF,
        A.VARIANT_GENOTYPES: ONLY_SELF,
        A.VARIANT_WITHDRAW: ONLY_SELF,
    },
    # Auditors: the audit log only.
    Role.AUDITOR: {
        A.AUDIT_READ_PERSON: ALL,
        A.AUDIT_READ: ALL,
        A.AUDIT_VERIFY: ALL,
    },
}
"""Where each role is allowed: role -> action -> relation cases. Absent means denied."""


def expected_allowed(action: Action, role: Role, case: str) -> bool:
    return case in EXPECTED[role].get(action, frozenset())


def context(role: Role, purpose: Purpose, case: Case) -> RequestContext:
    return RequestContext(PRINCIPALS[role], purpose, case.ctx_project)


def decide(role: Role, purpose: Purpose, action: Action, case_name: str) -> Any:
    case = CASES[case_name]
    actor = PRINCIPALS[role]
    return decide_access(
        context(role, purpose, case), action, case.subject(actor), case.project, now=NOW
    )


POLICY_CASES = [
    pytest.param(action, role, case, id=f"{action.value}-{role.value}-{case}")
    for action in Action
    for role in Role
    for case in CASES
]


@pytest.mark.parametrize(("action", "role", "case"), POLICY_CASES)
def test_policy_matrix(action: Action, role: Role, case: str) -> None:
    want = expected_allowed(action, role, case)
    for purpose in sorted(OWN_PURPOSES[role]):
        decision = decide(role, purpose, action, case)
        assert decision.allowed is want, f"{purpose.value}: {decision.reason}"
        assert decision.reason.strip()


def test_expectation_table_names_only_real_cases() -> None:
    for rules in EXPECTED.values():
        for cases in rules.values():
            assert cases <= ALL


def test_role_purposes_match_the_requirements() -> None:
    assert ROLE_PURPOSES == OWN_PURPOSES


@pytest.mark.parametrize(
    ("role", "purpose"),
    [
        pytest.param(role, purpose, id=f"{role.value}-as-{purpose.value}")
        for role in Role
        for purpose in Purpose
        if purpose not in OWN_PURPOSES[role]
    ],
)
def test_a_purpose_not_the_roles_own_is_denied(role: Role, purpose: Purpose) -> None:
    for action in Action:
        for case in CASES:
            decision = decide(role, purpose, action, case)
            assert not decision.allowed, (action, case, decision.reason)
            assert decision.reason.strip()


@pytest.mark.parametrize("purpose", sorted(Purpose))
def test_operator_is_never_allowed_to_reidentify(
    purpose: Purpose, monkeypatch: pytest.MonkeyPatch
) -> None:
    for case in CASES:
        assert not decide(Role.OPERATOR, purpose, Action.PERSON_REIDENTIFY, case).allowed
    # Defence in depth: even a policy row that wrongly admitted operators is not enough.
    monkeypatch.setitem(POLICY[Action.PERSON_REIDENTIFY], Role.OPERATOR, Relation.ANY)
    for case in CASES:
        assert not decide(Role.OPERATOR, purpose, Action.PERSON_REIDENTIFY, case).allowed


def test_every_action_has_a_policy_row() -> None:
    assert set(POLICY) == set(Action)
    for action, rules in POLICY.items():
        assert rules, f"{action.value} has an empty row"
        assert set(rules) <= set(Role)


PERSON_ACTIONS = (
    A.PERSON_READ,
    A.PERSON_REIDENTIFY,
    A.CONSENT_READ,
    A.CONSENT_WRITE,
    A.SAMPLE_REGISTER,
    A.SAMPLE_READ,
    A.SAMPLE_TRANSITION,
    A.PIPELINE_READ,
)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.GENETICIST])
def test_care_team_needs_a_requisition_from_its_own_department(role: Role) -> None:
    for purpose, action in itertools.product(OWN_PURPOSES[role], PERSON_ACTIONS):
        for case in ("other-department", "other-person", "self", "no-subject"):
            assert not decide(role, purpose, action, case).allowed, (action, case)


def test_citizens_only_ever_reach_themselves() -> None:
    for action, case in itertools.product(Action, CASES):
        if case != "self":
            decision = decide(Role.CITIZEN, Purpose.CITIZEN_INSIGHT, action, case)
            assert not decision.allowed, (action, case)
    unbound = Principal("citizen", Role.CITIZEN, "platform", person_pseudonym=None)
    for action in Action:
        ctx = RequestContext(unbound, Purpose.CITIZEN_INSIGHT)
        assert not decide_access(ctx, action, SubjectFacts(SELF), now=NOW).allowed
        assert not decide_access(ctx, action, SubjectFacts(None), now=NOW).allowed


def test_researchers_never_reach_a_person_directly() -> None:
    person_cases = ("own-department", "other-department", "other-person", "self")
    for action, case in itertools.product(Action, person_cases):
        if action in (A.PROJECT_APPLY, A.PROJECT_READ, A.VARIANT_QUERY):
            continue  # no person in these (variant.query answers aggregates only)
        assert not decide(Role.RESEARCHER, Purpose.RESEARCH, action, case).allowed


def test_auditors_only_read_the_audit_log() -> None:
    readable = {A.AUDIT_READ, A.AUDIT_READ_PERSON, A.AUDIT_VERIFY}
    for action, case in itertools.product(Action, CASES):
        if decide(Role.AUDITOR, Purpose.AUDIT, action, case).allowed:
            assert action in readable


def test_project_membership_is_checked_against_the_named_project() -> None:
    """Facts about a different project than the one named never grant access."""
    ctx = RequestContext(PRINCIPALS[Role.RESEARCHER], Purpose.RESEARCH, "PROJ-2")
    facts = _project(expires=LATER, members={"researcher"})
    assert not decide_access(ctx, A.RESEARCH_COHORT, None, facts, now=NOW).allowed


# =========================================================================== 2. services


@dataclass
class Shared:
    """One populated instance per backend, shared by the service matrix."""

    world: World
    requisition_a: str
    """A DEP-A requisition for world.patient_a."""
    work: Path = Path()
    """Scratch folder for the object services' input and output files."""
    samples: dict[str, str] = field(default_factory=dict)
    """CPR -> a sample of the person (patient_a, citizen_cpr)."""
    objects: dict[str, str] = field(default_factory=dict)
    """CPR -> an object stored for that sample."""
    contents: dict[str, bytes] = field(default_factory=dict)
    """Object id -> its plaintext."""
    doomed: str = ""
    """An object of patient_a reserved for the steward's delete."""
    recipient_public: bytes = b""
    recipient_secret: Path = Path()
    reference_fasta: Path = Path()
    """A small simulated genome, registered as build MTX (see _pipeline_setup)."""
    pipeline_sample: str = ""
    """A sample of patient_a (DEP-A) with reads and one finished pipeline run."""
    variants_ready: bool = False
    case_id: str = ""
    ingested_a: int = 0
    htsget: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """CPR -> (VCF.gz object, its index object, htsget name) of the person's sample."""
    """patient_a's samples in the genome database (what a withdrawal of them counts)."""
    """A case of patient_a (DEP-A), on gene models of build CAS (see _cases_setup)."""
    """patient_a's and the citizen's samples are in the genome database (_variants_setup)."""

    @property
    def platform(self) -> Platform:
        return self.world.platform

    def pseudonym(self, cpr: str) -> str:
        return self.platform.persons.vault.pseudonym(parse_cpr(cpr))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """The world, built once per backend for the whole matrix."""
    database_url: str | None = None
    admin_engine: sa.Engine | None = None
    db_name = f"helgenom_test_{secrets.token_hex(6)}"
    if request.param == "postgresql":
        require_postgres()
        admin_engine = _pg_admin_engine()
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    home: Path = tmp_path_factory.mktemp(f"access-{request.param}") / "instance"
    try:
        init_instance(home, database_url=database_url)
        p = open_platform(str(home))
        try:
            world = build_world(p)
            # Projects reserved for the steward's calls, and a researcher to add.
            p.directory.add_user(p.context(), "res-x", Role.RESEARCHER, "platform")
            for code in ("PROJ-D", "PROJ-M"):
                p.research.apply(p.context("outsider"), code, "Reserved for the matrix")
            requisition_a = p.persons.show(p.context("clin-a"), world.patient_a).requisitions[0]
            p.indications.load(p.context(), json.dumps(CATALOGUE))
            shared = Shared(world, requisition_a, work=home.parent / "work")
            _store_objects(shared)
            yield shared
        finally:
            p.close()
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin_engine.dispose()


def _store_objects(shared: Shared) -> None:
    """An object for each subject's sample, one for the steward to delete, a recipient key."""
    p = shared.platform
    shared.work.mkdir()
    operator = p.context("operator")
    for cpr in (shared.world.patient_a, shared.world.citizen_cpr):
        with p.catalog.engine.connect() as conn:
            shared.samples[cpr] = conn.execute(
                sa.select(samples.c.id)
                .where(samples.c.person_pseudonym == shared.pseudonym(cpr))
                .order_by(samples.c.created_at)
                .limit(1)
            ).scalar_one()
    for name, cpr in [
        ("a", shared.world.patient_a),
        ("citizen", shared.world.citizen_cpr),
        ("doomed", shared.world.patient_a),
    ]:
        data = f"genome of {name}\n".encode() * 5000
        path = shared.work / f"{name}.vcf"
        path.write_bytes(data)
        record = p.objects.put(operator, path, sample_id=shared.samples[cpr], kind=ObjectKind.VCF)
        shared.contents[record.record.object_id] = data
        if name == "doomed":
            shared.doomed = record.record.object_id
        else:
            shared.objects[cpr] = record.record.object_id
    shared.recipient_secret = shared.work / "recipient.sec"
    write_crypt4gh_keypair(shared.recipient_secret, shared.work / "recipient.pub")
    shared.recipient_public = (shared.work / "recipient.pub").read_bytes()


@dataclass(frozen=True)
class Actor:
    """An actor case: who calls, and whose data the call is about."""

    name: str
    subject: str
    """``patient_a`` (DEP-A patient) or ``citizen_cpr`` (the citizen themself)."""
    project: str | None = None


ACTORS: dict[str, Actor] = {
    "admin": Actor("admin", "patient_a"),
    "operator": Actor("operator", "patient_a"),
    "clinician-own-dept": Actor("clin-a", "patient_a"),
    "clinician-other-dept": Actor("clin-b", "patient_a"),
    "geneticist-own-dept": Actor("gen-a", "patient_a"),
    "geneticist-other-dept": Actor("gen-b", "patient_a"),
    "researcher-member": Actor("researcher", "patient_a", PROJECT),
    "researcher-non-member": Actor("outsider", "patient_a", PROJECT),
    "steward": Actor("steward", "patient_a"),
    "citizen-self": Actor("citizen", "citizen_cpr"),
    "citizen-other": Actor("citizen", "patient_a"),
    "auditor": Actor("auditor", "patient_a"),
}

_unique = itertools.count(1)


@dataclass
class Call:
    """What one service call needs: the platform, the context, the subject's CPR."""

    shared: Shared
    ctx: RequestContext
    cpr: str
    actor: Actor
    fresh_cpr: str | None = None
    """The new person a call created a relation with (requisitions.create)."""

    @property
    def p(self) -> Platform:
        return self.shared.platform

    def tag(self) -> int:
        return next(_unique)


def _fresh_cpr(call: Call) -> str:
    """A person nobody has a relation with yet (for calls that create one)."""
    if call.actor.name == "citizen":
        return call.cpr
    return make_cpr(1000 + call.tag())


def _sample_register(call: Call) -> object:
    if call.ctx.actor.role is Role.CLINICIAN:
        return call.p.samples.register(
            call.ctx,
            call.cpr,
            origin=SampleOrigin.CLINICAL,
            requisition=call.shared.requisition_a,
        )
    return call.p.samples.register(call.ctx, call.cpr, origin=SampleOrigin.VOLUNTARY)


@dataclass(frozen=True)
class Service:
    """A service method touching personal data, and the audit action it records."""

    action: str
    call: Callable[[Call], object]
    allowed: frozenset[str]
    """Actor cases that may call it (written from the requirements)."""
    subject: Callable[[Call], str | None] = lambda c: None
    """The CPR the audit entry must name as its subject, or None for no subject."""
    check: Callable[[Call, Any], None] = lambda c, r: None
    """Extra checks of an allowed result."""
    audit_entries: int = 1
    """Entries an allowed call appends (a denied one appends one)."""
    setup: Callable[[Shared], None] = lambda s: None
    """Preparation before the audit is counted (memoised on the shared world)."""


def _on_subject(c: Call) -> str | None:
    return c.cpr


def _check_no_cpr(c: Call, result: object) -> None:
    text = repr(result)
    w = c.shared.world
    for cpr in (w.patient_a, w.patient_b, w.citizen_cpr, w.opted_out):
        assert cpr not in text
        assert cpr.replace("-", "") not in text


CARE_OWN = frozenset({"clinician-own-dept", "geneticist-own-dept"})
SELF_CASE = frozenset({"citizen-self"})


def _requisition_create(c: Call) -> object:
    c.fresh_cpr = _fresh_cpr(c)
    return c.p.requisitions.create(c.ctx, c.fresh_cpr, indication="Z00")


CATALOGUE = {
    "format_version": 1,
    "indications": [
        {"code": "R59", "name": "Epilepsy", "gene_panel": "p1", "departments": ["DEP-A", "DEP-B"]}
    ],
}


def _requisition_submit(c: Call) -> object:
    """A valid WGS ServiceRequest from the actor's department.

    It orders for the opted-out patient: a new sample of anyone else would grow the
    research cohort the matrix counts.
    """
    c.fresh_cpr = c.shared.world.opted_out
    department = c.ctx.actor.org_code if c.ctx.actor.org_code.startswith("DEP-") else "DEP-A"
    document = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "urn:example:placer", "value": f"ORD-{c.tag()}"}],
        "status": "active",
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": "urn:helgenom:service", "code": "WGS"}]},
        "subject": {"identifier": {"system": "urn:oid:1.2.208.176.1.2", "value": c.fresh_cpr}},
        "requester": {"identifier": {"system": "urn:helgenom:department", "value": department}},
        "reasonCode": [{"coding": [{"system": "urn:helgenom:indication", "code": "R59"}]}],
    }
    return c.p.requisitions.submit(c.ctx, json.dumps(document))


def _submit_subject(c: Call) -> str | None:
    """Only clinicians get as far as reading the order; others are denied before it."""
    return c.fresh_cpr if c.ctx.actor.role is Role.CLINICIAN else None


def _sample_in(c: Call, state: str) -> str:
    """A sample of the call's subject in ``state``, made directly in the catalog (no audit)."""
    sample_id = f"S-M{c.tag():08d}"
    own = c.cpr == c.shared.world.patient_a
    with c.p.catalog.begin() as conn:
        conn.execute(
            samples.insert().values(
                id=sample_id,
                person_pseudonym=c.shared.pseudonym(c.cpr),
                origin="clinical" if own else "voluntary",
                requisition_id=c.shared.requisition_a if own else None,
                state=state,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    return sample_id


_MOVE_BY_ROLE = {
    Role.GENETICIST: ("qc_passed", "interpreted"),
    Role.CLINICIAN: ("ordered", "cancelled"),
    Role.STEWARD: ("ordered", "cancelled"),
}
"""A move each role may make; every other role tries ordered -> received."""


def _sample_mark(c: Call) -> object:
    current, target = _MOVE_BY_ROLE.get(c.ctx.actor.role, ("ordered", "received"))
    return c.p.samples.mark(c.ctx, _sample_in(c, current), target, reason="service matrix")


def _add_reads(c: Call) -> object:
    import gzip

    pair = []
    for mate in (1, 2):
        path = c.shared.work / f"reads-{c.tag()}_R{mate}.fastq.gz"
        path.write_bytes(gzip.compress(b"@r%d/%d\nACGT\n+\nIIII\n" % (c.tag(), mate)))
        pair.append(path)
    return c.p.samples.add_reads(c.ctx, _sample_in(c, "ordered"), pair[0], pair[1])


def _object_put(c: Call) -> object:
    path = c.shared.work / f"put-{c.tag()}.bam"
    path.write_bytes(f"a new upload: {path.name}".encode())
    return c.p.objects.put(c.ctx, path, sample_id=c.shared.samples[c.cpr], kind=ObjectKind.BAM)


def _object_get(c: Call) -> tuple[Path, Any]:
    out = c.shared.work / f"get-{c.tag()}.out"
    return out, c.p.objects.get(c.ctx, c.shared.objects[c.cpr], out)


def _check_object_get(c: Call, result: tuple[Path, Any]) -> None:
    out, record = result
    assert out.read_bytes() == c.shared.contents[c.shared.objects[c.cpr]]
    assert record.object_id == c.shared.objects[c.cpr]
    _check_no_hp(record)


def _object_export(c: Call) -> Path:
    out = c.shared.work / f"export-{c.tag()}.c4gh"
    c.p.objects.export(c.ctx, c.shared.objects[c.cpr], c.shared.recipient_public, out)
    return out


def _check_object_export(c: Call, out: Path) -> None:
    import io

    from crypt4gh import lib as c4gh_lib

    secret = c.p.keys.read_crypt4gh_secret_file(c.shared.recipient_secret).reveal()
    plain = io.BytesIO()
    with out.open("rb") as infile:
        c4gh_lib.decrypt([(0, secret, None)], infile, plain)
    assert plain.getvalue() == c.shared.contents[c.shared.objects[c.cpr]]


MATRIX_BUILD = "MTX"


def _pipeline_setup(shared: Shared) -> None:
    """A small genome registered as MTX and a DEP-A sample with one finished run (once)."""
    if shared.pipeline_sample:
        return
    from helgenom.core.simulate import simulate_sample

    p = shared.platform
    sim = simulate_sample(
        shared.work / "sim", contigs=(("chr1", 6_000),), snvs=4, indels=1, depth=6.0, seed=3
    )
    shared.reference_fasta = sim.reference_path
    p.references.load(p.context(), sim.reference_path, build=MATRIX_BUILD)
    sample_id = f"S-PIPE{secrets.token_hex(3).upper()}"
    with p.catalog.begin() as conn:
        conn.execute(
            samples.insert().values(
                id=sample_id,
                person_pseudonym=shared.pseudonym(shared.world.patient_a),
                origin="clinical",
                requisition_id=shared.requisition_a,
                state="ordered",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    operator = p.context("operator")
    p.samples.add_reads(operator, sample_id, sim.r1_path, sim.r2_path)
    outcome = p.pipeline.run(operator, sample_id, build=MATRIX_BUILD)
    assert outcome.sample_state.value == "qc_failed"  # 6x: too little coverage
    shared.pipeline_sample = sample_id


def _pipeline_subject(c: Call) -> str:
    return c.shared.world.patient_a


VARIANT_BUILD = "VAR"
VARIANT = "chrV-500-A-G"
"""A variant both genome-database samples carry (heterozygous)."""


def _variant_gvcf(path: Path, name: str, length: int) -> Path:
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID=chrV,length={length}>\n"
        '##ALT=<ID=NON_REF,Description="any other allele">\n'
        '##INFO=<ID=END,Number=1,Type=Integer,Description="end of the block">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{name}\n"
    )
    records = (
        "chrV\t1\t.\tA\t<NON_REF>\t.\t.\tEND=499\tGT:GQ:DP\t0/0:40:30\n"
        "chrV\t500\t.\tA\tG,<NON_REF>\t50\tPASS\t.\tGT:GQ:DP\t0/1:60:31\n"
        f"chrV\t501\t.\tA\t<NON_REF>\t.\t.\tEND={length}\tGT:GQ:DP\t0/0:40:30\n"
    )
    path.write_text(header + records)
    return path


def _variants_setup(shared: Shared) -> None:
    """A 1 kb reference (build VAR) and gVCFs of patient_a's and the citizen's samples (once)."""
    if shared.variants_ready:
        return
    p = shared.platform
    folder = shared.work / "variants"
    folder.mkdir()
    fasta = folder / "var.fa"
    fasta.write_text(">chrV\n" + "A" * 1000 + "\n")
    p.references.load(p.context(), fasta, build=VARIANT_BUILD)
    for cpr in (shared.world.patient_a, shared.world.citizen_cpr):
        sample_id = shared.samples[cpr]
        gvcf = _variant_gvcf(folder / f"{sample_id}.g.vcf", sample_id, 1000)
        p.variants.ingest(p.context("operator"), sample_id, path=gvcf, build=VARIANT_BUILD)
    shared.ingested_a += 1  # patient_a's; the citizen's is not withdrawn by the matrix
    shared.variants_ready = True


CASE_GFF3 = (
    "##gff-version 3\n"
    "chrV\tt\tgene\t100\t700\t.\t+\t.\tID=gene:GV;Name=GENEV;biotype=protein_coding\n"
    "chrV\tt\tmRNA\t100\t700\t.\t+\t.\tID=transcript:TV1;Parent=gene:GV;biotype=protein_coding\n"
    "chrV\tt\texon\t100\t700\t.\t+\t.\tParent=transcript:TV1\n"
    "chrV\tt\tCDS\t200\t400\t.\t+\t0\tParent=transcript:TV1\n"
)
CASE_PANEL = {
    "id": 1,
    "name": "Matrix panel",
    "version": "1.0",
    "genes": [
        {
            "gene_symbol": "GENEV",
            "confidence": "green",
            "mode_of_inheritance": "BIALLELIC, autosomal or pseudoautosomal",
        }
    ],
}


def _on_case(c: Call) -> str:
    """The matrix's case is always patient_a's, whoever asks."""
    return c.shared.world.patient_a


def _cases_setup(shared: Shared) -> None:
    """A case of patient_a analysed once: gene models on build CAS (chrV with an ATG at
    200; the same bases as build VAR where the calls are) and a one-gene panel."""
    if shared.case_id:
        return
    _variants_setup(shared)
    p = shared.platform
    folder = shared.work / "cases"
    folder.mkdir()
    fasta = folder / "cas.fa"
    fasta.write_text(">chrV\n" + "A" * 199 + "ATG" + "A" * 798 + "\n")
    p.references.load(p.context(), fasta, build="CAS")
    (folder / "cas.gff3").write_text(CASE_GFF3)
    p.annotation.load_genes(p.context("operator"), folder / "cas.gff3", label="c1", build="CAS")
    (folder / "panel.json").write_text(json.dumps(CASE_PANEL))
    p.annotation.load_panel(p.context("gen-a"), folder / "panel.json")
    case = p.cases.create(p.context("gen-a"), shared.requisition_a, panel="Matrix panel")
    if case.proband_sample_id not in shared.samples.values():
        gvcf = _variant_gvcf(folder / "proband.g.vcf", case.proband_sample_id, 1000)
        p.variants.ingest(p.context("operator"), case.proband_sample_id, path=gvcf,
                          build=VARIANT_BUILD)  # fmt: skip
        shared.ingested_a += 1
    p.cases.analyse(p.context("gen-a"), case.case_id)
    shared.case_id = case.case_id


def _carrier_subjects(c: Call) -> set[str]:
    """Who an allowed carriers call names: the carriers the asker may see."""
    both = {
        c.shared.pseudonym(c.shared.world.patient_a),
        c.shared.pseudonym(c.shared.world.citizen_cpr),
    }
    return set() if c.actor.name == "gen-b" else both


def _check_carriers(c: Call, r: Any) -> None:
    shown = {x.label for x in r.carriers}
    if c.actor.name == "gen-b":
        _expect(shown == set() and r.not_shown == 2)
    elif c.actor.name == "gen-a":
        _expect(
            shown
            == {
                c.shared.samples[c.shared.world.patient_a],
                c.shared.samples[c.shared.world.citizen_cpr],
            }
        )
    else:
        _expect(len(shown) == 2 and all(label.startswith("pp-") for label in shown))
    _check_no_cpr(c, r)


VARIANT_READERS = frozenset(
    {
        "operator",
        "clinician-own-dept",
        "clinician-other-dept",
        "geneticist-own-dept",
        "geneticist-other-dept",
        "researcher-member",
        "researcher-non-member",
        "steward",
    }
)


PIPELINE_READERS = frozenset({"operator", "geneticist-own-dept"})

OBJECT_READERS = frozenset({"operator", "citizen-self"}) | CARE_OWN


def _htsget_setup(shared: Shared) -> None:
    """An indexed VCF.gz of patient_a's and of the citizen's sample, served over htsget."""
    if shared.htsget:
        return
    from test_htsget import index_of, write_variants

    p = shared.platform
    operator = p.context("operator")
    for n, cpr in enumerate((shared.world.patient_a, shared.world.citizen_cpr)):
        vcf, _bcf = write_variants(shared.work / f"htsget-{n}", seed=n)
        sample_id = shared.samples[cpr]
        data = p.objects.put(operator, vcf, sample_id=sample_id, kind=ObjectKind.VCF)
        index_path, index_kind = index_of(vcf)
        index = p.objects.put(operator, index_path, sample_id=sample_id, kind=index_kind)
        name = f"calls-{sample_id}"
        ids = (data.record.object_id, index.record.object_id, name)
        p.htsget.register(operator, ids[0], index_object_id=ids[1], name=name)
        shared.htsget[cpr] = ids


SERVICES: dict[str, Service] = {
    "htsget.register": Service(
        "object.put",
        lambda c: c.p.htsget.register(
            c.ctx,
            c.shared.htsget[c.cpr][0],
            index_object_id=c.shared.htsget[c.cpr][1],
            name=c.shared.htsget[c.cpr][2],
        ),
        frozenset({"operator"}),
        _on_subject,
        lambda c, r: _expect(r.format.value == "VCF" and r.name == c.shared.htsget[c.cpr][2]),
        setup=_htsget_setup,
    ),
    "htsget.ticket": Service(
        "object.read",
        lambda c: c.p.htsget.ticket(
            c.ctx,
            "variants",
            c.shared.htsget[c.cpr][2],
            params={"referenceName": "chrA", "start": "0", "end": "5000"},
        ),
        OBJECT_READERS,
        _on_subject,
        lambda c, r: _expect(r.format.value == "VCF" and len(r.blocks) >= 3),
        setup=_htsget_setup,
    ),
    "htsget.block": Service(
        "object.read",
        lambda c: c.p.htsget.block(c.ctx, c.shared.htsget[c.cpr][0], 0, 100),
        OBJECT_READERS,
        _on_subject,
        lambda c, r: _expect(len(r.data) == 100 and r.data.startswith(b"\x1f\x8b")),
        setup=_htsget_setup,
    ),
    "htsget.list": Service(
        "object.list",
        lambda c: c.p.htsget.list(c.ctx),
        frozenset({"operator"}),
        check=lambda c, r: (
            _expect({v[2] for v in c.shared.htsget.values()} <= {h.name for h in r}),
            _check_no_hp(r),
            _check_no_cpr(c, r),
        ),
        setup=_htsget_setup,
    ),
    "objects.put": Service(
        "object.put",
        _object_put,
        frozenset({"operator"}),
        _on_subject,
        lambda c, r: (
            _expect(r.created and r.record.sample_id == c.shared.samples[c.cpr]),
            _check_no_hp(r),
        ),
    ),
    "objects.get": Service(
        "object.read", _object_get, OBJECT_READERS, _on_subject, _check_object_get
    ),
    "objects.read_range": Service(
        "object.read",
        lambda c: c.p.objects.read_range(c.ctx, c.shared.objects[c.cpr], 5, 70_000),
        OBJECT_READERS,
        _on_subject,
        lambda c, r: _expect(r == c.shared.contents[c.shared.objects[c.cpr]][5:70_000]),
    ),
    "objects.export": Service(
        "object.export",
        _object_export,
        frozenset({"geneticist-own-dept", "steward"}),
        _on_subject,
        _check_object_export,
    ),
    "objects.list": Service(
        "object.list",
        lambda c: c.p.objects.list(c.ctx),
        frozenset({"operator"}),
        check=lambda c, r: (
            _expect(set(c.shared.objects.values()) <= {o.object_id for o in r}),
            _check_no_hp(r),
        ),
    ),
    "objects.verify": Service(
        "object.verify",
        lambda c: c.p.objects.verify(c.ctx, c.shared.objects[c.cpr]),
        frozenset({"operator", "admin"}),
        check=lambda c, r: _expect(r.ok and len(r.checks) == 1),
        audit_entries=2,  # the decision, then the outcome
    ),
    "objects.delete": Service(
        "object.delete",
        lambda c: c.p.objects.delete(c.ctx, c.shared.doomed, reason="matrix"),
        frozenset({"steward"}),
        lambda c: c.shared.world.patient_a,
        lambda c, r: _expect(r.object_id == c.shared.doomed),
    ),
    "keys.rotate": Service(
        "keys.rotate",
        lambda c: c.p.objects.rotate_keys(c.ctx),
        frozenset({"admin"}),
        check=lambda c, r: _expect(r.rewrapped >= 3 and r.old_key_id != r.new_key_id),
        audit_entries=2,  # rotation started, then its outcome
    ),
    "requisitions.submit": Service(
        "requisition.create",
        _requisition_submit,
        frozenset({"clinician-own-dept", "clinician-other-dept"}),
        _submit_subject,
        lambda c, r: _expect(r.requisition_id.startswith("REQ-") and len(r.samples) == 1),
    ),
    "samples.mark": Service(
        "sample.transition",
        _sample_mark,
        frozenset({"operator", "clinician-own-dept", "geneticist-own-dept", "steward"}),
        _on_subject,
        lambda c, r: _expect(r.actor == c.actor.name and r.from_state is not None),
    ),
    "samples.history": Service(
        "sample.read",
        lambda c: c.p.samples.history(c.ctx, _sample_in(c, "ordered")),
        frozenset({"operator", "clinician-own-dept", "geneticist-own-dept"}),
        _on_subject,
        lambda c, r: (_expect(r == []), _check_no_hp(r)),
    ),
    "samples.add_reads": Service(
        "sample.transition",
        _add_reads,
        frozenset({"operator"}),
        _on_subject,
        lambda c, r: _expect(r.reads == 1 and len(r.events) == 2),
        audit_entries=3,  # two object puts, then the move to sequenced
    ),
    "indications.load": Service(
        "indication.manage",
        lambda c: c.p.indications.load(c.ctx, json.dumps(CATALOGUE)),
        frozenset({"admin"}),
        check=lambda c, r: _expect([x.code for x in r] == ["R59"]),
    ),
    "persons.register": Service(
        "person.register",
        lambda c: c.p.persons.register(c.ctx, c.cpr),
        frozenset(
            {
                "admin",
                "clinician-own-dept",
                "clinician-other-dept",
                "geneticist-own-dept",
                "geneticist-other-dept",
                "citizen-self",
            }
        ),
        _on_subject,
        lambda c, r: _expect(r.pseudonym == c.shared.pseudonym(c.cpr)),
    ),
    "persons.show": Service(
        "person.read",
        lambda c: c.p.persons.show(c.ctx, c.cpr),
        CARE_OWN | SELF_CASE,
        _on_subject,
        lambda c, r: (
            _expect(r.pseudonym == c.shared.pseudonym(c.cpr) and len(r.requisitions) >= 1),
            _check_no_cpr(c, r),
        ),
    ),
    "persons.reidentify": Service(
        "person.reidentify",
        lambda c: c.p.persons.reidentify(c.ctx, c.shared.pseudonym(c.cpr)),
        CARE_OWN | SELF_CASE,
        _on_subject,
        lambda c, r: _expect(r == c.cpr),
    ),
    "consent.show": Service(
        "consent.read",
        lambda c: c.p.consent.show(c.ctx, c.cpr),
        CARE_OWN | SELF_CASE,
        _on_subject,
        lambda c, r: (_expect(r.pseudonym == c.shared.pseudonym(c.cpr)), _check_no_cpr(c, r)),
    ),
    "consent.set": Service(
        "consent.write",
        lambda c: c.p.consent.set(c.ctx, c.cpr, secondary_findings=True),
        frozenset({"clinician-own-dept"}) | SELF_CASE,
        _on_subject,
        lambda c, r: _expect(r.state.secondary_findings and r.history[-1].actor == c.actor.name),
    ),
    "requisitions.create": Service(
        "requisition.create",
        _requisition_create,
        frozenset({"clinician-own-dept", "clinician-other-dept"}),
        lambda c: c.fresh_cpr,
        lambda c, r: _expect(r.startswith("REQ-")),
    ),
    "samples.register": Service(
        "sample.register",
        _sample_register,
        frozenset({"clinician-own-dept", "steward"}),
        _on_subject,
        lambda c, r: _expect(r.startswith("S-")),
    ),
    "samples.status": Service(
        "sample.list",
        lambda c: c.p.samples.status(c.ctx),
        frozenset({"operator"}),
        check=lambda c, r: (_expect(len(r) >= 4), _check_no_cpr(c, r), _check_no_hp(r)),
    ),
    "research.cohort": Service(
        "research.cohort",
        lambda c: c.p.research.cohort(c.ctx),
        frozenset({"researcher-member"}),
        check=lambda c, r: _expect(
            len(r) == 3 and all(m.project_pseudonym.startswith("pp-") for m in r)
        ),
    ),
    "audit.person_log": Service(
        "audit.read_person",
        lambda c: c.p.audit.person_log(c.ctx, c.cpr),
        frozenset({"citizen-self", "auditor"}),
        _on_subject,
        lambda c, r: _expect(
            len(r) >= 1 and all((line.actor is None) == (c.actor.name == "citizen") for line in r)
        ),
    ),
    "audit.log": Service(
        "audit.read",
        lambda c: c.p.audit.log(c.ctx, limit=5),
        frozenset({"auditor"}),
        check=lambda c, r: _expect(len(r) == 5),
    ),
    "audit.verify": Service(
        "audit.verify",
        lambda c: c.p.audit.verify(c.ctx),
        frozenset({"auditor", "admin"}),
        check=lambda c, r: _expect(r.ok),
    ),
    "directory.add_user": Service(
        "principal.manage",
        lambda c: c.p.directory.add_user(c.ctx, f"u-{c.tag()}", Role.RESEARCHER, "platform"),
        frozenset({"admin"}),
    ),
    "directory.list_users": Service(
        "principal.manage",
        lambda c: c.p.directory.list_users(c.ctx),
        frozenset({"admin"}),
        check=lambda c, r: _expect({"admin", "citizen", "clin-a"} <= {u.name for u in r}),
    ),
    "directory.add_org": Service(
        "org.manage",
        lambda c: c.p.directory.add_org(c.ctx, f"ORG-{c.tag()}", "A department"),
        frozenset({"admin"}),
    ),
    "research.apply": Service(
        "project.apply",
        lambda c: c.p.research.apply(c.ctx, f"AP-{c.tag()}", "An application"),
        frozenset({"researcher-member", "researcher-non-member"}),
        check=lambda c, r: _expect(r.status == "applied" and r.members == (c.actor.name,)),
    ),
    "research.decide": Service(
        "project.decide",
        lambda c: c.p.research.decide(
            c.ctx, "PROJ-D", approve=True, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(1)
        ),
        frozenset({"steward"}),
        check=lambda c, r: _expect(r.status == "approved"),
    ),
    "research.add_member": Service(
        "project.decide",
        lambda c: c.p.research.add_member(c.ctx, "PROJ-M", "res-x"),
        frozenset({"steward"}),
        check=lambda c, r: _expect("res-x" in r.members),
    ),
    "research.list_projects": Service(
        "project.read",
        lambda c: c.p.research.list_projects(c.ctx),
        frozenset({"steward", "researcher-member", "researcher-non-member"}),
        check=lambda c, r: _expect(
            {"PROJ-1", "PROJ-D", "PROJ-M"} <= {x.code for x in r}
            if c.ctx.actor.role is Role.STEWARD
            else all(c.ctx.actor.name in x.members for x in r)
        ),
    ),
    "references.load": Service(
        "reference.load",
        lambda c: c.p.references.load(c.ctx, c.shared.reference_fasta, build=MATRIX_BUILD),
        frozenset({"admin", "operator"}),
        check=lambda c, r: _expect(not r.created and r.record.build == MATRIX_BUILD),
        setup=_pipeline_setup,
    ),
    "pipeline.run": Service(
        "pipeline.run",
        lambda c: c.p.pipeline.run(c.ctx, c.shared.pipeline_sample, build=MATRIX_BUILD),
        frozenset({"operator"}),
        _pipeline_subject,
        lambda c, r: (
            _expect(r.run.status.value == "succeeded" and r.sample_state.value == "qc_failed"),
            _check_no_hp(r),
        ),
        # started, R1 and R2 decrypted, ten products stored, three served over htsget,
        # finished
        audit_entries=17,
        setup=_pipeline_setup,
    ),
    "pipeline.status": Service(
        "pipeline.read",
        lambda c: c.p.pipeline.status(c.ctx, c.shared.pipeline_sample),
        PIPELINE_READERS,
        _pipeline_subject,
        lambda c, r: (_expect(len(r) >= 1), _check_no_hp(r), _check_no_cpr(c, r)),
        setup=_pipeline_setup,
    ),
    "pipeline.qc": Service(
        "pipeline.read",
        lambda c: c.p.pipeline.qc(c.ctx, c.shared.pipeline_sample),
        PIPELINE_READERS,
        _pipeline_subject,
        lambda c, r: (_expect(not r.passed and len(r.checks) >= 6), _check_no_hp(r)),
        setup=_pipeline_setup,
    ),
    "variants.ingest": Service(
        "variant.ingest",
        lambda c: c.p.variants.ingest(
            c.ctx,
            c.shared.samples[c.cpr],
            path=c.shared.work / "variants" / f"{c.shared.samples[c.cpr]}.g.vcf",
            build=VARIANT_BUILD,
        ),
        frozenset({"operator"}),
        _on_subject,
        lambda c, r: _expect(r.status == "unchanged"),  # ingested in the setup
        setup=_variants_setup,
    ),
    "variants.frequency": Service(
        "variant.query",
        lambda c: c.p.variants.frequency(c.ctx, variant_ids=[VARIANT]),
        VARIANT_READERS,
        check=lambda c, r: _expect(
            {(x["group"], x["ac"], x["an"]) for x in r.rows if x["group"] == "overall"}
            == {("overall", 2, 4)}
        ),
        setup=_variants_setup,
    ),
    "variants.lookup": Service(
        "variant.query",
        lambda c: c.p.variants.lookup(c.ctx, [VARIANT]),
        VARIANT_READERS,
        check=lambda c, r: _expect([x["variant_id"] for x in r.rows] == [VARIANT]),
        setup=_variants_setup,
    ),
    "variants.carriers": Service(
        "variant.carriers",
        lambda c: c.p.variants.carriers(c.ctx, VARIANT),
        frozenset({"geneticist-own-dept", "geneticist-other-dept", "researcher-member"}),
        check=_check_carriers,
        setup=_variants_setup,
    ),
    "variants.genotypes": Service(
        "variant.genotypes",
        lambda c: c.p.variants.genotypes(c.ctx, c.shared.samples[c.cpr], [VARIANT, "chrV-20-A-C"]),
        frozenset({"operator", "clinician-own-dept", "geneticist-own-dept", "citizen-self"}),
        _on_subject,
        lambda c, r: _expect([g["state"] for g in r.genotypes] == ["het", "hom_ref"]),
        setup=_variants_setup,
    ),
    "variants.release": Service(
        "variant.release",
        lambda c: c.p.variants.release(c.ctx, f"R-{c.tag()}"),
        frozenset({"steward"}),
        check=lambda c, r: _expect(r.samples == 2),
        setup=_variants_setup,
    ),
    "cases.show": Service(
        "case.read",
        lambda c: c.p.cases.show(c.ctx, c.shared.case_id),
        CARE_OWN,
        _on_case,
        lambda c, r: _expect(r[1] is not None and r[0].case_id == c.shared.case_id),
        setup=_cases_setup,
    ),
    "cases.analyse": Service(
        "case.analyse",
        lambda c: c.p.cases.analyse(c.ctx, c.shared.case_id),
        frozenset({"geneticist-own-dept"}),
        _on_case,
        lambda c, r: _expect(r.case_id == c.shared.case_id),
        setup=_cases_setup,
    ),
    "cases.reports": Service(
        "report.read",
        lambda c: c.p.cases.reports(c.ctx, c.shared.case_id),
        CARE_OWN,
        _on_case,
        lambda c, r: _expect(isinstance(r, list)),
        setup=_cases_setup,
    ),
    "annotation.load_panel": Service(
        "panel.load",
        lambda c: c.p.annotation.load_panel(c.ctx, c.shared.work / "cases" / "panel.json"),
        frozenset({"admin", "geneticist-own-dept", "geneticist-other-dept"}),
        setup=_cases_setup,
    ),
    # Last: it records a research opt-out of the subject.
    "variants.withdraw": Service(
        "variant.withdraw",
        lambda c: c.p.variants.withdraw(c.ctx, c.cpr),
        frozenset({"steward", "citizen-self"}),
        _on_subject,
        lambda c, r: _expect(
            r == (c.shared.ingested_a if c.cpr == c.shared.world.patient_a else 1)
        ),
        setup=_variants_setup,
    ),
}


def _expect(condition: object) -> None:
    assert condition


def _check_no_hp(result: object) -> None:
    assert "hp-" not in repr(result)


def audit_count(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())


def last_entry(p: Platform) -> Any:
    with p.catalog.engine.connect() as conn:
        return conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()


def test_service_table_is_complete() -> None:
    assert set(SERVICES) == {
        "persons.register",
        "persons.show",
        "persons.reidentify",
        "consent.show",
        "consent.set",
        "requisitions.create",
        "requisitions.submit",
        "samples.register",
        "samples.mark",
        "samples.history",
        "samples.add_reads",
        "samples.status",
        "indications.load",
        "research.cohort",
        "audit.person_log",
        "audit.log",
        "audit.verify",
        "directory.add_user",
        "directory.list_users",
        "directory.add_org",
        "research.apply",
        "research.decide",
        "research.add_member",
        "research.list_projects",
        "objects.put",
        "objects.get",
        "objects.read_range",
        "objects.export",
        "objects.list",
        "objects.verify",
        "objects.delete",
        "keys.rotate",
        "references.load",
        "pipeline.run",
        "pipeline.status",
        "pipeline.qc",
        "variants.ingest",
        "variants.frequency",
        "variants.lookup",
        "variants.carriers",
        "variants.genotypes",
        "variants.release",
        "variants.withdraw",
        "cases.show",
        "cases.analyse",
        "cases.reports",
        "annotation.load_panel",
        "htsget.register",
        "htsget.ticket",
        "htsget.block",
        "htsget.list",
    }
    for service in SERVICES.values():
        assert service.allowed <= set(ACTORS)
    # every role appears among the actor cases
    assert {name.split("-")[0] for name in ACTORS} == {r.value for r in Role}


SERVICE_CASES = [
    pytest.param(
        service, actor, id=f"{service}-{actor}-{'allow' if actor in s.allowed else 'deny'}"
    )
    for service, s in SERVICES.items()
    for actor in ACTORS
]


@pytest.mark.parametrize(("service", "actor_case"), SERVICE_CASES)
def test_service_matrix(shared: Shared, service: str, actor_case: str) -> None:
    p = shared.platform
    svc = SERVICES[service]
    actor = ACTORS[actor_case]
    ctx = p.context(actor.name, project=actor.project)
    cpr = getattr(shared.world, actor.subject)
    call = Call(shared, ctx, cpr, actor)
    allowed = actor_case in svc.allowed

    svc.setup(shared)
    before = audit_count(p)
    if allowed:
        result = svc.call(call)
        svc.check(call, result)
    else:
        with pytest.raises(PermissionDeniedError):
            svc.call(call)
    entries = svc.audit_entries if allowed else 1
    assert audit_count(p) == before + entries, f"exactly {entries} audit entries per call"

    entry = last_entry(p)
    assert entry.decision == ("allow" if allowed else "deny"), entry.reason
    assert entry.actor == ctx.actor.name
    assert entry.role == ctx.actor.role.value
    assert entry.org == ctx.actor.org_code
    assert entry.purpose == ctx.purpose.value
    assert entry.action == svc.action
    assert entry.project == ctx.project
    assert entry.reason.strip()
    subject_cpr = svc.subject(call)
    subjects = set(json.loads(entry.subjects))
    if service == "research.cohort" and allowed:
        assert len(subjects) == 3  # the included persons; checked in detail below
    elif service == "variants.carriers" and allowed:
        assert subjects == _carrier_subjects(call)
    elif subject_cpr is None:
        assert subjects == set()
    else:
        assert subjects == {shared.pseudonym(subject_cpr)}


# =========================================================================== 3. research


def _pseudonym(world: World, cpr: str) -> str:
    return world.platform.persons.vault.pseudonym(parse_cpr(cpr))


def _project_pseudonym(world: World, project: str, cpr: str) -> str:
    key = world.platform.keys.load_symmetric(KeyName.PSEUDONYM).reveal()
    return project_pseudonym(key, project, _pseudonym(world, cpr))


def _cohort(world: World, project: str = "PROJ-1", actor: str = "researcher") -> set[str]:
    p = world.platform
    members = p.research.cohort(p.context(actor, project=project))
    return {m.project_pseudonym for m in members}


def _approve(world: World, code: str, *, applicant: str = "researcher") -> None:
    p = world.platform
    p.research.apply(p.context(applicant), code, f"Project {code}")
    p.research.decide(
        p.context("steward"),
        code,
        approve=True,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )


def test_cohort_excludes_the_opted_out_and_audits_exactly_the_included(world: World) -> None:
    p = world.platform
    included = [world.patient_a, world.patient_b, world.citizen_cpr]
    assert _cohort(world) == {_project_pseudonym(world, "PROJ-1", c) for c in included}
    assert _project_pseudonym(world, "PROJ-1", world.opted_out) not in _cohort(world)

    entry = last_entry(p)
    assert entry.action == "research.cohort"
    assert entry.decision == "allow"
    assert entry.project == "PROJ-1"
    assert set(json.loads(entry.subjects)) == {_pseudonym(world, c) for c in included}
    assert _pseudonym(world, world.opted_out) not in entry.subjects


def test_citizen_opt_out_takes_effect_on_the_very_next_query(world: World) -> None:
    p = world.platform
    citizen = _project_pseudonym(world, "PROJ-1", world.citizen_cpr)
    assert citizen in _cohort(world)

    p.consent.set(p.context("citizen"), world.citizen_cpr, research=ResearchChoice.OPT_OUT)
    assert citizen not in _cohort(world)
    assert _pseudonym(world, world.citizen_cpr) not in json.loads(last_entry(p).subjects)
    # ... and anywhere else: the clinic sees the new state at once.
    assert p.consent.show(p.context("clin-a"), world.citizen_cpr).state.research_opt_out

    p.consent.set(p.context("citizen"), world.citizen_cpr, research=ResearchChoice.ALLOW)
    assert citizen in _cohort(world)
    view = p.consent.show(p.context("citizen"), world.citizen_cpr)
    assert [e.research for e in view.history] == [ResearchChoice.OPT_OUT, ResearchChoice.ALLOW]
    assert [e.source for e in view.history] == ["citizen", "citizen"]


def test_project_pseudonyms_are_unlinkable(world: World) -> None:
    _approve(world, "PROJ-2")
    one, two = _cohort(world, "PROJ-1"), _cohort(world, "PROJ-2")
    assert len(one) == len(two) == 3
    assert one.isdisjoint(two)
    persons = {
        _pseudonym(world, c)
        for c in (world.patient_a, world.patient_b, world.citizen_cpr, world.opted_out)
    }
    assert persons.isdisjoint(one | two)
    assert all(x.startswith("pp-") for x in one | two)
    a1 = _project_pseudonym(world, "PROJ-1", world.patient_a)
    a2 = _project_pseudonym(world, "PROJ-2", world.patient_a)
    assert a1 in one
    assert a2 in two
    assert a1 != a2


def _assert_cohort_denied(world: World, project: str | None, actor: str = "researcher") -> None:
    p = world.platform
    before = audit_count(p)
    with pytest.raises(PermissionDeniedError):
        p.research.cohort(p.context(actor, project=project))
    assert audit_count(p) == before + 1
    entry = last_entry(p)
    assert (entry.action, entry.decision, entry.actor) == ("research.cohort", "deny", actor)
    assert json.loads(entry.subjects) == []


def test_expired_project_is_denied(world: World) -> None:
    p = world.platform
    assert _cohort(world)
    with p.catalog.begin() as conn:
        conn.execute(
            projects.update()
            .where(projects.c.code == "PROJ-1")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    _assert_cohort_denied(world, "PROJ-1")
    assert "expired" in last_entry(p).reason


def test_unapproved_rejected_unknown_and_missing_projects_are_denied(world: World) -> None:
    p = world.platform
    p.research.apply(p.context("researcher"), "PROJ-APPLIED", "Not yet decided")
    p.research.apply(p.context("researcher"), "PROJ-REJECTED", "Rejected")
    p.research.decide(p.context("steward"), "PROJ-REJECTED", approve=False, expires_at=None)
    for project in ("PROJ-APPLIED", "PROJ-REJECTED", "PROJ-NOPE", None):
        _assert_cohort_denied(world, project)
    _assert_cohort_denied(world, "PROJ-1", actor="outsider")


def test_research_origin_sample_only_reaches_its_own_project(world: World) -> None:
    p = world.platform
    _approve(world, "PROJ-2")
    volunteer = make_cpr(40)
    p.persons.register(p.context(), volunteer)
    steward = p.context("steward")
    p.samples.register(steward, volunteer, origin=SampleOrigin.RESEARCH, project="PROJ-2")
    # The opted-out person gave a sample to PROJ-2 under that project's own consent.
    p.samples.register(steward, world.opted_out, origin=SampleOrigin.RESEARCH, project="PROJ-2")

    one, two = _cohort(world, "PROJ-1"), _cohort(world, "PROJ-2")
    assert _project_pseudonym(world, "PROJ-1", volunteer) not in one
    assert _project_pseudonym(world, "PROJ-1", world.opted_out) not in one
    assert _project_pseudonym(world, "PROJ-2", volunteer) in two
    assert _project_pseudonym(world, "PROJ-2", world.opted_out) in two
    assert len(one) == 3
    assert len(two) == 5


# =========================================================================== 4. operators


def _all_cprs(world: World) -> list[str]:
    return [world.patient_a, world.patient_b, world.citizen_cpr, world.opted_out, make_cpr(5)]


@pytest.mark.parametrize("purpose", [Purpose.QUALITY_ASSURANCE, Purpose.ADMINISTRATION])
def test_operator_results_carry_no_cpr_or_person_pseudonym(world: World, purpose: Purpose) -> None:
    p = world.platform
    ctx = p.context("operator", purpose=purpose)
    rows = p.samples.status(ctx)
    assert len(rows) == 4
    text = repr(rows) + "".join(str(vars(r)) if hasattr(r, "__dict__") else "" for r in rows)
    for cpr in _all_cprs(world):
        assert cpr not in text
        assert cpr.replace("-", "") not in text
        assert _pseudonym(world, cpr) not in text
    assert "hp-" not in text
    assert {r.department for r in rows} == {"DEP-A", "DEP-B"}


@pytest.mark.parametrize("purpose", [Purpose.QUALITY_ASSURANCE, Purpose.ADMINISTRATION])
def test_operator_reaches_no_person(world: World, purpose: Purpose) -> None:
    p = world.platform
    ctx = p.context("operator", purpose=purpose)
    cpr = world.patient_a
    attempts: list[Callable[[], object]] = [
        lambda: p.persons.register(ctx, cpr),
        lambda: p.persons.show(ctx, cpr),
        lambda: p.persons.reidentify(ctx, _pseudonym(world, cpr)),
        lambda: p.consent.show(ctx, cpr),
        lambda: p.consent.set(ctx, cpr, recontact=True),
        lambda: p.requisitions.create(ctx, cpr),
        lambda: p.requisitions.submit(ctx, b"{}"),
        lambda: p.samples.register(ctx, cpr, origin=SampleOrigin.VOLUNTARY),
        lambda: p.audit.person_log(ctx, cpr),
        lambda: p.audit.log(ctx),
        lambda: p.research.cohort(ctx),
        lambda: p.directory.list_users(ctx),
    ]
    for attempt in attempts:
        before = audit_count(p)
        with pytest.raises(PermissionDeniedError):
            attempt()
        assert audit_count(p) == before + 1
        assert last_entry(p).decision == "deny"


def test_audit_log_never_holds_a_cpr(world: World) -> None:
    p = world.platform
    p.persons.reidentify(p.context("clin-a"), _pseudonym(world, world.patient_a))
    with pytest.raises(PermissionDeniedError):
        p.persons.show(p.context("clin-b"), world.patient_a)
    with p.catalog.engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log)).all()
    text = "\n".join(repr(tuple(r)) for r in rows)
    for cpr in _all_cprs(world):
        assert cpr not in text
        assert cpr.replace("-", "") not in text
