"""``helgenom annotation|panel|case ...``: clinical interpretation (one service call each)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from helgenom.cli.main import _state, err, out
from helgenom.services import InvalidInputError

annotation_app: typer.Typer = typer.Typer(
    help="Annotation sources: gene models, ClinVar, population frequencies (versioned).",
    no_args_is_help=True,
)
panel_app: typer.Typer = typer.Typer(
    help="Gene panels (PanelApp-style, versioned).", no_args_is_help=True
)
case_app: typer.Typer = typer.Typer(
    help="Interpretation cases: analysis, ACMG classification, signed reports, re-analysis.",
    no_args_is_help=True,
)

LabelOption = Annotated[str, typer.Option("--label", help="Release label of the source file.")]
BuildOption = Annotated[str | None, typer.Option(help="Reference build (default: the only one).")]


def _source_line(record: Any) -> str:
    if not record.created:
        return f"{record.source} v{record.version} ({record.label}) was loaded before: no change"
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(record.summary.items()) if v is not None)
    return f"{record.source} v{record.version} ({record.label}) loaded: {counts}"


@annotation_app.command("load")
def annotation_load(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(metavar="KIND", help="genes, clinvar or population.")],
    args: Annotated[
        list[str],
        typer.Argument(metavar="[NAME] FILE", help="FILE (genes/clinvar) or NAME FILE."),
    ],
    label: LabelOption,
    build: BuildOption = None,
) -> None:
    """Load a new version of an annotation source (admins, operators, geneticists)."""
    state = _state(ctx)
    service = state.platform().annotation
    if kind == "population":
        if len(args) != 2:
            raise InvalidInputError("give NAME FILE: helgenom annotation load population gnomad f")
        record = service.load_population(
            state.context(), args[0], Path(args[1]), label=label, build=build
        )
    elif kind in ("genes", "clinvar"):
        if len(args) != 1:
            raise InvalidInputError(f"give one FILE: helgenom annotation load {kind} FILE")
        loader = service.load_genes if kind == "genes" else service.load_clinvar
        record = loader(state.context(), Path(args[0]), label=label, build=build)
    else:
        raise InvalidInputError(f"unknown source kind {kind!r}: genes, clinvar or population")
    out.print(escape(_source_line(record)))


@annotation_app.command("list")
def annotation_list(ctx: typer.Context) -> None:
    """Every loaded version of every annotation source."""
    records = _state(ctx).platform().annotation.list_sources()
    table = Table("source", "version", "label", "build", "loaded", "by", title="Annotation sources")
    for r in records:
        table.add_row(
            escape(r.source),
            str(r.version),
            escape(r.label),
            escape(r.reference_build or ""),
            r.loaded_at.strftime("%Y-%m-%d %H:%M"),
            escape(r.loaded_by),
        )
    out.print(table)


@panel_app.command("load")
def panel_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.json", help="PanelApp-style panel.")],
) -> None:
    """Load a gene panel version (admins, geneticists)."""
    state = _state(ctx)
    record = state.platform().annotation.load_panel(state.context(), file)
    if not record.created:
        out.print(f"panel {escape(record.name)} v{escape(record.version)} was loaded before")
        return
    out.print(
        f"panel {escape(record.name)} v{escape(record.version)} loaded: {record.gene_count} "
        f"genes ({record.green} green); indications {', '.join(record.indications) or 'none'}"
    )


@panel_app.command("list")
def panel_list(ctx: typer.Context) -> None:
    """Every loaded panel version."""
    records = _state(ctx).platform().annotation.list_panels()
    table = Table("panel", "version", "genes", "green", "indications", "loaded", title="Panels")
    for r in records:
        table.add_row(
            escape(r.name),
            escape(r.version),
            str(r.gene_count),
            str(r.green),
            escape(", ".join(r.indications)),
            r.loaded_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


# -- cases -------------------------------------------------------------------------------------


@case_app.command("create")
def case_create(
    ctx: typer.Context,
    requisition: Annotated[str, typer.Option("--requisition", help="Requisition id (REQ-...).")],
    ped: Annotated[
        Path | None,
        typer.Option(help="PED file naming the family's sample ids (default: the trio order)."),
    ] = None,
    hpo: Annotated[
        list[str] | None,
        typer.Option("--hpo", help="An HPO term of the proband (repeat; default: the order's)."),
    ] = None,
    panel: Annotated[
        str | None, typer.Option(help="Panel name (default: the indication's panel).")
    ] = None,
) -> None:
    """Open the interpretation case of a requisition (the department's clinician/geneticist)."""
    state = _state(ctx)
    ped_text = None
    if ped is not None:
        try:
            ped_text = ped.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read PED file {ped}: {exc.strerror}") from None
    record = state.platform().cases.create(
        state.context(), requisition, ped_text=ped_text, hpo_terms=hpo or (), panel=panel
    )
    members = ", ".join(f"{m.relationship} {m.sample_id}" for m in record.family)
    out.print(f"{record.case_id}")
    err.print(
        f"case {record.case_id}: {members}; panel {record.panel_name or 'none'}; "
        f"{len(record.hpo_terms)} HPO term(s)"
    )


@case_app.command("list")
def case_list(ctx: typer.Context) -> None:
    """The cases of your department."""
    state = _state(ctx)
    records = state.platform().cases.list_cases(state.context())
    table = Table("case", "requisition", "proband", "family", "panel", "status", title="Cases")
    for r in records:
        table.add_row(
            r.case_id,
            r.requisition_id,
            r.proband_sample_id,
            str(len(r.family)),
            escape(r.panel_name or ""),
            r.status,
        )
    out.print(table)


def _candidate_table(title: str, rows: Sequence[Mapping[str, Any]], limit: int) -> Table:
    table = Table(
        "#",
        "variant",
        "gene",
        "change",
        "zyg",
        "inheritance",
        "class",
        "criteria",
        "max AF",
        "HPO",
        title=title,
    )
    for c in rows[:limit]:
        freqs = [v for v in c.get("frequencies", {}).values() if v is not None]
        modes = ", ".join(f"{m['mode']} ({m['certainty']})" for m in c.get("modes", []))
        table.add_row(
            str(c["rank"]),
            escape(c["variant_id"]),
            escape(str(c.get("gene") or "")),
            escape(str(c.get("hgvs_p") or c.get("hgvs_c") or ",".join(c.get("consequences", [])))),
            escape(c["zygosity"]),
            escape(modes),
            escape(c["classification"]),
            escape(" ".join(c.get("criteria", []))),
            f"{max(freqs):.2g}" if freqs else "absent",
            f"{c.get('phenotype_score', 0):.2f}",
        )
    return table


@case_app.command("analyse")
def case_analyse(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE")],
    max_af: Annotated[float, typer.Option(help="Highest allele frequency kept.")] = 0.01,
    include_amber: Annotated[bool, typer.Option(help="Amber panel genes too.")] = False,
    latest_panel: Annotated[
        bool, typer.Option(help="Move to the newest panel version (else the locked one).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="Candidates shown.")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Analyse the case: filters, inheritance, ACMG evidence, phenotype ranking (geneticist)."""
    from helgenom.services.cases import AnalysisSettings

    state = _state(ctx)
    settings = AnalysisSettings(max_af=max_af, green_only=not include_amber)
    with err.status("analysing") as status:
        record = state.platform().cases.analyse(
            state.context(),
            case,
            settings=settings,
            latest_panel=latest_panel,
            progress=lambda text: status.update(text),
        )
    _print_analysis(record, fmt, limit)


FILTER_ORDER = ("input", "quality", "frequency", "consequence", "panel", "inheritance")


def _filter_steps(counts: Mapping[str, int]) -> str:
    """The filter counts in the order the analysis applies them."""
    names = [k for k in FILTER_ORDER if k in counts] + sorted(set(counts) - set(FILTER_ORDER))
    return " -> ".join(f"{k} {counts[k]:,}" for k in names)


def _print_analysis(record: Any, fmt: str, limit: int) -> None:
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "analysis_id": record.analysis_id,
                    "versions": record.versions,
                    "summary": record.summary,
                    "candidates": list(record.candidates),
                    "secondary_findings": list(record.secondary_findings),
                },
                indent=2,
                default=str,
            )
        )
        return
    if fmt != "table":
        raise InvalidInputError(f"unknown format {fmt!r}: table or json")
    steps = _filter_steps(record.summary.get("counts", {}))
    out.print(
        f"analysis {record.analysis_id} of {record.case_id} ({record.reason}): "
        f"panel {record.versions['panel']['name']} v{record.versions['panel']['version']}, "
        f"ClinVar v{record.versions.get('clinvar')}, commit {record.versions['variant_commit']}"
    )
    fraction = record.summary.get("unexplained_fraction")
    if fraction is not None:
        out.print(
            f"parents: {record.summary['unexplained_by_parents']:,} of "
            f"{record.summary['parents_called']:,} proband variants unexplained "
            f"({fraction:.2%}); parentage "
            + ("confirmed" if record.summary["parentage_confirmed"] else "NOT confirmed")
        )
    out.print(f"filters: {escape(steps)}")
    out.print(_candidate_table(f"Candidates of {record.case_id}", record.candidates, limit))
    if record.secondary_findings:
        out.print(_candidate_table("Secondary findings", record.secondary_findings, limit))
    elif not record.summary.get("secondary_findings_screened"):
        out.print("secondary findings: not screened (the patient's consent does not ask for them)")


@case_app.command("candidates")
def case_candidates(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE")],
    limit: Annotated[int, typer.Option(min=1, help="Candidates shown.")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """The ranked candidates of the latest analysis."""
    state = _state(ctx)
    record, analysis = state.platform().cases.show(state.context(), case)
    if analysis is None:
        raise InvalidInputError(f"case {case} has not been analysed: run helgenom case analyse")
    _print_analysis(analysis, fmt, limit)
    del record


@case_app.command("classify")
def case_classify(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE")],
    variant: Annotated[str, typer.Argument(metavar="VARIANT")],
    criterion: Annotated[str, typer.Argument(metavar="CRITERION", help="e.g. PS3, PM2.")],
    justification: Annotated[str, typer.Option(help="Why (kept and audited).")],
    action: Annotated[str, typer.Option(help="add, remove or change_strength.")] = "add",
    strength: Annotated[
        str | None, typer.Option(help="very_strong, strong, moderate, supporting.")
    ] = None,
) -> None:
    """Add, remove or re-weight an ACMG criterion of a candidate (geneticist; audited)."""
    state = _state(ctx)
    result = state.platform().cases.classify(
        state.context(),
        case,
        variant,
        criterion,
        action=action,
        strength=strength,
        justification=justification,
    )
    out.print(
        f"{escape(variant)}: {escape(' '.join(result['criteria']))} -> "
        f"{result['classification']} ({escape(result['rule'])})"
    )


@case_app.command("sign")
def case_sign(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE")],
    conclusion: Annotated[str | None, typer.Option(help="Conclusion text.")] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", help="A variant to report (repeat).")
    ] = None,
) -> None:
    """Sign the report (a second geneticist's signature issues it when so configured)."""
    state = _state(ctx)
    report = state.platform().cases.sign(
        state.context(), case, conclusion=conclusion, variants=variant
    )
    if report.status != "final":
        out.print(f"report {report.report_id} signed; awaiting a second geneticist's signature")
        return
    out.print(
        f"report {report.report_id} v{report.version} issued ({report.overall}); digest "
        f"{report.digest}; get it with helgenom case report {case} -o FILE.pdf"
    )


@case_app.command("report")
def case_report(
    ctx: typer.Context,
    case: Annotated[str, typer.Argument(metavar="CASE")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="pdf, html or fhir.")] = "pdf",
    version: Annotated[int | None, typer.Option(help="Report version (default: latest).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write an issued report (the requesting department; every view audited)."""
    state = _state(ctx)
    report = state.platform().cases.report(
        state.context(), case, output, fmt=fmt, version=version, force=force
    )
    out.print(f"report {report.report_id} v{report.version} ({fmt}) written to {output}")


@case_app.command("reanalyse")
def case_reanalyse(
    ctx: typer.Context,
    case: Annotated[str | None, typer.Argument(metavar="[CASE]")] = None,
) -> None:
    """Re-run signed cases whose panel, ClinVar or population versions changed."""
    state = _state(ctx)
    with err.status("re-analysing") as status:
        result = state.platform().cases.reanalyse(
            state.context(), case_id=case, progress=lambda text: status.update(text)
        )
    out.print(
        f"{len(result.analysed)} case(s) re-analysed, {len(result.unchanged_versions)} already "
        f"on the current versions, {len(result.changed)} changed"
    )
    by_department: dict[str, list[Any]] = {}
    for change in result.changed:
        by_department.setdefault(change.department, []).append(change)
    for department, changes in sorted(by_department.items()):
        table = Table("case", "changes", "recontact", title=f"Department {department}")
        for c in changes:
            table.add_row(
                c.case_id,
                escape("\n".join(c.changes)),
                "yes" if c.recontact else "[red]declined: do not contact[/]",
            )
        out.print(table)


__all__ = ["annotation_app", "case_app", "panel_app"]
