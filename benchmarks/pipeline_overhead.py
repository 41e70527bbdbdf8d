"""Secondary-analysis pipeline: time in the tools versus the workflow around them.

Simulates one diploid sample (``--contig-kb`` of random reference in two contigs,
``--depth`` x paired 150 bp reads), prepares the reference, then times:

* ``first run`` - :func:`run_pipeline` from FASTQ to QC and provenance (wall clock);
* ``steps`` - the same run's per-step time as recorded in its provenance (the
  tools and helgenom's own code inside each step process);
* ``overhead`` - the difference: Snakemake's DAG, scheduling and one Python
  process per step;
* ``no-op rerun`` - a second call on the finished folder (nothing to do);
* ``resume (qc)`` - after deleting the QC document (QC and provenance run again).

It also reports SNV and indel recall/precision against the planted truth.

Run from the project root with the project's virtualenv::

    python benchmarks/pipeline_overhead.py                      # 45 kb, 30x, 2 cores
    python benchmarks/pipeline_overhead.py --contig-kb 1000 --depth 30 --cores 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pysam

from helgenom.adapters.pipeline import prepare_reference, run_pipeline
from helgenom.core.simulate import simulate_sample


def _pass_calls(vcf: Path) -> set[tuple[str, int, str, str]]:
    with pysam.VariantFile(str(vcf)) as calls:
        return {
            (r.chrom, r.pos, r.ref or "", (r.alts or ("",))[0])
            for r in calls
            if list(r.filter.keys()) == ["PASS"]
        }


def _score(called: set[tuple[str, int, str, str]], truth: set[tuple[str, int, str, str]]) -> str:
    hits = len(called & truth)
    recall = hits / len(truth) if truth else float("nan")
    precision = hits / len(called) if called else float("nan")
    return f"recall {recall:.3f}, precision {precision:.3f} ({hits}/{len(truth)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contig-kb", type=int, default=45, help="reference size in kb")
    parser.add_argument("--depth", type=float, default=30.0, help="mean coverage")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: temp)")
    args = parser.parse_args(argv)
    length = args.contig_kb * 1000
    contigs = (("chr1", length * 2 // 3), ("chr2", length - length * 2 // 3))
    variants = max(4, length // 800)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="helgenom-bench-") as scratch:
        base = Path(scratch)
        clock = time.perf_counter()
        sample = simulate_sample(
            base / "sim",
            contigs=contigs,
            snvs=variants * 3 // 4,
            indels=variants - variants * 3 // 4,
            depth=args.depth,
            seed=args.seed,
        )
        simulated = time.perf_counter() - clock
        clock = time.perf_counter()
        reference = prepare_reference(sample.reference_path, base / "ref", "SIM")
        prepared = time.perf_counter() - clock
        workdir = base / "run"
        run = lambda: run_pipeline(  # noqa: E731
            "BENCH", sample.r1_path, sample.r2_path, reference, workdir, cores=args.cores
        )
        clock = time.perf_counter()
        result = run()
        first = time.perf_counter() - clock
        steps = {s["step"]: s["seconds"] for s in result.provenance["steps"]}
        clock = time.perf_counter()
        run()
        noop = time.perf_counter() - clock
        result.outputs["qc"].unlink()
        clock = time.perf_counter()
        resumed = run()
        resume = time.perf_counter() - clock
        called = _pass_calls(result.outputs["vcf"])
        truth_snvs = {v.key for v in sample.truth if v.is_snv}
        truth_indels = {v.key for v in sample.truth if v.is_indel}
        snvs = {c for c in called if len(c[2]) == 1 and len(c[3]) == 1}
        indels = {c for c in called if len(c[2]) != len(c[3])}
        rows = [
            ("simulate", simulated),
            ("prepare reference", prepared),
            ("first run", first),
            ("  steps (sum)", sum(steps.values())),
            ("  overhead", first - sum(steps.values())),
            *((f"    {name}", seconds) for name, seconds in steps.items()),
            ("no-op rerun", noop),
            (f"resume ({', '.join(resumed.executed_steps)})", resume),
        ]
        print(f"{args.contig_kb} kb, {args.depth}x, {sample.read_pairs} pairs, {args.cores} cores")
        for name, seconds in rows:
            print(f"{name:<36}{seconds:9.2f} s")
        print(f"SNVs:   {_score(snvs, truth_snvs)}")
        print(f"indels: {_score(indels, truth_indels)}")
        print(f"QC: mapping {result.qc['mapping_rate']}, mean depth {result.qc['mean_coverage']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
