"""``helgenom <noun> <verb>``: every command parses, makes one service call, renders."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from helgenom.cli.errors import exit_code_for

try:  # typer >= 0.2x vendors click as typer._click; older typer uses click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError  # type: ignore[no-redef,import-not-found,assignment,unused-ignore]
from helgenom.services import (
    Environment,
    FhirValidationError,
    HelgenomError,
    InvalidInputError,
    PipelineError,
    ResearchChoice,
    Role,
    SampleOrigin,
)
from helgenom.services.demo import (
    BeaconDemo,
    ClinicalDemo,
    DemoReport,
    PipelineDemo,
    VariantsDemo,
    run_demo,
)
from helgenom.services.indications import MAX_CATALOGUE_BYTES
from helgenom.services.instance import init_instance, instance_status
from helgenom.services.objects import OBJECT_KINDS, parse_kind
from helgenom.services.pipeline import DEFAULT_CALLER, EXECUTORS, PipelineRun, QcView, RunOutcome
from helgenom.services.platform import Platform, open_platform
from helgenom.services.references import DEFAULT_BUILD
from helgenom.services.requisitions import MAX_DOCUMENT_BYTES
from helgenom.services.samples import SAMPLE_STATES

_CPR_LIKE = re.compile(r"\d{6,}(?:-\d+)*")
"""Digit runs that may be (part of) a CPR number, redacted from click's usage errors."""

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class HelgenomGroup(TyperGroup):
    """Turns every HelgenomError into a one-line message and its exit code (no traceback)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FhirValidationError as exc:
            _render_issues(exc)
            err.print(f"[bold red]error[/] ({exc.code}): {exc.summary}", soft_wrap=True)
            raise typer.Exit(exit_code_for(exc.code)) from None
        except HelgenomError as exc:
            err.print(f"[bold red]error[/] ({exc.code}): {exc}", soft_wrap=True)
            raise typer.Exit(exit_code_for(exc.code)) from None
        except UsageError as exc:
            # click echoes unexpected arguments and bad values: never let a CPR number through.
            exc.message = _CPR_LIKE.sub("<redacted>", exc.message)
            raise


def _render_issues(exc: FhirValidationError) -> None:
    """Every problem of a rejected FHIR resource, as an OperationOutcome table on stderr."""
    count = len(exc.issues)
    table = Table(
        title=f"OperationOutcome: {count} problem{'s' if count != 1 else ''} in the "
        f"{exc.resource_type}",
        title_justify="left",
    )
    table.add_column("severity")
    table.add_column("code")
    table.add_column("location", overflow="fold")
    table.add_column("diagnostics", overflow="fold")
    for issue in exc.issues:
        colour = "red" if issue.is_error else "yellow"
        table.add_row(
            f"[{colour}]{issue.severity}[/]", issue.code, issue.location or "-", issue.diagnostics
        )
    err.print(table)


def _read_document(path: Path, limit: int) -> bytes:
    """The bytes of a small input file (at most ``limit`` + 1 are read)."""
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None


app = typer.Typer(
    cls=HelgenomGroup,
    name="helgenom",
    help="helgenom: national genome platform. Encrypted genomes, consent, access control, audit.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@dataclass
class CliState:
    """Global options and the lazily opened platform."""

    home: str | None
    actor: str | None
    purpose: str | None
    _platform: Platform | None = field(default=None, repr=False)

    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = open_platform(self.home)
        return self._platform

    def context(self, project: str | None = None) -> Any:
        return self.platform().context(self.actor, purpose=self.purpose, project=project)

    def close(self) -> None:
        if self._platform is not None:
            self._platform.close()


def _state(ctx: typer.Context) -> CliState:
    state = ctx.find_object(CliState)
    if state is None:  # pragma: no cover - the callback always sets it
        raise InvalidInputError("internal: no CLI state")
    return state


HomeOption = Annotated[
    str | None,
    typer.Option("--home", help="Instance folder (default: $HELGENOM_HOME).", show_default=False),
]
CprOption = Annotated[
    str,
    typer.Option(
        "--cpr",
        prompt="CPR number",
        hide_input=True,
        help="CPR number (DDMMYY-SSSS); asked for without echo when omitted.",
    ),
]


@app.callback()
def root(
    ctx: typer.Context,
    home: HomeOption = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--as", envvar="HELGENOM_USER", help="Act as this user (default: the first admin)."
        ),
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option("--purpose", help="Purpose of the request (default: the role's usual one)."),
    ] = None,
) -> None:
    """helgenom: national genome platform for personalised medicine."""
    state = CliState(home, actor, purpose)
    ctx.obj = state
    ctx.call_on_close(state.close)


# ----------------------------------------------------------------------------- instance


@app.command("init")
def init_cmd(
    ctx: typer.Context,
    home: HomeOption = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Catalog URL: sqlite:///PATH (default, in the home) or postgresql://..."),
    ] = None,
    admin: Annotated[str, typer.Option(help="Name of the first admin user.")] = "admin",
    force: Annotated[
        bool, typer.Option(help="Upgrade an existing instance; never overwrites keys.")
    ] = False,
    development: Annotated[
        bool, typer.Option(help="A development instance (relaxed default-secret checks).")
    ] = False,
    object_store_url: Annotated[
        str | None,
        typer.Option(
            help="Where encrypted files go: file:///PATH (default HOME/objects) or "
            "s3://BUCKET/PREFIX."
        ),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None, typer.Option(help="S3 endpoint of a non-AWS server, http(s)://HOST:PORT.")
    ] = None,
) -> None:
    """Create an instance: config, catalog (migrated), keys (mode 0600), first admin."""
    result = init_instance(
        home or _state(ctx).home,
        database_url=database_url,
        admin=admin,
        force=force,
        environment=Environment.DEVELOPMENT if development else None,
        object_store_url=object_store_url,
        s3_endpoint_url=s3_endpoint_url,
    )
    table = Table(title=f"helgenom instance at {result.home}", show_header=False)
    table.add_row("catalog", result.database_url)
    table.add_row("object store", result.object_store_url)
    table.add_row("schema revision", str(result.migrated_to))
    table.add_row("keys created", ", ".join(result.keys_created) or "none")
    table.add_row("keys kept", ", ".join(result.keys_kept) or "none")
    table.add_row("first admin", result.admin)
    out.print(table)
    out.print(f"Back up {result.home / 'keys'} now: without it, the data cannot be read.")


@app.command("status")
def status_cmd(ctx: typer.Context, home: HomeOption = None) -> None:
    """Health of the instance: catalog reachable, migrations current, keys safe."""
    checks = instance_status(home or _state(ctx).home)
    table = Table(title="helgenom status")
    table.add_column("check")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, "[green]yes[/]" if check.ok else "[red]NO[/]", check.detail)
    out.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(9)


@app.command("demo")
def demo_cmd(
    home: Annotated[
        Path | None, typer.Option(help="Folder for the demo instance (default: a new temp dir).")
    ] = None,
) -> None:
    """Play the platform's story on a throwaway development instance."""
    if home is not None and (home / "helgenom.toml").exists():
        raise InvalidInputError(f"{home} already holds an instance; give an empty folder")
    report = run_demo(home, progress=lambda msg: err.print(f"[dim]- {msg}[/]"))
    _render_demo(report)
    if report.verification is None or not report.verification.ok:
        raise typer.Exit(7)
    from helgenom.cli.demo_api import run_api_tour

    err.print("[dim]- starting the API on loopback and trying it with the demo users' tokens[/]")
    _render_api_tour(run_api_tour(report))


def _render_demo(report: DemoReport) -> None:
    steps = Table(title="Access attempts (every one audited)")
    for column in ("actor", "role", "attempt", "decision", "result"):
        steps.add_column(column, overflow="fold")
    for s in report.steps:
        steps.add_row(
            s.actor,
            s.role,
            s.what,
            "[green]allowed[/]" if s.allowed else "[red]denied[/]",
            s.result,
        )
    out.print(steps)
    log = Table(title=f"Who used my data? ({report.citizen}'s own access log)")
    for column in ("when (UTC)", "role", "organisation", "purpose", "action", "decision"):
        log.add_column(column)
    # Runs of the same access in a row (a pipeline storing ten products) share one line.
    rows: list[list[str]] = []
    repeats: list[int] = []
    for line in report.access_log:
        row = [
            line.occurred_at[:19].replace("T", " "),
            line.role,
            line.organisation,
            line.purpose,
            line.action,
            line.decision,
        ]
        if rows and rows[-1][1:] == row[1:]:
            repeats[-1] += 1
            continue
        rows.append(row)
        repeats.append(1)
    for row, count in zip(rows, repeats, strict=True):
        if count > 1:
            row[4] += f" x{count}"
        log.add_row(*row)
    out.print(log)
    v = report.verification
    if v is not None:
        verdict = (
            f"[green]intact[/]: {v.count} entries, head {v.head_hash[:16]}..."
            if v.ok
            else f"[red]BROKEN[/] at entry {v.first_bad_seq}: {v.problem}"
        )
        out.print(f"Audit chain: {verdict}")
    if report.objects is not None:
        o = report.objects
        store = Table(title="Encrypted object store (Crypt4GH at rest)", show_header=False)
        store.add_row("stored", f"{o.object_id}: FASTQ, {o.size:,} bytes ({o.source})")
        store.add_row("sha256", o.plaintext_sha256)
        store.add_row("same file again", "no-op, same id" if o.put_again_was_noop else "DUPLICATED")
        store.add_row(
            "export for a recipient",
            f"{o.export_path.name}: "
            + ("decrypts to identical bytes" if o.export_decrypts_identically else "MISMATCH"),
        )
        store.add_row(
            "operator tries to export", "denied" if o.operator_export_denied else "ALLOWED"
        )
        store.add_row(
            "verify",
            ", ".join(f"{c.object_id}: {c.status}" for c in o.checks) or "no objects",
        )
        out.print(store)
    if report.pipeline is not None:
        _render_demo_pipeline(report.pipeline)
    elif report.pipeline_skipped:
        out.print(f"Pipeline: skipped ({report.pipeline_skipped}).")
    if report.variants is not None:
        _render_demo_variants(report.variants)
    elif report.variants_skipped:
        out.print(f"Genome database: skipped ({report.variants_skipped}).")
    if report.beacon is not None:
        _render_demo_beacon(report.beacon)
    if report.clinical is not None:
        _render_demo_clinical(report.clinical)
    elif report.clinical_skipped:
        out.print(f"Clinical interpretation: skipped ({report.clinical_skipped}).")
    out.print(
        f"Research opt-out took effect on the next query: cohort {report.cohort_before} -> "
        f"{report.cohort_after}.\nDemo instance: {report.home} (delete it when done)."
    )


def _render_demo_beacon(demo: BeaconDemo) -> None:
    answers = Table(
        "asker",
        "audience",
        "query",
        "answer",
        title="Beacon g_variants: what each audience learns (record granularity asked)",
    )
    for a in demo.answers:
        answers.add_row(a.asker, a.audience, a.query, escape(a.answer))
    out.print(answers)
    attack = Table(
        "defences",
        "power, rarest first",
        "power, random order",
        "false positives",
        "queries / target",
        title="Membership attack (Shringarpure-Bustamante) at a 5% false-positive rate",
        caption=demo.attack_setup,
    )
    for line in demo.attack:
        attack.add_row(
            line.defences,
            f"{line.power_rarest:.2f}",
            f"{line.power_random:.2f}",
            f"{line.false_positive_rate:.2f}",
            f"{line.queries:,.0f}",
        )
    out.print(attack)


def _render_api_tour(tour: Any) -> None:
    if tour.skipped:
        out.print(f"HTTP API: skipped ({tour.skipped}).")
    else:
        table = Table(
            "as", "request", "status", "answer", title="The HTTP API of the demo instance"
        )
        for call in tour.calls:
            style = "green" if call.status < 300 else "red"
            table.add_row(
                call.who,
                escape(f"{call.method} {call.path}"),
                f"[{style}]{call.status}[/]",
                escape(call.answer),
            )
        out.print(table)
    out.print("Try it yourself (the README explains every route):")
    for line in tour.try_lines:
        out.print(f"  {escape(line)}", soft_wrap=True)


def _render_demo_pipeline(demo: PipelineDemo) -> None:
    refs = Table("build", "contigs", "length (bp)", "sha256", title="Reference genomes")
    for r in demo.references:
        refs.add_row(r.build, str(len(r.contigs)), f"{r.total_length:,}", r.sha256[:16] + "...")
    out.print(refs)
    run = demo.run
    table = Table(title=f"Pipeline run {run.run_id} on sample {demo.sample_id}", show_header=False)
    table.add_row("reads", demo.source)
    table.add_row(
        "reference",
        f"{run.reference_build}"
        + (" (loading it again was a no-op)" if demo.reload_was_noop else ""),
    )
    table.add_row("steps", ", ".join(run.executed_steps))
    elapsed = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    table.add_row("time", f"{elapsed:.1f} s ({run.caller}, {run.executor}, {run.cores} cores)")
    for p in demo.products:
        table.add_row(f"stored {p.name}", f"{p.object_id}: {p.size:,} bytes, verify {p.status}")
    table.add_row("VCF from the store", f"decrypts to {demo.vcf_records} variant records")
    out.print(table)
    qc = Table("metric", "value", "threshold", "status", title="QC (thresholds from the settings)")
    for c in demo.checks:
        qc.add_row(
            escape(c.label), escape(c.observed), escape(c.threshold), _styled(c.status.value)
        )
    out.print(qc)
    path = [demo.history[0].from_state.value if demo.history[0].from_state else "new"]
    path += [e.to_state.value for e in demo.history]
    out.print(
        f"Sample {demo.sample_id}: {' -> '.join(path)}: {escape(demo.summary)}", soft_wrap=True
    )
    if demo.real_reads is not None:
        sample, state_name, summary = demo.real_reads
        out.print(
            f"Real nf-core chr22 reads on sample {sample}: {_styled(state_name)}: "
            f"{escape(summary)}",
            soft_wrap=True,
        )


def _render_demo_variants(demo: VariantsDemo) -> None:
    def af(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    out.print(
        f"Genome database: patient {demo.patient_ingest}; {demo.population} simulated citizens "
        f"ingested in {demo.commits} commits."
    )
    table = Table(
        "variant",
        "AC with",
        "AN with",
        "AF with",
        "AC without",
        "AN without",
        "AF without",
        title=(
            f"Research allele frequencies with and without the {demo.opted_out} persons who "
            "opted out"
        ),
        caption=(
            f"{demo.counted_with} samples counted before the withdrawals, "
            f"{demo.counted_without} after (consent as of {demo.consent_as_of}; {demo.method})"
        ),
    )
    for line in demo.lines:
        table.add_row(
            line.variant_id,
            str(line.ac_with),
            str(line.an_with),
            af(line.af_with),
            str(line.ac_without),
            str(line.an_without),
            af(line.af_without),
        )
    out.print(table)


def _render_demo_clinical(demo: ClinicalDemo) -> None:
    from helgenom.cli.clinical import _filter_steps

    steps = _filter_steps(demo.counts)
    if demo.reads:
        out.print(
            f"Trio sequencing: {escape(demo.reads)}; the pipeline per member:", soft_wrap=True
        )
        for line in demo.runs:
            out.print(f"  {escape(line)}", soft_wrap=True)
    out.print(
        f"Trio case {demo.case_id} ({', '.join(demo.family)}), panel {escape(demo.panel)}: "
        f"{escape(demo.parentage)}; filters {escape(steps)}.",
        soft_wrap=True,
    )
    table = Table(
        "#", "gene", "change", "zygosity", "inheritance", "class", "criteria",
        title="Ranked candidates (geneticist's view)",
    )  # fmt: skip
    for c in demo.candidates:
        modes = ", ".join(str(m["mode"]) for m in c.get("modes", []))  # type: ignore[attr-defined]
        table.add_row(
            str(c["rank"]),
            escape(str(c["gene"])),
            escape(str(c.get("hgvs_p") or c.get("hgvs_c") or c["variant_id"])),
            escape(str(c["zygosity"])),
            escape(modes),
            escape(str(c["classification"])),
            escape(" ".join(c.get("criteria", []))),  # type: ignore[arg-type]
        )
    out.print(table)
    for c in demo.secondary_findings:
        out.print(
            f"Secondary finding (consented): {escape(str(c['gene']))} "
            f"{escape(str(c.get('hgvs_p') or c['variant_id']))}: {c['classification']}"
        )
    out.print(f"Geneticist's override: {escape(demo.override)}")
    out.print(
        f"Report {demo.report_id} signed and issued ({demo.overall}); "
        + ("sample moved to " if demo.sample_state == "reported" else "sample stays ")
        + f"{demo.sample_state}; SHA-256 {demo.digest[:16]}...; the clinician's copies:"
    )
    for path in demo.files:
        out.print(f"  {path}")
    for line in demo.reanalysis:
        out.print(f"Re-analysis: {escape(line)}", soft_wrap=True)


# ----------------------------------------------------------------------------- org / user

org_app = typer.Typer(
    cls=TyperGroup, help="Organisations: hospital departments.", no_args_is_help=True
)
user_app = typer.Typer(help="Users (principals) and their roles.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")


@org_app.command("add")
def org_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Department code, e.g. RH-KG.")],
    name: Annotated[str, typer.Option(help="Department name.")],
) -> None:
    """Add a hospital department (admin)."""
    state = _state(ctx)
    org = state.platform().directory.add_org(state.context(), code, name)
    out.print(f"added department {org.code}: {org.name}")


@org_app.command("list")
def org_list(ctx: typer.Context) -> None:
    """List organisations."""
    state = _state(ctx)
    state.context()  # resolves --as / HELGENOM_USER: an unknown user is an error here too
    orgs = state.platform().directory.list_orgs()
    table = Table("code", "name", "kind", title="Organisations")
    for o in orgs:
        table.add_row(o.code, o.name, o.kind.value)
    out.print(table)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name, e.g. dr.hansen.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(r.value for r in Role)}.")],
    org: Annotated[
        str | None, typer.Option(help="Organisation code (citizens: default platform).")
    ] = None,
    cpr: Annotated[
        str | None, typer.Option(help="For citizens: the CPR number the user is bound to.")
    ] = None,
) -> None:
    """Create a user with one role in one organisation (admin)."""
    state = _state(ctx)
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidInputError(
            f"unknown role {role!r}: choose one of {', '.join(r.value for r in Role)}"
        ) from None
    principal = state.platform().directory.add_user(state.context(), name, parsed_role, org, cpr)
    bound = " (bound to one person)" if principal.person_pseudonym else ""
    out.print(f"added {principal.role.value} {principal.name} in {principal.org_code}{bound}")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List users (admin)."""
    state = _state(ctx)
    rows = state.platform().directory.list_users(state.context())
    table = Table("name", "role", "organisation", "citizen bound", title="Users")
    for r in rows:
        table.add_row(r.name, r.role.value, r.org_code, "yes" if r.bound_to_person else "")
    out.print(table)


# ----------------------------------------------------------------------------- person / consent

person_app = typer.Typer(help="Persons: registration and the identity vault.", no_args_is_help=True)
consent_app = typer.Typer(
    help="Consent choices: research opt-out, findings, recontact.", no_args_is_help=True
)
app.add_typer(person_app, name="person")
app.add_typer(consent_app, name="consent")


@person_app.command("register")
def person_register(
    ctx: typer.Context,
    cpr: CprOption,
    region: Annotated[str | None, typer.Option(help="Region, e.g. Hovedstaden.")] = None,
) -> None:
    """Register a person by CPR (idempotent); prints the person pseudonym."""
    state = _state(ctx)
    result = state.platform().persons.register(state.context(), cpr, region)
    out.print(result.pseudonym)


@person_app.command("show")
def person_show(ctx: typer.Context, cpr: CprOption) -> None:
    """Show a person (care team or the citizen themself)."""
    state = _state(ctx)
    view = state.platform().persons.show(state.context(), cpr)
    table = Table(show_header=False, title="Person")
    table.add_row("pseudonym", view.pseudonym)
    table.add_row("sex", view.sex.value)
    table.add_row("birth year", str(view.birth_year))
    table.add_row("region", view.region or "")
    table.add_row("requisitions", ", ".join(view.requisitions))
    out.print(table)


@person_app.command("reidentify")
def person_reidentify(
    ctx: typer.Context, pseudonym: Annotated[str, typer.Argument(help="Person pseudonym (hp-...).")]
) -> None:
    """Print the CPR number behind a pseudonym (the person's own care team only)."""
    state = _state(ctx)
    out.print(state.platform().persons.reidentify(state.context(), pseudonym))


def _yes_no(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("yes", "y", "true"):
        return True
    if value.lower() in ("no", "n", "false"):
        return False
    raise InvalidInputError(f"{option} takes yes or no, not {value!r}")


@consent_app.command("set")
def consent_set(
    ctx: typer.Context,
    cpr: CprOption,
    research: Annotated[str | None, typer.Option(help="allow or opt-out.")] = None,
    secondary_findings: Annotated[
        str | None, typer.Option(help="yes or no: be told about secondary findings.")
    ] = None,
    recontact: Annotated[
        str | None, typer.Option(help="yes or no: be contacted again if results change.")
    ] = None,
) -> None:
    """Record a consent decision; it takes effect on the very next query."""
    state = _state(ctx)
    choice = None
    if research is not None:
        try:
            choice = ResearchChoice(research)
        except ValueError:
            raise InvalidInputError(
                f"--research takes allow or opt-out, not {research!r}"
            ) from None
    view = state.platform().consent.set(
        state.context(),
        cpr,
        research=choice,
        secondary_findings=_yes_no(secondary_findings, "--secondary-findings"),
        recontact=_yes_no(recontact, "--recontact"),
    )
    _render_consent(view, history=False)


@consent_app.command("show")
def consent_show(ctx: typer.Context, cpr: CprOption) -> None:
    """Show the current consent and its full history."""
    state = _state(ctx)
    _render_consent(state.platform().consent.show(state.context(), cpr), history=True)


def _render_consent(view: Any, *, history: bool) -> None:
    s = view.state
    table = Table(show_header=False, title=f"Consent of {view.pseudonym}")
    table.add_row("research use", s.research.value)
    table.add_row("secondary findings", "yes" if s.secondary_findings else "no")
    table.add_row("recontact", "yes" if s.recontact else "no")
    table.add_row("version", str(s.version))
    out.print(table)
    if history:
        hist = Table(
            "recorded (UTC)",
            "source",
            "by",
            "research",
            "secondary",
            "recontact",
            title="History (append-only)",
        )
        for e in view.history:
            hist.add_row(
                e.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.source,
                e.actor,
                e.research.value if e.research else "",
                "" if e.secondary_findings is None else ("yes" if e.secondary_findings else "no"),
                "" if e.recontact is None else ("yes" if e.recontact else "no"),
            )
        out.print(hist)


# ----------------------------------------------------------------------------- requisition / sample

requisition_app = typer.Typer(
    help="Sequencing orders from hospital departments.", no_args_is_help=True
)
sample_app = typer.Typer(help="Samples and their origin.", no_args_is_help=True)
app.add_typer(requisition_app, name="requisition")
app.add_typer(sample_app, name="sample")


@requisition_app.command("create")
def requisition_create(
    ctx: typer.Context,
    cpr: CprOption,
    indication: Annotated[str | None, typer.Option(help="Indication code or text.")] = None,
) -> None:
    """Create a requisition from your department (clinician); prints its id."""
    state = _state(ctx)
    out.print(state.platform().requisitions.create(state.context(), cpr, indication))


@requisition_app.command("submit")
def requisition_submit(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.json", help="A FHIR R4 ServiceRequest (JSON).")
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the result, or the OperationOutcome when invalid, as JSON."
        ),
    ] = False,
) -> None:
    """Submit a FHIR ServiceRequest for whole-genome sequencing (clinician); prints the ids.

    An invalid resource is answered with every problem (an OperationOutcome) and exit 2.
    """
    state = _state(ctx)
    document = _read_document(file, MAX_DOCUMENT_BYTES)
    try:
        result = state.platform().requisitions.submit(state.context(), document)
    except FhirValidationError as exc:
        if not as_json:
            raise
        sys.stdout.write(json.dumps(exc.operation_outcome(), indent=2) + "\n")
        raise typer.Exit(exit_code_for(exc.code)) from None
    if as_json:
        answer = {
            "requisition": result.requisition_id,
            "department": result.department,
            "indication": {"code": result.indication, "version": result.indication_version},
            "priority": result.priority.value,
            "samples": [
                {
                    "sample": s.sample_id,
                    "requisition": s.requisition_id,
                    "relationship": s.relationship.value,
                }
                for s in result.samples
            ],
        }
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
        return
    out.print(
        f"requisition {result.requisition_id}: indication {result.indication} "
        f"v{result.indication_version}, priority {result.priority.value}"
    )
    for s in result.samples:
        out.print(f"sample {s.sample_id} ({s.relationship.value}, requisition {s.requisition_id})")


indication_app = typer.Typer(
    help="The indication catalogue: what may be ordered, with which panel, by whom.",
    no_args_is_help=True,
)
app.add_typer(indication_app, name="indication")


@indication_app.command("load")
def indication_load(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE.json", help="The catalogue (JSON, format_version 1).")
    ],
) -> None:
    """Load a catalogue version: changed entries get a new version, old ones are kept (admin)."""
    state = _state(ctx)
    document = _read_document(file, MAX_CATALOGUE_BYTES)
    results = state.platform().indications.load(state.context(), document)
    table = Table("code", "version", "status", title="Indication catalogue loaded")
    for r in results:
        table.add_row(r.code, str(r.version), r.status)
    out.print(table)


@indication_app.command("list")
def indication_list(
    ctx: typer.Context,
    all_versions: Annotated[
        bool, typer.Option("--all", help="Every version, not only the current ones.")
    ] = False,
) -> None:
    """The indications that may be ordered, with their gene panels and departments."""
    state = _state(ctx)
    state.context()  # resolves --as / HELGENOM_USER: an unknown user is an error here too
    table = Table(
        "code",
        "version",
        "name",
        "gene panel",
        "departments",
        "orderable",
        "loaded (UTC)",
        title="Indications",
    )
    for i in state.platform().indications.list_indications(all_versions=all_versions):
        table.add_row(
            i.code,
            str(i.version),
            i.name,
            i.gene_panel,
            ", ".join(i.departments),
            "yes" if i.active else "withdrawn",
            i.loaded_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@sample_app.command("add")
def sample_add(
    ctx: typer.Context,
    cpr: CprOption,
    origin: Annotated[str, typer.Option(help="clinical, research or voluntary.")] = "clinical",
    requisition: Annotated[str | None, typer.Option(help="Requisition id (clinical).")] = None,
    project: Annotated[str | None, typer.Option(help="Project code (research origin).")] = None,
) -> None:
    """Register a sample of a person; prints its id."""
    state = _state(ctx)
    try:
        parsed = SampleOrigin(origin)
    except ValueError:
        raise InvalidInputError(
            f"--origin takes clinical, research or voluntary, not {origin!r}"
        ) from None
    sample_id = state.platform().samples.register(
        state.context(), cpr, origin=parsed, project=project, requisition=requisition
    )
    out.print(sample_id)


@sample_app.command("status")
def sample_status(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None,
        typer.Option("--state", help=f"Only this state: {', '.join(SAMPLE_STATES)}."),
    ] = None,
) -> None:
    """The operator's sample table (no CPR numbers)."""
    state = _state(ctx)
    rows = state.platform().samples.status(state.context(), state_filter)
    table = Table(
        "sample",
        "origin",
        "project",
        "requisition",
        "department",
        "family",
        "priority",
        "state",
        "created",
        title="Samples",
    )
    for r in rows:
        table.add_row(
            r.sample_id,
            r.origin.value,
            r.origin_project or "",
            r.requisition_id or "",
            r.department or "",
            r.relationship or "",
            r.priority or "",
            r.state,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@sample_app.command("history")
def sample_history(
    ctx: typer.Context,
    sample_id: Annotated[str, typer.Argument(metavar="ID", help="Sample id (S-...).")],
) -> None:
    """Every state change of a sample, oldest first (operator, care team)."""
    state = _state(ctx)
    events = state.platform().samples.history(state.context(), sample_id)
    table = Table("when (UTC)", "from", "to", "by", "reason", title=f"History of {sample_id}")
    for e in events:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.from_state.value if e.from_state else "",
            e.to_state.value,
            e.actor,
            e.reason or "",
        )
    out.print(table)


@sample_app.command("mark")
def sample_mark(
    ctx: typer.Context,
    sample_id: Annotated[str, typer.Argument(metavar="ID", help="Sample id (S-...).")],
    state_name: Annotated[
        str, typer.Argument(metavar="STATE", help=f"One of: {', '.join(SAMPLE_STATES)}.")
    ],
    reason: Annotated[
        str | None,
        typer.Option(help="Why (kept in the sample's history; needed for cancelled, qc_failed)."),
    ] = None,
) -> None:
    """Move a sample to its next state (operator: lab states; geneticist: interpreted,
    reported; clinician or steward: cancelled)."""
    state = _state(ctx)
    event = state.platform().samples.mark(state.context(), sample_id, state_name, reason=reason)
    before = event.from_state.value if event.from_state else "new"
    out.print(f"sample {event.sample_id}: {before} -> {event.to_state.value}")


reads_app = typer.Typer(
    help="Sequencing reads (gzip FASTQ) into the encrypted store.", no_args_is_help=True
)
app.add_typer(reads_app, name="reads")


@reads_app.command("add")
def reads_add(
    ctx: typer.Context,
    sample: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id (S-...).")],
    read1: Annotated[Path, typer.Argument(metavar="R1.fastq.gz", help="First reads of the pair.")],
    read2: Annotated[Path, typer.Argument(metavar="R2.fastq.gz", help="Second reads (mates).")],
) -> None:
    """Check and store a paired-end run; marks the sample sequenced (operator)."""
    state = _state(ctx)
    result = state.platform().samples.add_reads(state.context(), sample, read1, read2)
    first, second = result.object_ids
    out.print(f"stored {first} (R1) and {second} (R2): {result.reads:,} read pairs")
    path = [result.events[0].from_state.value if result.events[0].from_state else "new"]
    path += [e.to_state.value for e in result.events]
    out.print(f"sample {result.sample_id}: {' -> '.join(path)}")


# ----------------------------------------------------------------------------- reference / pipeline

reference_app = typer.Typer(
    help="Reference genomes: registered once per build, indexed once.", no_args_is_help=True
)
pipeline_app = typer.Typer(
    help="Secondary analysis: reads -> CRAM -> gVCF/VCF -> QC, products stored encrypted.",
    no_args_is_help=True,
)
app.add_typer(reference_app, name="reference")
app.add_typer(pipeline_app, name="pipeline")

_STATUS_STYLE = {
    "pass": "green",
    "fail": "red",
    "undetermined": "yellow",
    "info": "dim",
    "succeeded": "green",
    "failed": "red",
    "interrupted": "yellow",
    "running": "cyan",
    "passed": "green",
    "qc_passed": "green",
    "qc_failed": "red",
}


def _styled(text: str | None) -> str:
    if not text:
        return ""
    style = _STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


@reference_app.command("load")
def reference_load(
    ctx: typer.Context,
    fasta: Annotated[Path, typer.Argument(metavar="FASTA", help="FASTA file (plain or gzip).")],
    build: Annotated[
        str, typer.Option(help="Build name; one build name means one genome.")
    ] = DEFAULT_BUILD,
) -> None:
    """Register a reference genome: canonical FASTA, indexes, checksums (admin, operator)."""
    state = _state(ctx)
    result = state.platform().references.load(
        state.context(), fasta, build=build, progress=lambda msg: err.print(f"[dim]- {msg}[/]")
    )
    r = result.record
    if not result.created:
        err.print(f"[dim]{fasta.name} is already registered as {r.build}: nothing changed[/]")
    table = Table(title=f"Reference genome {r.build}", show_header=False)
    table.add_row("contigs", f"{len(r.contigs):,}")
    table.add_row("length", f"{r.total_length:,} bp ({r.acgt_length:,} A/C/G/T)")
    table.add_row("sha256", r.sha256)
    table.add_row("source sha256", r.source_sha256)
    table.add_row("folder", str(r.folder))
    out.print(table)


@reference_app.command("list")
def reference_list(ctx: typer.Context) -> None:
    """The registered reference genomes."""
    state = _state(ctx)
    state.context()  # resolves --as / HELGENOM_USER: an unknown user is an error here too
    table = Table(
        "build", "contigs", "length (bp)", "sha256", "loaded (UTC)", "by", title="Reference genomes"
    )
    for r in state.platform().references.list_references():
        table.add_row(
            r.build,
            f"{len(r.contigs):,}",
            f"{r.total_length:,}",
            r.sha256[:16] + "...",
            r.loaded_at.strftime("%Y-%m-%d %H:%M"),
            r.loaded_by,
        )
    out.print(table)


def _render_qc(view: QcView | RunOutcome) -> None:
    if isinstance(view, RunOutcome):
        checks, title = view.verdict.checks, f"QC of run {view.run.run_id}"
    else:
        checks, title = view.checks, f"QC of sample {view.sample_id} (run {view.run_id})"
    table = Table("metric", "value", "threshold", "status", "detail", title=title)
    for c in checks:
        table.add_row(
            escape(c.label),
            escape(c.observed),
            escape(c.threshold),
            _styled(c.status.value),
            escape(c.detail),
        )
    out.print(table)


@pipeline_app.command("run")
def pipeline_run(
    ctx: typer.Context,
    sample: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id (S-...).")],
    executor: Annotated[str, typer.Option(help=f"One of: {', '.join(EXECUTORS)}.")] = "local",
    caller: Annotated[
        str, typer.Option(help="Variant caller: bcftools or a plug-in package.module:function.")
    ] = DEFAULT_CALLER,
    cores: Annotated[
        int | None, typer.Option(min=1, help="Cores for the run (default: the setting).")
    ] = None,
    build: Annotated[
        str | None, typer.Option(help="Reference build (default: the only one registered).")
    ] = None,
    partition: Annotated[
        str | None,
        typer.Option(
            help="Slurm partition (--executor slurm; default: the setting, else the "
            "cluster's default)."
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(help="Slurm account (--executor slurm; default: the setting, else none)."),
    ] = None,
) -> None:
    """Analyse a sequenced sample: align, call, QC; store the products encrypted (operator).

    A failing step keeps the sample analysing; running the command again resumes.
    """
    state = _state(ctx)
    try:
        outcome = state.platform().pipeline.run(
            state.context(),
            sample,
            build=build,
            caller=caller,
            executor=executor,
            cores=cores,
            partition=partition,
            account=account,
            progress=lambda msg: err.print(f"[dim]- {msg}[/]"),
        )
    except PipelineError as exc:
        failure = Table(title="Pipeline step failed", show_header=False)
        failure.add_row("step", str(getattr(exc, "step", "") or "-"))
        failure.add_row("tool", str(getattr(exc, "tool", "") or "-"))
        exit_value = getattr(exc, "exit_code", None)
        failure.add_row("exit code", "-" if exit_value is None else str(exit_value))
        tail_text = getattr(exc, "stderr_tail", "") or ""
        failure.add_row("stderr", escape(tail_text) or "-")
        err.print(failure)
        headline = str(exc).replace(f": {tail_text}", "") if tail_text else str(exc)
        err.print(f"[bold red]error[/] ({exc.code}): {escape(headline)}", soft_wrap=True)
        for note in getattr(exc, "__notes__", []):
            err.print(escape(note), soft_wrap=True)
        raise typer.Exit(exit_code_for(exc.code)) from None
    run = outcome.run
    table = Table(title=f"Pipeline run {run.run_id}", show_header=False)
    table.add_row("sample", run.sample_id)
    table.add_row("reference", f"{run.reference_build} (sha256 {run.reference_sha256[:16]}...)")
    table.add_row("caller / executor", f"{run.caller} / {run.executor}, {run.cores} cores")
    table.add_row(
        "steps run",
        ", ".join(run.executed_steps) or "none (everything was up to date)",
    )
    if run.resumed_from:
        table.add_row("resumed", f"in the work folder of {run.resumed_from}")
    for name, object_id in run.outputs.items():
        table.add_row(f"stored {name}", object_id)
    out.print(table)
    _render_qc(outcome)
    out.print(
        f"sample {run.sample_id}: {_styled(outcome.sample_state.value)}: "
        f"{escape(outcome.verdict.summary)}"
    )


@pipeline_app.command("status")
def pipeline_status(
    ctx: typer.Context,
    sample: Annotated[
        str | None, typer.Argument(metavar="[SAMPLE]", help="One sample's runs (default: all).")
    ] = None,
) -> None:
    """Pipeline runs: state, reference, steps, QC, errors (operator; geneticist, own sample)."""
    state = _state(ctx)
    runs: list[PipelineRun] = state.platform().pipeline.status(state.context(), sample)
    table = Table(title="Pipeline runs" if sample is None else f"Pipeline runs of {sample}")
    columns = ["run", "sample", "status", "reference", "started (UTC)", "steps run", "QC", "error"]
    if sample is not None:
        columns.remove("sample")
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in runs:
        error = ""
        if r.error is not None:
            error = r.error.code
            if r.error.step:
                error = f"{r.error.step}: {r.error.tool}, exit {r.error.exit_code} ({error})"
        resumed = f" (resumes {r.resumed_from})" if r.resumed_from else ""
        cells = [
            r.run_id,
            r.sample_id,
            _styled(r.status.value) + resumed,
            f"{r.reference_build}, {r.caller}, {r.executor}",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            ", ".join(r.executed_steps),
            _styled(r.qc_status),
            escape(error),
        ]
        if sample is not None:
            del cells[1]
        table.add_row(*cells)
    out.print(table)


@pipeline_app.command("qc")
def pipeline_qc(
    ctx: typer.Context,
    sample: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id (S-...).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the HTML QC report here.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing report file.")] = False,
) -> None:
    """The QC verdict of a sample's newest run; -o writes the HTML report with plots."""
    state = _state(ctx)
    view = state.platform().pipeline.qc(state.context(), sample, html_out=output, force=force)
    _render_qc(view)
    out.print(f"[{'green' if view.passed else 'red'}]{escape(view.reason)}[/]")
    if view.html_path is not None:
        out.print(f"wrote the HTML report to {view.html_path}")


# ----------------------------------------------------------------------------- research projects

project_app = typer.Typer(help="Research projects: apply, approve, cohorts.", no_args_is_help=True)
app.add_typer(project_app, name="project")


@project_app.command("apply")
def project_apply(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Project code, e.g. GENE-HEART-01.")],
    title: Annotated[str, typer.Option(help="Project title.")],
) -> None:
    """Apply for a research project (researcher)."""
    state = _state(ctx)
    p = state.platform().research.apply(state.context(), code, title)
    out.print(f"project {p.code} applied for by {p.applicant}; awaiting the access committee")


@project_app.command("approve")
def project_approve(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Project code.")],
    expires: Annotated[str, typer.Option(help="Approval expiry date, YYYY-MM-DD.")],
) -> None:
    """Approve a project until a date (steward)."""
    state = _state(ctx)
    try:
        day = dt.date.fromisoformat(expires)
    except ValueError:
        raise InvalidInputError(f"--expires takes a date YYYY-MM-DD, not {expires!r}") from None
    expires_at = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    p = state.platform().research.decide(state.context(), code, approve=True, expires_at=expires_at)
    out.print(f"project {p.code} approved until {day.isoformat()}")


@project_app.command("reject")
def project_reject(ctx: typer.Context, code: Annotated[str, typer.Argument()]) -> None:
    """Reject a project (steward)."""
    state = _state(ctx)
    p = state.platform().research.decide(state.context(), code, approve=False, expires_at=None)
    out.print(f"project {p.code} {p.status}")


@project_app.command("add-member")
def project_add_member(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Project code.")],
    name: Annotated[str, typer.Argument(help="Researcher's user name.")],
) -> None:
    """Add a researcher to a project (steward)."""
    state = _state(ctx)
    p = state.platform().research.add_member(state.context(), code, name)
    out.print(f"project {p.code} members: {', '.join(p.members)}")


@project_app.command("list")
def project_list(ctx: typer.Context) -> None:
    """List projects."""
    state = _state(ctx)
    table = Table("code", "title", "status", "expires", "members", title="Projects")
    for p in state.platform().research.list_projects(state.context()):
        table.add_row(
            p.code,
            p.title,
            p.status,
            p.expires_at.date().isoformat() if p.expires_at else "",
            ", ".join(p.members),
        )
    out.print(table)


@project_app.command("cohort")
def project_cohort(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Project code.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")] = False,
) -> None:
    """The project's consented cohort under project pseudonyms (researcher, member)."""
    state = _state(ctx)
    members = state.platform().research.cohort(state.context(project=code))
    if as_json:
        for m in members:
            sys.stdout.write(
                json.dumps(
                    {
                        "sample_person": m.project_pseudonym,
                        "sex": m.sex.value,
                        "birth_year": m.birth_year,
                        "origin": m.origin.value,
                    }
                )
                + "\n"
            )
        return
    table = Table("project pseudonym", "sex", "birth year", "origin", title=f"Cohort of {code}")
    for m in members:
        table.add_row(m.project_pseudonym, m.sex.value, str(m.birth_year), m.origin.value)
    out.print(table)
    out.print(f"{len(members)} persons (opted-out persons are excluded)")


# ----------------------------------------------------------------------------- objects / keys

object_app = typer.Typer(
    help="Encrypted genome files (Crypt4GH at rest, checksummed).", no_args_is_help=True
)
keys_app = typer.Typer(help="Platform key management.", no_args_is_help=True)
app.add_typer(object_app, name="object")
app.add_typer(keys_app, name="keys")


@object_app.command("put")
def object_put(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="File to store (FASTQ, BAM, CRAM, VCF, ...).")],
    sample: Annotated[str, typer.Option(help="Sample id (see helgenom sample status).")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(OBJECT_KINDS)}.")],
) -> None:
    """Encrypt and store a file for a sample; prints the object id (operator)."""
    state = _state(ctx)
    result = state.platform().objects.put(
        state.context(), file, sample_id=sample, kind=parse_kind(kind)
    )
    if not result.created:
        err.print("[dim]same content already stored for this sample: nothing changed[/]")
    out.print(result.record.object_id)


@object_app.command("get")
def object_get(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(metavar="ID", help="Object id (obj-...).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    force: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Decrypt an object to a file (checked against its SHA-256 before it appears)."""
    state = _state(ctx)
    record = state.platform().objects.get(state.context(), object_id, output, force=force)
    out.print(f"wrote {output} ({record.plaintext_size} bytes, sha256 {record.plaintext_sha256})")


@object_app.command("export")
def object_export(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(metavar="ID", help="Object id (obj-...).")],
    recipient_key: Annotated[Path, typer.Option(help="The recipient's Crypt4GH public key file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Crypt4GH file to write.")],
    force: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Re-encrypt an object's header to a recipient; they decrypt with any Crypt4GH tool."""
    state = _state(ctx)
    try:
        key_bytes = recipient_key.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {recipient_key}: {exc.strerror}") from None
    record = state.platform().objects.export(
        state.context(), object_id, key_bytes, output, force=force
    )
    out.print(f"wrote {output} for the recipient ({record.plaintext_size} bytes of plaintext)")


@object_app.command("verify")
def object_verify(
    ctx: typer.Context,
    object_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="One object (default: all).")
    ] = None,
    all_objects: Annotated[bool, typer.Option("--all", help="Verify every object.")] = False,
) -> None:
    """Re-read and re-hash objects; exit 7 if any is missing, truncated or corrupt."""
    if object_id is not None and all_objects:
        raise InvalidInputError("give an object id or --all, not both")
    state = _state(ctx)
    report = state.platform().objects.verify(state.context(), object_id)
    table = Table("object", "kind", "sample", "status", "detail", title="Object store verification")
    for c in report.checks:
        colour = "green" if c.status == "ok" else "red"
        table.add_row(c.object_id, c.kind, c.sample_id, f"[{colour}]{c.status}[/]", c.detail)
    out.print(table)
    if report.orphans:
        err.print(
            f"[yellow]{len(report.orphans)} unreferenced bodies[/] (left by interrupted puts or "
            "deletes): " + ", ".join(report.orphans[:5])
        )
    bad = [c for c in report.checks if c.status != "ok"]
    out.print(f"{len(report.checks)} objects checked, {len(bad)} bad")
    if bad:
        raise typer.Exit(7)


@object_app.command("list")
def object_list(
    ctx: typer.Context,
    sample: Annotated[str | None, typer.Option(help="Only this sample's objects.")] = None,
) -> None:
    """Stored objects (operator)."""
    state = _state(ctx)
    table = Table("object", "kind", "sample", "bytes", "sha256", "created", title="Objects")
    for r in state.platform().objects.list(state.context(), sample_id=sample):
        table.add_row(
            r.object_id,
            r.kind.value,
            r.sample_id,
            f"{r.plaintext_size:,}",
            r.plaintext_sha256[:16] + "...",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@object_app.command("delete")
def object_delete(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(metavar="ID", help="Object id (obj-...).")],
    reason: Annotated[str, typer.Option(help="Why it is deleted (recorded in the audit log).")],
) -> None:
    """Delete an object's data, leaving an audited tombstone (steward)."""
    state = _state(ctx)
    record = state.platform().objects.delete(state.context(), object_id, reason=reason)
    out.print(f"deleted {record.object_id}; its tombstone stays in the catalog")


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context) -> None:
    """Re-wrap every Crypt4GH header to a new platform key; bodies untouched (admin)."""
    state = _state(ctx)
    result = state.platform().objects.rotate_keys(state.context())
    out.print(
        f"platform key {result.old_key_id} retired, {result.new_key_id} active; "
        f"{result.rewrapped} headers re-wrapped; old headers backed up to {result.backup_path}"
    )


# ----------------------------------------------------------------------------- audit

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Verify the audit chain; non-zero exit naming the first bad entry if broken."""
    state = _state(ctx)
    result = state.platform().audit.verify(state.context())
    if result.ok:
        out.print(f"audit chain intact: {result.count} entries, head {result.head_hash}")
        return
    err.print(
        f"[bold red]audit chain BROKEN[/] at sequence {result.first_bad_seq}: {result.problem} "
        f"({result.count} entries verified before it)"
    )
    raise typer.Exit(7)


@audit_app.command("show")
def audit_show(
    ctx: typer.Context,
    person: Annotated[
        str,
        typer.Option(
            "--person",
            prompt="CPR number",
            hide_input=True,
            help="CPR number of the person (the citizen themself, or an auditor).",
        ),
    ],
) -> None:
    """Who used this person's data: role, organisation, when, for what purpose."""
    state = _state(ctx)
    lines = state.platform().audit.person_log(state.context(), person)
    table = Table(title="Who used my data")
    for column in ("when (UTC)", "who", "organisation", "purpose", "action", "decision"):
        table.add_column(column)
    for line in lines:
        who = line.role + (f" ({line.actor})" if line.actor else "")
        table.add_row(
            line.occurred_at[:19].replace("T", " "),
            who,
            line.organisation,
            line.purpose,
            line.action,
            line.decision,
        )
    out.print(table)


@audit_app.command("log")
def audit_log_cmd(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="Newest N entries.")] = 50,
) -> None:
    """The newest audit entries (auditor)."""
    state = _state(ctx)
    table = Table(
        "seq",
        "when (UTC)",
        "actor",
        "role",
        "org",
        "purpose",
        "action",
        "resource",
        "decision",
        "reason",
        title="Audit log",
    )
    for e in state.platform().audit.log(state.context(), limit=limit):
        table.add_row(
            str(e.seq),
            e.occurred_at[:19].replace("T", " "),
            e.actor,
            e.role,
            e.org,
            e.purpose,
            e.action,
            e.resource,
            e.decision,
            e.reason,
        )
    out.print(table)


# The genome database's commands live in their own module (it imports this one).
from helgenom.cli.variants import variants_app  # noqa: E402

app.add_typer(variants_app, name="variants")

from helgenom.cli.clinical import annotation_app, case_app, panel_app  # noqa: E402

app.add_typer(annotation_app, name="annotation")
app.add_typer(panel_app, name="panel")
app.add_typer(case_app, name="case")

from helgenom.cli.service import serve, token_app  # noqa: E402

app.add_typer(token_app, name="token")
app.command("serve")(serve)

from helgenom.cli.htsget import htsget_app  # noqa: E402

app.add_typer(htsget_app, name="htsget")


def main() -> None:
    """Entry point of the ``helgenom`` script and ``python -m helgenom``."""
    app(prog_name="helgenom")
