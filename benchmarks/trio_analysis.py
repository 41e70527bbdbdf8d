"""Trio analysis at whole-genome scale: wall time and peak memory of ``case analyse``.

Simulates a gene genome (:func:`~helgenom.adapters.annotation.simtrio.simulate_gene_genome`,
``chr1`` long enough for the variant density) and a trio with ``--variants`` background
variants per person plus the planted causal variants
(:func:`~helgenom.adapters.annotation.simtrio.simulate_trio`), sets up a scratch instance
(reference, gene models, ClinVar, population frequencies, panel; three persons with
requisitions and samples; the three gVCFs ingested into the genome database: not timed),
then times ``CaseService.analyse`` of the trio in a fresh process (its peak RSS from
``getrusage``): the genome-wide family query (every proband variant with both parents'
states from their calls and reference blocks), the parentage check, the restriction to
the panel genes, ``bcftools csq`` of those, frequencies, ClinVar, inheritance, ACMG and
HPO ranking. Goal: under 60 s.

Beside it, the same genome-wide trio work with bcftools (the field's reference tools):
``bcftools merge -g`` of the three gVCFs (reference blocks resolved against the FASTA),
then ``+mendelian`` (Mendelian-consistency counts) and ``+trio-dnm2`` (de novo calls)
over the merged genome, and ``bcftools csq`` of the panel genes; the ratio is
helgenom / bcftools. Also checked: the planted de novo, compound heterozygous and
homozygous variants are in helgenom's top 5, all planted together (exit 1 otherwise).

Run from the project root with the project's virtualenv::

    python benchmarks/trio_analysis.py                       # 4,000,000 variants per person
    python benchmarks/trio_analysis.py --variants 200000 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

console = Console(highlight=False)

ANALYSE = """
import json, resource, sys, time
from helgenom.services.platform import open_platform
home, case_id = sys.argv[1], sys.argv[2]
started = time.perf_counter()
p = open_platform(home)
analysis = p.cases.analyse(p.context("gen-a"), case_id)
elapsed = time.perf_counter() - started
p.close()
print(json.dumps({
    "seconds": elapsed,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "summary": analysis.summary,
    "ranks": {c["variant_id"]: c["rank"] for c in analysis.candidates},
}))
"""


def run(cmd: list[str], **kwargs: Any) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, **kwargs)
    return time.perf_counter() - started


def setup(args: argparse.Namespace, scratch: Path) -> tuple[Any, Any, str, str]:
    from conftest import build_world, make_cpr
    from helgenom.adapters.annotation.simtrio import simulate_gene_genome, simulate_trio
    from helgenom.core.models import SampleOrigin, Sex
    from helgenom.services.instance import init_instance
    from helgenom.services.platform import open_platform

    length = max(400_000, int(args.variants * args.spacing * 1.15))
    t = time.perf_counter()
    genome = simulate_gene_genome(scratch / "genome", seed=args.seed, autosome_length=length)
    console.print(f"genome: chr1 {length:,} bp in {time.perf_counter() - t:.1f} s")
    home = scratch / "instance"
    init_instance(home)
    p = open_platform(str(home))
    world = build_world(p)
    operator, clinician = p.context("operator"), p.context("clin-a")
    p.references.load(operator, genome.fasta, build="SIMGENES")
    p.annotation.load_genes(operator, genome.gff3, label="sim")
    p.annotation.load_clinvar(operator, genome.clinvar, label="sim")
    p.annotation.load_population(operator, "gnomad", genome.population, label="sim")
    p.annotation.load_panel(p.context("gen-a"), genome.panel)
    cprs = (make_cpr(900, Sex.MALE), make_cpr(901), make_cpr(902, Sex.MALE))
    reqs, sids = [], []
    for cpr in cprs:
        req = p.requisitions.create(clinician, cpr, indication="R-SIM-1")
        reqs.append(req)
        sids.append(p.samples.register(clinician, cpr, origin=SampleOrigin.CLINICAL,
                                       requisition=req))  # fmt: skip
    t = time.perf_counter()
    truth = simulate_trio(
        genome,
        scratch / "trio",
        seed=args.seed,
        background=args.variants,
        sample_ids=tuple(sids),
        nonref_alt=args.nonref_alt,
    )
    console.print(
        f"trio: {', '.join(f'{n:,}' for n in truth.variant_records.values())} variant records "
        f"in {time.perf_counter() - t:.1f} s"
    )
    t = time.perf_counter()
    from helgenom.services.variants import BatchItem

    batch = [BatchItem(sid, path=truth.gvcfs[sid]) for sid in sids]
    p.variants.ingest_batch(operator, batch, workers=2, group_size=3)
    console.print(
        f"ingest of the three gVCFs (setup, not the figure): {time.perf_counter() - t:.1f} s"
    )
    ped = (
        f"F\t{sids[0]}\t{sids[2]}\t{sids[1]}\t1\t2\n"
        f"F\t{sids[1]}\t0\t0\t2\t1\nF\t{sids[2]}\t0\t0\t1\t1\n"
    )
    case = p.cases.create(
        p.context("gen-a"), reqs[0], ped_text=ped, hpo_terms=["HP:0001250", "HP:0001263"]
    )
    p.close()
    del world
    return genome, truth, str(home), case.case_id


def bcftools_side(genome: Any, truth: Any, scratch: Path) -> dict[str, float]:
    child, mother, father = truth.sample_ids
    out = scratch / "bcftools"
    out.mkdir()
    merged = out / "trio.bcf"
    times = {}
    times["merge -g"] = run(
        ["bcftools", "merge", "-g", str(genome.fasta), "-Ob", "-o", str(merged), "--threads", "2",
         *(str(truth.gvcfs[s]) for s in (child, mother, father))]
    )  # fmt: skip
    run(["bcftools", "index", str(merged)])
    times["+mendelian"] = run(
        ["bcftools", "+mendelian", str(merged), "-t", f"{mother},{father},{child}", "-m", "c"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times["+trio-dnm2"] = run(
        ["bcftools", "+trio-dnm2", "-p", f"1X:{child},{father},{mother}", "--use-NAIVE",
         "-X", "GRCh38", str(merged),
         "-Ob", "-o", str(out / "dnm.bcf")],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    regions = ",".join(f"{g.contig}:{g.start}-{g.end}" for g in genome.genes.values())
    times["csq (genes)"] = run(
        ["bcftools", "csq", "-f", str(genome.fasta), "-g", str(genome.gff3), "-r", regions,
         "--local-csq", "-s", "-", "-Ob", "-o", str(out / "csq.bcf"), str(merged)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=4_000_000, help="background per person")
    parser.add_argument("--spacing", type=float, default=30.0, help="bases per variant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument(
        "--nonref-alt",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="write variant records' ALT as X,<NON_REF> as GATK does (ingest ~6x slower)",
    )
    parser.add_argument("--no-bcftools", dest="bcftools", action="store_false")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="helgenom-trio-"))
    try:
        genome, truth, home, case_id = setup(args, scratch)
        result = json.loads(
            subprocess.run(
                [sys.executable, "-c", ANALYSE, home, case_id],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        summary = result["summary"]
        table = Table("step", "seconds", title="Trio analysis")
        table.add_row(
            "helgenom case analyse (whole genome, fresh process)", f"{result['seconds']:.1f}"
        )
        total_bcf = None
        if args.bcftools and shutil.which("bcftools"):
            times = bcftools_side(genome, truth, scratch)
            for name, seconds in times.items():
                table.add_row(f"  bcftools {name}", f"{seconds:.1f}")
            total_bcf = sum(times.values())
            table.add_row("bcftools total", f"{total_bcf:.1f}")
        console.print(table)
        peak_mb = result["max_rss_kb"] / 1024
        console.print(
            f"proband variants genome-wide {summary['proband_variants_genome_wide']:,}; "
            f"parents called at {summary['parents_called']:,}; unexplained "
            f"{summary['unexplained_by_parents']:,}; filters {summary['counts']}"
        )
        console.print(
            f"helgenom: {result['seconds']:.1f} s, peak RSS {peak_mb:,.0f} MB (goal < 60 s: "
            f"{'PASS' if result['seconds'] < 60 else 'MISS'})"
            + (f"; ratio to bcftools {result['seconds'] / total_bcf:.2f}" if total_bcf else "")
        )
        ranks = result["ranks"]
        ok = True
        for name in ("de_novo_scn1a", "comphet_cftr_missense", "comphet_cftr_frameshift",
                     "hom_pah_stop"):  # fmt: skip
            vid = truth.planted_variant(name).variant_id
            rank = ranks.get(vid)
            console.print(f"  planted {name}: rank {rank}")
            ok = ok and rank is not None and rank <= 5
        return 0 if ok and result["seconds"] < 60 else 1
    finally:
        if args.keep:
            console.print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
