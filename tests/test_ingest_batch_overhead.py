"""The batch ingest's shared work: one access pre-check for the batch, the file's
digest taken from the parse, group-wise catalog writes and, with workers, the next
group parsing while the current one commits. Each keeps the behaviour of doing the
work item by item.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import World, make_cpr
from helgenom.adapters.catalog.schema import audit_log, variant_commits, variant_ingests
from helgenom.adapters.pipeline import reference as reference_module
from helgenom.adapters.variants.cohort import Cohort, simulate_cohort
from helgenom.core.access import Action
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.models import SampleOrigin, Sex
from helgenom.services import variants as variants_module
from helgenom.services.platform import Platform
from helgenom.services.variants import BatchItem

AUDIT_FIELDS = ("actor", "role", "org", "purpose", "action", "resource", "subjects")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(
        tmp_path_factory.mktemp("cohort"), samples=6, length=20_000, seed=5, gvcf=True
    )


def enrol(world: World, cohort: Cohort, folder: Path) -> list[BatchItem]:
    """Persons, requisitions and samples for the cohort; each file copied to ``folder``."""
    p = world.platform
    clinician = p.context("clin-a")
    p.references.load(p.context("operator"), cohort.reference_fasta, build="SIM")
    items = []
    for i, (name, sex, vcf) in enumerate(
        zip(cohort.samples, cohort.sexes, cohort.sample_vcfs, strict=True)
    ):
        cpr = make_cpr(300 + i, Sex(sex))
        p.persons.register(clinician, cpr)
        requisition = p.requisitions.create(clinician, cpr, indication="R59")
        sample_id = p.samples.register(
            clinician, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition
        )
        copy = folder / vcf.name
        shutil.copyfile(vcf, copy)
        items.append(BatchItem(sample_id, path=copy, vcf_sample=name))
    return items


def audit_since(p: Platform, seq: int) -> list[tuple[object, ...]]:
    with p.catalog.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)
        ).all()
    return [(*(getattr(r, f) for f in AUDIT_FIELDS), r.decision, r.reason) for r in rows]


def last_seq(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.seq), 0))).scalar_one()
        )


def ingest_rows(p: Platform) -> list[sa.Row[tuple[object, ...]]]:
    with p.catalog.engine.connect() as conn:
        return list(conn.execute(sa.select(variant_ingests).order_by(variant_ingests.c.id)))


# -- the batched access pre-check -----------------------------------------------------------


@pytest.mark.parametrize("actor", ["clin-a", "clin-b", "gen-a", "operator", "researcher"])
def test_authorise_many_decides_and_audits_as_authorise_one_by_one(
    world: World, actor: str
) -> None:
    p = world.platform
    pseudonym = {
        name: p.variants.vault.pseudonym(parse_cpr(cpr))
        for name, cpr in (("a", world.patient_a), ("b", world.patient_b))
    }
    checks: list[tuple[str, str | None]] = [
        ("person/a", pseudonym["a"]),
        ("person/none", None),
        ("person/b", pseudonym["b"]),
        ("person/a-again", pseudonym["a"]),
    ]
    ctx = p.context(actor)
    for action in (Action.PERSON_READ, Action.VARIANT_INGEST, Action.VARIANT_GENOTYPES):
        before = last_seq(p)
        single_error: str | None = None
        try:
            for resource, person in checks:
                p.gate.authorise(ctx, action, resource=resource, person=person)
        except PermissionDeniedError as exc:
            single_error = str(exc)
        single = audit_since(p, before)
        middle = last_seq(p)
        many_error: str | None = None
        try:
            p.gate.authorise_many(ctx, action, checks)
        except PermissionDeniedError as exc:
            many_error = str(exc)
        assert many_error == single_error, (actor, action)
        assert audit_since(p, middle) == single, (actor, action)
        assert len(single) == (0 if single_error is None else 1)


def test_authorise_many_of_nothing_decides_nothing(world: World) -> None:
    p = world.platform
    before = last_seq(p)
    p.gate.authorise_many(p.context("clin-a"), Action.VARIANT_INGEST, [])
    assert last_seq(p) == before


def test_a_batch_of_a_foreign_department_is_denied_before_any_work(
    world: World, cohort: Cohort, tmp_path: Path
) -> None:
    p = world.platform
    items = enrol(world, cohort, tmp_path)
    before = last_seq(p)
    with pytest.raises(PermissionDeniedError, match=r"may not variant\.ingest"):
        p.variants.ingest_batch(p.context("clin-a"), items, workers=0)
    entries = audit_since(p, before)
    assert [(e[5], e[7]) for e in entries] == [(f"sample/{items[0].sample_id}", "deny")]
    assert ingest_rows(p) == []


# -- the digest taken from the parse ------------------------------------------------------


def test_the_digest_comes_from_the_parse_and_a_resumed_ingest_keeps_its_id(
    world: World, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    operator = p.context("operator")
    items = enrol(world, cohort, tmp_path)
    reads: list[Path] = []
    original_sha = reference_module.file_sha256

    def counting(path: Path) -> str:
        if path.parent == tmp_path:  # the sample files (not the reference)
            reads.append(path)
        return original_sha(path)

    monkeypatch.setattr(reference_module, "file_sha256", counting)

    # Interrupted after the group's ingests were recorded as writing.
    def killed(self: object) -> None:
        raise RuntimeError("killed after the ingests were recorded")

    monkeypatch.setattr(variants_module.VariantService, "_counts", killed)
    with pytest.raises(RuntimeError, match="killed"):
        p.variants.ingest_batch(operator, items[:3], workers=0)
    monkeypatch.undo()
    monkeypatch.setattr(reference_module, "file_sha256", counting)
    assert reads == []  # no sample had ingests: nothing read before parsing
    writing = {r.sample_id: r for r in ingest_rows(p)}
    assert {r.status for r in writing.values()} == {"writing"}
    for item in items[:3]:
        assert item.path is not None
        assert (
            writing[item.sample_id].input_sha256
            == hashlib.sha256(item.path.read_bytes()).hexdigest()
        )

    outcome = p.variants.ingest_batch(operator, items, workers=0, group_size=4)
    assert outcome.failed == []
    assert outcome.commits == 2
    assert sorted(reads) == sorted(i.path for i in items[:3] if i.path is not None)
    done = {o.sample_id: o for o in outcome.committed}
    for item in items[:3]:
        assert done[item.sample_id].ingest_id == writing[item.sample_id].id  # resumed
    for item in items:
        assert item.path is not None
        assert (
            done[item.sample_id].input_sha256 == hashlib.sha256(item.path.read_bytes()).hexdigest()
        )
    rows = ingest_rows(p)
    assert len(rows) == len(items)  # no duplicate ingest
    assert {r.status for r in rows} == {"committed"}
    sites = p.variants.region(operator, f"{cohort.contig}:1-{cohort.length}").rows
    assert sum(o.variants_new for o in outcome.committed) == len(sites)
    again = p.variants.ingest_batch(operator, items, workers=0)
    assert [o.sample_id for o in again.unchanged] == [i.sample_id for i in items]
    assert again.commits == 0


def test_a_file_changed_between_its_digest_and_its_parse_is_rejected(
    world: World, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    operator = p.context("operator")
    items = enrol(world, cohort, tmp_path)[:3]

    def killed(self: object) -> None:
        raise RuntimeError("killed after the ingests were recorded")

    monkeypatch.setattr(variants_module.VariantService, "_counts", killed)
    with pytest.raises(RuntimeError, match="killed"):
        p.variants.ingest_batch(operator, items, workers=0)
    monkeypatch.undo()
    changing = items[1]
    assert changing.path is not None
    original_sha = reference_module.file_sha256

    def then_change(path: Path) -> str:
        digest = original_sha(path)
        if path == changing.path:  # written again after the digest was read
            text = gzip.decompress(path.read_bytes()).decode()
            path.write_bytes(
                gzip.compress(text.replace("\n#CHROM", "\n##note=x\n#CHROM", 1).encode())
            )
        return digest

    monkeypatch.setattr(reference_module, "file_sha256", then_change)
    outcome = p.variants.ingest_batch(operator, items, workers=0)
    assert [o.sample_id for o in outcome.committed] == [items[0].sample_id, items[2].sample_id]
    assert len(outcome.failed) == 1
    sample_id, message = outcome.failed[0]
    assert sample_id == changing.sample_id
    assert "changed while it was being ingested" in message
    statuses = {r.sample_id: r.status for r in ingest_rows(p)}
    assert statuses[changing.sample_id] == "writing"  # not committed, resumable
    with pytest.raises(ConflictError, match="changed while it was being ingested"):
        p.variants.ingest(
            operator, changing.sample_id, path=changing.path, vcf_sample=changing.vcf_sample
        )
    monkeypatch.undo()
    done = p.variants.ingest(
        operator, changing.sample_id, path=changing.path, vcf_sample=changing.vcf_sample
    )
    assert done.status == "committed"
    assert done.input_sha256 == hashlib.sha256(changing.path.read_bytes()).hexdigest()


# -- workers: the next group parses while the current one commits -------------------------


def test_with_workers_groups_commit_in_order_and_a_bad_file_stops_nothing_else(
    world: World, cohort: Cohort, tmp_path: Path
) -> None:
    p = world.platform
    operator = p.context("operator")
    items = enrol(world, cohort, tmp_path)
    bad = items[3]
    assert bad.path is not None
    bad.path.write_bytes(gzip.compress(b"not a vcf\n"))
    progress: list[tuple[int, int]] = []
    outcome = p.variants.ingest_batch(
        operator, items, workers=2, group_size=2, progress=lambda d, t: progress.append((d, t))
    )
    assert [s for s, _ in outcome.failed] == [bad.sample_id]
    assert [o.sample_id for o in outcome.committed] == [i.sample_id for i in items if i is not bad]
    assert outcome.commits == 3
    assert [o.commit_seq for o in outcome.committed] == [1, 1, 2, 3, 3]
    assert progress == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6), (6, 6)]
    with p.catalog.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(variant_commits)).scalar() == 3


def test_with_workers_stop_on_error_keeps_the_groups_before_the_failure(
    world: World, cohort: Cohort, tmp_path: Path
) -> None:
    p = world.platform
    operator = p.context("operator")
    items = enrol(world, cohort, tmp_path)
    bad = items[3]
    assert bad.path is not None
    bad.path.write_bytes(gzip.compress(b"not a vcf\n"))

    def committed() -> list[str]:
        return sorted(str(r.sample_id) for r in ingest_rows(p) if r.status == "committed")

    # A bad file in the second group: the first group is committed, nothing after it.
    with pytest.raises(FormatError):
        p.variants.ingest_batch(operator, items, workers=2, group_size=2, stop_on_error=True)
    assert committed() == sorted(i.sample_id for i in items[:2])
    # A missing file in the third group (staged while the second commits): the second
    # group is still committed before the batch stops.
    missing = BatchItem(items[5].sample_id, path=tmp_path / "absent.vcf.gz")
    batch = [*items[:3], items[4], missing]
    with pytest.raises(NotFoundError, match="no file"):
        p.variants.ingest_batch(operator, batch, workers=2, group_size=2, stop_on_error=True)
    assert committed() == sorted(i.sample_id for i in batch[:4])
    with p.catalog.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(variant_commits)).scalar() == 2
