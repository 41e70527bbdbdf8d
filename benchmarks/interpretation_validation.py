"""Interpretation logic on real public data: trio Mendelian checks and phenopacket ranks.

Uses the shared test data (``../shared/testdata``):

* trios: the 1000 Genomes chr22 panel slice (NA12878/NA12891/NA12892 and
  NA19240/NA19239/NA19238, pedigree built in code), the GIAB Ashkenazim exome trio of slivar
  (``ashk-trio.vcf.gz``, GRCh37, all records and PASS only), the nf-cmgg AJ trio
  (``Ashkenazim.vcf.gz``) and ``justhusky``; per trio the allele sites, the sites called in
  all three, Mendelian errors, the error rate and de novo candidates, SNVs and indels apart
  (:func:`helgenom.adapters.annotation.trio_validation.validate_trios`);
* two negative controls: the 1000G children with each other's parents, and the justhusky son
  declared a daughter (chrX outside the PAR is then read with the daughter's rules);
* slivar's ``comphet-test-case``: the compound-heterozygous pairs found;
* phenopacket-store: the rank of the causal gene among all HPO-annotated genes and among
  itself plus 99 random annotated genes per case.

A dataset whose files are absent is reported as missing and skipped. Several ``--testdata``
roots may be given; each file is taken from the first root that has it.

Run from the project root with the project's virtualenv::

    python benchmarks/interpretation_validation.py [--testdata ../shared/testdata] \\
        [--per-case] [--decoys 99] [--seed 0] [--no-phenopackets] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from helgenom.adapters.annotation import trio_validation as tv
from helgenom.core.pedigree import Pedigree, Sex
from helgenom.core.version import __version__

ROOT = Path(__file__).resolve().parents[1]

PANEL = "nfcore/chr22_16.57-16.61Mb_fullcoords/1000GP.chr22.vcf.gz"
ASHK_VCF = "slivar_grch37/ashk-trio.vcf.gz"
ASHK_PED = "slivar_grch37/ashk-trio.ped"
AJ_VCF = "nf-cmgg/chr21_22-23Mb_local_AJtrio/vcf/Ashkenazim.vcf.gz"
AJ_PED = "nf-cmgg/chr21_22-23Mb_local_AJtrio/test.ped"
HUSKY_VCF = "nfcore/misc/justhusky_minimal.vcf.gz"
HUSKY_PED = "nfcore/misc/justhusky.ped"
COMPHET_VCF = "slivar_grch37/comphet-test-case.vcf"
COMPHET_PED = "slivar_grch37/comphet-test-case.ped"
PHENOPACKETS = "phenopackets/phenopacket-store"


def _find(roots: list[Path], relative: str) -> Path | None:
    for root in roots:
        if (root / relative).exists():
            return root / relative
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _trio_runs(
    roots: list[Path],
) -> list[tuple[str, list[str], Pedigree | list[Any], str, bool]]:
    """(label, files (VCF first), trios, build, pass_only) of every trio run."""
    panel_swapped = [
        tv.make_trio("NA12878", "NA19239", "NA19238", child_sex=Sex.FEMALE, family="swap-1463"),
        tv.make_trio("NA19240", "NA12891", "NA12892", child_sex=Sex.FEMALE, family="swap-Y117"),
    ]
    runs: list[tuple[str, list[str], Pedigree | list[Any], str, bool]] = [
        ("1000G panel trios", [PANEL], tv.thousand_genomes_trios(), "GRCh38", False),
        (
            "control: 1000G children with other parents",
            [PANEL],
            panel_swapped,
            "GRCh38",
            False,
        ),
    ]
    for label, vcf, ped, build in (
        ("GIAB AJ exome trio (slivar)", ASHK_VCF, ASHK_PED, "GRCh37"),
        ("GIAB AJ trio chr21 (nf-cmgg)", AJ_VCF, AJ_PED, "GRCh38"),
        ("justhusky", HUSKY_VCF, HUSKY_PED, "GRCh37"),
    ):
        ped_path = _find(roots, ped)
        trios: Pedigree | list[Any] = [] if ped_path is None else tv.load_pedigree(ped_path)
        runs.append((label, [vcf, ped], trios, build, False))
        if vcf == ASHK_VCF:
            runs.append((label + ", PASS only", [vcf, ped], trios, build, True))
    husky = _find(roots, HUSKY_PED)
    if husky is not None:
        pedigree = tv.load_pedigree(husky)
        trio = pedigree.trios()[0]
        runs.append(
            (
                "control: justhusky son declared a daughter",
                [HUSKY_VCF, HUSKY_PED],
                [
                    tv.make_trio(
                        trio.child.individual,
                        trio.father.individual,
                        trio.mother.individual,
                        child_sex=Sex.FEMALE,
                        family=trio.child.family,
                    )
                ],
                "GRCh37",
                False,
            )
        )
    return runs


def _x_errors(result: tv.TrioResult) -> int:
    return sum(1 for site in result.error_sites if site.removeprefix("chr").startswith("X-"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--testdata",
        type=Path,
        action="append",
        help="test-data root (repeatable); default ../shared/testdata beside the checkout",
    )
    parser.add_argument("--decoys", type=int, default=99, help="random genes per case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the decoy draw")
    parser.add_argument("--per-case", action="store_true", help="print one row per phenopacket")
    parser.add_argument(
        "--no-phenopackets", action="store_true", help="skip the phenopacket ranking"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="rank only the causal gene and its decoys (seconds instead of ~2 minutes)",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON ('-': stdout)")
    args = parser.parse_args(argv)
    roots: list[Path] = args.testdata or [ROOT.parent / "shared" / "testdata"]
    console = Console(stderr=args.json is not None and str(args.json) == "-")
    out: dict[str, Any] = {
        "format_version": tv.FORMAT_VERSION,
        "provenance": {
            "software": {
                "helgenom": __version__,
                "pysam": _version("pysam"),
                "hpo3": _version("hpo3"),
            },
            "parameters": {
                "decoys": args.decoys,
                "seed": args.seed,
                "quick": args.quick,
                "de_novo_filter": {
                    "min_gq": tv.DEFAULT_QUALITY.min_gq,
                    "min_dp": tv.DEFAULT_QUALITY.min_dp,
                },
            },
            "inputs": {},
        },
        "trios": [],
        "missing": [],
    }
    inputs: dict[str, str] = out["provenance"]["inputs"]

    def have(files: list[str]) -> list[Path] | None:
        found = [_find(roots, f) for f in files]
        missing = [f for f, p in zip(files, found, strict=True) if p is None]
        if missing:
            out["missing"].extend(m for m in missing if m not in out["missing"])
            return None
        paths = [p for p in found if p is not None]
        for name, path in zip(files, paths, strict=True):
            if path.is_file() and name not in inputs:
                inputs[name] = _sha256(path)
        return paths

    summary = Table(
        "run",
        "trio (child)",
        "sites",
        "all called",
        "informative",
        "ME (called)",
        "ME rate",
        "ME on chrX",
        "de novo raw",
        "de novo",
        title="Trio checks (all kinds; per kind below)",
    )
    for label, files, trios, build, pass_only in _trio_runs(roots):
        paths = have(files)
        if paths is None:
            continue
        started = time.perf_counter()
        validation = tv.validate_trios(paths[0], trios, build=build, pass_only=pass_only)
        seconds = time.perf_counter() - started
        for result in validation.trios:
            total = result.total
            rate = total.error_rate
            summary.add_row(
                label,
                f"{result.family}: {result.child}",
                f"{total.sites:,}",
                f"{total.called:,}",
                f"{total.informative:,}",
                f"{total.errors_called:,}",
                "-" if rate is None else f"{rate:.4f}",
                str(_x_errors(result)),
                f"{total.de_novo_raw:,}",
                f"{total.de_novo:,}",
            )
        out["trios"].append({"run": label, "seconds": seconds, **validation.asdict()})
        if not label.startswith("control"):
            console.print(validation.format_table())
    console.print(summary)

    comphet = have([COMPHET_VCF, COMPHET_PED])
    if comphet is not None:
        findings = tv.find_compound_heterozygous(comphet[0], tv.load_pedigree(comphet[1]))
        table = Table("child", "gene", "first", "second", "certainty", "phase", title=COMPHET_VCF)
        for f in findings:
            table.add_row(
                f.child, f.pair.gene, f.pair.first, f.pair.second, f.pair.certainty, f.pair.phase
            )
        console.print(table)
        out["compound_heterozygous"] = [f.asdict() for f in findings]

    if not args.no_phenopackets:
        found = have([PHENOPACKETS])
        if found is not None:
            from helgenom.adapters.annotation.phenotype import PhenotypeRanker

            started = time.perf_counter()
            cases = tv.load_phenopackets(found[0])
            ranker = PhenotypeRanker()
            loaded = time.perf_counter() - started
            ranking = tv.rank_phenopackets(
                cases, ranker, decoys=args.decoys, seed=args.seed, all_genes=not args.quick
            )
            seconds = time.perf_counter() - started - loaded
            console.print(ranking.format_table())
            if args.per_case:
                console.print(ranking.format_table(per_case=True))
            console.print(
                f"{len(cases)} phenopackets; ontology + gene index {loaded:.1f} s, "
                f"ranking {seconds:.1f} s"
            )
            out["phenopackets"] = {"seconds": seconds, **ranking.asdict()}

    if out["missing"]:
        console.print("[yellow]missing test data (skipped):[/yellow] " + ", ".join(out["missing"]))
    if args.json is not None:
        text = json.dumps(out, indent=2, sort_keys=True)
        if str(args.json) == "-":
            sys.stdout.write(text + "\n")
        else:
            args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
