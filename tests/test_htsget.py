"""GA4GH htsget 1.3 over the encrypted store: tickets, region slices, formats, Crypt4GH.

One instance per module. The tests write their own BAM, CRAM (with its reference),
VCF.gz and BCF with pysam and index them; slices fetched through the API are read back
with pysam and compared with pysam's own region queries on the original files. With the
shared test data (``../shared/testdata/htsget-compliance``) present, the objects the
GA4GH compliance suite requests are stored under its ids and checked the same way, and
tickets are validated against the suite's JSON schema.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysam
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import SHARED_TESTDATA, World, build_world
from helgenom.adapters import htsindex
from helgenom.adapters.catalog.schema import audit_log, samples
from helgenom.adapters.keys import write_crypt4gh_keypair
from helgenom.api.app import create_app
from helgenom.core.errors import FormatError
from helgenom.core.models import ObjectKind
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform
from helgenom.services.tokens import parse_ttl

COMPLIANCE = SHARED_TESTDATA / "htsget-compliance" / "ga4gh" / "htsget"
V1 = "/ga4gh/htsget/v1"
CRAM_FIELDS = [b"required_fields=47"]
"""QNAME, FLAG, RNAME, POS, CIGAR: enough to place reads without the CRAM's reference."""

CONTIGS = (("chrA", 200_000), ("chrB", 120_000), ("chrC", 50_000))


# -- test data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    """Generated files, each with its index."""

    fasta: Path
    bam: Path
    cram: Path
    vcf: Path
    bcf: Path


def write_reads(folder: Path, seed: int = 7) -> tuple[Path, Path, Path]:
    """A reference, and a coordinate-sorted BAM and CRAM of the same reads (indexed):
    4,000 reads on chrA, 2,000 on chrB, none on chrC, 300 unplaced unmapped ones."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sequences = {name: "".join(rng.choice("ACGT") for _ in range(n)) for name, n in CONTIGS}
    fasta = folder / "ref.fa"
    with fasta.open("w") as out:
        for name, seq in sequences.items():
            out.write(f">{name}\n")
            out.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    pysam.faidx(str(fasta))
    header = pysam.AlignmentHeader.from_dict(
        {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": ln} for n, ln in CONTIGS]}
    )
    records = []
    for tid, count in ((0, 4000), (1, 2000)):
        name, length = CONTIGS[tid]
        for i, pos in enumerate(sorted(rng.randrange(0, length - 100) for _ in range(count))):
            read = pysam.AlignedSegment(header)
            read.query_name = f"{name}-{i}"
            read.flag = 16 if i % 3 == 0 else 0
            read.reference_id = tid
            read.reference_start = pos
            read.mapping_quality = 60
            read.cigarstring = "100M"
            read.query_sequence = sequences[name][pos : pos + 100]
            read.query_qualities = pysam.qualitystring_to_array("I" * 100)
            records.append(read)
    for i in range(300):
        read = pysam.AlignedSegment(header)
        read.query_name = f"unplaced-{i}"
        read.flag = 4
        read.reference_id = -1
        read.reference_start = -1
        read.query_sequence = "".join(rng.choice("ACGT") for _ in range(100))
        read.query_qualities = pysam.qualitystring_to_array("5" * 100)
        records.append(read)
    bam, cram = folder / "reads.bam", folder / "reads.cram"
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for read in records:
            out.write(read)
    with pysam.AlignmentFile(
        str(cram),
        "wc",
        header=header,
        reference_filename=str(fasta),
        format_options=[b"seqs_per_slice=500"],
    ) as out:
        for read in records:
            out.write(read)
    pysam.index(str(bam))
    pysam.index(str(cram))
    return fasta, bam, cram


def write_variants(folder: Path, seed: int = 11, sample: str = "S1") -> tuple[Path, Path]:
    """A VCF.gz (bgzip'd as one stream, so the header shares its block with records; TBI)
    and the same records as BCF (CSI): 3,000 on chrA, 1,000 on chrB."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "##fileformat=VCFv4.2",
        *(f"##contig=<ID={n},length={ln}>" for n, ln in CONTIGS),
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}",
    ]
    for name, count in (("chrA", 3000), ("chrB", 1000)):
        length = dict(CONTIGS)[name]
        for pos in sorted(rng.sample(range(1, length), count)):
            ref = rng.choice("ACGT")
            alt = rng.choice([b for b in "ACGT" if b != ref])
            gt = rng.choice(["0/1", "1/1"])
            lines.append(
                f"{name}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\tDP={rng.randint(5, 60)}\tGT\t{gt}"
            )
    plain = folder / "calls.vcf"
    plain.write_text("\n".join(lines) + "\n")
    vcf = folder / "calls.vcf.gz"
    pysam.tabix_compress(str(plain), str(vcf), force=True)
    pysam.tabix_index(str(vcf), preset="vcf", force=True, keep_original=True)
    bcf = folder / "calls.bcf"
    with (
        pysam.VariantFile(str(vcf)) as source,
        pysam.VariantFile(str(bcf), "wb", header=source.header) as out,
    ):
        for record in source:
            out.write(record)
    pysam.tabix_index(str(bcf), preset="vcf", force=True, keep_original=True, csi=True)
    return vcf, bcf


def index_of(path: Path) -> tuple[Path, ObjectKind]:
    for suffix, kind in ((".bai", ObjectKind.BAI), (".crai", ObjectKind.CRAI)):
        if Path(f"{path}{suffix}").exists():
            return Path(f"{path}{suffix}"), kind
    for suffix, kind in ((".tbi", ObjectKind.TBI), (".csi", ObjectKind.CSI)):
        if Path(f"{path}{suffix}").exists():
            return Path(f"{path}{suffix}"), kind
    raise AssertionError(f"no index beside {path}")


DATA_KIND = {".bam": ObjectKind.BAM, ".cram": ObjectKind.CRAM, ".gz": ObjectKind.VCF}


def store(p: Platform, sample_id: str, path: Path, name: str) -> str:
    """Put a file and its index for a sample (operator) and register them; the object id."""
    operator = p.context("operator")
    kind = DATA_KIND.get(path.suffix, ObjectKind.VCF)
    data = p.objects.put(operator, path, sample_id=sample_id, kind=kind).record.object_id
    index_path, index_kind = index_of(path)
    index = p.objects.put(operator, index_path, sample_id=sample_id, kind=index_kind)
    p.htsget.register(operator, data, index_object_id=index.record.object_id, name=name)
    return data


def first_sample(p: Platform, cpr: str) -> str:
    from helgenom.core.cpr import parse_cpr

    pseudonym = p.persons.vault.pseudonym(parse_cpr(cpr))
    with p.catalog.engine.connect() as conn:
        return str(
            conn.execute(
                sa.select(samples.c.id)
                .where(samples.c.person_pseudonym == pseudonym)
                .order_by(samples.c.created_at)
                .limit(1)
            ).scalar_one()
        )


# -- fixtures -----------------------------------------------------------------------------


@dataclass
class Site:
    """The module's instance, API client, files and tokens."""

    world: World
    client: TestClient
    files: Files
    work: Path
    sample_id: str
    tokens: dict[str, str]

    @property
    def platform(self) -> Platform:
        return self.world.platform

    def auth(self, user: str = "gen-a", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}", **extra}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("htsget")
    home = root / "instance"
    init_instance(home)
    p = open_platform(str(home))
    try:
        world = build_world(p)
        work = root / "work"
        fasta, bam, cram = write_reads(work / "reads")
        vcf, bcf = write_variants(work / "variants")
        files = Files(fasta, bam, cram, vcf, bcf)
        sample_id = first_sample(p, world.patient_a)
        for path, name in ((bam, "reads1"), (cram, "reads1"), (vcf, "calls1"), (bcf, "calls1")):
            store(p, sample_id, path, name)
        tokens = {
            u: p.tokens.issue(p.context(), u, parse_ttl("1h")).token
            for u in ("gen-a", "clin-b", "operator", "citizen")
        }
        with TestClient(create_app(str(home))) as client:
            yield Site(world, client, files, work, sample_id, tokens)
    finally:
        p.close()


# -- helpers ------------------------------------------------------------------------------


def ticket(site: Site, path: str, user: str = "gen-a", **params: Any) -> dict[str, Any]:
    response = site.client.get(f"{V1}/{path}", params=params, headers=site.auth(user))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def fetch(site: Site, document: dict[str, Any]) -> list[bytes]:
    """Every block of a ticket, as served (data: URIs decoded)."""
    blocks = []
    for url in document["htsget"]["urls"]:
        if url["url"].startswith("data:"):
            blocks.append(base64.b64decode(url["url"].split(",", 1)[1]))
        else:
            response = site.client.get(url["url"], headers=url.get("headers", {}))
            assert response.status_code in (200, 206), response.text
            blocks.append(response.content)
    return blocks


def slice_of(site: Site, path: str, suffix: str, **params: Any) -> Path:
    out = site.work / f"slice-{random.getrandbits(40):x}{suffix}"
    out.write_bytes(b"".join(fetch(site, ticket(site, path, **params))))
    return out


def read_keys(path: Path, reference: Path | None = None) -> list[tuple[str, int, int]]:
    """(name, flag, position) of every read of a BAM or CRAM, read start to end."""
    options = {} if reference is None else {"reference_filename": str(reference)}
    if path.suffix == ".cram" and reference is None:
        options["format_options"] = CRAM_FIELDS  # type: ignore[assignment]
    with pysam.AlignmentFile(str(path), **options) as f:  # type: ignore[arg-type]
        return [(r.query_name, r.flag, r.reference_start) for r in f.fetch(until_eof=True)]


def region_keys(
    path: Path, contig: str | None, start: int | None, end: int | None, ref: Path | None = None
) -> set[tuple[str, int, int]]:
    """What pysam's own index query returns on the original file."""
    options: dict[str, Any] = {} if ref is None else {"reference_filename": str(ref)}
    if path.suffix == ".cram" and ref is None:
        options["format_options"] = CRAM_FIELDS
    with pysam.AlignmentFile(str(path), **options) as f:
        reads = f.fetch("*") if contig == "*" else f.fetch(contig, start, end)
        return {(r.query_name, r.flag, r.reference_start) for r in reads}


def variant_keys(path: Path, region: tuple[str, int | None, int | None] | None = None) -> set[str]:
    with pysam.VariantFile(str(path)) as f:
        records = f.fetch(*region) if region else f
        return {f"{r.chrom}:{r.pos}:{r.ref}:{r.alts}" for r in records}


def audit_count(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())


# -- the index module ---------------------------------------------------------------------


def test_layout_and_indexes_of_generated_files(site: Site) -> None:
    f = site.files
    for path, fmt, aligned in [
        (f.bam, htsindex.HtsFormat.BAM, True),
        (f.cram, htsindex.HtsFormat.CRAM, True),
        (f.vcf, htsindex.HtsFormat.VCF, False),
        (f.bcf, htsindex.HtsFormat.BCF, None),
    ]:
        data = path.read_bytes()
        reads: list[tuple[int, int]] = []

        def read(a: int, b: int, data: bytes = data, reads: list[tuple[int, int]] = reads) -> bytes:
            reads.append((a, b))
            return data[a:b]

        layout = htsindex.read_layout(read, len(data))
        assert layout.format is fmt
        assert layout.reference_names == tuple(n for n, _ in CONTIGS)
        assert layout.data_end == len(data) - (38 if fmt is htsindex.HtsFormat.CRAM else 28)
        if aligned is not None:
            assert layout.header_is_block_aligned is aligned
        assert sum(b - a for a, b in reads) <= htsindex.HEADER_READ_STEP + 38  # header, tail
        index = htsindex.load_index(index_of(path)[0].read_bytes())
        assert index.kind in htsindex.INDEX_FORMATS[fmt]
        if isinstance(index, htsindex.CramIndex):
            assert htsindex.cram_ranges(index, layout, "chrZ") == []
        else:
            assert htsindex.region_chunks(index, layout, "chrZ") == []
    with pytest.raises(FormatError, match="bgzip"):
        htsindex.sniff_format(b"##fileformat=VCFv4.2\n")
    with pytest.raises(FormatError):
        htsindex.load_index(b"not an index at all\x00\xff")
    assert htsindex.merge_ranges([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert 4681 in htsindex.reg2bins(0, 1, 14, 5)  # the finest bin of position 0


# -- tickets and slices -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "attr", "fmt"),
    [
        ("reads/reads1", "bam", "BAM"),
        ("reads/reads1?format=CRAM", "cram", "CRAM"),
        ("variants/calls1", "vcf", "VCF"),
        ("variants/calls1.bcf", "bcf", "BCF"),
    ],
)
def test_whole_file_ticket_gives_the_original_bytes(
    site: Site, path: str, attr: str, fmt: str
) -> None:
    name, _, query = path.partition("?")
    params = dict([query.split("=")]) if query else {}
    document = ticket(site, name, **params)
    assert document["htsget"]["format"] == fmt
    assert {u["class"] for u in document["htsget"]["urls"]} == {"header", "body"}
    assert b"".join(fetch(site, document)) == getattr(site.files, attr).read_bytes()


@pytest.mark.parametrize(
    ("contig", "start", "end"),
    [("chrA", 50_000, 52_000), ("chrA", 0, 1_000), ("chrB", 100_000, None), ("*", None, None)],
)
@pytest.mark.parametrize("fmt", ["BAM", "CRAM"])
def test_read_slices_hold_every_overlapping_read(
    site: Site, fmt: str, contig: str, start: int | None, end: int | None
) -> None:
    original = site.files.bam if fmt == "BAM" else site.files.cram
    params: dict[str, Any] = {"format": fmt, "referenceName": contig}
    if start is not None:
        params["start"] = start
    if end is not None:
        params["end"] = end
    out = slice_of(site, "reads/reads1", original.suffix, **params)
    assert out.stat().st_size < original.stat().st_size  # only the blocks needed
    got = read_keys(out, site.files.fasta)
    expected = region_keys(original, contig, start, end, site.files.fasta)
    assert expected
    assert expected <= set(got)
    assert len(got) == len(set(got))  # no block twice
    with pysam.AlignmentFile(str(out), reference_filename=str(site.files.fasta)) as f:
        sequences = [(sq["SN"], sq["LN"]) for sq in f.header.to_dict()["SQ"]]
        assert sequences == list(CONTIGS)


@pytest.mark.parametrize("attr", ["vcf", "bcf"])
def test_variant_slices_hold_every_overlapping_record(site: Site, attr: str) -> None:
    original: Path = getattr(site.files, attr)
    fmt = attr.upper()
    for region in [("chrA", 100_000, 101_000), ("chrB", 0, 50), ("chrB", 119_000, None)]:
        params: dict[str, Any] = {"format": fmt, "referenceName": region[0], "start": region[1]}
        if region[2] is not None:
            params["end"] = region[2]
        out = slice_of(site, "variants/calls1", "." + original.name.split(".", 1)[1], **params)
        expected = variant_keys(original, region)
        got = variant_keys(out)
        assert expected <= got
        if region != ("chrB", 0, 50):
            assert expected
            assert len(got) < len(variant_keys(original))


def test_post_with_several_regions(site: Site) -> None:
    body = {
        "format": "BAM",
        "regions": [
            {"referenceName": "chrA", "start": 10_000, "end": 11_000},
            {"referenceName": "chrB", "start": 5_000, "end": 6_000},
        ],
    }
    response = site.client.post(f"{V1}/reads/reads1", json=body, headers=site.auth())
    assert response.status_code == 200, response.text
    out = site.work / "post.bam"
    out.write_bytes(b"".join(fetch(site, response.json())))
    got = set(read_keys(out))
    for contig, start, end in (("chrA", 10_000, 11_000), ("chrB", 5_000, 6_000)):
        assert region_keys(site.files.bam, contig, start, end) <= got
    empty = site.client.post(f"{V1}/variants/calls1", json={}, headers=site.auth())
    assert b"".join(fetch(site, empty.json())) == site.files.vcf.read_bytes()


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("reads/reads1", "BAM"),
        ("reads/reads1", "CRAM"),
        ("variants/calls1", "VCF"),
        ("variants/calls1", "BCF"),
    ],
)
def test_header_class_has_the_header_only(site: Site, path: str, fmt: str) -> None:
    document = ticket(site, path, format=fmt, **{"class": "header"})
    assert {u["class"] for u in document["htsget"]["urls"]} == {"header"}
    suffix = {"BAM": ".bam", "CRAM": ".cram", "VCF": ".vcf.gz", "BCF": ".bcf"}[fmt]
    out = site.work / f"header-{fmt}{suffix}"
    out.write_bytes(b"".join(fetch(site, document)))
    if fmt in ("BAM", "CRAM"):
        assert read_keys(out, site.files.fasta) == []
    else:
        with pysam.VariantFile(str(out)) as f:
            assert list(f.header.contigs) == [n for n, _ in CONTIGS]
            assert list(f) == []


def test_unknown_reference_gives_header_and_eof(site: Site) -> None:
    for fmt in ("BAM", "CRAM"):
        out = slice_of(site, "reads/reads1", f".{fmt.lower()}", format=fmt, referenceName="phix")
        assert read_keys(out, site.files.fasta) == []
    out = slice_of(site, "variants/calls1", ".vcf.gz", referenceName="chrC")
    assert variant_keys(out) == set()


def test_ids_by_object_id_and_extension(site: Site) -> None:
    p = site.platform
    listed = {o.kind: o.object_id for o in p.objects.list(p.context("operator"))}
    bam_id = listed[ObjectKind.BAM]
    assert ticket(site, f"reads/{bam_id}")["htsget"]["format"] == "BAM"
    assert ticket(site, "reads/reads1.cram")["htsget"]["format"] == "CRAM"
    assert ticket(site, "variants/calls1.vcf.gz")["htsget"]["format"] == "VCF"


# -- errors and access --------------------------------------------------------------------


def _error(response: Any, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["htsget"]["error"] == name
    assert body["htsget"]["message"]


def test_errors_in_htsget_shape(site: Site) -> None:
    c, h = site.client, site.auth()
    _error(c.get(f"{V1}/reads/notfound123456789", headers=h), 404, "NotFound")
    _error(c.get(f"{V1}/variants/reads1", headers=h), 404, "NotFound")
    _error(c.get(f"{V1}/genomes/reads1", headers=h), 404, "NotFound")
    _error(c.get(f"{V1}/reads/reads1"), 401, "InvalidAuthentication")
    _error(c.get(f"{V1}/reads/reads1", headers=site.auth("clin-b")), 403, "PermissionDenied")
    _error(c.get(f"{V1}/reads/reads1?format=VCF", headers=h), 400, "UnsupportedFormat")
    _error(c.get(f"{V1}/reads/reads1.bam?format=CRAM", headers=h), 400, "UnsupportedFormat")
    bad_range = f"{V1}/reads/reads1?referenceName=chrA&start=10&end=5"
    _error(c.get(bad_range, headers=h), 400, "InvalidRange")
    _error(c.get(f"{V1}/reads/reads1?start=10", headers=h), 400, "InvalidInput")
    _error(c.get(f"{V1}/reads/reads1?start=x&referenceName=chrA", headers=h), 400, "InvalidInput")
    header_and_region = f"{V1}/reads/reads1?class=header&referenceName=chrA"
    _error(c.get(header_and_region, headers=h), 400, "InvalidInput")
    _error(c.get(f"{V1}/reads/reads1?class=body", headers=h), 400, "InvalidInput")
    _error(c.get(f"{V1}/variants/calls1?referenceName=*", headers=h), 400, "InvalidInput")
    _error(c.post(f"{V1}/reads/reads1", content=b"{", headers=h), 400, "InvalidInput")
    _error(c.post(f"{V1}/reads/reads1", json={"regions": []}, headers=h), 400, "InvalidInput")
    _error(c.post(f"{V1}/reads/reads1", json={"x": 1}, headers=h), 400, "InvalidInput")
    key = {"htsget-client-public-key": "not base64!"}
    _error(c.get(f"{V1}/reads/reads1", headers={**h, **key}), 400, "InvalidInput")
    key = {"htsget-client-public-key": base64.b64encode(b"short").decode()}
    _error(c.get(f"{V1}/reads/reads1", headers={**h, **key}), 400, "InvalidInput")


def test_data_route_checks_access_and_ranges(site: Site) -> None:
    document = ticket(site, "reads/reads1", referenceName="chrA", start=0, end=100)
    url = next(u for u in document["htsget"]["urls"] if not u["url"].startswith("data:"))
    headers = url["headers"]
    assert headers["Authorization"].startswith("Bearer ")
    # the caller's own token is never repeated: the block token is for this object's data
    assert headers["Authorization"] != site.auth()["Authorization"]
    c = site.client
    block_only = {"Authorization": headers["Authorization"]}
    _error(c.get(f"{V1}/reads/reads1", headers=block_only), 401, "InvalidAuthentication")
    assert c.get("/me/access-log", headers=block_only).status_code == 401
    good = c.get(url["url"], headers=headers)
    assert good.status_code == 206
    assert good.headers["content-range"].startswith(headers["Range"].replace("=", " "))
    _error(c.get(url["url"], headers={"Range": headers["Range"]}), 401, "InvalidAuthentication")
    other = {"Range": headers["Range"], **site.auth("clin-b")}
    _error(c.get(url["url"], headers=other), 403, "PermissionDenied")
    _error(c.get(url["url"], headers=site.auth()), 400, "InvalidInput")
    size = site.files.bam.stat().st_size
    past = {"Range": f"bytes=0-{size}", **site.auth()}
    _error(c.get(url["url"], headers=past), 400, "InvalidRange")
    ordinary = {"Range": headers["Range"], **site.auth()}
    _error(c.get(f"{V1}/data/obj-nothing", headers=ordinary), 404, "NotFound")
    index_id = next(
        o.object_id
        for o in site.platform.objects.list(site.platform.context("operator"))
        if o.kind is ObjectKind.BAI
    )
    _error(c.get(f"{V1}/data/{index_id}", headers=ordinary), 404, "NotFound")
    # a block token opens the blocks of its own object only
    _error(c.get(f"{V1}/data/{index_id}", headers=headers), 401, "InvalidAuthentication")


def test_each_ticket_and_block_is_one_audited_read(site: Site) -> None:
    p = site.platform
    before = audit_count(p)
    document = ticket(site, "reads/reads1", referenceName="chrB", start=0, end=1000)
    assert audit_count(p) == before + 1
    remote = [u for u in document["htsget"]["urls"] if not u["url"].startswith("data:")]
    fetch(site, document)
    assert audit_count(p) == before + 1 + len(remote)
    with p.catalog.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(len(remote) + 1)
        ).all()
    assert {r.action for r in rows} == {"object.read"}
    assert {r.decision for r in rows} == {"allow"}
    assert any("htsget ticket" in r.reason for r in rows)
    site.client.get(f"{V1}/reads/reads1", headers=site.auth("clin-b"))
    with p.catalog.engine.connect() as conn:
        last = conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert (last.decision, last.actor) == ("deny", "clin-b")


def test_citizen_reads_own_genome_only(site: Site) -> None:
    _error(
        site.client.get(f"{V1}/reads/reads1", headers=site.auth("citizen")),
        403,
        "PermissionDenied",
    )
    assert ticket(site, "reads/reads1", user="operator")["htsget"]["format"] == "BAM"


def test_service_info(site: Site) -> None:
    for endpoint, formats in (("reads", ["BAM", "CRAM"]), ("variants", ["VCF", "BCF"])):
        info = site.client.get(f"{V1}/{endpoint}/service-info").json()
        assert info["type"] == {"group": "org.ga4gh", "artifact": "htsget", "version": "1.3.0"}
        assert info["htsget"]["datatype"] == endpoint
        assert info["htsget"]["formats"] == formats
        if COMPLIANCE.is_dir():
            example = json.loads((COMPLIANCE / "schemas" / "serviceInfoResponse.json").read_text())
            assert set(example) <= set(info)
            assert set(example["htsget"]) == set(info["htsget"])


# -- Crypt4GH -----------------------------------------------------------------------------


def test_blocks_are_encrypted_to_the_client_key(site: Site) -> None:
    from crypt4gh import lib as c4gh_lib

    secret_path, public_path = site.work / "client.sec", site.work / "client.pub"
    write_crypt4gh_keypair(secret_path, public_path)
    secret = site.platform.keys.read_crypt4gh_secret_file(secret_path).reveal()
    key = base64.b64encode(public_path.read_bytes()).decode()
    for params in (
        {"referenceName": "chrA", "start": 20_000, "end": 30_000},
        {"format": "CRAM", "referenceName": "*"},
        {"class": "header"},
    ):
        plain = site.client.get(f"{V1}/reads/reads1", params=params, headers=site.auth())
        sealed = site.client.get(
            f"{V1}/reads/reads1",
            params=params,
            headers=site.auth(**{"htsget-client-public-key": key}),
        )
        assert sealed.status_code == 200, sealed.text
        for url in sealed.json()["htsget"]["urls"]:
            if not url["url"].startswith("data:"):
                assert url["headers"]["htsget-client-public-key"] == key
        opened = []
        for block in fetch(site, sealed.json()):
            out = io.BytesIO()
            c4gh_lib.decrypt([(0, secret, None)], io.BytesIO(block), out)
            opened.append(out.getvalue())
        assert b"".join(opened) == b"".join(fetch(site, plain.json()))
    # the other accepted header name
    other = site.client.get(
        f"{V1}/variants/calls1",
        params={"class": "header"},
        headers=site.auth(**{"client-public-key": key}),
    )
    first = base64.b64decode(other.json()["htsget"]["urls"][0]["url"].split(",", 1)[1])
    assert first.startswith(b"crypt4gh")


# -- registration -------------------------------------------------------------------------


def test_registration_checks_format_index_and_name(site: Site) -> None:
    p = site.platform
    operator = p.context("operator")
    objects = {o.kind: o.object_id for o in p.objects.list(operator)}
    with pytest.raises(FormatError, match="cannot slice"):
        p.htsget.register(
            operator, objects[ObjectKind.BAM], index_object_id=objects[ObjectKind.TBI]
        )
    with pytest.raises(FormatError, match="not an index"):
        p.htsget.register(
            operator, objects[ObjectKind.BAM], index_object_id=objects[ObjectKind.CRAM]
        )
    from helgenom.core.errors import ConflictError, InvalidInputError, PermissionDeniedError

    with pytest.raises(InvalidInputError, match="without '/'"):
        p.htsget.register(operator, objects[ObjectKind.BAM], index_object_id=None, name="x/y")
    _fasta, other, _cram = write_reads(site.work / "other", seed=99)
    other_id = p.objects.put(operator, other, sample_id=site.sample_id, kind=ObjectKind.BAM)
    with pytest.raises(ConflictError, match="already names"):
        p.htsget.register(operator, other_id.record.object_id, index_object_id=None, name="reads1")
    with pytest.raises(PermissionDeniedError):
        p.htsget.register(p.context("gen-a"), objects[ObjectKind.BAM], index_object_id=None)
    text = site.work / "plain.vcf"
    text.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    plain = p.objects.put(operator, text, sample_id=site.sample_id, kind=ObjectKind.VCF)
    with pytest.raises(FormatError, match="bgzip"):
        p.htsget.register(operator, plain.record.object_id, index_object_id=None)


# -- the GA4GH compliance objects ---------------------------------------------------------


def _schema() -> dict[str, Any]:
    schemas = COMPLIANCE / "schemas"
    response = json.loads((schemas / "htsgetResponse.json").read_text())
    url = json.loads((schemas / "htsgetUrl.json").read_text())
    inlined = copy.deepcopy(response["definitions"]["htsgetResponse"])
    inlined["properties"]["htsget"]["properties"]["urls"]["items"] = url["definitions"]["htsgetUrl"]
    return inlined


@pytest.fixture(scope="module")
def compliance(site: Site) -> dict[str, Path]:
    """The suite's objects, indexed here and stored under the suite's ids."""
    if not (COMPLIANCE / "data").is_dir():
        pytest.skip(f"needs the shared test-data kit at {COMPLIANCE} (../shared/testdata)")
    folder = site.work / "compliance"
    folder.mkdir()
    files: dict[str, Path] = {}
    for sub, name in [
        ("reads", "htsnexus_test_NA12878.bam"),
        ("reads", "htsnexus_test_NA12878.cram"),
        ("variants", "spec-v4.3.vcf.gz"),
        ("variants", "spec-v4.3.bcf"),
    ]:
        path = folder / name
        path.write_bytes((COMPLIANCE / "data" / sub / name).read_bytes())
        if name.endswith((".bam", ".cram")):
            pysam.index(str(path))
        else:
            pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True,
                              csi=name.endswith(".bcf"))  # fmt: skip
        files[name] = path
        base = name.removesuffix(".gz").rsplit(".", 1)[0]
        store(site.platform, site.sample_id, path, base)
    return files


def test_compliance_ids_formats_and_schema(site: Site, compliance: dict[str, Path]) -> None:
    import jsonschema

    schema = _schema()
    for path, params, fmt in [
        ("reads/htsnexus_test_NA12878", {}, "BAM"),
        ("reads/htsnexus_test_NA12878", {"format": "CRAM"}, "CRAM"),
        ("reads/htsnexus_test_NA12878.bam", {}, "BAM"),
        ("reads/htsnexus_test_NA12878", {"referenceName": "phix"}, "BAM"),
        ("reads/htsnexus_test_NA12878", {"format": "CRAM", "referenceName": "phix"}, "CRAM"),
        ("reads/htsnexus_test_NA12878", {"class": "header"}, "BAM"),
        ("variants/spec-v4.3", {}, "VCF"),
        ("variants/spec-v4.3.vcf.gz", {"referenceName": "20"}, "VCF"),
        ("variants/spec-v4.3", {"format": "BCF", "class": "header"}, "BCF"),
    ]:
        document = ticket(site, path, **params)
        jsonschema.validate(document, schema)
        assert document["htsget"]["format"] == fmt
    for user in ("gen-a", "operator"):
        for path in ("reads/notfound123456789", "variants/notfoundfoobarbaz"):
            response = site.client.get(f"{V1}/{path}", headers=site.auth(user))
            _error(response, 404, "NotFound")
    whole = ticket(site, "reads/htsnexus_test_NA12878", format="CRAM")
    assert b"".join(fetch(site, whole)) == compliance["htsnexus_test_NA12878.cram"].read_bytes()
    whole = ticket(site, "variants/spec-v4.3", format="BCF")
    assert b"".join(fetch(site, whole)) == compliance["spec-v4.3.bcf"].read_bytes()


@pytest.mark.parametrize(
    ("contig", "start", "end"),
    [
        ("11", 4_999_976, 5_003_000),
        ("20", 6_000_000, 6_010_000),
        ("*", None, None),
        ("11", None, None),
    ],
)
@pytest.mark.parametrize("fmt", ["BAM", "CRAM"])
def test_compliance_read_slices(
    site: Site,
    compliance: dict[str, Path],
    fmt: str,
    contig: str,
    start: int | None,
    end: int | None,
) -> None:
    os.environ.setdefault("REF_PATH", str(site.work / "no-references" / "%s"))  # never fetch
    original = compliance[f"htsnexus_test_NA12878.{fmt.lower()}"]
    params: dict[str, Any] = {"format": fmt, "referenceName": contig}
    if start is not None:
        params.update(start=start, end=end)
    out = slice_of(site, "reads/htsnexus_test_NA12878", original.suffix, **params)
    expected = region_keys(original, contig, start, end)
    got = read_keys(out)
    assert expected
    assert expected <= set(got)
    assert len(got) == len(set(got)) < 39_918
    if start is not None:  # a few kb of one contig: a small part of the file
        assert out.stat().st_size < original.stat().st_size / 2


def test_compliance_variant_slices(site: Site, compliance: dict[str, Path]) -> None:
    for name, fmt in (("spec-v4.3.vcf.gz", "VCF"), ("spec-v4.3.bcf", "BCF")):
        for region in (("20", 14_000, 17_400), ("20", 1_000_000, 2_000_000)):
            out = slice_of(
                site, "variants/spec-v4.3", "." + name.split(".", 1)[1], format=fmt,
                referenceName=region[0], start=region[1], end=region[2],
            )  # fmt: skip
            assert variant_keys(compliance[name], region) <= variant_keys(out)
        header = slice_of(site, "variants/spec-v4.3", "." + name.split(".", 1)[1], format=fmt,
                          **{"class": "header"})  # fmt: skip
        assert variant_keys(header) == set()  # the header block also holds records: cut off
