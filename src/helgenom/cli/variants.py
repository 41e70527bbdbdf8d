"""``helgenom variants ...``: the national genome database (one service call per command)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from helgenom.cli.main import CprOption, _state, err, out
from helgenom.services import InvalidInputError
from helgenom.services.variants import (
    BatchItem,
    FrequencySet,
    QueryScope,
    parse_batch_list,
)

variants_app = typer.Typer(
    help="The national genome database: ingest, frequencies, lookups, releases.",
    no_args_is_help=True,
)

FORMATS = ("table", "json", "tsv")
FormatOption = Annotated[
    str, typer.Option("--format", help="table (Rich), json or tsv (for scripts).")
]
ReleaseOption = Annotated[
    str | None, typer.Option(help="Query this named release instead of the current data.")
]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}: choose table, json or tsv")


def _scope_text(scope: QueryScope) -> str:
    where = (
        f"release {scope.release} (commit {scope.commit_seq})"
        if scope.release
        else (f"commit {scope.commit_seq}")
    )
    if scope.frequency_set is None:
        return where
    return (
        f"{where}; {scope.frequency_set.value} set: {scope.samples_counted:,} samples counted, "
        f"{scope.samples_excluded:,} excluded by consent (as of "
        f"{scope.consent_as_of or 'no consent event'}); {scope.method}"
    )


def _emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    title: str,
    scope: QueryScope,
) -> None:
    """Print rows as a Rich table (scope as caption), JSON (with the scope) or TSV."""
    if fmt == "json":
        document = {
            "scope": {
                "commit": scope.commit_seq,
                "release": scope.release,
                "set": None if scope.frequency_set is None else scope.frequency_set.value,
                "samples_counted": scope.samples_counted,
                "samples_excluded": scope.samples_excluded,
                "consent_as_of": scope.consent_as_of,
                "method": scope.method or None,
            },
            "rows": [{c: r.get(c) for c in columns} for r in rows],
        }
        typer.echo(json.dumps(document, indent=2, sort_keys=False))
        return
    if fmt == "tsv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=title, caption=escape(_scope_text(scope)))
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in rows:
        cells = []
        for c in columns:
            value = r.get(c)
            if isinstance(value, float):
                cells.append(f"{value:.6g}")
            else:
                cells.append("" if value is None else escape(str(value)))
        table.add_row(*cells)
    out.print(table)


VARIANT_COLUMNS = (
    "variant_id",
    "variant_contig",
    "variant_pos",
    "variant_ref",
    "variant_alt",
    "variant_type",
)


@variants_app.command("ingest")
def variants_ingest(
    ctx: typer.Context,
    sample: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id (S-...).")],
    file: Annotated[
        Path | None, typer.Argument(metavar="[FILE]", help="VCF or gVCF (plain or bgzip).")
    ] = None,
    object_id: Annotated[
        str | None, typer.Option("--object", help="A stored VCF/gVCF object of the sample.")
    ] = None,
    vcf_sample: Annotated[
        str | None,
        typer.Option(help="Name of the file's sample column, when it is not the sample id."),
    ] = None,
    build: Annotated[
        str | None, typer.Option(help="Reference build (default: the only one).")
    ] = None,
) -> None:
    """Validate, normalise and add one sample's calls in one atomic commit (operator)."""
    state = _state(ctx)
    outcome = state.platform().variants.ingest(
        state.context(), sample, path=file, object_id=object_id, vcf_sample=vcf_sample, build=build
    )
    if outcome.status == "unchanged":
        out.print(
            f"{outcome.ingest_id}: {sample} was ingested from this file before; nothing changed"
        )
        return
    out.print(
        f"{outcome.ingest_id}: {sample} committed (commit {outcome.commit_seq}): "
        f"{outcome.calls:,} calls, {outcome.ref_blocks:,} reference blocks, "
        f"{outcome.variants_new:,} new sites"
    )


@variants_app.command("ingest-batch")
def variants_ingest_batch(
    ctx: typer.Context,
    file_list: Annotated[
        Path,
        typer.Argument(
            metavar="FILE_LIST", help="Lines of SAMPLE_ID<TAB>FILE (or object:ID)[<TAB>VCF_SAMPLE]."
        ),
    ],
    workers: Annotated[int, typer.Option(min=0, help="Parsing processes (0: in process).")] = 2,
    group_size: Annotated[int, typer.Option(min=1, help="Samples per commit.")] = 200,
    build: Annotated[
        str | None, typer.Option(help="Reference build (default: the only one).")
    ] = None,
) -> None:
    """Ingest many samples; re-running after an interruption skips what was committed."""
    state = _state(ctx)
    items: list[BatchItem] = parse_batch_list(file_list)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("ingesting", total=len(items))
        outcome = state.platform().variants.ingest_batch(
            state.context(),
            items,
            workers=workers,
            group_size=group_size,
            build=build,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table("", "samples", title=f"Batch ingest of {file_list.name}")
    table.add_row("committed", f"{len(outcome.committed):,} in {outcome.commits} commit(s)")
    table.add_row("unchanged (ingested before)", f"{len(outcome.unchanged):,}")
    table.add_row("rejected", f"{len(outcome.failed):,}")
    out.print(table)
    for sample_id, message in outcome.failed:
        err.print(f"[red]{escape(sample_id)}[/]: {escape(message)}")
    if outcome.failed:
        raise typer.Exit(2)


@variants_app.command("lookup")
def variants_lookup(
    ctx: typer.Context,
    variants: Annotated[
        list[str], typer.Argument(metavar="VARIANT...", help="CONTIG-POS-REF-ALT ids.")
    ],
    release: ReleaseOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Whether the database holds these variants."""
    _check_format(fmt)
    state = _state(ctx)
    report = state.platform().variants.lookup(state.context(), variants, release=release)
    _emit(report.rows, VARIANT_COLUMNS, fmt, title="Variants", scope=report.scope)


@variants_app.command("region")
def variants_region(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(metavar="REGION", help="CONTIG:START-END (1-based).")],
    release: ReleaseOption = None,
    fmt: FormatOption = "table",
) -> None:
    """The variants in a region."""
    _check_format(fmt)
    state = _state(ctx)
    report = state.platform().variants.region(state.context(), region, release=release)
    _emit(report.rows, VARIANT_COLUMNS, fmt, title=f"Variants in {region}", scope=report.scope)


@variants_app.command("frequency")
def variants_frequency(
    ctx: typer.Context,
    variants: Annotated[
        list[str] | None, typer.Argument(metavar="[VARIANT...]", help="CONTIG-POS-REF-ALT ids.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="CONTIG:START-END instead of ids.")] = None,
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            help="Which persons count: clinical (all), research or public (no opt-outs).",
        ),
    ] = FrequencySet.RESEARCH.value,
    by: Annotated[
        str, typer.Option(help="Groups, comma-separated: overall, sex, region.")
    ] = "overall,sex,region",
    release: ReleaseOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Allele count, number and frequency, homozygotes and hemizygotes."""
    _check_format(fmt)
    state = _state(ctx)
    report = state.platform().variants.frequency(
        state.context(),
        variant_ids=variants or None,
        region=region,
        frequency_set=purpose,
        by=[b.strip() for b in by.split(",") if b.strip()],
        release=release,
    )
    _emit(
        report.rows,
        ("variant_id", "group", "group_value", "ac", "an", "af", "hom", "hemi", "n_samples"),
        fmt,
        title=f"Allele frequencies ({report.scope.frequency_set})",
        scope=report.scope,
    )


@variants_app.command("carriers")
def variants_carriers(
    ctx: typer.Context,
    variant: Annotated[str, typer.Argument(metavar="VARIANT", help="CONTIG-POS-REF-ALT.")],
    project: Annotated[str | None, typer.Option(help="Project code (researchers).")] = None,
    release: ReleaseOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Carriers of a variant that you may see (geneticists: own department; researchers:
    consenting persons of the project, pseudonymised). Audited person by person."""
    _check_format(fmt)
    state = _state(ctx)
    report = state.platform().variants.carriers(state.context(project), variant, release=release)
    rows = [
        {"carrier": c.label, "genotype": c.call_gt, "gq": c.call_gq, "dp": c.call_dp}
        for c in report.carriers
    ]
    _emit(
        rows,
        ("carrier", "genotype", "gq", "dp"),
        fmt,
        title=f"Carriers of {report.variant_id} ({report.not_shown} more not shown to you)",
        scope=report.scope,
    )


@variants_app.command("genotypes")
def variants_genotypes(
    ctx: typer.Context,
    sample: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id.")],
    sites: Annotated[list[str], typer.Argument(metavar="VARIANT...", help="Sites asked about.")],
    release: ReleaseOption = None,
    fmt: FormatOption = "table",
) -> None:
    """A sample's genotypes: hom_ref (proven by a reference block) is not no_call."""
    _check_format(fmt)
    state = _state(ctx)
    report = state.platform().variants.genotypes(state.context(), sample, sites, release=release)
    _emit(
        report.genotypes,
        ("variant_id", "state", "call_gt", "gq", "dp"),
        fmt,
        title=f"Genotypes of {sample}",
        scope=report.scope,
    )


@variants_app.command("release")
def variants_release(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Release name (e.g. 2026-11).")],
    note: Annotated[str, typer.Option(help="What the release is for.")] = "",
) -> None:
    """Name the current data so a study can query exactly it again (steward)."""
    state = _state(ctx)
    record = state.platform().variants.release(state.context(), name, note=note)
    out.print(f"release {record.name} = commit {record.commit_seq} ({record.samples:,} samples)")


@variants_app.command("releases")
def variants_releases(ctx: typer.Context) -> None:
    """The named releases."""
    state = _state(ctx)
    table = Table("name", "commit", "samples", "created (UTC)", "by", "note", title="Releases")
    for r in state.platform().variants.releases(state.context()):
        table.add_row(
            r.name,
            str(r.commit_seq),
            f"{r.samples:,}",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.created_by,
            escape(r.note),
        )
    out.print(table)


@variants_app.command("withdraw")
def variants_withdraw(
    ctx: typer.Context,
    cpr: CprOption,
    use: Annotated[
        str, typer.Option("--from", help="What to withdraw from: research.")
    ] = "research",
) -> None:
    """Withdraw a person from research use and research/public frequencies (audited)."""
    state = _state(ctx)
    count = state.platform().variants.withdraw(state.context(), cpr, use=use)
    out.print(
        f"withdrawn from {use} use: {count} sample(s) leave research queries and the "
        "research and public frequencies from the next query on"
    )
