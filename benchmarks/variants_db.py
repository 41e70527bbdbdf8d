"""Genome database: ingest against bcftools, query latency, frequency recompute, storage.

Simulates an msprime cohort (``--samples`` single-sample VCFs of ``--length`` bases,
:func:`~helgenom.adapters.variants.cohort.simulate_cohort`), then measures

* ingest of the plain VCFs (the main figure: records are the files' data lines; a
  plain single-sample VCF holds the sample's non-reference genotypes only):
  ``bcftools view -Ou -o /dev/null FILE`` over every file, sequentially from one shell
  script and with ``xargs -P``; helgenom at adapter level (``read_sample_vcf`` of
  every file in a ``ProcessPoolExecutor`` of 1, 2, ... workers, then
  ``VariantTables.append`` per group of ``--group-size`` samples in the main process
  while the workers parse the next group, as the service does: with 1 worker up to two
  CPUs are busy, the ``CPU s`` column gives the total); and the full service
  (``VariantService.ingest_batch`` on a scratch instance: checksums, catalog, audit,
  incremental counts, commits). The goal: the adapter-level ingest with 1 worker takes
  at most 2x as long as the sequential bcftools loop;
* the same cohort as gVCFs (reference blocks, a few coverage gaps; ``--no-gvcf`` skips
  it): bcftools and helgenom ingest again, and the tables the query figures use;
* ``lookup`` (one random existing variant id per query) and ``region`` (a random 10 kb
  window) latency, p50 and p99 over ``--queries`` queries, on DuckDB and on Spark
  (``local[2]``, ``--no-spark`` skips it), after one untimed warm-up query each;
* a full frequency recompute (every variant, every sample) against
  ``bcftools +fill-tags -- -t AC,AN,AF`` on the merged VCF, whose AC/AN it must
  equal; the incremental ``FrequencyCounts.update_counts`` of the last group against
  the first count of all the others, and ``frequencies_from_counts``;
* bytes stored (the Delta folders) per genome, extrapolated to 100,000 genomes with
  the assumptions printed next to the figures.

Everything runs on a warm page cache (the inputs were just written). Each row shows the
CPU seconds of the benchmark and its waited-for children, and ``other load``: CPUs
the rest of the machine used meanwhile (from /proc/stat; the Spark JVM counts as
"other", it is not a waited-for child). Exit status 1 when the ingest goal is missed
or a result disagrees with bcftools.

Run from the project root with the project's virtualenv::

    python benchmarks/variants_db.py                                  # 2,000 samples, 1 Mb
    python benchmarks/variants_db.py --samples 200 --length 200000 --no-spark --keep
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from helgenom.adapters.variants.cohort import Cohort, simulate_cohort
from helgenom.adapters.variants.duckdb_engine import DuckDbEngine
from helgenom.adapters.variants.engine import FrequencyCounts, VariantEngine
from helgenom.adapters.variants.schema import SAMPLES
from helgenom.adapters.variants.tables import Snapshot, VariantTables
from helgenom.adapters.variants.vcfin import IngestBatch, read_sample_vcf

ROOT = Path(__file__).resolve().parents[1]
BCFTOOLS = "/usr/bin/bcftools"
GOAL = 2.0
"""helgenom adapter-level ingest (1 worker) / sequential bcftools view must not exceed this."""
WINDOW = 10_000
"""Bases of a region query."""
REGIONS = ("DK-84", "DK-85")
"""Regions of the simulated persons (alternating)."""
TARGET_GENOMES = 100_000
REAL_VARIANTS_PER_GENOME = 4_500_000
"""A real 30x WGS has 4-5 M variant sites (non-reference genotypes) per genome."""
REAL_GENOME_BASES = 3_100_000_000
REAL_SITES_100K = 800_000_000
"""Assumed distinct sites in 100,000 real genomes (gnomAD v3.1 lists about 760 M short
variants in 76,156 mixed-ancestry genomes)."""
TABLE_FOLDERS = ("variants", "calls", "ref_blocks", "counts", "counted_samples")

out = Console() if sys.stdout.isatty() else Console(width=170)
err = Console(stderr=True)


# =========================================================================================
# Timing
# =========================================================================================


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (/proc/stat; 0 if unavailable)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Timed:
    """Wall seconds, own CPU seconds and other load of a ``with`` block."""

    wall: float = 0.0
    cpu: float = 0.0
    other: float = 0.0
    _t0: float = 0.0
    _busy0: float = 0.0
    _cpu0: float = 0.0

    def __enter__(self) -> Timed:
        self._busy0, self._cpu0 = _machine_busy(), _own_cpu()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = _own_cpu() - self._cpu0
        busy = _machine_busy() - self._busy0
        self.other = max(0.0, (busy - self.cpu) / self.wall) if self.wall > 0 else 0.0


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A transient progress bar on stderr; yields ``advance(n)``."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


# =========================================================================================
# Results
# =========================================================================================


@dataclass
class IngestRow:
    """One contender of the ingest table."""

    name: str
    files: int
    records: int
    timed: Timed
    note: str = ""
    base: Timed | None = None
    """The sequential bcftools run of the same files (the ratio's denominator)."""
    base_parallel: Timed | None = None
    """The parallel bcftools run of the same files."""


@dataclass
class AdapterRun:
    """A helgenom adapter-level ingest."""

    tables: VariantTables
    snapshots: list[Snapshot]
    """The snapshot after each group."""
    groups: list[list[str]]
    """The sample ids of each group."""
    records: int
    calls: int
    blocks: int
    parse: float
    """Wall seconds waiting for the parsed groups."""
    append: float
    """Wall seconds of VariantTables.append."""
    timed: Timed
    records_by_sample: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """What the run found (goals and checks)."""

    lines: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append((ok, text))


# =========================================================================================
# bcftools
# =========================================================================================


def bcftools_loop(files: Sequence[Path], script: Path) -> Timed:
    """``bcftools view -Ou -o /dev/null FILE`` for every file, from one shell script."""
    script.write_text(
        "set -e\n"
        + "".join(f"{BCFTOOLS} view -Ou -o /dev/null {shlex.quote(str(f))}\n" for f in files),
        encoding="utf-8",
    )
    with Timed() as timed:
        subprocess.run(["bash", str(script)], check=True)
    return timed


def bcftools_xargs(files: Sequence[Path], listing: Path, parallel: int) -> Timed:
    """The same with ``xargs -P parallel``."""
    listing.write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
    command = (
        f"xargs -P {parallel} -n 1 {BCFTOOLS} view -Ou -o /dev/null < {shlex.quote(str(listing))}"
    )
    with Timed() as timed:
        subprocess.run(["bash", "-c", command], check=True)
    return timed


def fill_tags_counts(merged: Path) -> dict[str, tuple[int, int]]:
    """AC and AN per ALT from ``bcftools +fill-tags -- -t AC,AN`` (not timed)."""
    script = (
        f"set -euo pipefail; {BCFTOOLS} +fill-tags {shlex.quote(str(merged))} -Ou -- -t AC,AN"
        f" | {BCFTOOLS} query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%AC\\t%AN\\n'"
    )
    text = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True).stdout
    counts: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        chrom, pos, ref, alts, acs, an = line.split("\t")
        for alt, ac in zip(alts.split(","), acs.split(","), strict=True):
            counts[f"{chrom}-{pos}-{ref}-{alt}"] = (int(ac), int(an))
    return counts


# =========================================================================================
# helgenom ingest
# =========================================================================================


def _read(arguments: dict[str, Any]) -> IngestBatch:
    return read_sample_vcf(**arguments)


def ingest_adapters(
    cohort: Cohort, root: Path, *, workers: int, group_size: int, label: str
) -> AdapterRun:
    """read_sample_vcf in a process pool, VariantTables.append per group."""
    tables = VariantTables.create(root / "db")
    work = root / "work"
    arguments = [
        {
            "path": str(path),
            "sample_name": name,
            "reference_fasta": str(cohort.reference_fasta),
            "contigs": cohort.contigs,
            "ingest_id": f"ING-{i:06d}",
            "sample_id": name,
            "workdir": str(work),
        }
        for i, (name, path) in enumerate(zip(cohort.samples, cohort.sample_vcfs, strict=True))
    ]
    run = AdapterRun(tables, [], [], 0, 0, 0, 0.0, 0.0, Timed())
    with (
        progress_bar(label, len(arguments)) as advance,
        Timed() as timed,
        cf.ProcessPoolExecutor(max_workers=workers) as pool,
    ):
        starts = range(0, len(arguments), group_size)
        pending = [pool.submit(_read, a) for a in arguments[:group_size]]
        for start in starts:
            chunk = arguments[start : start + group_size]
            t0 = time.perf_counter()
            batches = [future.result() for future in pending]
            t1 = time.perf_counter()
            # as the service does: the workers parse the next group while this one commits
            upcoming = arguments[start + group_size : start + 2 * group_size]
            pending = [pool.submit(_read, a) for a in upcoming]
            snapshot = tables.append(
                pa.concat_tables([b.variants for b in batches]),
                pa.concat_tables([b.calls for b in batches]),
                pa.concat_tables([b.ref_blocks for b in batches]),
            )
            run.append += time.perf_counter() - t1
            run.parse += t1 - t0
            run.snapshots.append(snapshot)
            run.groups.append([b.sample_id for b in batches])
            for b in batches:
                run.records += b.records
                run.calls += b.calls.num_rows
                run.blocks += b.ref_blocks.num_rows
                run.records_by_sample[b.sample_id] = b.records
            advance(len(chunk))
    run.timed = timed
    return run


def one_large_file(folder: Path, bases: int, seed: int) -> list[IngestRow]:
    """bcftools view -Ou and read_sample_vcf of one simulated sample of ``bases`` bases.

    The cohort's files are small (hundreds of records), so bcftools' per-file start-up
    dominates its loop; a large file shows the per-record costs.
    """
    err.print(f"one large file ({bases:,} bases) ...")
    cohort = simulate_cohort(folder, samples=1, length=bases, seed=seed + 7)
    path = cohort.sample_vcfs[0]
    with Timed() as tool:
        subprocess.run([BCFTOOLS, "view", "-Ou", "-o", "/dev/null", str(path)], check=True)
    with Timed() as ours:
        batch = read_sample_vcf(
            path,
            sample_name=cohort.samples[0],
            reference_fasta=cohort.reference_fasta,
            contigs=cohort.contigs,
            ingest_id="ING-LARGE",
            sample_id=cohort.samples[0],
            workdir=folder / "work",
        )
    size = _size(path.stat().st_size)
    return [
        IngestRow("one large file: bcftools view -Ou", 1, batch.records, tool, size, tool),
        IngestRow(
            "one large file: helgenom read_sample_vcf",
            1,
            batch.records,
            ours,
            "parse only, in process (no append)",
            tool,
        ),
    ]


def make_cpr(index: int, male: bool) -> str:
    """A synthetic CPR number, different for every index below 14,600."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(index * 7919) % (365 * 40))
    serial = (index * 37) % 4000
    serial = serial - serial % 2 + (1 if male else 0)
    return f"{birth:%d%m%y}-{serial:04d}"


@dataclass
class Registered:
    home: Path
    items: list[Any]
    reference: Timed
    persons: Timed


def register_instance(home: Path, cohort: Cohort, count: int) -> Registered:
    """A scratch instance with the reference loaded and ``count`` persons and samples."""
    from helgenom.core.models import Role, SampleOrigin
    from helgenom.services.instance import init_instance
    from helgenom.services.platform import open_platform
    from helgenom.services.variants import BatchItem

    init_instance(home)
    p = open_platform(str(home))
    try:
        admin = p.context()
        p.directory.add_org(admin, "DEP-A", "Department A")
        p.directory.add_user(admin, "clin", Role.CLINICIAN, "DEP-A")
        p.directory.add_user(admin, "operator", Role.OPERATOR, "platform")
        clinician = p.context("clin")
        with Timed() as reference:
            p.references.load(p.context("operator"), cohort.reference_fasta, build="SIM")
        items = []
        with progress_bar("register persons + samples", count) as advance, Timed() as persons:
            for i in range(count):
                cpr = make_cpr(i, cohort.sexes[i] == "male")
                p.persons.register(clinician, cpr, region=REGIONS[i % 2])
                requisition = p.requisitions.create(clinician, cpr, indication="R59")
                sample_id = p.samples.register(
                    clinician, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition
                )
                items.append(
                    BatchItem(sample_id, path=cohort.sample_vcfs[i], vcf_sample=cohort.samples[i])
                )
                advance(1)
    finally:
        p.close()
    return Registered(home, items, reference, persons)


def ingest_service(registered: Registered, home: Path, *, workers: int, group_size: int) -> Timed:
    """``ingest_batch`` on a copy of the registered instance."""
    from helgenom.services.platform import open_platform

    shutil.copytree(registered.home, home)
    p = open_platform(str(home))
    try:
        operator = p.context("operator")
        items = registered.items
        with progress_bar(f"service ingest_batch, {workers} worker(s)", len(items)) as advance:
            seen = [0]

            def progress(done: int, total: int) -> None:
                advance(done - seen[0])
                seen[0] = done

            with Timed() as timed:
                outcome = p.variants.ingest_batch(
                    operator, items, workers=workers, group_size=group_size, progress=progress
                )
        if outcome.failed:
            raise RuntimeError(f"service ingest rejected files: {outcome.failed[:3]}")
    finally:
        p.close()
    return timed


# =========================================================================================
# Queries
# =========================================================================================


@dataclass
class Latency:
    engine: str
    query: str
    seconds: list[float]
    warmup: float
    other: float
    """Other load (CPUs) while the queries ran."""

    def pct(self, q: float) -> float:
        return float(np.percentile(np.array(self.seconds), q)) * 1000


def query_latency(
    engine: VariantEngine,
    snapshot: Snapshot,
    ids: Sequence[str],
    cohort: Cohort,
    queries: int,
    rng: np.random.Generator,
) -> list[Latency]:
    """p50/p99 of lookup (one random id) and region (a random 10 kb window)."""
    chosen = [str(v) for v in rng.choice(np.array(ids, dtype=object), size=queries)]
    last_start = max(1, cohort.length - WINDOW + 1)
    starts = [int(s) for s in rng.integers(1, last_start + 1, size=queries)]
    results = []
    t0 = time.perf_counter()
    engine.lookup(snapshot, [chosen[0]])
    warm = time.perf_counter() - t0
    seconds = []
    with progress_bar(f"{engine.name} lookup", queries) as advance, Timed() as timed:
        for variant_id in chosen:
            t0 = time.perf_counter()
            found = engine.lookup(snapshot, [variant_id])
            seconds.append(time.perf_counter() - t0)
            if found.num_rows != 1:
                raise RuntimeError(f"lookup of {variant_id} found {found.num_rows} rows")
            advance(1)
    results.append(Latency(engine.name, "lookup (1 id)", seconds, warm, timed.other))
    t0 = time.perf_counter()
    engine.region(snapshot, cohort.contig, starts[0], starts[0] + WINDOW - 1)
    warm = time.perf_counter() - t0
    seconds = []
    with progress_bar(f"{engine.name} region", queries) as advance, Timed() as timed:
        for start in starts:
            t0 = time.perf_counter()
            engine.region(snapshot, cohort.contig, start, start + WINDOW - 1)
            seconds.append(time.perf_counter() - t0)
            advance(1)
    results.append(
        Latency(engine.name, f"region ({WINDOW // 1000} kb)", seconds, warm, timed.other)
    )
    return results


def samples_table(cohort: Cohort) -> pa.Table:
    return pa.table(
        {
            "sample_id": list(cohort.samples),
            "sample_sex": list(cohort.sexes),
            "sample_region": [REGIONS[i % 2] for i in range(len(cohort.samples))],
        },
        schema=SAMPLES,
    )


def overall_counts(frequencies: pa.Table) -> dict[str, tuple[int, int]]:
    return {
        r["variant_id"]: (r["ac"], r["an"])
        for r in frequencies.to_pylist()
        if r["group"] == "overall"
    }


def compare_counts(found: dict[str, tuple[int, int]], tool: dict[str, tuple[int, int]]) -> str:
    """'' when helgenom's AC/AN equal the tool's (see tests/test_variants_validation.py)."""
    unknown = [v for v in found if v not in tool]
    differ = [v for v in found if v in tool and found[v] != tool[v]]
    missing = [v for v, (ac, _an) in tool.items() if ac > 0 and v not in found]
    if unknown or differ or missing:
        return (
            f"{len(differ)} differ (e.g. {differ[:2]}), {len(unknown)} unknown to bcftools, "
            f"{len(missing)} missing"
        )
    return ""


# =========================================================================================
# Storage
# =========================================================================================


def folder_bytes(path: Path) -> tuple[int, int]:
    """(apparent bytes, allocated bytes as du counts them) of every file under ``path``."""
    apparent = allocated = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(base, name))
            apparent += st.st_size
            allocated += st.st_blocks * 512
    return apparent, allocated


def harmonic(n: int) -> float:
    """a_n = sum 1/i for i < n (Watterson), by the asymptotic formula above 10^6 terms."""
    if n < 1_000_000:
        return float(np.sum(1.0 / np.arange(1, n)))
    return math.log(n - 1) + 0.5772156649 + 1 / (2 * (n - 1))


# =========================================================================================
# Output helpers
# =========================================================================================


def _s(value: float) -> str:
    return f"{value:.2f}"


def _rate(records: int, seconds: float) -> str:
    return f"{records / seconds:,.0f}" if seconds > 0 else "-"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    return f"{n:.1f} PB"


# =========================================================================================
# Main
# =========================================================================================


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--length", type=int, default=1_000_000, help="simulated bases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--group-size", type=int, default=200, help="samples per append/commit")
    parser.add_argument("--queries", type=int, default=200, help="per query kind and engine")
    parser.add_argument("--spark", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--service",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time VariantService.ingest_batch on a scratch instance",
    )
    parser.add_argument(
        "--gvcf",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also ingest the cohort as gVCFs (the query figures then use those tables)",
    )
    parser.add_argument("--gap-fraction", type=float, default=0.05, help="gVCF coverage gaps")
    parser.add_argument(
        "--big-file-bases",
        type=int,
        default=50_000_000,
        help="also time one single-sample VCF of this many simulated bases (0: skip)",
    )
    parser.add_argument(
        "--dir", type=Path, default=ROOT.parent, help="where the scratch folder goes"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    args.worker_list = sorted({int(w) for w in str(args.workers).split(",") if w.strip()})
    if not args.worker_list or min(args.worker_list) < 1:
        parser.error("--workers needs positive integers such as 1,2")
    if args.samples < 2 or args.group_size < 1 or args.queries < 1:
        parser.error("--samples >= 2, --group-size >= 1 and --queries >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.access(BCFTOOLS, os.X_OK):
        err.print(f"needs Debian bcftools at {BCFTOOLS}")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="helgenom-variants-db-", dir=args.dir))
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        return run(args, scratch, load_before, started)
    finally:
        if args.keep:
            err.print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def run(
    args: argparse.Namespace, scratch: Path, load_before: tuple[float, ...], started: float
) -> int:
    outcome = Outcome()
    rng = np.random.default_rng(args.seed)
    n = args.samples
    top = max(args.worker_list)
    out.print(
        f"[bold]variants_db[/bold]: {n:,} samples x {args.length:,} bases, seed {args.seed}, "
        f"workers {args.worker_list}, group size {args.group_size}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} at start; scratch {scratch}"
    )

    # -- cohorts --------------------------------------------------------------------------
    err.print("simulating the cohort (plain VCF) ...")
    with Timed() as sim_plain:
        plain = simulate_cohort(scratch / "plain", samples=n, length=args.length, seed=args.seed)
    gvcf: Cohort | None = None
    sim_gvcf = Timed()
    if args.gvcf:
        err.print("simulating the same cohort as gVCFs ...")
        with Timed() as sim_gvcf:
            gvcf = simulate_cohort(
                scratch / "gvcf",
                samples=n,
                length=args.length,
                seed=args.seed,
                reference_fasta=plain.reference_fasta,
                gvcf=True,
                gap_fraction=args.gap_fraction,
            )
    sites = plain.truth.num_rows
    input_plain = sum(p.stat().st_size for p in plain.sample_vcfs)
    out.print(
        f"simulated in {sim_plain.wall:.1f} s (+{sim_gvcf.wall:.1f} s gVCF): {sites:,} ALT "
        f"alleles; plain VCF input {_size(input_plain)} ({_size(input_plain / n)} per sample)"
    )

    # -- ingest: bcftools -----------------------------------------------------------------
    rows: list[IngestRow] = []
    err.print("bcftools view over every file ...")
    seq = bcftools_loop(plain.sample_vcfs, scratch / "bcftools.sh")
    par = bcftools_xargs(plain.sample_vcfs, scratch / "files.txt", top)

    # -- ingest: helgenom adapters ----------------------------------------------------------
    runs: dict[int, AdapterRun] = {}
    for w in args.worker_list:
        runs[w] = ingest_adapters(
            plain,
            scratch / f"adapters-w{w}",
            workers=w,
            group_size=args.group_size,
            label=f"adapters, plain VCF, {w} worker(s)",
        )
    records = runs[top].records
    rows.append(IngestRow("bcftools view -Ou (sequential)", n, records, seq))
    rows.append(IngestRow(f"bcftools view -Ou (xargs -P {top})", n, records, par))
    for row in rows:
        row.base, row.base_parallel = seq, par
    for w, r in runs.items():
        rows.append(
            IngestRow(
                f"helgenom adapters, {w} worker(s)",
                n,
                r.records,
                r.timed,
                f"waited {r.parse:.1f} s for parses + append {r.append:.1f} s",
                seq,
                par,
            )
        )

    # -- ingest: the service ------------------------------------------------------------------
    registered: Registered | None = None
    if args.service:
        err.print("scratch instance: reference and persons ...")
        registered = register_instance(scratch / "instance", plain, n)
        for w in args.worker_list:
            timed = ingest_service(
                registered, scratch / f"instance-w{w}", workers=w, group_size=args.group_size
            )
            rows.append(
                IngestRow(
                    f"helgenom service ingest_batch, {w} worker(s)",
                    n,
                    records,
                    timed,
                    "checksums, catalog, audit, counts, commits",
                    seq,
                    par,
                )
            )

    # -- ingest: gVCF -----------------------------------------------------------------------
    gvcf_run: AdapterRun | None = None
    if gvcf is not None:
        seq_g = bcftools_loop(gvcf.sample_vcfs, scratch / "bcftools-gvcf.sh")
        gvcf_run = ingest_adapters(
            gvcf,
            scratch / "adapters-gvcf",
            workers=top,
            group_size=args.group_size,
            label=f"adapters, gVCF, {top} worker(s)",
        )
        rows.append(
            IngestRow(
                "gVCF: bcftools view -Ou (sequential)", n, gvcf_run.records, seq_g, base=seq_g
            )
        )
        rows.append(
            IngestRow(
                f"gVCF: helgenom adapters, {top} worker(s)",
                n,
                gvcf_run.records,
                gvcf_run.timed,
                f"waited {gvcf_run.parse:.1f} s for parses + append {gvcf_run.append:.1f} s",
                seq_g,
            )
        )
    if args.big_file_bases:
        rows += one_large_file(scratch / "large", args.big_file_bases, args.seed)

    table = Table(
        "contender",
        "files",
        "records",
        "seconds",
        "records/s",
        "x bcftools seq",
        f"x bcftools -P {top}",
        "CPU s",
        "other load",
        "note",
        title="Ingest (warm page cache; records = data lines of the input files)",
    )
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(
            row.name,
            f"{row.files:,}",
            f"{row.records:,}",
            _s(row.timed.wall),
            _rate(row.records, row.timed.wall),
            f"{row.timed.wall / row.base.wall:.2f}" if row.base else "",
            f"{row.timed.wall / row.base_parallel.wall:.2f}" if row.base_parallel else "",
            _s(row.timed.cpu),
            f"{row.timed.other:.2f}",
            row.note,
        )
    out.print(table)
    if registered is not None:
        out.print(
            f"scratch instance set-up (not in the ingest rows): reference load "
            f"{registered.reference.wall:.1f} s; {n:,} persons + requisitions + samples "
            f"registered through the services in {registered.persons.wall:.1f} s "
            f"({registered.persons.wall / n * 1000:.1f} ms per person)"
        )
    if 1 in runs:
        ratio, against = runs[1].timed.wall / seq.wall, "1 worker vs the sequential"
    else:
        ratio, against = runs[top].timed.wall / par.wall, f"{top} workers vs the xargs -P {top}"
    outcome.check(
        ratio <= GOAL,
        f"ingest of the plain VCFs (adapters, {against} bcftools view -Ou) takes {ratio:.2f}x "
        f"as long (goal <= {GOAL:.0f}x)",
    )

    # -- queries and frequencies ----------------------------------------------------------
    store = gvcf_run if gvcf_run is not None else runs[top]
    cohort = gvcf if gvcf is not None else plain
    kind = "gVCF" if gvcf_run is not None else "plain VCF"
    snapshot = store.snapshots[-1]
    ids = store.tables.read("variants", snapshot.variants).column("variant_id").to_pylist()
    samples = samples_table(cohort)
    latencies: list[Latency] = []
    freq_rows: list[tuple[str, Timed, str]] = []

    duck = DuckDbEngine(store.tables)
    latencies += query_latency(duck, snapshot, ids, cohort, args.queries, rng)
    err.print("full frequency recompute (DuckDB) ...")
    with Timed() as t_duck:
        full = duck.frequencies(snapshot, samples)
    found = overall_counts(full)
    with Timed() as t_fill:
        subprocess.run(
            [
                BCFTOOLS,
                "+fill-tags",
                str(cohort.merged_vcf),
                "-Ou",
                "-o",
                "/dev/null",
                "--",
                "-t",
                "AC,AN,AF",
            ],
            check=True,
        )
    freq_rows.append((f"bcftools +fill-tags -t AC,AN,AF, merged VCF ({n:,} samples)", t_fill, ""))
    freq_rows.append(
        (
            f"DuckDB frequencies, every variant x {n:,} samples",
            t_duck,
            f"{len(found):,} ALT alleles, {full.num_rows:,} rows (overall, sex, region)",
        )
    )
    if gvcf_run is not None:
        problem = compare_counts(found, fill_tags_counts(cohort.merged_vcf))
        outcome.check(
            not problem,
            f"AC/AN of {len(found):,} ALT alleles equal bcftools +fill-tags"
            + (f": {problem}" if problem else ""),
        )

    # incremental counts: all groups but the last first, then the last group alone
    if len(store.snapshots) >= 2:
        counts = FrequencyCounts(store.tables, duck)
        first = [s for g in store.groups[:-1] for s in g]
        last = store.groups[-1]
        err.print("incremental counts ...")
        with Timed() as t_first:
            counts.update_counts(first, samples, store.snapshots[-2])
        with Timed() as t_inc:
            counts.update_counts(last, samples, store.snapshots[-1])
        with Timed() as t_from:
            from_counts = counts.frequencies_from_counts()
        freq_rows.append(
            (f"FrequencyCounts.update_counts, first {len(first):,} samples", t_first, "")
        )
        freq_rows.append(
            (
                f"FrequencyCounts.update_counts, +{len(last):,} samples (last group)",
                t_inc,
                f"{t_inc.wall / t_duck.wall:.2f}x a full recompute",
            )
        )
        freq_rows.append(("frequencies_from_counts, every variant", t_from, ""))
        outcome.check(from_counts.equals(full), "frequencies_from_counts equals the full recompute")

    if args.spark:
        from helgenom.adapters.variants.spark_engine import SparkEngine

        err.print("starting Spark (local[2]) ...")
        spark = SparkEngine(store.tables, master="local[2]")
        try:
            with Timed() as t_start:
                spark.session  # noqa: B018 - builds the session
            latencies += query_latency(spark, snapshot, ids, cohort, args.queries, rng)
            err.print("full frequency recompute (Spark) ...")
            with Timed() as t_spark:
                spark_full = spark.frequencies(snapshot, samples)
            freq_rows.append(
                (
                    f"Spark frequencies, every variant x {n:,} samples",
                    t_spark,
                    f"session start {t_start.wall:.1f} s not included",
                )
            )
            outcome.check(spark_full.equals(full), "Spark's full recompute equals DuckDB's")
        finally:
            spark.close()
    duck.close()

    lat = Table(
        "engine",
        "query",
        "n",
        "p50 ms",
        "p99 ms",
        "max ms",
        "warm-up ms",
        "other load",
        title=f"Query latency at the final snapshot ({kind} tables, {len(ids):,} variants)",
    )
    for item in latencies:
        lat.add_row(
            item.engine,
            item.query,
            str(len(item.seconds)),
            f"{item.pct(50):.1f}",
            f"{item.pct(99):.1f}",
            f"{max(item.seconds) * 1000:.1f}",
            f"{item.warmup * 1000:.0f}",
            f"{item.other:.2f}",
        )
    out.print(lat)
    freq = Table(
        "what", "seconds", "other load", "note", title=f"Frequency recompute ({kind} tables)"
    )
    for name, timed_row, note in freq_rows:
        freq.add_row(name, _s(timed_row.wall), f"{timed_row.other:.2f}", note)
    out.print(freq)

    # -- storage ----------------------------------------------------------------------------
    report_storage(store, cohort, kind, runs[top], n, args.length)

    # -- summary ------------------------------------------------------------------------------
    load_after = os.getloadavg()
    out.print(
        f"total {time.perf_counter() - started:.0f} s; load average {load_before[0]:.2f} at "
        f"start, {load_after[0]:.2f} at the end"
    )
    for ok, text in outcome.lines:
        out.print(f"{'[green]PASS[/green]' if ok else '[red]MISS[/red]'} {text}")
    return 0 if all(ok for ok, _ in outcome.lines) else 1


def report_storage(
    store: AdapterRun, cohort: Cohort, kind: str, plain_run: AdapterRun, n: int, length: int
) -> None:
    """Bytes per table and per genome, extrapolated to 100,000 genomes."""
    table = Table(
        "table",
        "rows",
        "files",
        "du",
        "apparent",
        "bytes/row",
        "per genome",
        title=f"Storage ({kind} tables, Delta folders as written: no OPTIMIZE, no VACUUM)",
    )
    root = Path(store.tables.root)
    sizes: dict[str, tuple[int, int]] = {}
    rows: dict[str, int] = {}
    snapshot = store.snapshots[-1]
    for name in TABLE_FOLDERS:
        folder = root / name
        if not folder.exists():
            continue
        sizes[name] = folder_bytes(folder)
        if name in ("variants", "calls", "ref_blocks"):
            rows[name] = store.tables.dataset(name, snapshot.version(name)).count_rows()
        else:
            rows[name] = DeltaTable(str(folder)).to_pyarrow_dataset().count_rows()
        files = sum(1 for p in folder.rglob("*.parquet"))
        table.add_row(
            name,
            f"{rows[name]:,}" if rows[name] else "",
            str(files),
            _size(sizes[name][1]),
            _size(sizes[name][0]),
            f"{sizes[name][1] / rows[name]:.1f}" if rows[name] else "",
            _size(sizes[name][1] / n) if name in ("calls", "ref_blocks") else "",
        )
    plain_root = Path(plain_run.tables.root)
    plain_sizes = {name: folder_bytes(plain_root / name) for name in ("variants", "calls")}
    table.add_row(
        "(plain VCF store) calls",
        f"{plain_run.calls:,}",
        "",
        _size(plain_sizes["calls"][1]),
        _size(plain_sizes["calls"][0]),
        f"{plain_sizes['calls'][1] / max(1, plain_run.calls):.1f}",
        _size(plain_sizes["calls"][1] / n),
    )
    out.print(table)

    per_genome = sum(sizes.get(t, (0, 0))[1] for t in ("calls", "ref_blocks")) / n
    calls_per_genome = rows["calls"] / n
    blocks_per_genome = rows.get("ref_blocks", 0) / n
    scale = REAL_VARIANTS_PER_GENOME / calls_per_genome
    real_per_genome = per_genome * scale
    site_bytes = sizes["variants"][1] / max(1, rows["variants"])
    counts_bytes = sizes.get("counts", (0, 0))[1] / max(1, rows["variants"])
    model_sites = (
        rows["variants"]
        * harmonic(2 * TARGET_GENOMES)
        / harmonic(2 * n)
        * (REAL_GENOME_BASES / length)
    )
    input_per_genome = sum(p.stat().st_size for p in cohort.sample_vcfs) / n
    ext = Table("quantity", "value", "how", title="Extrapolation to 100,000 genomes")
    ext.add_row(
        "calls per genome (simulated)",
        f"{calls_per_genome:,.0f}",
        f"+ {blocks_per_genome:,.0f} ref blocks; a real 30x WGS has ~4-5 M variant sites",
    )
    ext.add_row(
        "scale to a real genome",
        f"{scale:,.0f}x",
        f"{REAL_VARIANTS_PER_GENOME:,} / simulated calls per genome",
    )
    ext.add_row(
        "calls + ref blocks per genome",
        f"{_size(per_genome)} -> {_size(real_per_genome)}",
        "simulated -> real: linear in calls, same bytes per row, ref blocks per variant "
        "as simulated (GQ-banded gVCFs of real callers have more blocks)",
    )
    ext.add_row(
        "input per genome (bgzipped VCF)",
        f"{_size(input_per_genome)} -> {_size(input_per_genome * scale)}",
        "the same scaling, for comparison",
    )
    ext.add_row(
        "calls + ref blocks, 100,000 genomes",
        _size(real_per_genome * TARGET_GENOMES),
        "x 100,000 (linear)",
    )
    ext.add_row(
        "sites: neutral model",
        f"{model_sites:,.0f}",
        "simulated sites x a(200,000)/a(2N) (Watterson, constant size) x 3.1 Gb / length: "
        "a lower bound, real populations grew and carry far more rare variants",
    )
    ext.add_row(
        "sites: assumed",
        f"{REAL_SITES_100K:,}",
        "gnomAD v3.1 has ~760 M short variants in 76,156 genomes of mixed ancestry",
    )
    ext.add_row(
        "variants + counts tables, 100,000 genomes",
        _size((site_bytes + counts_bytes) * REAL_SITES_100K),
        f"{site_bytes:.1f} + {counts_bytes:.1f} bytes per site as simulated x assumed sites",
    )
    total = real_per_genome * TARGET_GENOMES + (site_bytes + counts_bytes) * REAL_SITES_100K
    ext.add_row(
        "total, 100,000 genomes", _size(total), "no OPTIMIZE/VACUUM, one copy (no replicas)"
    )
    out.print(ext)


if __name__ == "__main__":
    sys.exit(main())
