"""Ingest of single-sample VCF/gVCF files into the national genome database's rows.

Covers: a hand-written corpus (splitting, left-alignment, trimming, ploidy, phasing,
missing genotypes, reference blocks, symbolic alleles and every ingest error), the
hts-specs VCF conformance files, the real chr22 HaplotypeCaller gVCFs, the cohort
simulator (truth AC/AN recomputed from ingested rows) and a property-based comparison
with a plain reference reading of generated VCF text.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helgenom.adapters.variants import schema, vcfin
from helgenom.adapters.variants.cohort import simulate_cohort
from helgenom.adapters.variants.vcfcheck import ChunkScanner
from helgenom.adapters.variants.vcfin import IngestBatch, check_vcf, read_sample_vcf
from helgenom.core.errors import FormatError

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
CHR22 = SHARED_TESTDATA / "nfcore" / "chr22_40kb_local"
HTS_VCF = SHARED_TESTDATA / "hts-specs" / "test" / "vcf"

# --- a small reference with known motifs -----------------------------------------------


def _reference_sequence() -> str:
    rng = random.Random(5)
    seq = [rng.choice("ACGT") for _ in range(300)]

    def put(pos: int, bases: str) -> None:
        seq[pos - 1 : pos - 1 + len(bases)] = list(bases)

    put(10, "G")  # multi-allelic 1/2
    put(12, "C")  # multi-allelic 0/1 on the first ALT
    put(18, "GTCAAAAAG")  # 20 C, 21-25 AAAAA, 26 G: a deletion in a repeat
    put(30, "A")  # hemizygous
    put(32, "C")  # phased
    put(34, "T")  # no call
    put(36, "AC")  # 0/0 record over two bases
    put(40, "TGCA")  # TGCA>TCCA trims to G>C at 41
    put(50, "AT")  # MNV AT>GC
    put(59, "GCA")  # insertion C>CT at 60
    put(70, "A")  # gVCF block start
    put(100, "G")  # symbolic <DEL>
    put(102, "T")  # C,<NON_REF>
    put(104, "A")  # filtered
    return "".join(seq)


SEQ = _reference_sequence()
CONTIGS = {"chr1": len(SEQ)}

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length={length}>
##ALT=<ID=NON_REF,Description="Any other allele">
##INFO=<ID=END,Number=1,Type=Integer,Description="End of a block">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum depth in a block">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}
"""


def vcf_text(records: list[str], *, sample: str = "S1", header: str = HEADER) -> str:
    """A VCF from records written with spaces (turned into tabs)."""
    body = "".join(re.sub(r" +", "\t", r.strip()) + "\n" for r in records)
    return header.format(length=len(SEQ), sample=sample) + body


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\n" + "\n".join(SEQ[i : i + 60] for i in range(0, len(SEQ), 60)) + "\n")
    pysam.faidx(str(fasta))
    return fasta


@pytest.fixture
def ingest(tmp_path: Path, reference: Path) -> Iterator[Callable[..., IngestBatch]]:
    """Write VCF text to a file and ingest it; the work folder must end up empty."""
    work = tmp_path / "work"
    work.mkdir()

    def run(
        text: str | bytes, *, sample: str = "S1", gz: bool = False, name: str = "in.vcf"
    ) -> IngestBatch:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        if gz:
            pysam.tabix_compress(str(path), str(path) + ".gz", force=True)
            path = Path(str(path) + ".gz")
        try:
            return read_sample_vcf(
                path,
                sample_name=sample,
                reference_fasta=reference,
                contigs=CONTIGS,
                ingest_id="ingest-1",
                sample_id="sample-1",
                workdir=work,
            )
        finally:
            assert list(work.iterdir()) == [], "temporary files left in workdir"

    return run


def calls_by_id(batch: IngestBatch) -> dict[str, dict[str, Any]]:
    rows = batch.calls.to_pylist()
    by_id = {r["variant_id"]: r for r in rows}
    assert len(by_id) == len(rows)
    return by_id


CORPUS = [
    "chr1 10 . G A,T 50 PASS . GT:GQ:DP:AD 1/2:40:30:0,14,16",
    "chr1 12 . C A,G 50 PASS . GT:GQ:DP:AD 0/1:41:31:15,16,0",
    "chr1 24 . AA A 50 PASS . GT:GQ:DP:AD 0/1:42:32:16,16",
    "chr1 30 . A G 50 PASS . GT:GQ:DP:AD 1:43:33:0,33",
    "chr1 32 . C T 50 PASS . GT:GQ:DP:AD 0|1:44:34:17,17",
    "chr1 34 . T G 50 PASS . GT:GQ:DP:AD ./.:.:.:.",
    "chr1 36 . AC A 50 PASS . GT:GQ:DP:AD 0/0:45:35:35,0",
    "chr1 40 . TGCA TCCA 50 PASS . GT:GQ:DP 0/1:46:36",
    "chr1 50 . AT GC 50 PASS . GT 1/1",
    "chr1 60 . C CT 50 PASS . GT:GQ 0/1:47",
    "chr1 70 . A <NON_REF> . . END=99 GT:GQ:DP:MIN_DP 0/0:30:25:20",
    "chr1 100 . G <DEL> 50 PASS . GT 0/1",
    "chr1 102 . T C,<NON_REF> 50 . . GT:GQ:DP:AD 0/1:48:12:5,7,0",
    "chr1 104 . A G 50 LowQual . GT 0/1",
]


def test_corpus_rows_follow_the_schema_and_the_rules(ingest: Callable[..., IngestBatch]) -> None:
    text = vcf_text(CORPUS)
    batch = ingest(text)
    assert batch.variants.schema.equals(schema.VARIANTS)
    assert batch.calls.schema.equals(schema.CALLS)
    assert batch.ref_blocks.schema.equals(schema.REF_BLOCKS)
    calls = calls_by_id(batch)
    ref41, ref10 = SEQ[40], SEQ[9]
    assert set(calls) == {
        f"chr1-10-{ref10}-A",
        f"chr1-10-{ref10}-T",
        "chr1-12-C-A",
        "chr1-12-C-G",
        "chr1-20-CA-C",  # left-aligned from 24 AA>A through the run of A
        "chr1-30-A-G",
        "chr1-32-C-T",
        f"chr1-41-{ref41}-C",  # TGCA>TCCA trimmed
        "chr1-50-AT-GC",
        "chr1-60-C-CT",
        "chr1-102-T-C",
    }
    # 1/2 splits into two calls, one copy each, the other copy counted as other
    for alt, ad_alt in (("A", 14), ("T", 16)):
        row = calls[f"chr1-10-{ref10}-{alt}"]
        assert (row["call_ploidy"], row["call_alt_count"], row["call_other_count"]) == (2, 1, 1)
        assert (row["call_gq"], row["call_dp"], row["call_ad_ref"], row["call_ad_alt"]) == (
            40,
            30,
            0,
            ad_alt,
        )
    # 0/1 on the first ALT: the second ALT is covered but not carried
    assert (calls["chr1-12-C-A"]["call_alt_count"], calls["chr1-12-C-A"]["call_other_count"]) == (
        1,
        0,
    )
    assert (calls["chr1-12-C-G"]["call_alt_count"], calls["chr1-12-C-G"]["call_other_count"]) == (
        0,
        1,
    )
    hemi = calls["chr1-30-A-G"]
    assert (hemi["call_gt"], hemi["call_ploidy"], hemi["call_alt_count"]) == ("1", 1, 1)
    phased = calls["chr1-32-C-T"]
    assert phased["call_phased"] is True
    assert phased["call_gt"] == "0|1"
    assert calls["chr1-20-CA-C"]["call_ad_ref"] == 16
    assert calls["chr1-50-AT-GC"]["call_alt_count"] == 2
    assert calls["chr1-60-C-CT"]["call_gq"] == 47
    assert calls["chr1-60-C-CT"]["call_dp"] is None
    assert calls["chr1-102-T-C"]["call_ad_alt"] == 7
    assert all(
        r["sample_id"] == "sample-1" and r["ingest_id"] == "ingest-1" for r in calls.values()
    )

    variants = {r["variant_id"]: r for r in batch.variants.to_pylist()}
    assert set(variants) == set(calls)
    kinds = {vid: v["variant_type"] for vid, v in variants.items()}
    assert kinds["chr1-20-CA-C"] == "del"
    assert kinds["chr1-60-C-CT"] == "ins"
    assert kinds["chr1-50-AT-GC"] == "mnv"
    assert kinds[f"chr1-41-{ref41}-C"] == "snv"
    assert variants["chr1-20-CA-C"]["variant_end"] == 21
    assert not any("<" in v["variant_alt"] or "*" in v["variant_alt"] for v in variants.values())

    blocks = sorted(
        (b["block_start"], b["block_end"], b["block_ploidy"], b["block_min_gq"], b["block_min_dp"])
        for b in batch.ref_blocks.to_pylist()
    )
    assert blocks == [(36, 37, 2, 45, 35), (70, 99, 2, 30, 20)]

    assert batch.records == len(CORPUS)
    assert (batch.records_no_call, batch.records_symbolic, batch.records_filtered) == (1, 1, 1)
    assert batch.contigs == ("chr1",)
    assert batch.vcf_version == "VCFv4.2"


def test_multiallelic_snvs_split_without_bcftools_as_bcftools_splits_them(
    ingest: Callable[..., IngestBatch],
) -> None:
    # Files whose only records to normalise are multi-allelic SNVs are split by the
    # ingest itself; one indel sends the whole file through bcftools norm. The SNV rows
    # (and their order) must be the same either way.
    gts = ["1/2", "0/2", "2/2", "1|2", "2|0", ".|2", "./1", "2", "3", "0/1/2", "2/2/1"]
    gts += ["3/1", "1|2|3", "01/2", "0/3"]
    lines = []
    for k, gt in enumerate(gts):
        pos = 110 + 4 * k
        ref = SEQ[pos - 1]
        alts = ",".join(b for b in "ACGT" if b != ref)
        sample = f"{gt}:{30 + k}:{40 + k}:{k},{k + 1},{k + 2},{k + 3}"
        if k == 3:
            sample = f"{gt}:.:.:."
        elif k == 4:
            sample = f"{gt}:41:007:5,.,6,7"  # AD with a missing count is dropped
        lines.append(
            f"chr1 {pos} . {ref.lower() if k == 5 else ref} {alts} 50 PASS . GT:GQ:DP:AD {sample}"
        )
    for pos, alts, gt in ((180, "{alt},<NON_REF>", "0/1"), (184, "{alt},*", "1/2")):
        ref = SEQ[pos - 1]
        alt = next(b for b in "ACGT" if b != ref)
        lines.append(f"chr1 {pos} . {ref} {alts.format(alt=alt)} 50 PASS . GT:GQ:DP {gt}:20:30")
    own = ingest(vcf_text(lines))
    indel = f"chr1 280 . {SEQ[279:281]} {SEQ[279]} 50 PASS . GT 0/1"
    both = ingest(vcf_text([*lines, indel]), name="indel.vcf")
    assert own.records_normalised == len(lines)
    assert both.records_normalised == len(lines) + 1
    snv_rows = [
        r
        for r in both.calls.to_pylist()
        if len(r["variant_id"].split("-")[2]) == 1 and len(r["variant_id"].split("-")[3]) == 1
    ]
    assert own.calls.to_pylist() == snv_rows
    assert own.calls.num_rows == 3 * len(gts) + 1 + 1


def test_bgzipped_input_gives_the_same_rows_and_its_checksum(
    ingest: Callable[..., IngestBatch], tmp_path: Path
) -> None:
    text = vcf_text(CORPUS)
    plain = ingest(text)
    packed = ingest(text, gz=True, name="in2.vcf")
    assert packed.calls.equals(plain.calls)
    assert packed.ref_blocks.equals(plain.ref_blocks)
    assert packed.sha256 == hashlib.sha256((tmp_path / "in2.vcf.gz").read_bytes()).hexdigest()
    assert plain.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_a_batch_crosses_processes_whole(ingest: Callable[..., IngestBatch]) -> None:
    # Worker processes hand batches over by pickling (as Arrow IPC streams).
    batch = ingest(vcf_text(CORPUS))
    copy = pickle.loads(pickle.dumps(batch))
    assert copy == batch
    for name in ("variants", "calls", "ref_blocks"):
        assert getattr(copy, name).equals(getattr(batch, name))
        assert getattr(copy, name).schema == getattr(batch, name).schema
    assert batch.calls.num_rows
    assert batch.ref_blocks.num_rows


def test_header_only_file_gives_empty_tables(ingest: Callable[..., IngestBatch]) -> None:
    batch = ingest(vcf_text([]))
    assert (batch.calls.num_rows, batch.variants.num_rows, batch.ref_blocks.num_rows) == (0, 0, 0)
    assert batch.calls.schema.equals(schema.CALLS)


@pytest.mark.parametrize(
    ("records", "sample", "header", "expected"),
    [
        (["chr1 30 . A G 50 PASS . GT 0/1"], "OTHER", None, r"named 'S1'.*registered as 'OTHER'"),
        (["chr9 30 . A G 50 PASS . GT 0/1"], "S1", None, r"contig chr9 is not in the instance"),
        (
            ["chr1 30 . A G 50 PASS . GT 0/1"],
            "S1",
            HEADER.replace("length={length}", "length=999"),
            r"contig chr1 with length 999 but the instance's reference build has",
        ),
        (
            ["chr1 30 . TTTTTTTT G 50 PASS . GT 0/1"],
            "S1",
            None,
            r"REF differs from the instance's reference",
        ),
        (
            [f"chr1 {len(SEQ) + 5} . A G 50 PASS . GT 0/1"],
            "S1",
            None,
            r"past the end of the contig",
        ),
        (["chr1 30 . A G 50 PASS . GQ 40"], "S1", None, r"has no GT"),
        (["chr1 0 . A G 50 PASS . GT 0/1"], "S1", None, r"POS 0"),
        (
            ["chr1 30 . A G 50 PASS . GT 0/1", "chr1 20 . C G 50 PASS . GT 0/1"],
            "S1",
            None,
            r"not sorted",
        ),
        (
            ["chr1 24 . AA A 50 PASS . GT 0/1", "chr1 25 . AG G 50 PASS . GT 0/1"],
            "S1",
            None,
            r"same variant at chr1:20 after normalisation",
        ),
        (
            ["chr1 30 . A G 50 PASS . GT 0/1", "chr1 30 . A G 50 PASS . GT 1/1"],
            "S1",
            None,
            r"repeats the variant of line",
        ),
        (["chr1 30 . A . 50 PASS . GT 0/1"], "S1", None, r"GT refers to an ALT allele"),
        (["chr1 30 . A G 50 PASS . GT 0/7"], "S1", None, r"refers to an allele that ALT"),
        (["chr1 30 . A G 50 PASS . GT:AD 0/1:1,2,3"], "S1", None, r"FORMAT AD .* Number=R"),
        (["chr1 70 . A <NON_REF> . . END=60 GT 0/0"], "S1", None, r"END is before POS"),
    ],
)
def test_bad_files_raise_format_errors_naming_file_place_problem(
    ingest: Callable[..., IngestBatch],
    records: list[str],
    sample: str,
    header: str | None,
    expected: str,
) -> None:
    text = vcf_text(records, header=header or HEADER)
    with pytest.raises(FormatError) as caught:
        ingest(text, sample=sample)
    message = str(caught.value)
    assert re.search(expected, message), message
    assert message.startswith("in.vcf: ")
    assert ";" in message  # problem; fix
    for secret in ("0/1", "0/7", "1/1", "TTTTTTTT"):
        assert secret not in message


def test_multi_sample_and_unreadable_files_are_format_errors(
    ingest: Callable[..., IngestBatch], tmp_path: Path
) -> None:
    two = HEADER.replace("\t{sample}\n", "\t{sample}\tS2\n")
    with pytest.raises(FormatError, match="2 sample columns"):
        ingest(vcf_text(["chr1 30 . A G 50 PASS . GT 0/1 0/0"], header=two))
    with pytest.raises(FormatError, match="not valid gzip"):
        ingest(b"\x1f\x8b\x08garbage", name="broken.vcf")
    with pytest.raises(FormatError, match="is empty"):
        ingest("", name="empty.vcf")
    with pytest.raises(FormatError, match="does not end with a newline"):
        ingest(vcf_text(["chr1 30 . A G 50 PASS . GT 0/1"])[:-1])


@pytest.mark.parametrize(
    "damage",
    ["none", "zero padding", "two members", "truncated", "garbage after", "bad crc"],
)
def test_small_and_streamed_gzip_read_alike(
    ingest: Callable[..., IngestBatch], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    # Small files are decompressed whole, large ones streamed: same rows, same checksum,
    # same error for damaged files.
    import gzip

    text = vcf_text(CORPUS).encode()
    packed = gzip.compress(text)
    data = {
        "none": packed,
        "zero padding": packed + b"\0" * 16,
        "two members": gzip.compress(text[:300]) + gzip.compress(text[300:]),
        "truncated": packed[:-9],
        "garbage after": packed + b"not gzip",
        "bad crc": packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:],
    }[damage]

    def outcome() -> Any:
        try:
            batch = ingest(data, name="in.vcf.gz")
        except FormatError as exc:
            return str(exc)
        return batch.calls.to_pylist(), batch.ref_blocks.to_pylist(), batch.sha256

    whole = outcome()
    monkeypatch.setattr(vcfin, "SMALL_GZIP", 0)
    streamed = outcome()
    assert whole == streamed
    if damage in ("none", "zero padding", "two members"):
        assert whole[2] == hashlib.sha256(data).hexdigest()
    else:
        assert "not valid gzip" in whole


def test_messages_redact_possible_cpr_numbers(ingest: Callable[..., IngestBatch]) -> None:
    text = vcf_text(["chr1 30 . A G 50 PASS . GT 0/1"], sample="0101701234")
    with pytest.raises(FormatError) as caught:
        ingest(text, sample="S1")
    assert "0101701234" not in str(caught.value)


# --- hts-specs conformance files --------------------------------------------------------

FAILED_OUT_OF_SCOPE = {
    "4.1/failed/failed_body_format_003.vcf": (
        "'_' in a FORMAT key (G_S) is refused by vcf-validator for VCFv4.1/4.2, but GATK "
        "writes MIN_DP in its VCFv4.2 gVCFs and VCFv4.3 allows '_': accepted on purpose"
    ),
    "4.2/failed/failed_body_format_003.vcf": "as 4.1/failed/failed_body_format_003.vcf",
}
PASSED_OUT_OF_SCOPE = {
    "4.5/passed/zero_length_LAA.vcf": (
        "its records are not sorted (300 after 400) and the last line has no newline; "
        "both are refused here (VCF 1.6 and the 'failed_body_no_newline' files)"
    ),
}


def _conformance_files(kind: str) -> list[Path]:
    if not HTS_VCF.is_dir():
        pytest.skip(f"needs the shared test-data kit at {HTS_VCF} (../shared/testdata)")
    return sorted(p for p in HTS_VCF.glob(f"*/{kind}/*") if p.is_file())


def _synthetic_reference(vcf: Path, folder: Path) -> tuple[Path, dict[str, int], str | None]:
    """A FASTA made from the file's own REF alleles (N elsewhere) and its contigs.

    Returns the FASTA, the contigs and, when two records disagree about a base, why no
    reference can fit the file.
    """
    bases: dict[str, dict[int, str]] = defaultdict(dict)
    lengths: dict[str, int] = {}
    conflict = None
    for line in vcf.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("##contig=<ID="):
            match = re.match(r"##contig=<ID=([^,>]+)(?:,length=(\d+))?", line)
            if match and match[2]:
                lengths[match[1]] = int(match[2])
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 4 or not cols[1].isdigit() or not re.fullmatch(r"[ACGTNacgtn]+", cols[3]):
            continue
        chrom, pos, ref = cols[0], int(cols[1]), cols[3].upper()
        end = re.search(r"(?:^|;)END=(\d+)", cols[7]) if len(cols) > 7 else None
        if end:
            lengths[chrom] = max(lengths.get(chrom, 0), int(end[1]))
        for k, base in enumerate(ref):
            before = bases[chrom].setdefault(pos + k, base)
            if before != base:
                conflict = f"two records give different REF bases at {chrom}:{pos + k}"
    contigs: dict[str, int] = {}
    for chrom, known in bases.items():
        if not re.fullmatch(r"[!-~]+", chrom) or chrom.startswith(">"):
            continue
        contigs[chrom] = max([lengths.get(chrom, 0), *(p + 1 for p in known)])
    fasta = folder / "synthetic.fa"
    with fasta.open("w") as out:
        for chrom, length in {"dummy": 10, **contigs}.items():
            seq = ["N"] * length
            for p, base in bases.get(chrom, {}).items():
                if 0 < p <= length:
                    seq[p - 1] = base
            out.write(f">{chrom}\n{''.join(seq)}\n")
    pysam.faidx(str(fasta))
    contigs["dummy"] = 10
    return fasta, contigs, conflict


def _first_sample(vcf: Path, target: Path) -> str | None:
    """Copy ``vcf`` keeping only its first sample column; its name, or None without samples."""
    name = None
    out: list[str] = []
    for line in vcf.read_text(encoding="utf-8").split("\n"):
        if line.startswith("##") or not line:
            out.append(line)
            continue
        cols = line.split("\t")
        if line.startswith("#CHROM"):
            if len(cols) < 10:
                return None
            name = cols[9]
        out.append("\t".join(cols[:10]))
    target.write_text("\n".join(out))
    return name


def test_conformance_failed_files_are_rejected(tmp_path: Path) -> None:
    files = _conformance_files("failed")
    rejected: Counter[str] = Counter()
    for path in files:
        rel = str(path.relative_to(HTS_VCF))
        if rel in FAILED_OUT_OF_SCOPE:
            check_vcf(path)  # still accepted: the documented choice holds
            continue
        with pytest.raises(FormatError):
            check_vcf(path)
        # the ingest rejects it too, whatever sample name and reference it is given
        folder = tmp_path / rel.replace("/", "_")
        folder.mkdir()
        fasta, contigs, _ = _synthetic_reference(path, folder)
        header = [ln for ln in path.read_bytes().split(b"\n") if ln.startswith(b"#CHROM")]
        cols = header[0].decode(errors="replace").split("\t") if header else []
        sample = cols[9] if len(cols) == 10 else "HG00096"
        with pytest.raises(FormatError) as caught:
            read_sample_vcf(
                path,
                sample_name=sample,
                reference_fasta=fasta,
                contigs=contigs,
                ingest_id="i",
                sample_id="s",
                workdir=folder / "work",
            )
        assert list((folder / "work").iterdir()) == []
        kind = "sample count" if "sample columns" in str(caught.value) else "validation"
        rejected[kind] += 1
    print(
        f"\nhts-specs failed/: {len(files)} files, {sum(rejected.values())} rejected by "
        f"check_vcf and read_sample_vcf (read_sample_vcf: {dict(rejected)}), "
        f"{len(FAILED_OUT_OF_SCOPE)} out of scope"
    )
    assert len(files) > 600


def test_conformance_passed_files_are_accepted_and_ingested(tmp_path: Path) -> None:
    files = _conformance_files("passed")
    ingested: list[str] = []
    not_ingested: dict[str, str] = {}
    for path in files:
        rel = str(path.relative_to(HTS_VCF))
        if rel in PASSED_OUT_OF_SCOPE:
            with pytest.raises(FormatError):
                check_vcf(path)
            continue
        summary = check_vcf(path)
        folder = tmp_path / rel.replace("/", "_")
        folder.mkdir()
        single = folder / "first_sample.vcf"
        name = _first_sample(path, single)
        if name is None:
            not_ingested[rel] = "no sample column"
            continue
        fasta, contigs, conflict = _synthetic_reference(single, folder)
        try:
            batch = read_sample_vcf(
                single,
                sample_name=name,
                reference_fasta=fasta,
                contigs=contigs,
                ingest_id="i",
                sample_id="s",
                workdir=folder / "work",
            )
        except FormatError as exc:
            not_ingested[rel] = str(exc).split(": ", 1)[1]
            continue
        finally:
            assert list((folder / "work").iterdir()) == []
        assert conflict is None
        assert batch.records == summary.records
        ingested.append(rel)
    # Files with one sample are in scope and must ingest; for files with several samples
    # the first sample is extracted, and only the documented problems may stop them.
    reasons = dict(not_ingested.items())
    allowed = re.compile(r"no sample column|POS 0|REF differs|has no GT")
    assert all(allowed.search(why) for why in reasons.values()), reasons
    single_sample = [rel for rel in reasons if len(check_vcf(HTS_VCF / rel).samples) == 1]
    assert single_sample == [], single_sample
    accepted = len(files) - len(PASSED_OUT_OF_SCOPE)
    print(f"\nhts-specs passed/: {len(files)} files, {accepted} accepted by check_vcf")
    print(f"  ingested (first sample): {len(ingested)}")
    by_reason: dict[str, list[str]] = defaultdict(list)
    for rel, why in sorted(reasons.items()):
        found = allowed.search(why)
        by_reason[found[0] if found else why].append(Path(rel).name)
    for why, names in by_reason.items():
        print(f"  not ingested ({why}): {len(names)}: {', '.join(sorted(set(names)))}")


# --- real gVCFs -------------------------------------------------------------------------


@pytest.fixture
def chr22_kit() -> Path:
    if not (CHR22 / "variants" / "calls_chr22local" / "test.genome.vcf.gz").exists():
        pytest.skip(f"needs the shared test-data kit at {CHR22} (../shared/testdata)")
    return CHR22


@pytest.mark.parametrize(
    ("name", "sample", "known"),
    [("test.genome", "testN", "chr22-1982-A-G"), ("test2.genome", "testT", "chr22-3266-T-C")],
)
def test_chr22_haplotypecaller_gvcfs_ingest(
    chr22_kit: Path, tmp_path: Path, name: str, sample: str, known: str
) -> None:
    batch = read_sample_vcf(
        chr22_kit / "variants" / "calls_chr22local" / f"{name}.vcf.gz",
        sample_name=sample,
        reference_fasta=chr22_kit / "reference" / "genome.fasta",
        contigs={"chr22": 40_001},
        ingest_id="i",
        sample_id=sample,
        workdir=tmp_path,
    )
    assert list(tmp_path.iterdir()) == []
    blocks = batch.ref_blocks.to_pylist()
    covered = sum(b["block_end"] - b["block_start"] + 1 for b in blocks)
    assert covered > 0.9 * 40_001
    calls = calls_by_id(batch)
    assert len(calls) >= 5
    assert known in calls
    assert calls[known]["call_alt_count"] >= 1
    assert calls[known]["call_gq"] is not None
    assert all(b["block_ploidy"] == 2 for b in blocks)
    assert batch.records_symbolic == 0
    assert batch.records_normalised > 0


def test_chr22_rnaseq_and_empty_vcfs_ingest(chr22_kit: Path, tmp_path: Path) -> None:
    folder = chr22_kit / "variants" / "calls_chr22local"
    common: dict[str, Any] = {
        "reference_fasta": chr22_kit / "reference" / "genome.fasta",
        "contigs": {"chr22": 40_001},
        "ingest_id": "i",
        "sample_id": "s",
        "workdir": tmp_path,
    }
    rna = read_sample_vcf(folder / "test.rnaseq.vcf.gz", sample_name="GM12878", **common)
    assert rna.records == 39
    assert rna.calls.num_rows > 0
    # nf-core's header-only file lacks the newline after #CHROM: the hts-specs files
    # failed_body_no_newline_003/004 require refusing exactly that (a truncation sign).
    with pytest.raises(FormatError, match="does not end with a newline"):
        read_sample_vcf(folder / "empty.vcf.gz", sample_name="test", **common)
    assert list(tmp_path.iterdir()) == []


# --- simulated cohort -------------------------------------------------------------------


def _genotypes(path: Path) -> dict[tuple[str, str], str]:
    """(sample, variant) -> GT of every non-reference genotype of a VCF."""
    found: dict[tuple[str, str], str] = {}
    with pysam.VariantFile(str(path)) as vcf:
        names = list(vcf.header.samples)
        for rec in vcf:
            alts = rec.alts or ()
            for name in names:
                gt = rec.samples[name]["GT"]
                if gt is None or all(a is None or a == 0 for a in gt):
                    continue
                text = "/".join("." if a is None else str(a) for a in gt)
                for j, alt in enumerate(alts, start=1):
                    if alt.startswith("<"):
                        continue
                    if j in gt:
                        found[(name, f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}")] = text
    return found


def test_simulated_cohort_files_agree_and_ingest_to_the_truth(tmp_path: Path) -> None:
    cohort = simulate_cohort(
        tmp_path / "cohort", samples=50, length=100_000, seed=11, gvcf=True, gap_fraction=0.2
    )
    assert len(cohort.sample_vcfs) == 50
    assert cohort.gaps
    merged = _genotypes(cohort.merged_vcf)
    separate: dict[tuple[str, str], str] = {}
    for path in cohort.sample_vcfs:
        separate.update(_genotypes(path))
    assert separate == merged

    ac: Counter[str] = Counter()
    covered: dict[str, list[tuple[int, int, int]]] = {}
    carried: dict[str, dict[int, int]] = {}
    for name, path in zip(cohort.samples, cohort.sample_vcfs, strict=True):
        batch = read_sample_vcf(
            path,
            sample_name=name,
            reference_fasta=cohort.reference_fasta,
            contigs=cohort.contigs,
            ingest_id="i",
            sample_id=name,
            workdir=tmp_path / "work",
        )
        assert batch.calls.num_rows > 0
        for row in batch.calls.to_pylist():
            ac[row["variant_id"]] += row["call_alt_count"]
            carried.setdefault(name, {})[row["call_pos"]] = row["call_ploidy"]
        covered[name] = [
            (b["block_start"], b["block_end"], b["block_ploidy"])
            for b in batch.ref_blocks.to_pylist()
        ]
    for truth in cohort.truth.to_pylist():
        vid, pos = truth["variant_id"], truth["variant_pos"]
        assert ac[vid] == truth["ac_observed"], vid
        an = 0
        for name in cohort.samples:
            if pos in carried.get(name, {}):
                an += carried[name][pos]
            else:
                an += next((p for s, e, p in covered[name] if s <= pos <= e), 0)
        assert an == truth["an_observed"], vid
    assert any(t["an_observed"] < t["an"] for t in cohort.truth.to_pylist())


def test_simulated_cohort_on_chrx_has_haploid_males(tmp_path: Path) -> None:
    sexes = ["male", "female"] * 3
    cohort = simulate_cohort(
        tmp_path, samples=6, length=200_000, seed=3, contig="chrX", sexes=sexes, gvcf=True
    )
    batch = read_sample_vcf(
        cohort.sample_vcfs[0],
        sample_name=cohort.samples[0],
        reference_fasta=cohort.reference_fasta,
        contigs=cohort.contigs,
        ingest_id="i",
        sample_id="m",
        workdir=tmp_path / "work",
    )
    assert set(batch.calls.column("call_ploidy").to_pylist()) <= {1}
    assert set(batch.ref_blocks.column("block_ploidy").to_pylist()) == {1}
    assert cohort.truth.column("an").to_pylist()[0] == 3 * 1 + 3 * 2


# --- property: ingest equals a plain reading of the text --------------------------------


@st.composite
def small_vcfs(draw: st.DrawFn) -> list[tuple[int, str, list[str], str, int | None, int | None]]:
    positions = sorted(draw(st.sets(st.integers(1, 120), min_size=1, max_size=12)))
    records = []
    for pos in positions:
        ref = SEQ[pos - 1]
        others = [b for b in "ACGT" if b != ref]
        alts = draw(st.lists(st.sampled_from(others), min_size=1, max_size=3, unique=True))
        ploidy = draw(st.sampled_from([1, 2, 2, 2, 3]))
        alleles = draw(
            st.lists(
                st.one_of(st.integers(0, len(alts)), st.just(-1)),
                min_size=ploidy,
                max_size=ploidy,
            )
        )
        sep = draw(st.sampled_from("/|"))
        gt = sep.join("." if a < 0 else str(a) for a in alleles)
        gq = draw(st.one_of(st.none(), st.integers(0, 99)))
        dp = draw(st.one_of(st.none(), st.integers(0, 500)))
        records.append((pos, ref, alts, gt, gq, dp))
    return records


def _plain_reading(text: str) -> set[tuple[Any, ...]]:
    """Call rows as the schema describes them, read from biallelic-or-not SNV text."""
    rows = set()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _, ref, alt, _, _, _, _, sample = line.split("\t")
        gt, gq, dp = sample.split(":")
        alleles = [int(a) for a in re.split(r"[/|]", gt) if a != "."]
        nonref = sum(1 for a in alleles if a > 0)
        if not alleles or nonref == 0:
            continue
        phased = len(re.split(r"[/|]", gt)) > 1 and "/" not in gt
        for j, allele in enumerate(alt.split(","), start=1):
            copies = alleles.count(j)
            rows.add(
                (
                    f"{chrom}-{pos}-{ref}-{allele}",
                    len(alleles),
                    copies,
                    nonref - copies,
                    phased,
                    None if gq == "." else int(gq),
                    None if dp == "." else int(dp),
                )
            )
    return rows


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=small_vcfs())
def test_property_ingest_matches_a_plain_reading(
    reference: Path, records: list[tuple[int, str, list[str], str, int | None, int | None]]
) -> None:
    lines = [
        f"chr1 {pos} . {ref} {','.join(alts)} 50 PASS . GT:GQ:DP "
        f"{gt}:{'.' if gq is None else gq}:{'.' if dp is None else dp}"
        for pos, ref, alts, gt, gq, dp in records
    ]
    text = vcf_text(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.vcf"
        path.write_text(text)
        batch = read_sample_vcf(
            path,
            sample_name="S1",
            reference_fasta=reference,
            contigs=CONTIGS,
            ingest_id="i",
            sample_id="s",
            workdir=Path(tmp) / "work",
        )
    got = {
        (
            r["variant_id"],
            r["call_ploidy"],
            r["call_alt_count"],
            r["call_other_count"],
            r["call_phased"],
            r["call_gq"],
            r["call_dp"],
        )
        for r in batch.calls.to_pylist()
    }
    assert got == _plain_reading(text)


# --- throughput (printed, not asserted) ----------------------------------------------------


def test_ingest_throughput_on_a_simulated_sample(tmp_path: Path) -> None:
    started = time.perf_counter()
    cohort = simulate_cohort(tmp_path / "one", samples=1, length=20_000_000, seed=1)
    simulated = time.perf_counter() - started
    # The simulated individual has few variants (heterozygosity ~5e-4); a dense file of
    # 200,000 SNVs on the same reference measures the per-record cost more steadily.
    dense = tmp_path / "dense.vcf"
    with pysam.FastaFile(str(cohort.reference_fasta)) as fasta:
        bases = fasta.fetch(cohort.contig, 0, 2_000_000)
    header = vcf_text([], sample="DENSE").replace(
        f"length={len(SEQ)}", f"length={cohort.contig_length}"
    )
    with dense.open("w") as out:
        out.write(header.replace("chr1", cohort.contig))
        for pos in range(1, 2_000_000, 10):
            ref = bases[pos - 1]
            alt = "ACGT"[("ACGT".index(ref) + 1) % 4]
            out.write(
                f"{cohort.contig}\t{pos}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT:GQ:DP:AD\t"
                f"{'0/1' if pos % 3 else '1/1'}:40:30:15,15\n"
            )
    for label, path, name in (
        ("simulated sample", cohort.sample_vcfs[0], cohort.samples[0]),
        ("dense SNV file", dense, "DENSE"),
    ):
        started, cpu = time.perf_counter(), time.process_time()
        batch = read_sample_vcf(
            path,
            sample_name=name,
            reference_fasta=cohort.reference_fasta,
            contigs=cohort.contigs,
            ingest_id="i",
            sample_id="s",
            workdir=tmp_path / "work",
        )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert batch.calls.num_rows > 1000
        print(
            f"\ningest of a {label}: {batch.records} records in {wall:.2f} s wall / "
            f"{cpu:.2f} s CPU = {batch.records / wall:,.0f} records/s wall, "
            f"{batch.records / cpu:,.0f} records/s CPU"
        )
    print(f"(simulating the sample took {simulated:.1f} s)")


# --- bulk checks of whole chunks (vcfcheck) -------------------------------------------------

BIG_LENGTH = 400_000
BIG_HEADER = HEADER.replace("length={length}", f"length={BIG_LENGTH}")


@pytest.fixture
def big_reference(tmp_path: Path) -> tuple[Path, str]:
    """A 400 kb random chr1 (a soft-masked stretch at 1,001-2,000) and its bases."""
    rng = random.Random(9)
    seq = "".join(rng.choices("ACGT", k=BIG_LENGTH))
    seq = seq[:1000] + seq[1000:2000].lower() + seq[2000:]
    fasta = tmp_path / "big.fa"
    fasta.write_text(">chr1\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    pysam.faidx(str(fasta))
    return fasta, seq


def _other(base: str) -> str:
    return "ACGT"[("ACGT".index(base.upper()) + 1) % 4]


def _mixed_lines(seq: str, count: int) -> list[str]:
    """Data lines of many shapes (every seventh base): SNV calls of every genotype form,
    missing values, soft-masked and lower-case bases, IDs and QUALs, reference records
    with and without ALT, gVCF blocks, filtered and no-call lines, multi-allelic sites
    and deletions."""
    lines = []
    for k in range(count):
        pos = 5 + 7 * k
        ref = seq[pos - 1]
        alt = _other(ref)
        shape = k % 20
        gt = ["0/1", "1/1", "1", "0|1", "./1", "1|0", "0/1", "1/.", "0/1", "1/1"][k % 10]
        sample = f"{gt}:{k % 99}:{k % 50 + 1}:{k % 7},{k % 11}"
        fields = [ref, alt, "50", "PASS", ".", "GT:GQ:DP:AD", sample]
        if shape == 10:
            fields = [
                ref,
                "<NON_REF>",
                ".",
                ".",
                f"END={pos + 5}",
                "GT:GQ:DP:MIN_DP",
                "0/0:30:25:20",
            ]
        elif shape == 11:
            fields[3] = "LowQual"
        elif shape == 12:
            fields[6] = "./.:.:.:."
        elif shape == 13:
            fields[1] = f"{alt},{_other(alt)}"
            fields[6] = "1/2:40:30:1,2,3"
        elif shape == 14:
            fields[0] = seq[pos - 1 : pos + 1]
            fields[1] = ref
        elif shape == 15:
            fields[0], fields[1] = ref.lower(), alt.lower()
        elif shape == 16:
            fields = [ref, ".", ".", ".", ".", "GT:GQ:DP:AD", "0/0:20:10:10"]
        elif shape == 17:
            fields[2] = "12.5"
        elif shape == 18:
            fields[6] = f"{gt}:.:.:."
        elif shape == 19:
            fields[6] = "0/0:50:20:20,0"
        ident = f"rs{k}" if shape == 17 else "."
        lines.append("\t".join(["chr1", str(pos), ident, *fields]))
    return lines


def _read_big(path: Path, fasta: Path, work: Path) -> IngestBatch:
    return read_sample_vcf(
        path,
        sample_name="S1",
        reference_fasta=fasta,
        contigs={"chr1": BIG_LENGTH},
        ingest_id="ingest-1",
        sample_id="sample-1",
        workdir=work,
    )


def _per_record_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every line through the per-record path."""
    monkeypatch.setattr(ChunkScanner, "_scan", lambda *args: None)


def _count_per_record(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the lines the bulk checks hand to the per-record path."""
    handed: list[int] = []
    lines = ChunkScanner.lines

    def counting(self: ChunkScanner, chunk: Any) -> Iterator[tuple[int, str]]:
        for item in lines(self, chunk):
            handed.append(item[0])
            yield item

    monkeypatch.setattr(ChunkScanner, "lines", counting)
    return handed


def test_bulk_checks_give_the_rows_of_the_per_record_path(
    big_reference: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fasta, seq = big_reference
    lines = _mixed_lines(seq, 40_000)
    path = tmp_path / "mixed.vcf"
    path.write_text(vcf_text([], header=BIG_HEADER) + "".join(f"{line}\n" for line in lines))
    handed = _count_per_record(monkeypatch)
    bulk = _read_big(path, fasta, tmp_path / "work")
    # blocks, plain and lower-case SNVs, filtered, no-call and ALT '.' lines go in bulk
    assert len(handed) < len(lines) // 3
    with monkeypatch.context() as patch:
        _per_record_only(patch)
        single = _read_big(path, fasta, tmp_path / "work")
    for table in ("variants", "calls", "ref_blocks"):
        assert getattr(bulk, table).equals(getattr(single, table)), table
    assert bulk.calls.num_rows > 20_000
    assert bulk.ref_blocks.num_rows > 4_000
    for count in ("records", "records_normalised", "records_filtered", "records_no_call"):
        assert getattr(bulk, count) == getattr(single, count), count
    assert (bulk.records, bulk.records_filtered, bulk.records_no_call) == (40_000, 2000, 2000)


def _dense_lines(seq: str, count: int) -> list[str]:
    lines = []
    for k in range(count):
        pos = 3 + 9 * k
        ref = seq[pos - 1]
        gt = "0/1" if k % 3 else "1/1"
        lines.append(
            f"chr1\t{pos}\t.\t{ref}\t{_other(ref)}\t50\tPASS\t.\tGT:GQ:DP:AD\t{gt}:40:30:15,15"
        )
    return lines


BAD_RECORDS = [
    # (what to do to the line, the problem the message must name)
    (lambda c: c.__setitem__(3, _other(c[4])), "REF differs from the instance's reference"),
    (lambda c: c.__setitem__(1, str(int(c[1]) - 20)), "records are not sorted by position"),
    (lambda c: c.__setitem__(9, "0/2:40:30:15,15"), "refers to an allele that ALT does not list"),
    (lambda c: c.__setitem__(9, "0/1:4x:30:15,15"), "FORMAT GQ of sample column 1 is not an"),
    (lambda c: c.__setitem__(9, "0/1:9999999999:30:1,1"), "outside the 32-bit range"),
    (lambda c: c.__setitem__(9, "0/1:40:30:15"), "FORMAT AD of sample column 1 has 1 values"),
    (lambda c: c.__setitem__(4, c[3]), "ALT equals REF"),
    (lambda c: c.__setitem__(6, "PASS;PASS"), "FILTER has an empty"),
    (lambda c: c.__setitem__(1, str(BIG_LENGTH + 1)), "past the end of the contig"),
    (lambda c: c.__setitem__(2, "rs1;rs1"), "the ID column is empty"),
    (lambda c: c[4:8] + c[8:], "tab-separated columns"),
    (lambda c: c.__setitem__(8, "GT:GQ:DP:AD:GQ"), "FORMAT repeats a key"),
    (
        lambda c: c.__setitem__(slice(4, 10), ["<NON_REF>", ".", ".", "END=3", "GT", "0/0"]),
        "INFO/END is before POS",
    ),
    ("duplicate", "repeats the variant of line"),
    ("contig", "contig chr2 is not in the instance's reference build"),
]


def _same_error_both_ways(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fasta: Path,
    header: str,
    lines: list[str],
    where: int,
) -> str:
    """Ingest a file of more than one chunk whose line ``where`` is bad, with the bulk
    checks and per record only: the same FormatError both ways, naming that line, with
    the lines before it taken in bulk and nothing left in the work folder. Returns it."""
    path = tmp_path / "big.vcf"
    path.write_text(header + "".join(f"{line}\n" for line in lines))
    assert path.stat().st_size > 1 << 20  # more than one chunk
    work = tmp_path / "work"
    handed = _count_per_record(monkeypatch)
    with pytest.raises(FormatError) as bulk:
        _read_big(path, fasta, work)
    assert len(handed) < 100  # the lines before the bad one went in bulk
    with monkeypatch.context() as patch:
        _per_record_only(patch)
        with pytest.raises(FormatError) as single:
            _read_big(path, fasta, work)
    message = str(bulk.value)
    assert message == str(single.value)
    lineno = header.count("\n") + where + 1
    assert re.match(f"big.vcf: line {lineno}[ :]", message), message
    assert list(work.iterdir()) == []
    return message


@pytest.mark.parametrize("where", [12_345, 29_000])
@pytest.mark.parametrize(("change", "problem"), BAD_RECORDS)
def test_a_bad_record_deep_in_a_chunk_is_reported_exactly(
    big_reference: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: int,
    change: Any,
    problem: str,
) -> None:
    fasta, seq = big_reference
    lines = _dense_lines(seq, 30_000)
    if change == "duplicate":
        lines[where] = lines[where - 1]
    elif change == "contig":
        lines[where] = lines[where].replace("chr1", "chr2", 1)
    else:
        cols = lines[where].split("\t")
        changed = change(cols)
        lines[where] = "\t".join(cols if changed is None else changed)
    header = vcf_text([], header=BIG_HEADER)
    message = _same_error_both_ways(tmp_path, monkeypatch, fasta, header, lines, where)
    if change not in ("contig",) and "columns" not in problem:
        pos = lines[where].split("\t")[1]
        lineno = header.count("\n") + where + 1
        assert f"line {lineno} (chr1:{pos}): " in message, message
    assert problem in message


def test_a_changed_reference_is_read_again(
    ingest: Callable[..., IngestBatch], reference: Path
) -> None:
    """The per-process cache of a FASTA's index and memory map follows the file: a REF
    that matched before is refused once the FASTA at the same path says otherwise."""
    record = "chr1 32 . C T 50 PASS . GT 0/1"
    assert ingest(vcf_text([record])).calls.num_rows == 1  # cached now
    changed = SEQ[:31] + "G" + SEQ[32:]
    time.sleep(0.01)  # a new modification time even on coarse clocks
    reference.write_text(
        ">chr1\n" + "\n".join(changed[i : i + 60] for i in range(0, len(changed), 60)) + "\n"
    )
    pysam.faidx(str(reference))
    with pytest.raises(FormatError, match="REF"):
        ingest(vcf_text([record]))


# --- GATK gVCF variant lines (ALT X,<NON_REF>) in bulk ----------------------------------------

GATK_DEFINITIONS = (
    '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Genotype likelihoods">\n'
    '##FORMAT=<ID=SB,Number=4,Type=Integer,Description="Strand bias">\n'
    '##INFO=<ID=BaseQRankSum,Number=1,Type=Float,Description="Base quality rank sum">\n'
    '##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP membership">\n'
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##INFO=<ID=ExcessHet,Number=1,Type=Float,Description="Excess heterozygosity">\n'
    '##INFO=<ID=MLEAC,Number=A,Type=Integer,Description="MLE allele counts">\n'
    '##INFO=<ID=MLEAF,Number=A,Type=Float,Description="MLE allele frequencies">\n'
    '##INFO=<ID=MQRankSum,Number=1,Type=Float,Description="Mapping quality rank sum">\n'
    '##INFO=<ID=RAW_MQandDP,Number=2,Type=Integer,Description="Raw MQ and DP">\n'
    '##INFO=<ID=ReadPosRankSum,Number=1,Type=Float,Description="Read position rank sum">\n'
)
"""The FORMAT and INFO fields HaplotypeCaller writes (beyond those of :data:`HEADER`)."""
GATK_HEADER = BIG_HEADER.replace("#CHROM", GATK_DEFINITIONS + "#CHROM")
GATK_FORMAT = "GT:AD:DP:GQ:PL:SB"
GATK_GTS = ["0/1", "1/1", "0/2", "1/2", "2/2", "0|1", "1|2", "./1", "1/.", "0/0", "./.",
            "1", "2", "0", ".", "2|0", "./2"]  # fmt: skip
"""Genotypes of X,<NON_REF> lines: het, hom-alt, the NON_REF allele, 0/0, no-calls,
phased and haploid (chrX-like)."""


def _gatk_info(k: int, n_alt: int) -> str:
    """INFO as HaplotypeCaller writes it on variant lines (keys in ASCII order, the rank
    sums on some lines only), or '.'."""
    shape = k % 5
    if shape == 4:
        return "."
    counts = ",".join(["1"] + ["0"] * (n_alt - 1))
    freqs = ",".join(["0.500"] + ["0.00"] * (n_alt - 1))
    ranks = shape in (0, 2)
    return ";".join(
        [
            *(["BaseQRankSum=-1.318"] if ranks else []),
            *(["DB"] if shape == 2 else []),
            f"DP={k % 90 + 2}",
            "ExcessHet=3.0103",
            f"MLEAC={counts}",
            f"MLEAF={freqs}",
            *(["MQRankSum=0.000"] if ranks else []),
            f"RAW_MQandDP={k * 3600},{k % 90 + 2}",
            *(["ReadPosRankSum=2.365e-01"] if ranks else []),
        ]
    )


def _gatk_sample(gt: str, k: int, *, ad: bool = True, pl: bool = True) -> str:
    alleles = re.split(r"[/|]", gt)
    n_pl = 6 if len(alleles) == 2 else 3
    return ":".join(
        [
            gt,
            f"{k % 13},{k % 17},{k % 3}" if ad else ".",
            f"{k % 40 + 1}",
            f"{k % 99}" if k % 11 else ".",
            ",".join(str((k + j) % 500) for j in range(n_pl)) if pl else ".",
            f"{k % 5},{k % 6},{k % 7},{k % 8}",
        ]
    )


def _gatk_lines(seq: str, count: int, *, indel: bool = False) -> list[str]:
    """GATK gVCF data lines, most of them X,<NON_REF> variant lines of every genotype
    form (AD and PL present and '.', filtered, soft-masked REF), between reference
    blocks, plain SNVs, three-allele lines and (``indel``) one deletion."""
    lines = []
    for k in range(count):
        pos = 5 + 7 * k
        ref = seq[pos - 1]
        alt = _other(ref)
        gt = GATK_GTS[k % len(GATK_GTS)]
        shape = k % 23
        fields = [ref, f"{alt},<NON_REF>", f"{k % 500}.64", ".", _gatk_info(k, 2), GATK_FORMAT]
        sample = _gatk_sample(gt, k, ad=shape != 3, pl=shape != 4)
        if shape == 5:
            fields[3] = "LowQual"
        elif shape in (6, 16):
            fields = [ref, "<NON_REF>", ".", ".", f"END={pos + 5}", "GT:DP:GQ:MIN_DP:PL"]
            sample = "0/0:30:25:20:0,30,450"
        elif shape == 7:
            fields[1] = alt
            fields[4] = _gatk_info(k, 1)
            sample = f"0/1:{k % 13},{k % 17}:30:40:1,0,1:1,2,3,4"
        elif shape == 8:
            fields[1] = f"{alt},{_other(alt)},<NON_REF>"
            fields[4] = _gatk_info(k, 3)
            sample = "1/2:1,2,3,0:9:9:" + ",".join(["7"] * 10) + ":1,2,3,4"
        elif shape == 9:
            fields[0], fields[1] = ref.lower(), f"{alt.lower()},<NON_REF>"
        elif shape == 10:
            fields[2] = "."
        elif shape == 11 and indel and k == 11:
            fields[0] = seq[pos - 1 : pos + 1]
            fields[1] = f"{ref},<NON_REF>"
        ident = f"rs{k}" if k % 23 == 12 else "."
        lines.append("\t".join(["chr1", str(pos), ident, *fields, sample]))
    return lines


@pytest.mark.parametrize("route", ["own split", "bcftools for one", "bcftools for both"])
def test_nonref_alt_lines_in_bulk_give_the_rows_of_the_per_record_path(
    big_reference: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """Files full of GATK X,<NON_REF> lines give the same tables and counts with and
    without the bulk checks, whether the records are split by the ingest itself or by
    bcftools norm (a deletion among them, or too many for the per-record path)."""
    fasta, seq = big_reference
    lines = _gatk_lines(seq, 40_000, indel=route == "bcftools for both")
    path = tmp_path / "gatk.g.vcf"
    path.write_text(vcf_text([], header=GATK_HEADER) + "".join(f"{line}\n" for line in lines))
    handed = _count_per_record(monkeypatch)
    bulk = _read_big(path, fasta, tmp_path / "work")
    # the three-allele lines, and a few at the start of each chunk, take the per-record path
    assert len(handed) < len(lines) // 15
    with monkeypatch.context() as patch:
        _per_record_only(patch)
        if route == "bcftools for one":
            patch.setattr(vcfin, "SPLIT_SELF", 10)
        single = _read_big(path, fasta, tmp_path / "work")
    for table in ("variants", "calls", "ref_blocks"):
        assert getattr(bulk, table).equals(getattr(single, table)), table
    counts = ("records", "records_normalised", "records_filtered", "records_no_call",
              "records_symbolic")  # fmt: skip
    for count in counts:
        assert getattr(bulk, count) == getattr(single, count), count
    assert bulk.records_normalised > 25_000
    assert bulk.calls.num_rows > 25_000
    gts = Counter(bulk.calls.column("call_gt").to_pylist())
    assert {"0/1", "1/1", "0/.", "1/.", "./.", "0|1", "1|.", "./1", "1", ".", ".|0"} <= set(gts)
    assert list((tmp_path / "work").iterdir()) == []


def _dense_gatk_lines(seq: str, count: int) -> list[str]:
    lines = []
    for k in range(count):
        pos = 3 + 9 * k
        ref = seq[pos - 1]
        gt = ["0/1", "1/1", "0/2", "1"][k % 4]
        lines.append(
            f"chr1\t{pos}\t.\t{ref}\t{_other(ref)},<NON_REF>\t50.6\t.\t{_gatk_info(k, 2)}\t"
            f"{GATK_FORMAT}\t{_gatk_sample(gt, k)}"
        )
    return lines


BAD_NONREF_RECORDS = [
    (lambda c: c.__setitem__(3, _other(c[4][0])), "REF differs from the instance's reference"),
    (lambda c: c.__setitem__(4, f"{c[3]},<NON_REF>"), "ALT repeats an allele or equals REF"),
    (lambda c: c.__setitem__(9, "0/3:1,2,0:3:9:1,2,3,4,5,6:1,2,3,4"), "does not list"),
    (lambda c: c.__setitem__(9, "0/1:1,2:3:9:1,2,3,4,5,6:1,2,3,4"), "FORMAT AD of sample"),
    (lambda c: c.__setitem__(9, "0/1:1,2,0:3:9:1,2,3:1,2,3,4"), "PL of sample column 1 has 3"),
    (lambda c: c.__setitem__(9, "1:1,2,0:3:9:1,2,3,4,5,6:1,2,3,4"), "has 6 values where"),
    (lambda c: c.__setitem__(9, "0/1:1,2,0:3:9:1,2,3,4,5,6:1,2,3"), "FORMAT SB of sample"),
    (lambda c: c.__setitem__(7, "DP=3;MLEAC=1;MLEAF=0.5,0.0"), "INFO MLEAC has 1 values"),
    (lambda c: c.__setitem__(7, "DP=3;DP=3"), "INFO gives DP twice"),
    (lambda c: c.__setitem__(7, "DP=3;"), "INFO has an empty or invalid key"),
    (lambda c: c.__setitem__(7, "DP=x"), "INFO DP is not an integer"),
    (lambda c: c.__setitem__(7, "DB=2"), "INFO DB is a flag but has a value"),
    (lambda c: c.__setitem__(7, ""), "INFO has an empty or invalid key"),
    (lambda c: c.__setitem__(8, "DB;" + c[8]), "FORMAT has an invalid key"),
    (lambda c: c[:7] + c[8:], "tab-separated columns"),
    (lambda c: c.__setitem__(1, str(int(c[1]) - 20)), "records are not sorted by position"),
    ("duplicate", "repeats the variant of line"),
]


@pytest.mark.parametrize(("change", "problem"), BAD_NONREF_RECORDS)
def test_a_bad_nonref_alt_record_deep_in_a_chunk_is_reported_exactly(
    big_reference: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: Any,
    problem: str,
) -> None:
    fasta, seq = big_reference
    where = 12_345
    lines = _dense_gatk_lines(seq, 30_000)
    if change == "duplicate":
        lines[where] = lines[where - 1]
    else:
        cols = lines[where].split("\t")
        changed = change(cols)
        lines[where] = "\t".join(cols if changed is None else changed)
    header = vcf_text([], header=GATK_HEADER)
    message = _same_error_both_ways(tmp_path, monkeypatch, fasta, header, lines, where)
    assert problem in message, message


BROKEN = [
    ("alt", "N,<NON_REF>"),
    ("gt", "0/3"),
    ("gt", "1/2/0"),
    ("gt", "|1"),
    ("ad", "5,7"),
    ("ad", "-1,2,0"),
    ("ad", ""),
    ("pl", "0,0,0,0"),
    ("gq", "-3"),
    ("info", "DP=3;MLEAC=1,0;DP=4"),
    ("info", "DP=3;"),
    ("info", "MLEAC=1"),
    ("info", "DB=2"),
    ("info", "MLEAF=0.5,0;DP=2"),
]
"""Changes that break an X,<NON_REF> line, or make it one the bulk checks leave to the
per-record path (``-3``: a GQ that is no count, ``N``: an ALT base the ingest sends to
bcftools, INFO keys in an order the others do not follow)."""


@st.composite
def gatk_vcfs(draw: st.DrawFn) -> list[str]:
    """Small gVCFs of X,<NON_REF> lines with any genotype, AD, PL, INFO and FILTER
    (now and then a broken one), between blocks and other lines."""
    positions = sorted(draw(st.sets(st.integers(1, 290), min_size=1, max_size=30)))
    infos = [".", "DP=1", "DP=2;Foo=1", "MLEAF=.,.", "DB;DP=5"]
    lines = []
    for k, pos in enumerate(positions):
        ref = SEQ[pos - 1]
        value = {
            "alt": draw(st.sampled_from([b for b in "ACGTacgt" if b.upper() != ref]))
            + ",<NON_REF>",
            "gt": draw(st.sampled_from(GATK_GTS)),
            "ad": draw(st.sampled_from(["5,7,0", "0,3,1", ".", "00012,1,1", "0,0,0"])),
            "gq": draw(st.sampled_from(["99", ".", "0", "007"])),
            "info": draw(st.sampled_from([*infos, _gatk_info(k, 2), _gatk_info(k + 2, 2)])),
        }
        diploid = "/" in value["gt"] or "|" in value["gt"]
        value["pl"] = draw(st.sampled_from([",".join(["0"] * (6 if diploid else 3)), "."]))
        if draw(st.integers(0, 19)) == 0:
            what, broken = draw(st.sampled_from(BROKEN))
            value[what] = broken
        kind = draw(st.sampled_from(["nonref"] * 8 + ["block", "snv", "three"]))
        filt = draw(st.sampled_from([".", ".", "PASS", "LowQual"]))
        if kind == "block":
            fields = [ref, "<NON_REF>", ".", ".", f"END={min(pos + 3, len(SEQ))}", "GT:DP:GQ",
                      "0/0:3:20"]  # fmt: skip
        elif kind == "snv":
            fields = [ref, value["alt"][0], "50", filt, ".", "GT:GQ", "0/1:20"]
        else:
            alt = value["alt"] + (",T" if kind == "three" else "")
            sample = ":".join([value["gt"], value["ad"], "12", value["gq"], value["pl"], "1,2,3,4"])
            fields = [ref, alt, "50", filt, value["info"], GATK_FORMAT, sample]
        lines.append(" ".join(["chr1", str(pos), ".", *fields]))
    return lines


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=gatk_vcfs())
def test_property_nonref_alt_lines_give_the_same_rows_and_errors_in_bulk(
    reference: Path, lines: list[str]
) -> None:
    """Whatever the X,<NON_REF> lines hold, the bulk checks give the rows, counts and
    error of the per-record path."""
    text = vcf_text(lines, header=HEADER.replace("#CHROM", GATK_DEFINITIONS + "#CHROM"))
    results: list[tuple[Any, ...]] = []
    for per_record in (False, True):
        with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
            if per_record:
                _per_record_only(patch)
            path = Path(tmp) / "p.g.vcf"
            path.write_text(text)
            try:
                batch = read_sample_vcf(
                    path,
                    sample_name="S1",
                    reference_fasta=reference,
                    contigs=CONTIGS,
                    ingest_id="i",
                    sample_id="s",
                    workdir=Path(tmp) / "work",
                )
            except FormatError as exc:
                results.append(("error", str(exc)))
                continue
            results.append(
                (
                    batch.variants.to_pylist(),
                    batch.calls.to_pylist(),
                    batch.ref_blocks.to_pylist(),
                    batch.records,
                    batch.records_normalised,
                    batch.records_filtered,
                    batch.records_no_call,
                    batch.records_symbolic,
                )
            )
    assert results[0] == results[1]
