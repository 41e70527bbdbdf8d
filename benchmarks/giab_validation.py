"""Pipeline accuracy on real reads: NA12878 (HG001) against the GIAB v4.2.1 truth set.

Uses the shared test data (``../shared/testdata``): the NA12878 read pairs of
``derived/NA12878_chr22_16.57Mb_fastq`` are aligned to the chr22 40 kb
mini-reference (chr22:16,570,000-16,610,000), called by the pipeline exactly as
``helgenom pipeline run`` does, shifted by +16,569,999 onto full chr22 and compared
allele by allele with ``NA12878_GIAB.chr22.vcf.gz``. One read length at each end of
the mini-reference is left out (reads overhanging the cut). The truth set's
confident-region BED is not in the kit, so every difference counts, also in the
homopolymers of this segmental duplication where GIAB itself is not confident.

Run from the project root with the project's virtualenv::

    python benchmarks/giab_validation.py [--testdata ../shared/testdata] [--caller bcftools]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from helgenom.adapters.pipeline import prepare_reference, run_pipeline
from helgenom.adapters.pipeline.validation import compare_to_truth

OFFSET = 16_569_999
ROOT = Path(__file__).resolve().parents[1]


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=ROOT.parent / "shared" / "testdata")
    parser.add_argument("--caller", default="bcftools")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    kit = args.testdata
    reads = kit / "derived" / "NA12878_chr22_16.57Mb_fastq"
    fasta = kit / "nfcore" / "chr22_40kb_local" / "reference" / "genome.fasta"
    truth = kit / "nfcore" / "chr22_16.57-16.61Mb_fullcoords" / "NA12878_GIAB.chr22.vcf.gz"
    missing = [p for p in (reads, fasta, truth) if not p.exists()]
    if missing:
        print(f"missing test data: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    console = Console()
    with tempfile.TemporaryDirectory(prefix="helgenom-giab-") as scratch:
        work = Path(scratch)
        reference = prepare_reference(fasta, work / "ref", "GRCh38-chr22-40kb")
        started = time.perf_counter()
        result = run_pipeline(
            "NA12878",
            reads / "NA12878.chr22_region_R1.fastq.gz",
            reads / "NA12878.chr22_region_R2.fastq.gz",
            reference,
            work / "run",
            caller=args.caller,
            cores=args.cores,
        )
        seconds = time.perf_counter() - started
        comparison = compare_to_truth(result.outputs["vcf"], truth, offset=OFFSET)
    table = Table(
        "kind",
        "truth",
        "TP",
        "FP",
        "FN",
        "precision",
        "recall",
        "F1",
        "genotype match (of TP)",
        title=(
            f"NA12878 vs GIAB v4.2.1, {comparison.contig}:{comparison.start:,}-"
            f"{comparison.end:,} ({args.caller})"
        ),
    )
    for score in comparison.scores.values():
        table.add_row(
            score.kind,
            str(score.true_positives + score.false_negatives),
            str(score.true_positives),
            str(score.false_positives),
            str(score.false_negatives),
            _fraction(score.precision),
            _fraction(score.recall),
            _fraction(score.f1),
            f"{score.genotype_matches}/{score.true_positives}",
        )
    console.print(table)
    qc = result.qc
    console.print(
        f"pipeline {seconds:.1f} s; mapped {qc['mapping_rate']:.3f}, mean depth "
        f"{qc['mean_coverage']:.1f}x, duplicates {qc['duplicate_rate']:.3f}"
    )
    if comparison.false_negatives:
        console.print(
            "missed: " + ", ".join(f"{a.pos}:{a.ref}>{a.alt}" for a in comparison.false_negatives)
        )
    fp_snvs = [a for a in comparison.false_positives if a.kind == "snv"]
    if fp_snvs:
        console.print("false SNVs: " + ", ".join(f"{a.pos}:{a.ref}>{a.alt}" for a in fp_snvs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
