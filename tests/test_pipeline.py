"""Secondary analysis: reference preparation, simulation, the Snakemake workflow.

One simulated sample (45 kb diploid reference, 40 SNVs + 16 indels, 30x paired
150 bp reads) goes through the whole pipeline once per module; the other tests
read its products, or copy its run folder to test resumption and failures. The
real chr22 reads of the shared test-data kit are aligned when the kit is present.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pysam
import pysam.bcftools
import pytest

from helgenom.adapters.pipeline import (
    PipelineResult,
    ReferenceInfo,
    StepFailedError,
    load_reference,
    prepare_reference,
    run_pipeline,
)
from helgenom.adapters.pipeline.alignment import align_pairs, strip_mate_suffix
from helgenom.adapters.pipeline.callers import ploidy_lines, resolve_caller
from helgenom.adapters.pipeline.qc import (
    VariantSummary,
    build_qc,
    contamination_indicator,
    histogram_median,
    infer_sex,
    parse_markdup_stats,
)
from helgenom.adapters.pipeline.reference import (
    ACGT_CACHE_NAME,
    REFERENCE_FORMAT_VERSION,
    acgt_by_contig,
)
from helgenom.adapters.pipeline.validation import EDGE_MARGIN, Allele, compare_to_truth
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    InvalidInputError,
    ToolFailedError,
    ToolNotFoundError,
)
from helgenom.core.simulate import (
    ReadPair,
    SimulatedSample,
    TruthVariant,
    haplotypes,
    plant_variants,
    random_reference,
    reverse_complement,
    simulate_sample,
    write_fastq_pair,
)

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
CHR22 = SHARED_TESTDATA / "nfcore" / "chr22_40kb_local"
SAMPLE = "SIM-1"
SEED = 20240611


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- shared fixtures ------------------------------------------------------------


@dataclass(frozen=True)
class CompletedRun:
    """The module's one full pipeline run on simulated data."""

    sample: SimulatedSample
    reference: ReferenceInfo
    result: PipelineResult
    workdir: Path
    seconds: float


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    return simulate_sample(tmp_path_factory.mktemp("sim"), snvs=40, indels=16, seed=SEED)


@pytest.fixture(scope="module")
def reference(
    simulated: SimulatedSample, tmp_path_factory: pytest.TempPathFactory
) -> ReferenceInfo:
    return prepare_reference(
        simulated.reference_path, tmp_path_factory.mktemp("refs") / "sim", "SIM1"
    )


@pytest.fixture(scope="module")
def completed(
    simulated: SimulatedSample,
    reference: ReferenceInfo,
    tmp_path_factory: pytest.TempPathFactory,
) -> CompletedRun:
    workdir = tmp_path_factory.mktemp("run") / "run"
    started = time.monotonic()
    result = run_pipeline(SAMPLE, simulated.r1_path, simulated.r2_path, reference, workdir, cores=2)
    return CompletedRun(simulated, reference, result, workdir, time.monotonic() - started)


def copy_run(completed: CompletedRun, dest: Path) -> Path:
    """A copy of the completed run folder, time stamps kept (Snakemake compares them)."""
    shutil.copytree(completed.workdir, dest, symlinks=True)
    (dest / ".helgenom-run.lock").unlink()
    return dest


def pass_calls(vcf: Path) -> set[tuple[str, int, str, str]]:
    with pysam.VariantFile(str(vcf)) as calls:
        return {
            (r.chrom, r.pos, r.ref or "", (r.alts or ("",))[0])
            for r in calls
            if list(r.filter.keys()) == ["PASS"]
        }


# --- simulation -------------------------------------------------------------------


def test_simulation_is_deterministic_by_seed(tmp_path: Path) -> None:
    options = {"contigs": (("chr1", 3_000),), "snvs": 5, "indels": 2, "depth": 4.0}
    first = simulate_sample(tmp_path / "a", seed=3, **options)
    second = simulate_sample(tmp_path / "b", seed=3, **options)
    other = simulate_sample(tmp_path / "c", seed=4, **options)
    for name in ("reference_path", "r1_path", "r2_path", "truth_vcf_path"):
        assert sha256(getattr(first, name)) == sha256(getattr(second, name)), name
    assert first.truth == second.truth
    assert sha256(first.r1_path) != sha256(other.r1_path)
    assert first.truth != other.truth


def test_simulated_truth_is_normalised_het_and_hom(simulated: SimulatedSample) -> None:
    truth = simulated.truth
    assert sum(v.is_snv for v in truth) == 40
    assert sum(v.is_indel for v in truth) == 16
    assert {v.is_het for v in truth} == {True, False}
    assert all(1 <= abs(len(v.ref) - len(v.alt)) <= 10 for v in truth if v.is_indel)
    # bcftools norm (left-align, trim) leaves every planted variant as it is
    compressed = simulated.truth_vcf_path.with_suffix(".vcf.gz")
    pysam.tabix_compress(str(simulated.truth_vcf_path), str(compressed), force=True)
    if not Path(f"{simulated.reference_path}.fai").exists():
        pysam.faidx(str(simulated.reference_path))
    normalised = pysam.bcftools.norm(
        "--fasta-ref", str(simulated.reference_path), "--check-ref", "e", str(compressed)
    )
    records = [line.split("\t")[:5] for line in normalised.splitlines() if line[:1] != "#"]
    expected = [[v.contig, str(v.pos), ".", v.ref, v.alt] for v in truth]
    assert records == expected


def test_haplotypes_carry_variants_by_genotype() -> None:
    reference = {"c": "AAAACCCCGGGGTTTT"}
    variants = [
        TruthVariant("c", 2, "A", "G", "0|1"),
        TruthVariant("c", 8, "CG", "C", "1|1"),
        TruthVariant("c", 12, "G", "GTT", "1|0"),
    ]
    first, second = haplotypes(reference, variants)
    assert first["c"] == "AAAACCCCGGGTTTTTT"
    assert second["c"] == "AGAACCCCGGGTTTT"
    with pytest.raises(InvalidInputError, match="REF"):
        haplotypes(reference, [TruthVariant("c", 1, "C", "G", "1|1")])


def test_plant_variants_refuses_what_does_not_fit() -> None:
    reference = random_reference([("c", 1_000)], seed=1)
    with pytest.raises(InvalidInputError, match=r"do not fit|no contig"):
        plant_variants(reference, snvs=200, indels=0, seed=1)


# --- reference ----------------------------------------------------------------------


def test_prepare_reference_checksums_and_indexes(
    simulated: SimulatedSample, reference: ReferenceInfo
) -> None:
    sequences: dict[str, str] = {}
    with pysam.FastxFile(str(simulated.reference_path)) as fasta:
        for entry in fasta:
            sequences[str(entry.name)] = str(entry.sequence)
    assert reference.contig_names() == list(sequences)
    for contig in reference.contigs:
        sequence = sequences[contig.name]
        assert contig.length == len(sequence)
        assert contig.md5 == hashlib.md5(sequence.upper().encode()).hexdigest()
    assert reference.sha256 == sha256(reference.fasta_path)
    assert reference.source_sha256 == sha256(simulated.reference_path)
    assert reference.acgt_length == sum(len(s) for s in sequences.values())
    assert reference.fai_path.is_file()
    assert reference.mmi_path.is_file()
    header = reference.dict_path.read_text()
    assert f"M5:{reference.contigs[0].md5}" in header
    assert "AS:SIM1" in header
    with pysam.FastaFile(str(reference.fasta_path)) as indexed:
        assert indexed.fetch("chr2", 0, 10) == sequences["chr2"][:10]
    again = ReferenceInfo.from_dict(json.loads(json.dumps(reference.asdict())))
    assert again == reference
    assert load_reference(reference.folder) == reference
    with pytest.raises(FormatError, match="format_version"):
        ReferenceInfo.from_dict({**reference.asdict(), "format_version": 99})
    assert reference.format_version == REFERENCE_FORMAT_VERSION


def test_prepare_reference_reuses_indexes_by_checksum(
    simulated: SimulatedSample, reference: ReferenceInfo, tmp_path: Path
) -> None:
    before = {p: p.stat().st_mtime_ns for p in (reference.mmi_path, reference.fai_path)}
    again = prepare_reference(simulated.reference_path, reference.folder, "SIM1")
    assert again == reference
    assert {p: p.stat().st_mtime_ns for p in before} == before
    other = tmp_path / "other.fa"
    other.write_text(">chrZ\nACGTACGTAC\n")
    with pytest.raises(ConflictError, match="another FASTA"):
        prepare_reference(other, reference.folder, "SIM1")
    with pytest.raises(ConflictError, match="build"):
        prepare_reference(simulated.reference_path, reference.folder, "OTHER")


def test_prepare_reference_reads_gzip_and_rewrites_lines(tmp_path: Path) -> None:
    text = ">c1 first contig\nACGTN\nacgtacgtacgt\r\nAC\n\n>c2\nGGGG\n"
    source = tmp_path / "in.fa.gz"
    with gzip.open(source, "wt") as out:
        out.write(text)
    info = prepare_reference(source, tmp_path / "ref", "T1")
    assert [(c.name, c.length) for c in info.contigs] == [("c1", 19), ("c2", 4)]
    assert info.acgt_length == 22
    assert info.contigs[0].md5 == hashlib.md5(b"ACGTNACGTACGTACGTAC").hexdigest()
    assert info.fasta_path.read_text() == ">c1 first contig\nACGTNacgtacgtacgtAC\n>c2\nGGGG\n"


BAD_FASTA = {
    "empty": ("", "holds no sequences"),
    "no header": ("ACGT\n", "line 1: sequence before the first '>'"),
    "nameless header": (">\nACGT\n", "line 1: a header without a name"),
    "duplicate name": (">a\nAC\n>a\nGT\n", "line 3: contig name a appears twice"),
    "empty contig": (">a\n>b\nACGT\n", "contig a .* has no sequence"),
    "empty last contig": (">a\nAC\n>b\n", "contig b .* has no sequence"),
    "bad letter": (">a\nACGT\nAC1T\n", r"line 3 \(contig a\): character '1'"),
    "bad name": (">*a\nACGT\n", "not a valid SAM reference name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_prepare_reference_rejects_bad_fasta(tmp_path: Path, case: str) -> None:
    text, message = BAD_FASTA[case]
    source = tmp_path / "bad.fa"
    source.write_text(text)
    with pytest.raises(FormatError, match=message):
        prepare_reference(source, tmp_path / "ref", "T1")
    assert not (tmp_path / "ref").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.fa"]


# --- alignment (no Snakemake) --------------------------------------------------------------


def test_align_pairs_mates_by_file_order_and_keeps_unmapped(
    reference: ReferenceInfo, simulated: SimulatedSample, tmp_path: Path
) -> None:
    with pysam.FastaFile(str(reference.fasta_path)) as fasta:
        chr1 = fasta.fetch("chr1")
    rng = random.Random(5)
    fragment = chr1[10_000:10_400]
    junk = "".join(rng.choice("ACGT") for _ in range(150))
    quality = "F" * 150
    pairs = [
        ReadPair("good", fragment[:150], quality, reverse_complement(fragment[-150:]), quality),
        ReadPair("half", fragment[50:200], quality, junk, quality),
    ]
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    write_fastq_pair(r1, r2, pairs)
    # the nf-core trap: R1 names end in /2 and R2 names in /1
    swapped1, swapped2 = tmp_path / "s1.fq.gz", tmp_path / "s2.fq.gz"
    swapped1.write_bytes(gzip.compress(gzip.decompress(r1.read_bytes()).replace(b"/1\n", b"/2\n")))
    swapped2.write_bytes(gzip.compress(gzip.decompress(r2.read_bytes()).replace(b"/2\n", b"/1\n")))
    bam = tmp_path / "out.bam"
    summary = align_pairs(
        swapped1, swapped2, reference.mmi_path, reference.contigs, "SIM1", "S9", bam
    )
    assert (summary.pairs, summary.mapped_reads) == (2, 3)
    with pysam.AlignmentFile(str(bam), "rb", check_sq=False) as aligned:
        header = aligned.header.to_dict()
        records = list(aligned)
    assert header["RG"][0]["SM"] == "S9"
    assert header["SQ"][0]["M5"] == reference.contigs[0].md5
    good1, good2, half1, half2 = records
    assert good1.is_read1
    assert good2.is_read2
    assert good1.query_name == "good"
    assert good1.is_proper_pair
    assert not good1.is_reverse
    assert good2.is_reverse
    assert good1.reference_start == 10_000
    assert good1.template_length == 400
    assert good2.template_length == -400
    assert good2.mate_is_reverse is False
    assert good2.query_sequence == fragment[-150:]
    assert good1.get_tag("RG") == "S9"
    assert half2.is_unmapped
    assert half1.mate_is_unmapped
    assert not half1.is_unmapped
    assert half2.reference_id == half1.reference_id
    assert half2.reference_start == half1.reference_start
    assert half2.query_sequence == junk
    shuffled = tmp_path / "x2.fq.gz"
    write_fastq_pair(tmp_path / "x1.fq.gz", shuffled, list(reversed(pairs)))
    with pytest.raises(FormatError, match="read pair 1: the names in R1 and R2 differ"):
        align_pairs(r1, shuffled, reference.mmi_path, reference.contigs, "SIM1", "S9", bam)
    write_fastq_pair(tmp_path / "y1.fq.gz", tmp_path / "y2.fq.gz", pairs[:1])
    with pytest.raises(FormatError, match="R1 holds more reads"):
        align_pairs(
            r1, tmp_path / "y2.fq.gz", reference.mmi_path, reference.contigs, "SIM1", "S9", bam
        )
    assert strip_mate_suffix("a/1") == "a"
    assert strip_mate_suffix("a/3") == "a/3"


# --- the full pipeline ------------------------------------------------------------------


def test_calls_match_the_truth(completed: CompletedRun) -> None:
    calls = pass_calls(completed.result.outputs["vcf"])
    truth_snvs = {v.key for v in completed.sample.truth if v.is_snv}
    truth_indels = {v.key for v in completed.sample.truth if v.is_indel}
    called_snvs = {c for c in calls if len(c[2]) == 1 and len(c[3]) == 1}
    called_indels = {c for c in calls if len(c[2]) != len(c[3])}
    snv_recall = len(called_snvs & truth_snvs) / len(truth_snvs)
    snv_precision = len(called_snvs & truth_snvs) / max(1, len(called_snvs))
    indel_recall = len(called_indels & truth_indels) / len(truth_indels)
    indel_precision = len(called_indels & truth_indels) / max(1, len(called_indels))
    print(
        f"SNV recall {snv_recall:.3f} precision {snv_precision:.3f}; indel recall "
        f"{indel_recall:.3f} precision {indel_precision:.3f}; run {completed.seconds:.1f} s"
    )
    assert snv_recall >= 0.98
    assert snv_precision >= 0.98
    assert indel_recall >= 0.8
    genotypes = {}
    with pysam.VariantFile(str(completed.result.outputs["vcf"])) as vcf:
        for record in vcf:
            genotypes[(record.chrom, record.pos, record.ref, record.alts[0])] = sorted(
                record.samples[0]["GT"]
            )
    truth_genotypes = {
        v.key: sorted(int(a) for a in v.genotype.split("|")) for v in completed.sample.truth
    }
    agree = sum(genotypes.get(k) == g for k, g in truth_genotypes.items() if k in truth_snvs)
    assert agree / len(truth_snvs) >= 0.95


def test_cram_is_readable_with_the_reference(completed: CompletedRun) -> None:
    outputs = completed.result.outputs
    assert outputs["crai"].is_file()
    with pysam.AlignmentFile(
        str(outputs["cram"]), "rc", reference_filename=str(completed.reference.fasta_path)
    ) as cram:
        header = cram.header.to_dict()
        assert header["HD"]["SO"] == "coordinate"
        assert header["RG"] == [{"ID": SAMPLE, "SM": SAMPLE, "LB": SAMPLE, "PL": "ILLUMINA"}]
        assert [sq["M5"] for sq in header["SQ"]] == [c.md5 for c in completed.reference.contigs]
        window = list(cram.fetch("chr2", 5_000, 6_000))
    with pysam.AlignmentFile(
        str(outputs["cram"]), "rc", reference_filename=str(completed.reference.fasta_path)
    ) as cram:
        everything = list(cram.fetch(until_eof=True))
    assert len(window) > 100
    assert all(r.get_tag("RG") == SAMPLE for r in everything)
    assert any(r.is_reverse for r in window)
    assert any(r.is_duplicate for r in everything)
    assert len(everything) == 2 * completed.sample.read_pairs


def test_gvcf_has_reference_blocks(completed: CompletedRun) -> None:
    gvcf = completed.result.outputs["gvcf"]
    assert completed.result.outputs["gvcf_index"].is_file()
    covered = 0
    blocks = variants = 0
    with pysam.VariantFile(str(gvcf)) as calls:
        assert list(calls.header.samples) == [SAMPLE]
        for record in calls.fetch("chr1"):
            if "END=" in str(record).split("\t")[7]:  # pysam moves END into .stop
                blocks += 1
                covered += record.stop - record.start
                assert record.samples[0]["GT"] == (0, 0)
            else:
                variants += 1
    assert blocks > 10
    assert variants > 10
    assert covered > 0.95 * completed.reference.contigs[0].length


def test_qc_metrics_are_present_and_sane(completed: CompletedRun) -> None:
    qc = completed.result.qc
    assert json.loads(completed.result.outputs["qc"].read_text()) == qc
    assert qc["format_version"] == 1
    assert qc["sample_id"] == SAMPLE
    assert qc["mapping_rate"] > 0.95
    assert 0.005 < qc["duplicate_rate"] < 0.05
    assert 25 < qc["mean_coverage"] < 35
    assert qc["fraction_ge_20x"] > 0.85
    assert 320 <= qc["insert_size_median"] <= 380
    assert 1.0 < qc["ti_tv"] < 6.0
    assert 0.8 < qc["het_hom_ratio"] < 4.0
    assert qc["contamination"]["status"] == "ok"
    assert 0.7 < qc["contamination"]["dispersion"] < 1.5
    assert qc["inferred_sex"] == "undetermined: no chrX/chrY in reference"
    assert qc["variants"]["snvs"] >= 39
    assert qc["reads"]["total"] == 2 * completed.sample.read_pairs


def test_provenance_records_versions_parameters_and_checksums(completed: CompletedRun) -> None:
    provenance = completed.result.provenance
    assert provenance["format_version"] == 1
    assert provenance["sample_id"] == SAMPLE
    assert [s["step"] for s in provenance["steps"]] == [
        "align", "markdup", "cram", "call", "vcf", "qc",
    ]  # fmt: skip
    for step in provenance["steps"]:
        assert {"pysam", "htslib", "samtools", "bcftools", "mappy"} <= set(step["software"])
        assert step["tool_calls"], step["step"]
    tools = {c["tool"] for s in provenance["steps"] for c in s["tool_calls"]}
    assert {"mappy", "samtools markdup", "samtools view", "bcftools call", "bcftools norm"} <= tools
    assert provenance["steps"][3]["params"]["caller"] == "bcftools"
    assert provenance["reference"]["sha256"] == completed.reference.sha256
    assert provenance["inputs"]["R1"]["sha256"] == sha256(completed.sample.r1_path)
    for name, record in provenance["outputs"].items():
        assert record["sha256"] == sha256(completed.result.outputs[name]), name
    text = completed.result.outputs["provenance"].read_text()
    assert str(completed.sample.r1_path) not in text  # input names may carry identifiers
    assert ".partial." not in text
    assert str(completed.workdir) not in text


def test_rerun_resumes_from_finished_steps(completed: CompletedRun, tmp_path: Path) -> None:
    workdir = copy_run(completed, tmp_path / "run")
    sample, reference = completed.sample, completed.reference
    again = run_pipeline(SAMPLE, sample.r1_path, sample.r2_path, reference, workdir)
    assert again.executed_steps == ()
    cram = again.outputs["cram"]
    cram_mtime = cram.stat().st_mtime_ns
    again.outputs["qc"].unlink()
    resumed = run_pipeline(SAMPLE, sample.r1_path, sample.r2_path, reference, workdir)
    assert resumed.executed_steps == ("qc", "provenance")
    assert cram.stat().st_mtime_ns == cram_mtime
    assert resumed.qc == completed.result.qc


def test_failing_tool_names_step_and_stderr_then_resumes(
    completed: CompletedRun, tmp_path: Path
) -> None:
    """A corrupt reference index stops the CRAM step; once fixed, the run resumes there."""
    folder = tmp_path / "ref"
    shutil.copytree(completed.reference.folder, folder)
    broken = load_reference(folder)
    good_index = broken.fai_path.read_bytes()
    broken.fai_path.write_text("chr1\t12\t6\t60\t61\n")
    sample = completed.sample
    workdir = tmp_path / "run"
    with pytest.raises(ToolFailedError) as failure:
        run_pipeline(SAMPLE, sample.r1_path, sample.r2_path, broken, workdir)
    error = failure.value
    assert isinstance(error, StepFailedError)
    assert (error.step, error.tool, error.exit_code) == ("cram", "samtools view", 1)
    assert "M5" in error.stderr_tail or "reference" in error.stderr_tail
    assert "pipeline step cram failed: samtools view" in str(error)
    assert not (workdir / "results" / f"{SAMPLE}.cram").exists()
    assert not list((workdir / "results").glob(".partial.*"))
    broken.fai_path.write_bytes(good_index)
    resumed = run_pipeline(SAMPLE, sample.r1_path, sample.r2_path, broken, workdir)
    assert resumed.executed_steps[0] == "cram"
    assert "align" not in resumed.executed_steps
    assert "markdup" not in resumed.executed_steps
    assert pass_calls(resumed.outputs["vcf"]) == pass_calls(completed.result.outputs["vcf"])


INTERRUPTED_RUN = """
import sys
from pathlib import Path
from helgenom.adapters.pipeline import load_reference, run_pipeline
sample, r1, r2, reference, workdir = sys.argv[1:]
run_pipeline(sample, Path(r1), Path(r2), load_reference(Path(reference)), Path(workdir))
"""


def test_killed_run_resumes_after_the_last_finished_step(
    completed: CompletedRun, tmp_path: Path
) -> None:
    """SIGKILL a run (and its step processes) after markdup; the next run resumes there."""
    sample, reference = completed.sample, completed.reference
    workdir = tmp_path / "run"
    argv = [SAMPLE, sample.r1_path, sample.r2_path, reference.folder, workdir]
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUN, *map(str, argv)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        # cram's log appears once Snakemake has recorded markdup as complete
        while not (workdir / "logs" / "cram.log").exists():
            assert process.poll() is None, "the run ended before markdup finished"
            assert time.monotonic() < deadline, "markdup did not finish within 60 s"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    resumed = run_pipeline(SAMPLE, sample.r1_path, sample.r2_path, reference, workdir)
    assert "align" not in resumed.executed_steps
    assert "markdup" not in resumed.executed_steps
    assert pass_calls(resumed.outputs["vcf"]) == pass_calls(completed.result.outputs["vcf"])
    assert not list(workdir.glob("*/.partial.*"))


CALLER_PLUGIN = '''
from helgenom.adapters.pipeline.tools import require_executable


def broken(request, tools):
    """Runs bcftools mpileup with an option it does not know."""
    tools.bcftools("mpileup", "--no-such-option", request.cram)
    return {}


def external(request, tools):
    """Needs a program nobody installed."""
    require_executable("helgenom-no-such-caller", "call")
    return {}
'''


@pytest.mark.parametrize(
    ("function", "error_type", "message"),
    [
        ("broken", StepFailedError, "bcftools mpileup"),
        ("external", ToolNotFoundError, "helgenom-no-such-caller"),
    ],
)
def test_caller_plugin_failures_are_typed(
    completed: CompletedRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    error_type: type[Exception],
    message: str,
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "helgenom_test_callers.py").write_text(CALLER_PLUGIN)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", str(plugins))
    workdir = copy_run(completed, tmp_path / "run")
    sample = completed.sample
    with pytest.raises(error_type, match=message) as failure:
        run_pipeline(
            SAMPLE,
            sample.r1_path,
            sample.r2_path,
            completed.reference,
            workdir,
            caller=f"helgenom_test_callers:{function}",
        )
    if isinstance(failure.value, StepFailedError):
        assert failure.value.step == "call"
        assert "unrecognized option" in failure.value.stderr_tail
    assert not (workdir / "results" / f"{SAMPLE}.g.vcf.gz").exists()
    assert (workdir / "results" / f"{SAMPLE}.cram").exists()


def test_run_pipeline_rejects_bad_arguments(completed: CompletedRun, tmp_path: Path) -> None:
    sample, reference = completed.sample, completed.reference
    args = (sample.r1_path, sample.r2_path, reference, tmp_path / "run")
    with pytest.raises(InvalidInputError, match="unknown variant caller 'gatk'"):
        run_pipeline(SAMPLE, *args, caller="gatk")
    with pytest.raises(InvalidInputError, match="sample id"):
        run_pipeline("../x", *args)
    with pytest.raises(InvalidInputError, match="executor"):
        run_pipeline(SAMPLE, *args, executor="kubernetes")
    assert resolve_caller("bcftools").name == "bcftools"


# --- QC functions ---------------------------------------------------------------------------


def test_histogram_median() -> None:
    assert histogram_median([]) is None
    assert histogram_median([(5, 1)]) == 5
    assert histogram_median([(1, 1), (2, 1), (3, 1), (4, 1)]) == 2.5
    assert histogram_median([(10, 3), (20, 1)]) == 10


def test_infer_sex() -> None:
    lengths = {"chr1": 100, "chr2": 100, "chrX": 100, "chrY": 50}
    assert (
        infer_sex({"chr1": 30, "chr2": 30, "chrX": 15, "chrY": 14}, lengths)["inferred_sex"]
        == "male"
    )
    assert (
        infer_sex({"chr1": 30, "chr2": 30, "chrX": 29, "chrY": 0.3}, lengths)["inferred_sex"]
        == "female"
    )
    assert infer_sex({"chr1": 30}, {"chr1": 100})["inferred_sex"] == (
        "undetermined: no chrX/chrY in reference"
    )
    assert infer_sex({"chrX": 30}, {"chrX": 100})["inferred_sex"].startswith("undetermined")


def test_acgt_by_contig_counts_sequence_and_keeps_it(tmp_path: Path) -> None:
    source = tmp_path / "in.fa"
    source.write_text(">c1\nACGTNNNNacgt\n>chrX\n" + "N" * 100 + "ACGT" * 5 + "\n")
    info = prepare_reference(source, tmp_path / "ref", "T1")
    assert acgt_by_contig(info) == {"c1": 8, "chrX": 20}
    cache = info.folder / ACGT_CACHE_NAME
    assert cache.is_file()
    cache.write_text('{"sha256": "another reference", "contigs": {"c1": 1}}')
    assert acgt_by_contig(info) == {"c1": 8, "chrX": 20}  # stale: counted again


def test_sex_is_inferred_from_depth_over_sequence_not_padding() -> None:
    """A female whose chrX is mostly N padding (a test genome) is not called male: the
    depth of each contig is taken over its A/C/G/T bases."""
    coverage = "\n".join(
        [
            "#rname\tstartpos\tendpos\tnumreads\tcovbases\tcoverage\tmeandepth\tmeanbaseq\tmeanmapq",
            "chr1\t1\t1000\t100\t1000\t100\t30\t30\t60",
            "chrX\t1\t3000\t100\t1000\t33.3\t10\t30\t60",  # 2,000 bp of N
        ]
    )
    document = {
        "sample_id": "S1",
        "build": "T",
        "contig_lengths": {"chr1": 1000, "chrX": 3000},
        "acgt_length": 2000,
        "stats_text": "",
        "coverage_text": coverage,
        "markdup_text": "",
        "variants": VariantSummary(),
    }
    padded = build_qc(**document)  # type: ignore[arg-type]
    assert padded["sex"]["inferred_sex"] != "female"
    fixed = build_qc(**document, contig_acgt={"chr1": 1000, "chrX": 1000})  # type: ignore[arg-type]
    assert fixed["sex"]["x_autosome_ratio"] == 1.0
    assert fixed["sex"]["inferred_sex"] == "female"


def test_contamination_indicator_widens_with_a_second_sample() -> None:
    rng = random.Random(11)

    def sites(mix: float) -> list[tuple[int, int]]:
        result = []
        for _ in range(300):
            depth = 30
            # a contaminant carries the allele with probability 0.5 at each site
            alt_fraction = 0.5 * (1 - mix) + mix * rng.choice((0.0, 0.5, 1.0))
            alt = sum(rng.random() < alt_fraction for _ in range(depth))
            result.append((depth - alt, alt))
        return result

    clean, mixed = contamination_indicator(sites(0.0)), contamination_indicator(sites(0.4))
    assert clean["status"] == "ok"
    assert mixed["status"] == "suspect"
    assert contamination_indicator([(5, 5)])["status"].startswith("insufficient data")


def test_parse_markdup_stats() -> None:
    text = "COMMAND: samtools markdup\nREAD: 100\nDUPLICATE TOTAL: 4\nESTIMATED_LIBRARY_SIZE: 9\n"
    assert parse_markdup_stats(text)["DUPLICATE TOTAL"] == 4


# --- real reads -----------------------------------------------------------------------------


@pytest.fixture
def chr22_kit() -> Path:
    if not (CHR22 / "reads" / "test_1.fastq.gz").exists():
        pytest.skip(f"needs the shared test-data kit at {CHR22} (../shared/testdata)")
    return CHR22


def test_real_chr22_reads_align_and_call(chr22_kit: Path, tmp_path: Path) -> None:
    reference = prepare_reference(
        chr22_kit / "reference" / "genome.fasta", tmp_path / "ref", "GRCh38-chr22-40kb"
    )
    result = run_pipeline(
        "testN",
        chr22_kit / "reads" / "test_1.fastq.gz",
        chr22_kit / "reads" / "test_2.fastq.gz",
        reference,
        tmp_path / "run",
    )
    assert result.qc["mapping_rate"] > 0.95
    with gzip.open(chr22_kit / "reads" / "test_1.fastq.gz", "rb") as reads:
        pairs = sum(1 for _ in reads) // 4
    assert result.qc["reads"]["total"] == 2 * pairs
    assert len(pass_calls(result.outputs["vcf"])) >= 1
    assert result.qc["inferred_sex"] == "undetermined: no chrX/chrY in reference"
    assert os.path.getsize(result.outputs["cram"]) > 0


GIAB_OFFSET = 16_569_999
"""The chr22 mini-reference's position 1 is chr22:16,570,000 (MANIFEST)."""


def test_na12878_against_the_giab_truth(chr22_kit: Path, tmp_path: Path) -> None:
    """Real NA12878 reads, aligned and called on the mini-reference, scored against GIAB."""
    reads = SHARED_TESTDATA / "derived" / "NA12878_chr22_16.57Mb_fastq"
    truth = (
        SHARED_TESTDATA / "nfcore" / "chr22_16.57-16.61Mb_fullcoords" / "NA12878_GIAB.chr22.vcf.gz"
    )
    if not truth.exists():
        pytest.skip(f"needs the GIAB truth set at {truth}")
    reference = prepare_reference(
        chr22_kit / "reference" / "genome.fasta", tmp_path / "ref", "GRCh38-chr22-40kb"
    )
    result = run_pipeline(
        "NA12878",
        reads / "NA12878.chr22_region_R1.fastq.gz",
        reads / "NA12878.chr22_region_R2.fastq.gz",
        reference,
        tmp_path / "run",
    )
    comparison = compare_to_truth(result.outputs["vcf"], truth, offset=GIAB_OFFSET)
    snv, indel = comparison.scores["snv"], comparison.scores["indel"]
    print(  # the figures, for the record (pytest -s)
        {
            k: (s.true_positives, s.false_positives, s.false_negatives)
            for k, s in comparison.scores.items()
        }
    )
    assert snv.true_positives + snv.false_negatives >= 60  # the truth is in the window
    assert (snv.recall or 0.0) >= 0.95
    assert (snv.precision or 0.0) >= 0.85
    assert snv.genotype_matches >= 0.95 * snv.true_positives
    assert (indel.recall or 0.0) >= 0.6
    assert result.qc["mapping_rate"] > 0.98


def _vcf(path: Path, records: list[str], *, length: int = 1000) -> Path:
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID=chr1,length={length}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FILTER=<ID=LowQual,Description="low">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
    )
    path.write_text(header + "".join("chr1\t" + r.replace(" ", "\t") + "\n" for r in records))
    return path


def test_compare_to_truth_scores_alleles_in_the_window(tmp_path: Path) -> None:
    called = _vcf(
        tmp_path / "called.vcf",
        [
            "200 . A G 50 PASS . GT 0/1",  # TP, genotype matches
            "300 . C T 50 PASS . GT 1/1",  # TP, genotype differs (truth 0/1)
            "400 . G GA 50 PASS . GT 0/1",  # FP indel
            "500 . T C 50 LowQual . GT 0/1",  # filtered: not a call
            "600 . A C,T 50 PASS . GT 1/2",  # multi-allelic: both TP
            f"{EDGE_MARGIN - 5} . A T 50 PASS . GT 0/1",  # inside the edge margin: ignored
        ],
    )
    truth = _vcf(
        tmp_path / "truth.vcf",
        [
            "1200 . A G 50 PASS . GT 0/1",
            "1300 . C T 50 PASS . GT 0/1",
            "1500 . T C 50 PASS . GT 0/1",  # missed (the call was filtered)
            "1600 . A C,T 50 PASS . GT 1/2",
            "1700 . AT A 50 PASS . GT 1/1",  # missed indel
        ],
        length=5000,
    )
    comparison = compare_to_truth(called, truth, offset=1000)
    assert (comparison.start, comparison.end) == (1001 + EDGE_MARGIN, 2000 - EDGE_MARGIN)
    snv, indel, both = (comparison.scores[k] for k in ("snv", "indel", "all"))
    assert (snv.true_positives, snv.false_positives, snv.false_negatives) == (4, 0, 1)
    assert snv.genotype_matches == 3
    assert (indel.true_positives, indel.false_positives, indel.false_negatives) == (0, 1, 1)
    assert (both.precision, both.recall) == (4 / 5, 4 / 6)
    assert comparison.false_positives == (Allele("chr1", 1400, "G", "GA"),)
    assert Allele("chr1", 1500, "T", "C") in comparison.false_negatives
    assert indel.precision == 0.0
    assert (
        compare_to_truth(called, truth, offset=1000, start=1, end=1099).scores["all"].precision
        is None
    )


def test_ploidy_lines_follow_the_pseudo_autosomal_regions() -> None:
    grch38 = ploidy_lines({"chr1": 248_956_422, "chrX": 156_040_895, "chrY": 57_227_415})
    assert grch38 == [
        "chrX 1 10000 M 1",
        "chrX 2781480 155701382 M 1",
        "chrX 156030896 156040895 M 1",
        "chrY 1 57227415 M 1",
        "* * * M 2",
        "* * * F 2",
    ]
    # another build's chrX: no PARs known, haploid throughout in males
    assert ploidy_lines({"X": 5000})[:1] == ["X 1 5000 M 1"]
    assert ploidy_lines({"chr1": 10}) == ["* * * M 2", "* * * F 2"]


def test_a_male_is_called_haploid_on_chrx(tmp_path: Path) -> None:
    sim = simulate_sample(
        tmp_path / "sim", contigs=(("chr1", 6_000), ("chrX", 6_000)), snvs=12, indels=0, seed=7
    )
    ref = prepare_reference(sim.reference_path, tmp_path / "ref", "SIMX")
    result = run_pipeline(
        "MALE1", sim.r1_path, sim.r2_path, ref, tmp_path / "run", cores=2, sex="male"
    )
    ploidy: dict[str, set[int]] = {"chr1": set(), "chrX": set()}
    with pysam.VariantFile(str(result.outputs["gvcf"])) as gvcf:
        for record in gvcf:
            ploidy[record.chrom].add(len(record.samples[0]["GT"]))
    assert ploidy == {"chr1": {2}, "chrX": {1}}
    call = next(s for s in result.provenance["steps"] if s["step"] == "call")
    assert call["params"]["ploidy"].startswith("male: 1 on chrX")
