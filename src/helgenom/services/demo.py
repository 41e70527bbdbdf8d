"""The demo scenario: a throwaway instance showing consent, access control and audit.

Everything runs through the same services as the CLI. CPR numbers are synthetic
(generated at run time) and never printed.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from helgenom.core.audit import ChainVerification
from helgenom.core.consent import ResearchChoice
from helgenom.core.errors import HelgenomError
from helgenom.core.models import RequestContext, Role, SampleOrigin, Sex
from helgenom.services.audit import AccessLogLine
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform
from helgenom.services.settings import Environment


def synthetic_cpr(rng: random.Random, sex: Sex) -> str:
    """A valid, made-up CPR number (born 1940-1999) of the given sex."""
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 59))
    serial = rng.randrange(0, 4) * 1000 + rng.randrange(0, 999)
    serial = serial - serial % 2 + (1 if sex is Sex.MALE else 0)
    return f"{birth:%d%m%y}-{serial:04d}"


@dataclass(frozen=True, slots=True)
class DemoStep:
    """One attempted access in the demo."""

    actor: str
    role: str
    what: str
    allowed: bool
    result: str


@dataclass
class DemoReport:
    """Everything the demo shows."""

    home: Path
    steps: list[DemoStep] = field(default_factory=list)
    citizen: str = ""
    access_log: list[AccessLogLine] = field(default_factory=list)
    verification: ChainVerification | None = None
    cohort_before: int = 0
    cohort_after: int = 0


def run_demo(
    home: Path | None = None, *, seed: int = 2026, progress: Callable[[str], None] | None = None
) -> DemoReport:
    """Create a development instance and play the scenario. Returns what happened."""
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="helgenom-demo-"))
    say = progress or (lambda _msg: None)
    say(f"creating a throwaway instance in {home}")
    init_instance(home, environment=Environment.DEVELOPMENT)
    report = DemoReport(home)
    with open_platform(str(home)) as p:
        _scenario(p, report, random.Random(seed), say)  # noqa: S311 - synthetic test data
    return report


def _scenario(
    p: Platform, report: DemoReport, rng: random.Random, say: Callable[[str], None]
) -> None:
    admin = p.context()
    say("adding hospital departments and users")
    p.directory.add_org(admin, "RH-KG", "Rigshospitalet, Klinisk Genetisk Afdeling")
    p.directory.add_org(admin, "OUH-KG", "Odense Universitetshospital, Klinisk Genetik")
    users = [
        ("dr.hansen", Role.CLINICIAN, "RH-KG"),
        ("gen.larsen", Role.GENETICIST, "RH-KG"),
        ("dr.nielsen", Role.CLINICIAN, "OUH-KG"),
        ("op.jensen", Role.OPERATOR, "platform"),
        ("res.olsen", Role.RESEARCHER, "platform"),
        ("res.holm", Role.RESEARCHER, "platform"),
        ("steward.berg", Role.STEWARD, "platform"),
        ("auditor.dahl", Role.AUDITOR, "platform"),
    ]
    for name, role, org in users:
        p.directory.add_user(admin, name, role, org)

    say("ordering sequencing for six patients")
    cprs = [synthetic_cpr(rng, Sex.FEMALE if i % 2 == 0 else Sex.MALE) for i in range(6)]
    anna, bo = cprs[0], cprs[1]
    p.directory.add_user(admin, "citizen.anna", Role.CITIZEN, None, cpr=anna)
    p.directory.add_user(admin, "citizen.bo", Role.CITIZEN, None, cpr=bo)
    for i, cpr in enumerate(cprs):
        clinician = p.context("dr.hansen" if i < 4 else "dr.nielsen")
        requisition = p.requisitions.create(
            clinician, cpr, indication="R59 hereditary cardiomyopathy"
        )
        p.samples.register(clinician, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition)

    say("approving a research project")
    researcher = p.context("res.olsen")
    p.research.apply(researcher, "GENE-HEART-01", "Genetics of cardiomyopathy in Denmark")
    steward = p.context("steward.berg")
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    p.research.decide(steward, "GENE-HEART-01", approve=True, expires_at=expiry)
    project_ctx = p.context("res.olsen", project="GENE-HEART-01")
    report.cohort_before = len(p.research.cohort(project_ctx))

    say("a citizen opts out of research use")
    anna_ctx = p.context("citizen.anna")
    p.consent.set(anna_ctx, anna, research=ResearchChoice.OPT_OUT)
    p.consent.set(p.context("citizen.bo"), bo, secondary_findings=True, recontact=True)

    def attempt(actor: str, what: str, call: Callable[[], str], **ctx_kw: str) -> None:
        principal = p.directory.principal(actor)
        try:
            result = call()
            report.steps.append(DemoStep(actor, principal.role.value, what, True, result))
        except HelgenomError as exc:
            reason = str(exc).split(": ", 1)[-1]
            report.steps.append(DemoStep(actor, principal.role.value, what, False, reason))

    pseud_anna = p.persons.show(p.context("dr.hansen"), anna).pseudonym

    attempt(
        "dr.hansen",
        "read consent of own patient",
        lambda: _consent_summary(p, p.context("dr.hansen"), anna),
    )
    attempt(
        "gen.larsen",
        "re-identify own department's patient",
        lambda: (
            "CPR shown to the care team (hidden here)"
            if p.persons.reidentify(p.context("gen.larsen"), pseud_anna)
            else ""
        ),
    )
    attempt(
        "dr.nielsen",
        "read consent of another department's patient",
        lambda: _consent_summary(p, p.context("dr.nielsen"), anna),
    )
    attempt(
        "op.jensen",
        "re-identify a patient (CPR)",
        lambda: p.persons.reidentify(p.context("op.jensen"), pseud_anna),
    )
    attempt(
        "op.jensen",
        "sample status table",
        lambda: f"{len(p.samples.status(p.context('op.jensen')))} samples, no CPR shown",
    )
    report.cohort_after = len(p.research.cohort(project_ctx))
    attempt(
        "res.olsen",
        "cohort for GENE-HEART-01",
        lambda: f"{report.cohort_after} persons (was {report.cohort_before} before the opt-out)",
    )
    attempt(
        "res.holm",
        "cohort for GENE-HEART-01 (not a member)",
        lambda: str(len(p.research.cohort(p.context("res.holm", project="GENE-HEART-01")))),
    )
    attempt(
        "citizen.bo",
        "read another citizen's access log",
        lambda: str(len(p.audit.person_log(p.context("citizen.bo"), anna))),
    )
    attempt(
        "citizen.anna",
        "change own consent",
        lambda: _consent_summary(p, anna_ctx, anna, secondary=False),
    )
    attempt(
        "auditor.dahl",
        "read the audit log",
        lambda: f"{len(p.audit.log(p.context('auditor.dahl'), limit=1000))} entries",
    )

    say("showing a citizen's own access log and verifying the audit chain")
    report.citizen = "citizen.anna"
    report.access_log = p.audit.person_log(anna_ctx, anna)
    report.verification = p.audit.verify(p.context("auditor.dahl"))


def _consent_summary(
    p: Platform, ctx: RequestContext, cpr: str, secondary: bool | None = None
) -> str:
    if secondary is not None:
        view = p.consent.set(ctx, cpr, secondary_findings=secondary)
    else:
        view = p.consent.show(ctx, cpr)
    return (
        f"research {view.state.research.value}, secondary findings "
        f"{'yes' if view.state.secondary_findings else 'no'} (v{view.state.version})"
    )
