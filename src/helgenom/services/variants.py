"""The national genome database: ingest, frequencies for a purpose, person-level queries.

Where things are
----------------
* The rows (variants, calls, reference blocks) are Delta Lake tables under
  ``HOME/variants`` (:mod:`helgenom.adapters.variants.tables`); incremental allele
  counts sit beside them (``counts``).
* The catalog decides what is visible: ``variant_commits`` lists the committed table
  snapshots, the last one is current. An ingest writes its rows, updates the counts,
  then commits one catalog transaction (the commit row, the ingest rows, the audit
  entry). Rows of an ingest interrupted before that commit are invisible (queries read
  the committed snapshot) and are discarded by the next ingest.
* Who a sample belongs to, the person's sex, region and consent stay in the catalog:
  each query builds the table of samples it may count, after consent, and hands it to
  the engine (DuckDB embedded, Spark at national scale).

Frequency sets
--------------
``clinical`` counts every ingested sample (clinical care and quality assurance);
``research`` and ``public`` leave out persons who opted out of research use and
research-origin samples (governed by their own project's consent). Consent is read
when the query runs, so an opt-out counts from the next query on; a query names the
consent state it used (the latest consent event it saw) and how many samples it
excluded.

Writers
-------
One writer at a time (a lock file beside the tables): parsing and normalising run in
parallel (``ingest_batch --workers N``, the next group's files while a group commits),
the commits one after another.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import enum
import fcntl
import json
import multiprocessing
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import (
    consent_events,
    objects,
    persons,
    samples,
    variant_commits,
    variant_ingests,
    variant_releases,
)
from helgenom.adapters.keys import SecretBytes
from helgenom.core.access import Action
from helgenom.core.consent import ResearchChoice, decide_consent, derive_state
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    FormatError,
    HelgenomError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.models import Purpose, RequestContext, Role, SampleOrigin
from helgenom.core.pseudonyms import project_pseudonym
from helgenom.services.gate import Gate, requisition_departments
from helgenom.services.identity import Vault, load_consents, new_id
from helgenom.services.objects import ObjectService
from helgenom.services.references import ReferenceService, pipeline_adapters

if TYPE_CHECKING:
    import pyarrow as pa

    from helgenom.adapters.variants.engine import VariantEngine
    from helgenom.adapters.variants.tables import Snapshot, VariantTables
    from helgenom.adapters.variants.vcfin import IngestBatch

COMMIT_FORMAT_VERSION = 1
"""Version of the ``variant_commits.snapshot`` document."""
INGEST_FORMAT_VERSION = 1
"""Version of a ``variant_ingests`` row."""
ENGINES = ("duckdb", "spark")
RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VARIANT_ID = re.compile(r"^([A-Za-z0-9_.]+)-([0-9]+)-([ACGTNacgtn]+)-([ACGTNacgtn]+)$")
_REGION = re.compile(r"^([A-Za-z0-9_.]+):([0-9,]+)-([0-9,]+)$")
_LOCK_NAME = ".writer.lock"
_IN_CHUNK = 500
"""Values per ``IN (...)`` list (SQLite limits the bound parameters of a statement)."""


def variant_adapters() -> Any:
    """The genome-database adapter package, or a ConfigurationError naming the extra."""
    try:
        import helgenom.adapters.variants as variants
        import helgenom.adapters.variants.duckdb_engine
        import helgenom.adapters.variants.engine
        import helgenom.adapters.variants.tables
        import helgenom.adapters.variants.vcfin  # noqa: F401 - attributes of the package
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise ConfigurationError(
            f"the genome database needs the variants extra ({missing} is not installed): "
            "pip install 'helgenom[variants]'"
        ) from None
    return variants


class FrequencySet(enum.StrEnum):
    """Which persons a frequency counts (see module doc)."""

    CLINICAL = "clinical"
    RESEARCH = "research"
    PUBLIC = "public"


_SET_PURPOSE = {
    FrequencySet.CLINICAL: Purpose.CLINICAL_CARE,
    FrequencySet.RESEARCH: Purpose.PUBLIC_AGGREGATE,
    FrequencySet.PUBLIC: Purpose.PUBLIC_AGGREGATE,
}
"""The consent purpose a set is decided for (aggregates name nobody, so the research
set uses the aggregate rule: no research opt-out, no research-origin sample)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_variant_id(text: str) -> str:
    """Check ``CONTIG-POS-REF-ALT`` (as in ``chr22-16570123-a-g``); alleles upper-cased."""
    match = _VARIANT_ID.match(text.strip())
    if match is None:
        raise InvalidInputError(
            f"variant {text!r} is not CONTIG-POS-REF-ALT (for example chr22-16570123-A-G)"
        )
    contig, pos, ref, alt = match.groups()
    return f"{contig}-{int(pos)}-{ref.upper()}-{alt.upper()}"


def parse_region(text: str) -> tuple[str, int, int]:
    """``CONTIG:START-END`` (1-based, inclusive; commas allowed) -> (contig, start, end)."""
    match = _REGION.match(text.strip())
    if match is None:
        raise InvalidInputError(
            f"region {text!r} is not CONTIG:START-END (for example chr22:16570000-16610000)"
        )
    start, end = (int(match.group(i).replace(",", "")) for i in (2, 3))
    if not 1 <= start <= end:
        raise InvalidInputError(f"region {text!r} must have 1 <= START <= END")
    return match.group(1), start, end


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What one sample's ingest did."""

    ingest_id: str
    sample_id: str
    status: str
    """``committed`` (new rows visible now) or ``unchanged`` (this file was ingested before)."""
    input_sha256: str
    variants_new: int
    """Sites the database had not seen before."""
    calls: int
    ref_blocks: int
    commit_seq: int | None
    """The commit that made the rows visible."""


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One line of an ingest-batch list: a sample and its file (or stored object)."""

    sample_id: str
    path: Path | None = None
    object_id: str | None = None
    vcf_sample: str | None = None
    """Name of the sample column when it is not the sample id."""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What ``ingest_batch`` did."""

    committed: list[IngestOutcome]
    unchanged: list[IngestOutcome]
    failed: list[tuple[str, str]]
    """(sample id, error message) of the files that were rejected."""
    commits: int
    """Catalog commits made (one per group of samples)."""


@dataclass(frozen=True, slots=True)
class QueryScope:
    """Which data a query read and which persons it counted."""

    commit_seq: int
    release: str | None
    frequency_set: FrequencySet | None = None
    samples_counted: int = 0
    samples_excluded: int = 0
    """Ingested samples left out by consent (or origin) for this set."""
    consent_as_of: str | None = None
    """Time of the latest consent event the query saw (None: no event recorded yet)."""
    method: str = ""
    """``counts`` (incremental sums minus exclusions) or ``recompute`` (full)."""


@dataclass(frozen=True, slots=True)
class FrequencyReport:
    """Allele frequencies per variant and group, and what they were computed over."""

    rows: list[dict[str, Any]]
    """Rows of ``engine.FREQUENCIES`` (variant_id, group, group_value, ac, an, af, hom,
    hemi, n_samples)."""
    scope: QueryScope


@dataclass(frozen=True, slots=True)
class VariantsReport:
    """Variant rows (lookup or region)."""

    rows: list[dict[str, Any]]
    scope: QueryScope


@dataclass(frozen=True, slots=True)
class CarrierRow:
    """One carrier as the asker may see it."""

    label: str
    """The sample id (clinical) or the person's project pseudonym (research)."""
    call_gt: str
    call_gq: int | None
    call_dp: int | None


@dataclass(frozen=True, slots=True)
class CarriersReport:
    variant_id: str
    carriers: list[CarrierRow]
    scope: QueryScope
    not_shown: int
    """Carriers outside what the asker may see (counted, never named)."""


@dataclass(frozen=True, slots=True)
class GenotypesReport:
    sample_id: str
    genotypes: list[dict[str, Any]]
    """variant_id, state (hom_ref, het, hom_alt, hemi, other_alt, no_call), call_gt, gq, dp."""
    scope: QueryScope


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    name: str
    commit_seq: int
    created_at: dt.datetime
    created_by: str
    note: str
    samples: int


@dataclass
class _Prepared:
    """A parsed, normalised sample file waiting for its commit."""

    ingest_id: str
    sample_id: str
    person: str
    sha256: str | None
    """The input's SHA-256: the stored object's, or the file's when it was read before
    parsing (the sample had ingests to compare with); None until the parse gives it."""
    source_name: str
    object_id: str | None
    batch: IngestBatch | None = None
    error: str | None = None

    def take(self, batch: IngestBatch) -> None:
        """Keep the parse's rows; the file's digest comes from the parse unless it was
        read before, and then both must agree (else the file changed while read)."""
        if self.sha256 is None:
            self.sha256 = batch.sha256
        elif self.object_id is None and batch.sha256 != self.sha256:
            raise ConflictError(
                f"the file of sample {self.sample_id} ({self.source_name}) changed while it "
                f"was being ingested (SHA-256 {self.sha256} before parsing, {batch.sha256} "
                "when parsed): ingest it again once it is complete"
            )
        self.batch = batch


@dataclass
class _Group:
    """One group of a batch, staged and its parses started, waiting to be committed."""

    prepared: list[_Prepared] = field(default_factory=list)
    futures: dict[str, cf.Future[IngestBatch]] = field(default_factory=dict)
    unchanged: list[IngestOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(sample id, error) of the files rejected while staging."""
    raised: Exception | None = None
    """An error that stops the batch, raised when the group's turn comes (after the
    groups before it were committed)."""


@dataclass(frozen=True, slots=True)
class _Commit:
    seq: int
    snapshot: Snapshot
    counts_version: int | None


@dataclass(frozen=True, slots=True)
class _SampleFacts:
    sample_id: str
    person: str
    origin: SampleOrigin
    origin_project: str | None
    sex: str
    region: str


# -- parsing in worker processes -----------------------------------------------------------


def _parse(arguments: dict[str, Any]) -> IngestBatch:
    """Parse one file (runs in a worker process for ``ingest_batch``)."""
    from helgenom.adapters.variants.vcfin import read_sample_vcf

    return read_sample_vcf(**arguments)


class VariantService:
    """The national genome database (see module doc)."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        vault: Vault,
        objects_service: ObjectService,
        references: ReferenceService,
        root: Path,
        work_path: Path,
        *,
        engine: str = "duckdb",
        spark_master: str = "local[2]",
        project_key: SecretBytes | None = None,
        duckdb_memory_limit: str | None = None,
    ) -> None:
        if engine not in ENGINES:
            raise ConfigurationError(f"unknown variant engine {engine!r}: choose duckdb or spark")
        self.catalog = catalog
        self.gate = gate
        self.vault = vault
        self.objects = objects_service
        self.references = references
        self.root = root
        """Folder of the Delta tables (``HOME/variants``)."""
        self.work_path = work_path
        """Private scratch folder for decrypted inputs (``HOME/work``)."""
        self.engine_name = engine
        self.spark_master = spark_master
        self.duckdb_memory_limit = duckdb_memory_limit
        """DuckDB's memory limit (``4GB``); larger queries spill under ``HOME/work``."""
        self._project_key = project_key
        self._tables: VariantTables | None = None
        self._engine: VariantEngine | None = None

    def close(self) -> None:
        """Stop the engine (a Spark session) if one was started."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # -- adapters ----------------------------------------------------------------------

    def tables(self) -> VariantTables:
        """The Delta tables, created on first use."""
        if self._tables is None:
            adapters = variant_adapters()
            VariantTables = adapters.tables.VariantTables
            if (self.root / "variants").exists():
                self._tables = VariantTables(self.root)
            else:
                self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._tables = VariantTables.create(self.root)
        return self._tables

    def engine(self) -> VariantEngine:
        """The query engine of the settings (DuckDB unless ``variant_engine = spark``)."""
        if self._engine is None:
            tables = self.tables()
            if self.engine_name == "spark":
                try:
                    from helgenom.adapters.variants.spark_engine import SparkEngine
                except ImportError:
                    raise ConfigurationError(
                        "variant_engine = spark needs PySpark: pip install 'helgenom[spark]'"
                    ) from None
                self._engine = SparkEngine(tables, master=self.spark_master)
            else:
                from helgenom.adapters.variants.duckdb_engine import DuckDbEngine

                spill = self.work_path / "duckdb-spill"
                spill.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._engine = DuckDbEngine(
                    tables, memory_limit=self.duckdb_memory_limit, temp_directory=str(spill)
                )
        return self._engine

    def _counts(self) -> Any:
        from helgenom.adapters.variants.engine import FrequencyCounts

        return FrequencyCounts(self.tables(), self.engine())

    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        """One writer at a time (parsing runs outside this lock)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- catalog facts -----------------------------------------------------------------

    def _sample_facts(self, conn: Connection, sample_ids: Sequence[str]) -> dict[str, _SampleFacts]:
        rows = conn.execute(
            sa.select(
                samples.c.id,
                samples.c.person_pseudonym,
                samples.c.origin,
                samples.c.origin_project,
                persons.c.sex,
                persons.c.region,
            )
            .select_from(samples.join(persons))
            .where(samples.c.id.in_(list(sample_ids)))
        ).all()
        return {
            r.id: _SampleFacts(
                r.id,
                r.person_pseudonym,
                SampleOrigin(r.origin),
                r.origin_project,
                str(r.sex),
                str(r.region or "unknown"),
            )
            for r in rows
        }

    def _facts_of(self, sample_id: str) -> _SampleFacts:
        with self.catalog.begin() as conn:
            facts = self._sample_facts(conn, [sample_id]).get(sample_id)
        if facts is None:
            raise NotFoundError(f"no sample {sample_id}: see helgenom sample status")
        return facts

    @staticmethod
    def _last_commit(conn: Connection, seq: int | None = None) -> _Commit | None:
        from helgenom.adapters.variants.tables import Snapshot

        query = sa.select(variant_commits).order_by(variant_commits.c.seq.desc()).limit(1)
        if seq is not None:
            query = sa.select(variant_commits).where(variant_commits.c.seq == seq)
        row = conn.execute(query).first()
        if row is None:
            return None
        document = json.loads(row.snapshot)
        if document.get("format_version") != COMMIT_FORMAT_VERSION:
            raise FormatError(
                f"variant commit {row.seq} has format_version {document.get('format_version')!r}; "
                f"this helgenom reads {COMMIT_FORMAT_VERSION}"
            )
        return _Commit(
            int(row.seq), Snapshot.from_dict(document["tables"]), document.get("counts_version")
        )

    def _committed_samples(self, conn: Connection, seq: int) -> list[str]:
        rows = conn.execute(
            sa.select(variant_ingests.c.sample_id)
            .where(variant_ingests.c.status == "committed")
            .where(variant_ingests.c.commit_seq <= seq)
        ).all()
        return sorted({str(r.sample_id) for r in rows})

    def _samples_table(self, facts: Sequence[_SampleFacts]) -> pa.Table:
        import pyarrow as pa

        from helgenom.adapters.variants.schema import SAMPLES

        ordered = sorted(facts, key=lambda f: f.sample_id)
        return pa.table(
            {
                "sample_id": [f.sample_id for f in ordered],
                "sample_sex": [f.sex for f in ordered],
                "sample_region": [f.region for f in ordered],
            },
            schema=SAMPLES,
        )

    # -- ingest ------------------------------------------------------------------------

    def ingest(
        self,
        ctx: RequestContext,
        sample_id: str,
        *,
        path: Path | None = None,
        object_id: str | None = None,
        vcf_sample: str | None = None,
        build: str | None = None,
    ) -> IngestOutcome:
        """Validate, normalise and add one sample's VCF/gVCF in one atomic commit (operators).

        Raises
        ------
        PermissionDeniedError
            Not an operator (audited).
        NotFoundError
            No such sample, file or object; no reference genome.
        FormatError
            The file is not a valid VCF of this sample on this reference (nothing is
            written).
        ConflictError
            The sample was ingested from another file.
        """
        outcome = self.ingest_batch(
            ctx,
            [BatchItem(sample_id, path=path, object_id=object_id, vcf_sample=vcf_sample)],
            workers=0,
            build=build,
            stop_on_error=True,
        )
        return (outcome.committed or outcome.unchanged)[0]

    def ingest_batch(
        self,
        ctx: RequestContext,
        items: Sequence[BatchItem],
        *,
        workers: int = 0,
        group_size: int = 200,
        build: str | None = None,
        stop_on_error: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> BatchOutcome:
        """Ingest many samples: parse in ``workers`` processes, commit in groups.

        Each group of up to ``group_size`` samples is one commit; an interrupted batch
        keeps its committed groups, and running it again skips the files already
        ingested (same sample and checksum) and redoes the rest. A rejected file is
        reported and does not stop the others (unless ``stop_on_error``). With workers,
        the next group is staged and parsing while the current one commits; an error
        that stops the batch there is raised after the current group's commit.
        """
        if workers < 0:
            raise InvalidInputError(f"workers must be 0 (in process) or more, not {workers}")
        if group_size < 1:
            raise InvalidInputError(f"group size must be at least 1, not {group_size}")
        if not items:
            return BatchOutcome([], [], [], 0)
        seen: set[str] = set()
        for item in items:
            if item.sample_id in seen:
                raise InvalidInputError(f"sample {item.sample_id} is listed twice")
            seen.add(item.sample_id)
            if (item.path is None) == (item.object_id is None):
                raise InvalidInputError(
                    f"sample {item.sample_id}: give a file or --object ID (exactly one)"
                )
        with self.catalog.begin() as conn:
            facts = self._sample_facts(conn, [i.sample_id for i in items])
        missing = [i.sample_id for i in items if i.sample_id not in facts]
        if missing:
            raise NotFoundError(f"no sample {missing[0]}: see helgenom sample status")
        self.gate.authorise_many(
            ctx,
            Action.VARIANT_INGEST,
            [(f"sample/{i.sample_id}", facts[i.sample_id].person) for i in items],
        )
        adapters = variant_adapters()
        reference, info = self.references.resolve(build)
        contigs = {name: length for name, length, _md5 in reference.contigs}
        self.work_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        committed: list[IngestOutcome] = []
        unchanged: list[IngestOutcome] = []
        failed: list[tuple[str, str]] = []
        commits = 0
        done = 0
        groups = [items[i : i + group_size] for i in range(0, len(items), group_size)]
        with tempfile.TemporaryDirectory(dir=self.work_path, prefix="variants-") as scratch:
            work = Path(scratch)
            os.chmod(work, 0o700)
            pool: cf.Executor | None = None
            if workers > 0:
                # forkserver: the engine's threads (DuckDB, Spark's JVM gateway) never
                # fork; the server imports the parser once, each worker is forked from it
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["helgenom.adapters.variants.vcfin"])
                pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)
            parse = {
                "reference_fasta": str(info.fasta_path),
                "contigs": contigs,
                "workdir": str(work),
            }

            def launch(index: int) -> _Group:
                return self._launch(ctx, groups[index], facts, work, parse, pool, stop_on_error)

            try:
                group = launch(0)
                for index in range(len(groups)):
                    if group.raised is not None:
                        raise group.raised
                    unchanged.extend(group.unchanged)
                    failed.extend(group.failed)
                    for prep in group.prepared:
                        future = group.futures.get(prep.ingest_id)
                        if future is not None:
                            try:
                                prep.take(future.result())
                            except HelgenomError as exc:
                                if stop_on_error:
                                    raise
                                prep.error = str(exc)
                        done += 1
                        if progress is not None:
                            progress(done, len(items))
                    later = index + 1 < len(groups)
                    upcoming = launch(index + 1) if later and pool is not None else None
                    # (with workers, the next group parses while this one commits)
                    good = [p for p in group.prepared if p.batch is not None]
                    failed.extend((p.sample_id, str(p.error)) for p in group.prepared if p.error)
                    if good:
                        committed.extend(self._commit(ctx, good, adapters))
                        commits += 1
                    for prep in group.prepared:
                        if prep.object_id is not None:  # only objects are decrypted into work
                            with contextlib.suppress(FileNotFoundError):
                                shutil.rmtree(work / prep.ingest_id)
                    if later:
                        group = upcoming if upcoming is not None else launch(index + 1)
            finally:
                if pool is not None:
                    pool.shutdown(cancel_futures=True)
        if progress is not None:
            progress(len(items), len(items))
        return BatchOutcome(committed, unchanged, failed, commits)

    def _launch(
        self,
        ctx: RequestContext,
        items: Sequence[BatchItem],
        facts: dict[str, _SampleFacts],
        work: Path,
        parse: dict[str, Any],
        pool: cf.Executor | None,
        stop_on_error: bool,
    ) -> _Group:
        """Stage a group's inputs and parse them (in process) or submit their parses.

        An error that stops the batch is kept in the group (raised at its turn), so
        that a group staged early never keeps the one before it from its commit.
        """
        group = _Group()
        try:
            ingests = self._ingest_rows([i.sample_id for i in items])
            for item in items:
                try:
                    staged = self._stage(
                        ctx, item, facts[item.sample_id], work, ingests[item.sample_id]
                    )
                except HelgenomError as exc:
                    if stop_on_error:
                        raise
                    group.failed.append((item.sample_id, str(exc)))
                    continue
                if isinstance(staged, IngestOutcome):
                    group.unchanged.append(staged)
                    continue
                prep, input_path = staged
                arguments = {
                    **parse,
                    "path": str(input_path),
                    "sample_name": item.vcf_sample or item.sample_id,
                    "ingest_id": prep.ingest_id,
                    "sample_id": item.sample_id,
                }
                if pool is None:
                    try:
                        prep.take(_parse(arguments))
                    except HelgenomError as exc:
                        if stop_on_error:
                            raise
                        prep.error = str(exc)
                else:
                    group.futures[prep.ingest_id] = pool.submit(_parse, arguments)
                group.prepared.append(prep)
        except Exception as exc:
            group.raised = exc
        return group

    def _ingest_rows(self, sample_ids: Sequence[str]) -> dict[str, list[Any]]:
        """The ``variant_ingests`` rows of each sample (one query per 500 samples)."""
        found: dict[str, list[Any]] = {s: [] for s in sample_ids}
        with self.catalog.begin() as conn:
            for start in range(0, len(sample_ids), _IN_CHUNK):
                chunk = list(sample_ids[start : start + _IN_CHUNK])
                for row in conn.execute(
                    sa.select(variant_ingests).where(variant_ingests.c.sample_id.in_(chunk))
                ):
                    found[str(row.sample_id)].append(row)
        return found

    def _stage(
        self,
        ctx: RequestContext,
        item: BatchItem,
        facts: _SampleFacts,
        work: Path,
        rows: Sequence[Any],
    ) -> IngestOutcome | tuple[_Prepared, Path]:
        """The input on disk (decrypted from the store if need be), checked against the
        sample's ingests ``rows``.

        A file's SHA-256 is read here only when the sample has ingests to compare it
        with (unchanged, another file, or an interrupted ingest to resume); otherwise
        the parse computes it.
        """
        if item.object_id is not None:
            with self.catalog.begin() as conn:
                row = conn.execute(
                    sa.select(objects.c.sample_id, objects.c.kind, objects.c.plaintext_sha256)
                    .where(objects.c.id == item.object_id)
                    .where(objects.c.state == "stored")
                ).first()
            if row is None:
                raise NotFoundError(f"no stored object {item.object_id}: see helgenom object list")
            if row.sample_id != item.sample_id:
                raise InvalidInputError(
                    f"object {item.object_id} belongs to sample {row.sample_id}, not "
                    f"{item.sample_id}"
                )
            if row.kind not in ("vcf", "gvcf"):
                raise InvalidInputError(
                    f"object {item.object_id} is a {row.kind}, not a VCF or gVCF"
                )
            sha: str | None = str(row.plaintext_sha256)
            source_name = f"object {item.object_id}"
        else:
            assert item.path is not None
            if not item.path.is_file():
                raise NotFoundError(f"no file {item.path}")
            sha = pipeline_adapters().reference.file_sha256(item.path) if rows else None
            source_name = item.path.name[:255]
        same = next((r for r in rows if r.input_sha256 == sha), None)
        other = next((r for r in rows if r.status == "committed" and r.input_sha256 != sha), None)
        if same is not None and same.status == "committed":
            self.gate.record(
                ctx,
                Action.VARIANT_INGEST,
                f"sample/{item.sample_id}",
                subjects={facts.person},
                decision="allow",
                reason=f"already ingested as {same.id}; nothing changed",
            )
            assert sha is not None
            return IngestOutcome(
                same.id,
                item.sample_id,
                "unchanged",
                sha,
                int(same.variants_new or 0),
                int(same.calls or 0),
                int(same.ref_blocks or 0),
                same.commit_seq,
            )
        if other is not None:
            raise ConflictError(
                f"sample {item.sample_id} was ingested from another file ({other.id}); the "
                "database keeps one call set per sample: register the re-analysis as a new "
                "sample"
            )
        ingest_id = same.id if same is not None else new_id("ING")
        if item.object_id is not None:
            folder = work / ingest_id
            folder.mkdir(mode=0o700)
            input_path = folder / "input.vcf.gz"
            self.objects.get(ctx, item.object_id, input_path)
        else:
            assert item.path is not None
            input_path = item.path
        prep = _Prepared(ingest_id, item.sample_id, facts.person, sha, source_name, item.object_id)
        return prep, input_path

    def _commit(
        self, ctx: RequestContext, prepared: list[_Prepared], adapters: Any
    ) -> list[IngestOutcome]:
        """Write the rows, update the counts, then commit the catalog (one writer)."""
        import pyarrow as pa

        batches = [p.batch for p in prepared if p.batch is not None]
        with self._writer():
            tables = self.tables()
            with self.catalog.begin() as conn:
                last = self._last_commit(conn)
                counted = [] if last is None else self._committed_samples(conn, last.seq)
                self._mark_writing(conn, ctx, prepared)
            base = last.snapshot if last is not None else adapters.tables.Snapshot(0, 0, 0)
            if tables.current() != base:
                tables.discard_after(base)  # rows of an ingest interrupted before its commit
            counts = self._counts()
            state = counts.state()
            if state.snapshot != (None if last is None else base) or (
                last is not None and state.counts_version != last.counts_version
            ):
                counts = self._rebuild_counts(counts, counted, base)
            variants = pa.concat_tables([b.variants for b in batches])
            fresh_sites = self._new_sites(tables, base, batches)
            snapshot = tables.append(
                variants,
                pa.concat_tables([b.calls for b in batches]),
                pa.concat_tables([b.ref_blocks for b in batches]),
            )
            with self.catalog.begin() as conn:
                everyone = self._sample_facts(conn, counted + [p.sample_id for p in prepared])
            state = counts.update_counts(
                [p.sample_id for p in prepared],
                self._samples_table(list(everyone.values())),
                snapshot,
            )
            outcomes: list[IngestOutcome] = []
            subjects = {p.person for p in prepared}
            resource = (
                f"sample/{prepared[0].sample_id}"
                if len(prepared) == 1
                else f"samples/{len(prepared)}"
            )
            with self.gate.access(ctx, Action.VARIANT_INGEST, resource=resource) as grant:
                grant.subjects |= subjects
                conn = grant.conn
                inserted = conn.execute(
                    variant_commits.insert().values(
                        snapshot=json.dumps(
                            {
                                "format_version": COMMIT_FORMAT_VERSION,
                                "tables": snapshot.asdict(),
                                "counts_version": state.counts_version,
                            },
                            sort_keys=True,
                        ),
                        committed_at=_now(),
                        committed_by=ctx.actor.name,
                        reason=f"ingest of {len(prepared)} sample(s)",
                        format_version=COMMIT_FORMAT_VERSION,
                    )
                ).inserted_primary_key
                assert inserted is not None
                seq = int(inserted[0])
                new_sites = sum(fresh_sites)
                updates: list[dict[str, Any]] = []
                for prep, fresh in zip(prepared, fresh_sites, strict=True):
                    assert prep.batch is not None
                    assert prep.sha256 is not None
                    updates.append(
                        {
                            "b_id": prep.ingest_id,
                            "b_new": fresh,
                            "b_calls": prep.batch.calls.num_rows,
                            "b_blocks": prep.batch.ref_blocks.num_rows,
                            "b_at": _now(),
                        }
                    )
                    outcomes.append(
                        IngestOutcome(
                            prep.ingest_id,
                            prep.sample_id,
                            "committed",
                            prep.sha256,
                            fresh,
                            prep.batch.calls.num_rows,
                            prep.batch.ref_blocks.num_rows,
                            int(seq),
                        )
                    )
                conn.execute(
                    variant_ingests.update()
                    .where(variant_ingests.c.id == sa.bindparam("b_id"))
                    .values(
                        status="committed",
                        variants_new=sa.bindparam("b_new"),
                        calls=sa.bindparam("b_calls"),
                        ref_blocks=sa.bindparam("b_blocks"),
                        committed_at=sa.bindparam("b_at"),
                        commit_seq=seq,
                        error=None,
                    ),
                    updates,
                )
                grant.note = (
                    f"commit {seq}: {len(prepared)} sample(s), {new_sites} new sites, "
                    f"{sum(o.calls for o in outcomes)} calls"
                )
        return outcomes

    @staticmethod
    def _new_sites(
        tables: VariantTables, base: Snapshot, batches: Sequence[IngestBatch]
    ) -> list[int]:
        """Sites each batch adds, in order: its variant ids that the database did not hold
        at ``base`` and no earlier batch of the group brought.

        Reads only the ``variant_id`` column at ``base`` and keeps the group's ids, not
        the database's, in memory.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        rows = pa.concat_tables(
            [
                pa.table(
                    {
                        "variant_id": b.variants.column("variant_id").cast(pa.string()),
                        "order": pa.repeat(pa.scalar(i, pa.int32()), b.variants.num_rows),
                    }
                )
                for i, b in enumerate(batches)
            ]
        )
        fresh = [0] * len(batches)
        if not rows.num_rows:
            return fresh
        group = pc.unique(rows.column("variant_id"))
        stored = tables.dataset("variants", base.variants).to_table(columns=["variant_id"])
        column = stored.column("variant_id").cast(pa.string())
        held = pc.filter(column, pc.is_in(column, value_set=group)).combine_chunks()
        rows = rows.filter(pc.invert(pc.is_in(rows.column("variant_id"), value_set=held)))
        first = rows.group_by("variant_id").aggregate([("order", "min")])
        per = first.group_by("order_min").aggregate([("order_min", "count")])
        for order, count in zip(
            per.column("order_min").to_pylist(),
            per.column("order_min_count").to_pylist(),
            strict=True,
        ):
            fresh[int(order)] = int(count)
        return fresh

    @staticmethod
    def _mark_writing(conn: Connection, ctx: RequestContext, prepared: Sequence[_Prepared]) -> None:
        """Record the group's ingests as ``writing`` (new rows, or resumed ones updated)."""
        ids = [p.ingest_id for p in prepared]
        existing: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            existing.update(
                str(r.id)
                for r in conn.execute(
                    sa.select(variant_ingests.c.id).where(
                        variant_ingests.c.id.in_(ids[start : start + _IN_CHUNK])
                    )
                )
            )
        now = _now()
        common = {"status": "writing", "started_at": now, "started_by": ctx.actor.name}
        fresh = [
            {
                "id": p.ingest_id,
                "sample_id": p.sample_id,
                "input_sha256": p.sha256,
                "format_version": INGEST_FORMAT_VERSION,
                "object_id": p.object_id,
                "source_name": p.source_name,
                **common,
            }
            for p in prepared
            if p.ingest_id not in existing
        ]
        if fresh:
            conn.execute(variant_ingests.insert(), fresh)
        for prep in prepared:
            if prep.ingest_id in existing:
                conn.execute(
                    variant_ingests.update()
                    .where(variant_ingests.c.id == prep.ingest_id)
                    .values(object_id=prep.object_id, source_name=prep.source_name, **common)
                )

    def _rebuild_counts(self, counts: Any, counted: list[str], base: Snapshot) -> Any:
        """Recount every committed sample (the counts were left ahead of or behind the catalog)."""
        shutil.rmtree(self.root / "counts", ignore_errors=True)
        shutil.rmtree(self.root / "counted_samples", ignore_errors=True)
        fresh = self._counts()
        if counted:
            with self.catalog.begin() as conn:
                facts = self._sample_facts(conn, counted)
            fresh.update_counts(counted, self._samples_table(list(facts.values())), base)
        return fresh

    # -- scope of a query ----------------------------------------------------------------

    def _scope_commit(self, conn: Connection, release: str | None) -> tuple[_Commit, str | None]:
        if release is not None:
            row = conn.execute(
                sa.select(variant_releases.c.commit_seq).where(variant_releases.c.name == release)
            ).first()
            if row is None:
                raise NotFoundError(f"no release {release!r}: see helgenom variants releases")
            commit = self._last_commit(conn, int(row.commit_seq))
        else:
            commit = self._last_commit(conn)
        if commit is None:
            raise NotFoundError(
                "the genome database is empty: ingest a sample with helgenom variants ingest"
            )
        return commit, release

    def _counted_facts(
        self, conn: Connection, commit: _Commit, frequency_set: FrequencySet, project: str | None
    ) -> tuple[list[_SampleFacts], list[_SampleFacts], str | None]:
        """(counted, excluded) samples of the commit for the set, and the consent time."""
        ids = self._committed_samples(conn, commit.seq)
        facts = self._sample_facts(conn, ids)
        latest = conn.execute(sa.select(sa.func.max(consent_events.c.recorded_at))).scalar()
        counted: list[_SampleFacts] = []
        excluded: list[_SampleFacts] = []
        purpose = _SET_PURPOSE[frequency_set]
        histories = (
            {}
            if frequency_set is FrequencySet.CLINICAL
            else load_consents(conn, (facts[s].person for s in ids))
        )
        for sample_id in ids:
            f = facts[sample_id]
            if frequency_set is FrequencySet.CLINICAL:
                allowed = f.origin is not SampleOrigin.RESEARCH
            else:
                state = derive_state(histories[f.person])
                allowed = decide_consent(
                    state,
                    purpose,
                    origin=f.origin,
                    origin_project=f.origin_project,
                    project=project,
                ).allowed
            (counted if allowed else excluded).append(f)
        as_of = None if latest is None else latest.isoformat()
        return counted, excluded, as_of

    def _frequency_table(
        self,
        commit: _Commit,
        counted: list[_SampleFacts],
        excluded: list[_SampleFacts],
        *,
        variant_ids: Sequence[Any] | None,
        region: Any,
        by: Sequence[str],
    ) -> tuple[pa.Table, str]:
        """The frequency table of ``counted`` at ``commit`` and how it was made: from the
        incremental counts (``counts``: the counted and excluded samples are exactly the
        counted ones, the excluded subtracted) or a full ``recompute``."""
        counts = self._counts()
        state = counts.state()
        if (
            state.snapshot == commit.snapshot
            and state.counts_version == commit.counts_version
            and set(counts.counted_samples(state)) == {f.sample_id for f in counted + excluded}
        ):
            table = counts.frequencies_from_counts(
                variant_ids=variant_ids,
                region=region,
                by=by,
                exclude=self._samples_table(excluded) if excluded else None,
            )
            return table, "counts"
        table = self.engine().frequencies(
            commit.snapshot,
            self._samples_table(counted),
            variant_ids=variant_ids,
            region=region,
            by=by,
        )
        return table, "recompute"

    def _check_set(self, ctx: RequestContext, frequency_set: FrequencySet) -> None:
        """Researchers count only persons who did not opt out (denied and audited)."""
        if frequency_set is FrequencySet.CLINICAL and ctx.actor.role is Role.RESEARCHER:
            reason = "researchers see the research or public frequencies, not the clinical set"
            self.gate.record(ctx, Action.VARIANT_QUERY, "variants", decision="deny", reason=reason)
            raise PermissionDeniedError(f"{reason}: use --purpose research")

    # -- queries ---------------------------------------------------------------------------

    def lookup(
        self, ctx: RequestContext, variant_ids: Sequence[str], *, release: str | None = None
    ) -> VariantsReport:
        """The variants among ``variant_ids`` that the database holds."""
        ids = [parse_variant_id(v) for v in variant_ids]
        if not ids:
            raise InvalidInputError("give at least one variant (CONTIG-POS-REF-ALT)")
        with self.gate.access(ctx, Action.VARIANT_QUERY, resource="variants") as grant:
            commit, _ = self._scope_commit(grant.conn, release)
            rows = self.engine().lookup(commit.snapshot, ids).to_pylist()
            grant.note = f"lookup of {len(ids)} variant(s) at commit {commit.seq}"
        return VariantsReport(rows, QueryScope(commit.seq, release))

    def region(
        self, ctx: RequestContext, region: str, *, release: str | None = None
    ) -> VariantsReport:
        """The variants overlapping ``CONTIG:START-END``."""
        contig, start, end = parse_region(region)
        with self.gate.access(ctx, Action.VARIANT_QUERY, resource="variants") as grant:
            commit, _ = self._scope_commit(grant.conn, release)
            rows = self.engine().region(commit.snapshot, contig, start, end).to_pylist()
            grant.note = f"region {contig}:{start}-{end} at commit {commit.seq}: {len(rows)} rows"
        return VariantsReport(rows, QueryScope(commit.seq, release))

    def frequency(
        self,
        ctx: RequestContext,
        *,
        variant_ids: Sequence[str] | None = None,
        region: str | None = None,
        frequency_set: FrequencySet | str = FrequencySet.RESEARCH,
        by: Sequence[str] = ("overall", "sex", "region"),
        release: str | None = None,
    ) -> FrequencyReport:
        """AC, AN, AF, homozygotes and hemizygotes per variant, overall, by sex and region.

        Counts only the samples the set allows, consent read now (module doc).
        """
        try:
            chosen = FrequencySet(frequency_set)
        except ValueError:
            raise InvalidInputError(
                f"unknown frequency set {frequency_set!r}: choose clinical, research or public"
            ) from None
        if (variant_ids is None) == (region is None):
            raise InvalidInputError("give variants or --region (exactly one)")
        ids = None if variant_ids is None else [parse_variant_id(v) for v in variant_ids]
        where = None if region is None else parse_region(region)
        self._check_set(ctx, chosen)
        with self.gate.access(ctx, Action.VARIANT_QUERY, resource="variants") as grant:
            commit, _ = self._scope_commit(grant.conn, release)
            counted, excluded, as_of = self._counted_facts(grant.conn, commit, chosen, ctx.project)
            table, method = self._frequency_table(
                commit, counted, excluded, variant_ids=ids, region=where, by=by
            )
            rows = table.to_pylist()
            grant.note = (
                f"{chosen.value} frequencies at commit {commit.seq}: {len(counted)} samples "
                f"counted, {len(excluded)} excluded by consent as of {as_of or 'no event'}"
            )
        scope = QueryScope(commit.seq, release, chosen, len(counted), len(excluded), as_of, method)
        return FrequencyReport(rows, scope)

    def carriers(
        self, ctx: RequestContext, variant_id: str, *, release: str | None = None
    ) -> CarriersReport:
        """Carriers of a variant, person by person, as far as the asker may see them.

        A geneticist sees the carriers with a requisition from their own department (by
        sample id); a researcher the consenting carriers under project pseudonyms. Every
        person shown is named in the audit entry; the others are only counted.
        """
        key = parse_variant_id(variant_id)
        with self.gate.access(ctx, Action.VARIANT_CARRIERS, resource=f"variant/{key}") as grant:
            conn = grant.conn
            commit, _ = self._scope_commit(conn, release)
            ids = self._committed_samples(conn, commit.seq)
            facts = self._sample_facts(conn, ids)
            found = self.engine().carriers(
                commit.snapshot, key, self._samples_table(list(facts.values()))
            )
            shown: list[CarrierRow] = []
            histories = (
                load_consents(conn, (facts[c.sample_id].person for c in found))
                if ctx.actor.role is Role.RESEARCHER
                else {}
            )
            for carrier in found:
                f = facts[carrier.sample_id]
                if ctx.actor.role is Role.RESEARCHER:
                    state = derive_state(histories[f.person])
                    if not decide_consent(
                        state,
                        Purpose.RESEARCH,
                        origin=f.origin,
                        origin_project=f.origin_project,
                        project=ctx.project,
                    ).allowed:
                        continue
                    if self._project_key is None or ctx.project is None:
                        raise ConfigurationError("project pseudonyms need the pseudonym key")
                    label = project_pseudonym(self._project_key.reveal(), ctx.project, f.person)
                else:
                    if ctx.actor.org_code not in requisition_departments(conn, f.person):
                        continue
                    label = f.sample_id
                grant.subjects.add(f.person)
                shown.append(CarrierRow(label, carrier.call_gt, carrier.call_gq, carrier.call_dp))
            grant.note = f"{len(shown)} of {len(found)} carriers shown at commit {commit.seq}"
        shown.sort(key=lambda c: c.label)
        return CarriersReport(key, shown, QueryScope(commit.seq, release), len(found) - len(shown))

    def genotypes(
        self,
        ctx: RequestContext,
        sample_id: str,
        sites: Sequence[str],
        *,
        release: str | None = None,
    ) -> GenotypesReport:
        """A sample's genotype at each site: hom-ref (reference block), no-call, het, ..."""
        ids = [parse_variant_id(v) for v in sites]
        if not ids:
            raise InvalidInputError("give at least one site (CONTIG-POS-REF-ALT)")
        facts = self._facts_of(sample_id)
        with self.gate.access(
            ctx, Action.VARIANT_GENOTYPES, resource=f"sample/{sample_id}", person=facts.person
        ) as grant:
            commit, _ = self._scope_commit(grant.conn, release)
            if sample_id not in self._committed_samples(grant.conn, commit.seq):
                raise NotFoundError(
                    f"sample {sample_id} is not in the genome database"
                    + (f" release {release}" if release else "")
                    + ": ingest its calls with helgenom variants ingest"
                )
            found = self.engine().genotypes(commit.snapshot, sample_id, ids)
            grant.note = f"{len(ids)} site(s) at commit {commit.seq}"
        rows = [
            {
                "variant_id": g.variant_id,
                "state": g.state,
                "call_gt": g.call_gt,
                "gq": g.gq,
                "dp": g.dp,
            }
            for g in found
        ]
        return GenotypesReport(sample_id, rows, QueryScope(commit.seq, release))

    # -- releases and withdrawal ------------------------------------------------------------

    def release(self, ctx: RequestContext, name: str, *, note: str = "") -> ReleaseRecord:
        """Name the current state of the database (stewards)."""
        if not RELEASE_NAME.fullmatch(name):
            raise InvalidInputError(
                f"release name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-'"
            )
        with self.gate.access(ctx, Action.VARIANT_RELEASE, resource=f"release/{name}") as grant:
            conn = grant.conn
            if conn.execute(
                sa.select(variant_releases.c.name).where(variant_releases.c.name == name)
            ).first():
                raise ConflictError(f"release {name} exists already: choose another name")
            commit = self._last_commit(conn)
            if commit is None:
                raise NotFoundError("the genome database is empty: nothing to release")
            created = _now()
            conn.execute(
                variant_releases.insert().values(
                    name=name,
                    commit_seq=commit.seq,
                    created_at=created,
                    created_by=ctx.actor.name,
                    note=note,
                )
            )
            count = len(self._committed_samples(conn, commit.seq))
            grant.note = f"release {name} = commit {commit.seq} ({count} samples)"
        return ReleaseRecord(name, commit.seq, created, ctx.actor.name, note, count)

    def releases(self, ctx: RequestContext) -> list[ReleaseRecord]:
        """The named releases, oldest first."""
        with self.gate.access(ctx, Action.VARIANT_QUERY, resource="releases") as grant:
            rows = grant.conn.execute(
                sa.select(variant_releases).order_by(variant_releases.c.created_at)
            ).all()
            result = [
                ReleaseRecord(
                    r.name,
                    int(r.commit_seq),
                    r.created_at,
                    r.created_by,
                    r.note,
                    len(self._committed_samples(grant.conn, int(r.commit_seq))),
                )
                for r in rows
            ]
        return result

    def withdraw(self, ctx: RequestContext, cpr: str, *, use: str = "research") -> int:
        """Withdraw a person from research use: recorded as a research opt-out.

        From the next query on, the person's samples leave the research and public
        frequencies (also of earlier releases: consent is applied when a query runs)
        and every research query. Returns the number of the person's samples in the
        database.
        """
        if use != "research":
            raise InvalidInputError(
                f"withdrawal from {use!r} is not possible: only --from research (clinical care "
                "keeps its records by law)"
            )
        pseudonym = self.vault.pseudonym(parse_cpr(cpr))
        with self.gate.access(
            ctx, Action.VARIANT_WITHDRAW, resource=f"person/{pseudonym}", person=pseudonym
        ) as grant:
            self.vault.require(grant.conn, pseudonym)
            grant.conn.execute(
                consent_events.insert().values(
                    person_pseudonym=pseudonym,
                    recorded_at=_now(),
                    source="withdrawal",
                    actor=ctx.actor.name,
                    research=ResearchChoice.OPT_OUT.value,
                    secondary_findings=None,
                    recontact=None,
                )
            )
            count = grant.conn.execute(
                sa.select(sa.func.count())
                .select_from(variant_ingests.join(samples))
                .where(samples.c.person_pseudonym == pseudonym)
                .where(variant_ingests.c.status == "committed")
            ).scalar_one()
            grant.note = f"withdrawn from research use; {count} sample(s) in the database"
        return int(count)

    # -- for the case service (no access check here: the caller's grant covers it) ----------

    def family_view(
        self, conn: Connection, sample_ids: Sequence[str]
    ) -> tuple[Any, dict[str, str], list[str]]:
        """(snapshot of the last commit, sample -> sex, committed samples) for a case analysis.

        Raises
        ------
        NotFoundError
            The database is empty or a sample of the family is not in it.
        """
        commit = self._last_commit(conn)
        if commit is None:
            raise NotFoundError(
                "the genome database is empty: ingest the family's calls with helgenom "
                "variants ingest"
            )
        committed = self._committed_samples(conn, commit.seq)
        missing = [s for s in sample_ids if s not in committed]
        if missing:
            raise NotFoundError(
                f"sample(s) {', '.join(missing)} are not in the genome database: ingest their "
                "calls with helgenom variants ingest SAMPLE FILE"
            )
        facts = self._sample_facts(conn, list(sample_ids))
        return commit, {s: facts[s].sex for s in sample_ids}, committed

    def public_rows(
        self,
        conn: Connection,
        *,
        variant_ids: Sequence[str] | None = None,
        region: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, _SampleFacts], Any]:
        """Overall AC/AN/hom/hemi of the public set (consent read now) at the last commit,
        the counted samples' facts and the commit, for the Beacon service (no access check
        here: the caller decides what it may disclose).
        """
        commit = self._last_commit(conn)
        if commit is None:
            return [], {}, None
        counted, excluded, _as_of = self._counted_facts(conn, commit, FrequencySet.PUBLIC, None)
        if not counted:
            return [], {}, commit
        ids = None if variant_ids is None else [parse_variant_id(v) for v in variant_ids]
        where = None if region is None else parse_region(region)
        table, _method = self._frequency_table(
            commit, counted, excluded, variant_ids=ids, region=where, by=("overall",)
        )
        rows = [r for r in table.to_pylist() if r["group"] == "overall"]
        return rows, {f.sample_id: f for f in counted}, commit

    def public_carriers(
        self, commit: Any, variant_id: str, counted: dict[str, _SampleFacts]
    ) -> dict[str, int]:
        """Person pseudonym -> ALT alleles carried, among the counted samples, for the
        Beacon's per-person budget (never disclosed)."""
        found = self.engine().carriers(
            commit.snapshot, variant_id, self._samples_table(list(counted.values()))
        )
        out: dict[str, int] = {}
        for carrier in found:
            facts = counted.get(carrier.sample_id)
            if facts is None:
                continue
            alleles = min(2, max(1, carrier.call_gt.count("1")))
            out[facts.person] = max(out.get(facts.person, 0), alleles)
        return out

    def national_frequencies(
        self, conn: Connection, commit: Any, variant_ids: Sequence[str], exclude: Sequence[str]
    ) -> dict[str, tuple[int, int]]:
        """(AC, AN) of each variant in the clinical set at ``commit``, ``exclude`` left out.

        The case service leaves the family out so that a family's own variants do not
        count as seen in the population.
        """
        if not variant_ids:
            return {}
        ids = self._committed_samples(conn, commit.seq)
        counted = [f for s, f in self._sample_facts(conn, ids).items()
                   if s not in set(exclude) and f.origin is not SampleOrigin.RESEARCH]  # fmt: skip
        if not counted:
            return {}
        table = self.engine().frequencies(
            commit.snapshot,
            self._samples_table(counted),
            variant_ids=list(variant_ids),
            by=("overall",),
        )
        out: dict[str, tuple[int, int]] = {}
        for row in table.to_pylist():
            out[row["variant_id"]] = (int(row["ac"] or 0), int(row["an"] or 0))
        return out


def parse_batch_list(path: Path) -> list[BatchItem]:
    """Read an ingest-batch list: ``SAMPLE_ID<TAB>FILE[<TAB>VCF_SAMPLE]`` per line.

    ``FILE`` may be ``object:ID`` for a stored object; relative paths are relative to
    the list's folder; ``#`` starts a comment.
    """
    if not path.is_file():
        raise NotFoundError(f"no file {path}")
    items: list[BatchItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split("\t") if "\t" in text else text.split()
        if len(parts) not in (2, 3):
            raise FormatError(
                f"{path}:{number}: expected SAMPLE_ID, FILE and optionally VCF_SAMPLE, "
                f"separated by tabs; found {len(parts)} fields"
            )
        sample_id, source = parts[0], parts[1]
        vcf_sample = parts[2] if len(parts) == 3 else None
        if source.startswith("object:"):
            items.append(BatchItem(sample_id, object_id=source[7:], vcf_sample=vcf_sample))
        else:
            file = Path(source)
            items.append(
                BatchItem(
                    sample_id,
                    path=file if file.is_absolute() else path.parent / file,
                    vcf_sample=vcf_sample,
                )
            )
    if not items:
        raise FormatError(f"{path} lists no sample")
    return items


__all__ = [
    "ENGINES",
    "BatchItem",
    "BatchOutcome",
    "CarrierRow",
    "CarriersReport",
    "FrequencyReport",
    "FrequencySet",
    "GenotypesReport",
    "IngestOutcome",
    "QueryScope",
    "ReleaseRecord",
    "VariantService",
    "VariantsReport",
    "parse_batch_list",
    "parse_region",
    "parse_variant_id",
    "variant_adapters",
]
