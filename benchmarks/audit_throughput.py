"""Audit log throughput: chained appends and verification, on SQLite and PostgreSQL.

For each backend a scratch instance is created (SQLite in a temporary folder; PostgreSQL
in a fresh database that is dropped afterwards), then:

* ``append`` - N entries through :meth:`SqlAuditLog.append`, ``--batch`` entries per
  transaction (default 1: one transaction per entry, as the gate does);
* ``verify`` - :meth:`SqlAuditLog.verify` over the whole chain;
* ``append`` again with ``--batched`` entries per transaction (default 100), then a
  second ``verify`` of the longer chain;
* ``gate.access`` - the real gated path (policy facts, decision, savepoint, audit
  entry) for ``--gate-calls`` allowed and as many denied calls, to show the per-call
  overhead a service pays.

Run from the project root with the project's virtualenv::

    python benchmarks/audit_throughput.py --entries 100000 --backend both
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from helgenom.adapters.audit import AuditDraft
from helgenom.core.access import Action
from helgenom.core.errors import PermissionDeniedError
from helgenom.core.models import Role
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PATIENT_CPR = "010170-0002"  # synthetic

out = Console()
err = Console(stderr=True)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    backend: str
    mode: str
    entries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else float("inf")


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``admin_url``; dropped afterwards."""
    name = f"helgenom_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_platform(backend: str, postgres_url: str) -> Iterator[Platform]:
    """A new instance with two departments, two clinicians and one patient."""
    with tempfile.TemporaryDirectory(prefix="helgenom-bench-") as tmp:
        home = Path(tmp) / "instance"
        if backend == "sqlite":
            init_instance(home)
            with open_platform(str(home)) as platform:
                _populate(platform)
                yield platform
        else:
            with scratch_postgres(postgres_url) as url:
                init_instance(home, database_url=url)
                with open_platform(str(home)) as platform:
                    _populate(platform)
                    yield platform


def _populate(platform: Platform) -> None:
    admin = platform.context()
    platform.directory.add_org(admin, "DEP-A", "Department A")
    platform.directory.add_org(admin, "DEP-B", "Department B")
    platform.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
    platform.directory.add_user(admin, "clin-b", Role.CLINICIAN, "DEP-B")
    platform.requisitions.create(platform.context("clin-a"), PATIENT_CPR, indication="R59")


def drafts(count: int) -> Iterator[AuditDraft]:
    """Entries shaped like a clinician's reads (one subject each)."""
    people = [f"hp-{secrets.token_hex(13)}" for _ in range(1000)]
    for i in range(count):
        person = people[i % len(people)]
        yield AuditDraft(
            actor="clin-a",
            role="clinician",
            org="DEP-A",
            purpose="clinical_care",
            action="person.read",
            resource=f"person/{person}",
            subjects=(person,),
            decision="allow",
            reason="requisition from department DEP-A",
        )


def bench_append(platform: Platform, backend: str, count: int, batch: int) -> Row:
    """Append ``count`` entries, ``batch`` per transaction."""
    audit_log = platform.gate.audit_log
    pending: list[AuditDraft] = []
    done = 0
    with progress_bar() as progress:
        task = progress.add_task(f"{backend}: append {batch}/txn", total=count, rate="")
        started = time.perf_counter()
        for draft in drafts(count):
            pending.append(draft)
            if len(pending) == batch:
                with platform.catalog.begin() as conn:
                    audit_log.append(conn, pending)
                done += len(pending)
                pending = []
                if done % 500 < batch:
                    rate = done / (time.perf_counter() - started)
                    progress.update(task, completed=done, rate=f"{rate:,.0f}/s")
        if pending:
            with platform.catalog.begin() as conn:
                audit_log.append(conn, pending)
            done += len(pending)
        seconds = time.perf_counter() - started
        progress.update(task, completed=done, rate=f"{done / seconds:,.0f}/s")
    return Row(backend, f"append ({batch}/txn)", count, seconds)


def bench_verify(platform: Platform, backend: str) -> Row:
    """Verify the whole chain; fails loudly if it is not intact."""
    with err.status(f"{backend}: verifying the chain"):
        started = time.perf_counter()
        result = platform.gate.audit_log.verify()
        seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"{backend}: chain broken at {result.first_bad_seq}: {result.problem}")
    return Row(backend, "verify", result.count, seconds)


def bench_gate(platform: Platform, backend: str, count: int, *, allowed: bool) -> Row:
    """``count`` real gated accesses to one person's record, allowed or denied."""
    ctx = platform.context("clin-a" if allowed else "clin-b")
    person = platform.persons.register(platform.context("clin-a"), PATIENT_CPR).pseudonym
    gate = platform.gate
    label = "allow" if allowed else "deny"
    with progress_bar() as progress:
        task = progress.add_task(f"{backend}: gate.access {label}", total=count, rate="")
        started = time.perf_counter()
        for i in range(count):
            try:
                with gate.access(
                    ctx, Action.PERSON_READ, resource=f"person/{person}", person=person
                ):
                    pass
            except PermissionDeniedError:
                if allowed:
                    raise
            if i % 100 == 99:
                progress.update(task, completed=i + 1)
        seconds = time.perf_counter() - started
        progress.update(task, completed=count, rate=f"{count / seconds:,.0f}/s")
    return Row(backend, f"gate.access ({label})", count, seconds)


def run_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with scratch_platform(backend, args.postgres_url) as platform:
        rows.append(bench_append(platform, backend, args.entries, args.batch))
        rows.append(bench_verify(platform, backend))
        if args.batched and args.batched != args.batch:
            rows.append(bench_append(platform, backend, args.entries, args.batched))
            rows.append(bench_verify(platform, backend))
        if args.gate_calls:
            rows.append(bench_gate(platform, backend, args.gate_calls, allowed=True))
            rows.append(bench_gate(platform, backend, args.gate_calls, allowed=False))
        rows.append(bench_verify(platform, backend))
    return rows


def render(rows: list[Row], args: argparse.Namespace) -> Table:
    table = Table(title=f"helgenom audit log throughput ({args.entries:,} entries per append run)")
    for column in ("backend", "mode", "entries", "seconds", "entries/s", "µs/entry"):
        table.add_column(column, justify="left" if column in ("backend", "mode") else "right")
    for row in rows:
        table.add_row(
            row.backend,
            row.mode,
            f"{row.entries:,}",
            f"{row.seconds:,.2f}",
            f"{row.rate:,.0f}",
            f"{1e6 * row.seconds / row.entries:,.0f}",
        )
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries per append run")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="catalog"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="server (and maintenance database) where a scratch database is created",
    )
    parser.add_argument("--batch", type=int, default=1, help="entries per transaction")
    parser.add_argument(
        "--batched",
        type=int,
        default=100,
        help="entries per transaction of the second, batched run (0: skip it)",
    )
    parser.add_argument(
        "--gate-calls",
        type=int,
        default=2_000,
        help="allowed and denied gate.access calls each (0: skip)",
    )
    args = parser.parse_args(argv)
    if args.entries < 1 or args.batch < 1 or args.batched < 0 or args.gate_calls < 0:
        parser.error("--entries and --batch must be positive; --batched, --gate-calls >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows: list[Row] = []
    for backend in backends:
        rows.extend(run_backend(backend, args))
    out.print(render(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
