"""``helgenom htsget register|list``: which stored objects the API serves over htsget."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from helgenom.cli.main import _state, err, out
from helgenom.services.htsget import ENDPOINT_FORMATS, EXTENSIONS, HtsgetRecord

htsget_app: typer.Typer = typer.Typer(
    help="GA4GH htsget: serve stored BAM, CRAM, VCF.gz and BCF objects by name.",
    no_args_is_help=True,
)


def _ids(record: HtsgetRecord) -> str:
    """The paths a client asks for the object by, e.g. ``reads/S1 (reads/S1.cram)``."""
    endpoint = next(e for e, formats in ENDPOINT_FORMATS.items() if record.format in formats)
    extension = next(x for x, f in EXTENSIONS.items() if f is record.format)
    return f"{endpoint}/{record.name} ({endpoint}/{record.name}{extension})"


@htsget_app.command("register")
def htsget_register(
    ctx: typer.Context,
    object_id: Annotated[
        str, typer.Argument(metavar="OBJECT_ID", help="The BAM, CRAM, VCF.gz or BCF object.")
    ],
    index: Annotated[
        str,
        typer.Option(
            "--index", metavar="INDEX_OBJECT_ID", help="Its index object (bai, crai, tbi, csi)."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(help="The htsget id clients ask for (default: the object id)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(help="Take the name over from another object of the same sample."),
    ] = False,
) -> None:
    """Serve a stored object over htsget; prints its htsget id and format (operator)."""
    state = _state(ctx)
    record = state.platform().htsget.register(
        state.context(), object_id, index_object_id=index, name=name, replace=replace
    )
    out.print(f"{escape(record.name)} {record.format.value}")
    err.print(f"[dim]served as {escape(_ids(record))}[/]", soft_wrap=True)


@htsget_app.command("list")
def htsget_list(
    ctx: typer.Context,
    sample: Annotated[str | None, typer.Option(help="Only this sample's objects.")] = None,
) -> None:
    """Objects served over htsget (operator)."""
    state = _state(ctx)
    records = state.platform().htsget.list(state.context(), sample_id=sample)
    table = Table(title="htsget")
    for column in ("name", "format", "object", "index", "sample", "registered"):
        # ids are what an operator copies: fold them on a narrow terminal, never cut them
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            escape(r.name),
            r.format.value,
            r.object_id,
            r.index_object_id or "-",
            r.sample_id,
            r.registered_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)
    if not records:
        err.print("[dim]nothing registered: helgenom htsget register OBJECT_ID --index ID[/]")


__all__ = ["htsget_app"]
