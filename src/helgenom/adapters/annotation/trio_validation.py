"""Validation of the interpretation logic on real family VCFs and phenopackets.

Two checks run the clinical logic of :mod:`helgenom.core.inheritance` and
:mod:`helgenom.adapters.annotation.phenotype` on public data:

* **Trio checks** (:func:`validate_trios`): for every trio of a multi-sample VCF, count the
  allele sites, the sites where all three members are called, the Mendelian errors
  (:func:`~helgenom.core.inheritance.mendelian_error`) and the de novo candidates
  (:func:`~helgenom.core.inheritance.classify_variant`), SNVs and indels apart.
  :func:`find_compound_heterozygous` runs
  :func:`~helgenom.core.inheritance.compound_heterozygous_pairs` per gene.
* **Phenotype ranking** (:func:`rank_phenopackets`): for every case phenopacket, rank genes
  by HPO similarity to the case's observed terms and report where the causal gene lands.

Counting rules of the trio checks
---------------------------------
* A record with several ALT alleles is split into one *allele site* per ALT, as
  ``bcftools norm -m -any`` (and the genome database) would: for ALT ``k`` a genotype
  counts the copies of ``k``; other ALT alleles count as not-``k``. Symbolic (``<NON_REF>``,
  ``<DEL>``) and spanning-deletion (``*``) alleles are skipped.
* A genotype with any missing allele (``./.``, ``./1``, ``.``) is ``no_call``. A haploid
  call (``1``) is ``hom_alt``, which the core reads as ``hemi`` for a male on chrX/chrY.
* ``kind`` is ``snv`` when REF and ALT are one base each, else ``indel``
  (MNVs count as indels).
* chrX/chrY sites are placed in or outside the pseudo-autosomal regions of the given
  build (:data:`PAR`); inside a PAR they behave as autosomal.
* ``called``: all three members called. ``informative``: called and at least one member
  carries the ALT. ``errors_called``: Mendelian errors among the called sites; the
  **error rate** is ``errors_called / informative``. ``mendelian_errors`` also counts sites
  where one parent is not called but the other already contradicts the child;
  ``undecided`` counts sites a no-call leaves open (never counted as errors).
* ``de_novo_raw``: the child is het (hemi for a son on chrX) and every parent who could
  transmit the allele is called ``hom_ref``. ``de_novo``: the same after a
  :class:`~helgenom.core.inheritance.QualityFilter` demoted poor calls of all three
  members to ``no_call`` (a poor child call is no candidate; a poor parental call does
  not prove ``hom_ref``). The filter's GQ and DP thresholds are applied only when the VCF
  header defines that FORMAT field.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal, overload

import pysam
from rich.table import Table

from helgenom.adapters.annotation.phenotype import PhenotypeRanker, ontology
from helgenom.core.errors import FormatError, InvalidInputError, NotFoundError
from helgenom.core.inheritance import (
    Certainty,
    CompHetPair,
    ContigKind,
    InheritanceMode,
    QualityFilter,
    SiteCall,
    VariantCalls,
    Zygosity,
    classify_variant,
    compound_heterozygous_pairs,
    mendelian_error,
)
from helgenom.core.pedigree import Individual, Pedigree, Phenotype, Sex, Trio

FORMAT_VERSION: Final = 1
"""Version of the ``asdict`` forms of this module."""

KINDS: Final = ("snv", "indel")
"""Variant kinds counted apart."""

DEFAULT_QUALITY: Final = QualityFilter(min_gq=20, min_dp=10)
"""Default de novo filter: GQ >= 20 and DP >= 10 for the child and both parents."""

PAR: Final[Mapping[str, Mapping[ContigKind, tuple[tuple[int, int], ...]]]] = {
    "GRCh38": {
        ContigKind.X: ((10_001, 2_781_479), (155_701_383, 156_030_895)),
        ContigKind.Y: ((10_001, 2_781_479), (56_887_903, 57_217_415)),
    },
    "GRCh37": {
        ContigKind.X: ((60_001, 2_699_520), (154_931_044, 155_260_560)),
        ContigKind.Y: ((10_001, 2_649_520), (59_034_050, 59_363_566)),
    },
}
"""Pseudo-autosomal regions (1-based, inclusive) per build."""

_OUTSIDE_GENE = frozenset(
    {
        "upstream_gene_variant",
        "downstream_gene_variant",
        "intergenic_variant",
        "regulatory_region_variant",
        "TF_binding_site_variant",
    }
)
"""VEP/SnpEff consequences that do not put a variant inside the named gene."""


# --- reading calls ------------------------------------------------------------------------


def contig_kind(contig: str) -> ContigKind:
    """Kind of chromosome of a contig name (``chrX``/``X``, ``chrM``/``MT``, else autosome)."""
    name = contig.removeprefix("chr")
    if name == "X":
        return ContigKind.X
    if name == "Y":
        return ContigKind.Y
    if name in ("M", "MT"):
        return ContigKind.MT
    return ContigKind.AUTOSOME


def _check_build(build: str) -> None:
    """Raise InvalidInputError unless ``build`` is one of :data:`PAR`."""
    if build not in PAR:
        raise InvalidInputError(f"build {build!r} is unknown; use one of {sorted(PAR)}")


def in_par(kind: ContigKind, pos: int, build: str) -> bool:
    """Whether 1-based ``pos`` on chrX/chrY lies in a pseudo-autosomal region of ``build``.

    Raises
    ------
    InvalidInputError
        If the build is not one of :data:`PAR`.
    """
    _check_build(build)
    return any(start <= pos <= end for start, end in PAR[build].get(kind, ()))


def zygosity(genotype: Sequence[int | None] | None, allele: int) -> Zygosity:
    """State of a genotype (allele indices) with respect to ALT ``allele``.

    Parameters
    ----------
    genotype
        Allele indices as pysam gives them (``(0, 1)``, ``(None,)``); None is a no-call.
    allele
        The ALT index (1 = first ALT).

    Returns
    -------
    Zygosity
        ``no_call`` if any allele is missing; ``hom_ref``, ``het`` or ``hom_alt`` by the
        number of copies of ``allele`` (a haploid ALT call is ``hom_alt``).
    """
    if not genotype or any(a is None for a in genotype):
        return Zygosity.NO_CALL
    copies = sum(1 for a in genotype if a == allele)
    if copies == 0:
        return Zygosity.HOM_REF
    if copies == len(genotype):
        return Zygosity.HOM_ALT
    return Zygosity.HET


def variant_kind(ref: str, alt: str) -> str:
    """``snv`` when REF and ALT are one base each, else ``indel``."""
    return "snv" if len(ref) == 1 and len(alt) == 1 else "indel"


def _metric(sample: Any, key: str, present: bool) -> int | None:
    """A FORMAT value of one sample as an integer (floats rounded), or None when missing."""
    if not present:
        return None
    value = sample.get(key)
    if isinstance(value, tuple):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value)


@dataclass(frozen=True, slots=True)
class _AlleleSite:
    """One ALT allele of one record with the calls of the samples asked for."""

    contig: str
    pos: int
    ref: str
    alt: str
    kind: ContigKind
    in_par: bool
    calls: Mapping[str, SiteCall]
    phased: Mapping[str, tuple[str, int] | None]
    info: Any

    @property
    def variant_id(self) -> str:
        return f"{self.contig}-{self.pos}-{self.ref}-{self.alt}"

    @property
    def variant_kind(self) -> str:
        return variant_kind(self.ref, self.alt)


def _iter_allele_sites(
    vf: pysam.VariantFile, samples: Sequence[str], build: str, pass_only: bool
) -> Iterator[_AlleleSite]:
    """Every usable ALT allele of ``vf`` with the calls of ``samples``."""
    formats = vf.header.formats
    has_gq, has_dp, has_ps = "GQ" in formats, "DP" in formats, "PS" in formats
    for rec in vf:
        if pass_only and any(name != "PASS" for name in rec.filter):
            continue
        kind = contig_kind(rec.chrom)
        par = kind in (ContigKind.X, ContigKind.Y) and in_par(kind, rec.pos, build)
        ref = rec.ref or ""
        per_sample = {name: rec.samples[name] for name in samples}
        for index, alt in enumerate(rec.alts or (), start=1):
            if alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt:
                continue
            calls: dict[str, SiteCall] = {}
            phased: dict[str, tuple[str, int] | None] = {}
            for name, sample in per_sample.items():
                gt = sample.get("GT")
                calls[name] = SiteCall(
                    zygosity(gt, index),
                    gq=_metric(sample, "GQ", has_gq),
                    dp=_metric(sample, "DP", has_dp),
                )
                ps = _metric(sample, "PS", has_ps)
                if sample.phased and ps is not None and gt and index in gt:
                    phased[name] = (str(ps), gt.index(index))
                else:
                    phased[name] = None
            yield _AlleleSite(rec.chrom, rec.pos, ref, alt, kind, par, calls, phased, rec.info)


def _open(vcf_path: Path, samples: Iterable[str]) -> pysam.VariantFile:
    """Open a VCF/BCF restricted to ``samples``.

    Raises
    ------
    NotFoundError
        If the file does not exist or a sample is not in it.
    """
    if not vcf_path.exists():
        raise NotFoundError(f"VCF {vcf_path} does not exist; give the path of a VCF or BCF")
    vf = pysam.VariantFile(str(vcf_path))
    wanted = list(dict.fromkeys(samples))
    missing = [s for s in wanted if s not in vf.header.samples]
    if missing:
        count = len(vf.header.samples)
        vf.close()
        raise NotFoundError(
            f"samples {missing} are not in {vcf_path.name} (it has {count} samples); "
            "correct the pedigree or the sample names"
        )
    vf.subset_samples(wanted)
    return vf


# --- pedigrees ----------------------------------------------------------------------------


def load_pedigree(path: Path) -> Pedigree:
    """Read a PED file, also one whose unknown parents are empty tab-separated fields.

    Tab-separated lines are split on tabs and an empty field is read as ``0`` (slivar's
    ``comphet-test-case.ped`` writes ``SID<TAB>SID_1<TAB><TAB><TAB>2<TAB>1``); other lines
    are passed to :meth:`Pedigree.from_text` unchanged.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    FormatError
        If the pedigree is invalid (see :meth:`Pedigree.from_text`).
    """
    if not path.exists():
        raise NotFoundError(f"PED file {path} does not exist")
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        if "\t" in line and not line.lstrip().startswith("#"):
            line = "\t".join(f.strip() or "0" for f in line.split("\t"))
        lines.append(line)
    return Pedigree.from_text("\n".join(lines) + "\n")


def make_trio(
    child: str, father: str, mother: str, *, child_sex: Sex, family: str | None = None
) -> Trio:
    """A trio from sample names, for VCFs without a PED file.

    Parameters
    ----------
    child, father, mother
        Sample names as in the VCF header.
    child_sex
        The child's sex (it decides chrX/chrY rules).
    family
        Family id; the child's name when None.
    """
    fam = family or child

    def person(name: str, sex: Sex, father_: str | None, mother_: str | None) -> Individual:
        return Individual(fam, name, father_, mother_, sex, Phenotype.UNKNOWN)

    return Trio(
        child=person(child, child_sex, father, mother),
        father=person(father, Sex.MALE, None, None),
        mother=person(mother, Sex.FEMALE, None, None),
    )


def thousand_genomes_trios() -> Pedigree:
    """The two 1000 Genomes trios of the kit's chr22 panel, with sexes from the 1000G sample info.

    CEPH 1463: NA12878 (daughter), NA12891 (father), NA12892 (mother); YRI Y117: NA19240
    (daughter), NA19239 (father), NA19238 (mother).
    """
    text = (
        "1463\tNA12878\tNA12891\tNA12892\t2\t0\n"
        "1463\tNA12891\t0\t0\t1\t0\n"
        "1463\tNA12892\t0\t0\t2\t0\n"
        "Y117\tNA19240\tNA19239\tNA19238\t2\t0\n"
        "Y117\tNA19239\t0\t0\t1\t0\n"
        "Y117\tNA19238\t0\t0\t2\t0\n"
    )
    return Pedigree.from_text(text)


def _trios(trios: Pedigree | Sequence[Trio]) -> tuple[Trio, ...]:
    found = trios.trios() if isinstance(trios, Pedigree) else tuple(trios)
    if not found:
        raise InvalidInputError("no trio given: the pedigree has no child with both parents")
    return found


# --- trio counts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindCounts:
    """Trio counts of one variant kind (or of all kinds)."""

    sites: int = 0
    """Allele sites examined."""
    called: int = 0
    """Sites where child, father and mother are all called."""
    informative: int = 0
    """Called sites where at least one member carries the ALT."""
    errors_called: int = 0
    """Mendelian errors among the called sites."""
    mendelian_errors: int = 0
    """All sites :func:`mendelian_error` decides as errors (also with one parent no-call)."""
    undecided: int = 0
    """Sites a no-call leaves open (no call of the child, or a parent's no-call matters)."""
    de_novo_raw: int = 0
    """Child het (son on chrX: hemi), transmitting parents called hom_ref, no filter."""
    de_novo: int = 0
    """De novo candidates that pass the quality filter in all three members."""

    @property
    def error_rate(self) -> float | None:
        """``errors_called / informative``; None without informative sites."""
        return self.errors_called / self.informative if self.informative else None

    def __add__(self, other: KindCounts) -> KindCounts:
        """Field-wise sum."""
        return KindCounts(*(getattr(self, f) + getattr(other, f) for f in _COUNT_FIELDS))

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form with the error rate."""
        out: dict[str, Any] = {f: getattr(self, f) for f in _COUNT_FIELDS}
        out["error_rate"] = self.error_rate
        return out


@dataclass(frozen=True, slots=True)
class TrioResult:
    """Counts of one trio."""

    family: str
    """Family id."""
    child: str
    """Child's sample name."""
    father: str
    """Father's sample name."""
    mother: str
    """Mother's sample name."""
    child_sex: Sex
    """Child's sex used for chrX/chrY."""
    by_kind: Mapping[str, KindCounts]
    """Counts per kind (:data:`KINDS`)."""
    error_sites: tuple[str, ...]
    """Variant ids (``contig-pos-ref-alt``) of the Mendelian errors among called sites."""
    de_novo_sites: tuple[str, ...]
    """Variant ids of the de novo candidates that pass the quality filter."""

    @property
    def total(self) -> KindCounts:
        """Counts of all kinds together."""
        total = KindCounts()
        for counts in self.by_kind.values():
            total = total + counts
        return total

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "family": self.family,
            "child": self.child,
            "father": self.father,
            "mother": self.mother,
            "child_sex": self.child_sex.value,
            "all": self.total.asdict(),
            **{kind: counts.asdict() for kind, counts in self.by_kind.items()},
            "error_sites": list(self.error_sites),
            "de_novo_sites": list(self.de_novo_sites),
        }


@dataclass(frozen=True, slots=True)
class TrioValidation:
    """Trio counts of one VCF."""

    vcf: str
    """File name of the VCF."""
    build: str
    """Genome build used for the PAR."""
    pass_only: bool
    """Whether only records with FILTER PASS (or ``.``) were examined."""
    quality: QualityFilter
    """The de novo filter as applied (thresholds of absent FORMAT fields dropped)."""
    trios: tuple[TrioResult, ...]
    """One result per trio, in the given order."""

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form with ``format_version``."""
        return {
            "format_version": FORMAT_VERSION,
            "vcf": self.vcf,
            "build": self.build,
            "pass_only": self.pass_only,
            "quality": {"min_gq": self.quality.min_gq, "min_dp": self.quality.min_dp},
            "trios": [t.asdict() for t in self.trios],
        }

    @overload
    def format_table(self, plain: Literal[False] = ...) -> Table: ...
    @overload
    def format_table(self, plain: Literal[True]) -> str: ...
    def format_table(self, plain: bool = False) -> Table | str:
        """The counts as a Rich table, or as plain tab-separated text when ``plain``."""
        header = (
            "family",
            "child",
            "kind",
            "sites",
            "all called",
            "informative",
            "ME (called)",
            "ME rate",
            "ME (any)",
            "undecided",
            "de novo raw",
            "de novo",
        )
        rows: list[tuple[str, ...]] = []
        for trio in self.trios:
            for kind, counts in (*trio.by_kind.items(), ("all", trio.total)):
                rate = counts.error_rate
                rows.append(
                    (
                        trio.family,
                        f"{trio.child} ({trio.child_sex.value})",
                        kind,
                        f"{counts.sites:,}",
                        f"{counts.called:,}",
                        f"{counts.informative:,}",
                        f"{counts.errors_called:,}",
                        "-" if rate is None else f"{rate:.4f}",
                        f"{counts.mendelian_errors:,}",
                        f"{counts.undecided:,}",
                        f"{counts.de_novo_raw:,}",
                        f"{counts.de_novo:,}",
                    )
                )
        limits = [
            f"{name}>={value}"
            for name, value in (("GQ", self.quality.min_gq), ("DP", self.quality.min_dp))
            if value is not None
        ]
        filt = ", ".join(limits) or "none (no GQ/DP in the VCF)"
        title = (
            f"{self.vcf} ({self.build}{', PASS only' if self.pass_only else ''}; "
            f"de novo filter {filt})"
        )
        if plain:
            return "\n".join(["# " + title, "\t".join(header), *("\t".join(r) for r in rows)])
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        return table


_COUNT_FIELDS: Final = tuple(f.name for f in fields(KindCounts))
"""Names of the :class:`KindCounts` fields."""


@dataclass(slots=True)
class _Tally:
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {k: dict.fromkeys(_COUNT_FIELDS, 0) for k in KINDS}
    )
    error_sites: list[str] = field(default_factory=list)
    de_novo_sites: list[str] = field(default_factory=list)


def _effective_filter(quality: QualityFilter | None, header: Any) -> QualityFilter:
    """``quality`` without thresholds on FORMAT fields the header does not define."""
    if quality is None:
        return QualityFilter()
    return QualityFilter(
        min_gq=quality.min_gq if "GQ" in header.formats else None,
        min_dp=quality.min_dp if "DP" in header.formats else None,
    )


def _is_de_novo(
    site: _AlleleSite,
    child: SiteCall,
    mother: SiteCall,
    father: SiteCall,
    sex: Sex,
    quality: QualityFilter,
) -> bool:
    """Whether :func:`classify_variant` calls the site a de novo that ``fits``."""
    if site.kind in (ContigKind.X, ContigKind.Y) and not site.in_par and sex is Sex.UNKNOWN:
        return False
    if quality.apply(child) is Zygosity.NO_CALL:
        return False
    calls = VariantCalls(
        variant_id=site.variant_id,
        gene="",
        contig=site.kind,
        child=child,
        mother=mother,
        father=father,
        in_par=site.in_par,
    )
    modes = classify_variant(calls, child_sex=sex, quality=quality)
    return any(m.mode is InheritanceMode.DE_NOVO and m.certainty is Certainty.FITS for m in modes)


def validate_trios(
    vcf_path: Path,
    trios: Pedigree | Sequence[Trio],
    *,
    build: str = "GRCh38",
    quality: QualityFilter | None = DEFAULT_QUALITY,
    pass_only: bool = False,
) -> TrioValidation:
    """Count Mendelian errors and de novo candidates of every trio in a multi-sample VCF.

    Parameters
    ----------
    vcf_path
        VCF or BCF (bgzipped or plain) with the samples of every trio.
    trios
        A pedigree (its trios are used) or trios from :func:`make_trio`.
    build
        Genome build for the pseudo-autosomal regions (``GRCh38`` or ``GRCh37``).
    quality
        De novo filter for all three members; None for none. Thresholds on GQ or DP are
        dropped when the VCF header does not define that FORMAT field.
    pass_only
        Examine only records whose FILTER is PASS or missing.

    Returns
    -------
    TrioValidation
        One :class:`TrioResult` per trio; see the module docstring for the counting rules.

    Raises
    ------
    NotFoundError
        If the VCF or a trio member's sample is missing.
    InvalidInputError
        If there is no trio, the build is unknown, or a call is impossible for the core
        (``hemi`` where a single copy cannot be).
    """
    found = _trios(trios)
    _check_build(build)
    samples = [s.individual for t in found for s in (t.child, t.father, t.mother)]
    tallies = [_Tally() for _ in found]
    with _open(vcf_path, samples) as vf:
        filt = _effective_filter(quality, vf.header)
        for site in _iter_allele_sites(vf, samples, build, pass_only):
            vkind = site.variant_kind
            for trio, tally in zip(found, tallies, strict=True):
                counts = tally.counts[vkind]
                child = site.calls[trio.child.individual]
                father = site.calls[trio.father.individual]
                mother = site.calls[trio.mother.individual]
                sex = trio.child.sex
                counts["sites"] += 1
                zygs = (child.zygosity, father.zygosity, mother.zygosity)
                called = Zygosity.NO_CALL not in zygs
                error = mendelian_error(child, mother, father, site.kind, sex, in_par=site.in_par)
                if called:
                    counts["called"] += 1
                    if any(z is not Zygosity.HOM_REF for z in zygs):
                        counts["informative"] += 1
                    if error:
                        counts["errors_called"] += 1
                        tally.error_sites.append(site.variant_id)
                if error is None:
                    counts["undecided"] += 1
                elif error:
                    counts["mendelian_errors"] += 1
                if child.zygosity in (Zygosity.HET, Zygosity.HOM_ALT):
                    if _is_de_novo(site, child, mother, father, sex, QualityFilter()):
                        counts["de_novo_raw"] += 1
                    if _is_de_novo(site, child, mother, father, sex, filt):
                        counts["de_novo"] += 1
                        tally.de_novo_sites.append(site.variant_id)
    results = tuple(
        TrioResult(
            family=t.child.family,
            child=t.child.individual,
            father=t.father.individual,
            mother=t.mother.individual,
            child_sex=t.child.sex,
            by_kind={k: KindCounts(**tally.counts[k]) for k in KINDS},
            error_sites=tuple(tally.error_sites),
            de_novo_sites=tuple(tally.de_novo_sites),
        )
        for t, tally in zip(found, tallies, strict=True)
    )
    return TrioValidation(vcf_path.name, build, pass_only, filt, results)


# --- compound heterozygotes ---------------------------------------------------------------


def _csq_format(header: Any, key: str) -> list[str] | None:
    """Field names of a VEP ``CSQ`` or SnpEff ``ANN`` INFO description, if present."""
    if key not in header.info:
        return None
    description = header.info[key].description or ""
    match = re.search(r"Format:\s*'?([^'\"]+)", description)
    if not match:
        return None
    return [name.strip() for name in match.group(1).split("|")]


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, tuple | list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def genes_of(info: Any, header: Any) -> tuple[str, ...]:
    """Gene symbols a record's annotation puts it in.

    ``BCSQ`` (bcftools csq: field 2) first, else VEP ``CSQ`` (``SYMBOL``), else SnpEff
    ``ANN`` (``Gene_Name``); VEP/SnpEff entries whose consequences are all outside the
    gene (upstream, downstream, intergenic, regulatory) are ignored.
    """
    genes: dict[str, None] = {}
    if "BCSQ" in header.info and "BCSQ" in info:
        for entry in _as_list(info["BCSQ"]):
            parts = entry.split("|")
            if not entry.startswith("@") and len(parts) > 1 and parts[1]:
                genes[parts[1]] = None
        return tuple(genes)
    for key, symbol, consequence in (
        ("CSQ", "SYMBOL", "Consequence"),
        ("ANN", "Gene_Name", "Annotation"),
    ):
        names = _csq_format(header, key)
        if names is None or key not in info or symbol not in names:
            continue
        s_at = names.index(symbol)
        c_at = names.index(consequence) if consequence in names else None
        for entry in _as_list(info[key]):
            parts = entry.split("|")
            if len(parts) <= s_at or not parts[s_at]:
                continue
            if c_at is not None and set(parts[c_at].split("&")) <= _OUTSIDE_GENE:
                continue
            genes[parts[s_at]] = None
        return tuple(genes)
    return ()


@dataclass(frozen=True, slots=True)
class CompHetFinding:
    """A compound-heterozygous candidate pair in one child."""

    family: str
    """Family id."""
    child: str
    """Child's sample name."""
    pair: CompHetPair
    """The pair as :func:`compound_heterozygous_pairs` reports it."""

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        p = self.pair
        return {
            "family": self.family,
            "child": self.child,
            "gene": p.gene,
            "first": p.first,
            "second": p.second,
            "certainty": p.certainty.value,
            "phase": p.phase.value,
            "reason": p.reason,
        }


def find_compound_heterozygous(
    vcf_path: Path,
    trios: Pedigree | Sequence[Trio],
    *,
    build: str = "GRCh38",
    quality: QualityFilter | None = None,
    pass_only: bool = False,
) -> tuple[CompHetFinding, ...]:
    """Compound-heterozygous candidate pairs of every trio child, gene by gene.

    Genes come from the records' annotation (:func:`genes_of`); unannotated records are
    skipped. Each gene's child-het variants go to :func:`compound_heterozygous_pairs`
    (read-backed phase from ``PS`` when the child's genotype is phased).

    Parameters
    ----------
    vcf_path
        Annotated multi-sample VCF.
    trios
        A pedigree or trios from :func:`make_trio`.
    build
        Genome build for the pseudo-autosomal regions.
    quality
        Thresholds demoting poor parental calls to no_call; None for none.
    pass_only
        Examine only records whose FILTER is PASS or missing.

    Returns
    -------
    tuple of CompHetFinding
        Per trio (in order), per gene (in file order), the pairs.

    Raises
    ------
    NotFoundError
        If the VCF or a trio member's sample is missing.
    InvalidInputError
        If there is no trio or the build is unknown.
    """
    found = _trios(trios)
    _check_build(build)
    samples = [s.individual for t in found for s in (t.child, t.father, t.mother)]
    by_trio: list[dict[str, list[VariantCalls]]] = [{} for _ in found]
    with _open(vcf_path, samples) as vf:
        header = vf.header
        for site in _iter_allele_sites(vf, samples, build, pass_only):
            genes = genes_of(site.info, header)
            for trio, per_gene in zip(found, by_trio, strict=True):
                child = site.calls[trio.child.individual]
                if child.zygosity is not Zygosity.HET:
                    continue
                phase = site.phased[trio.child.individual]
                for gene in genes:
                    per_gene.setdefault(gene, []).append(
                        VariantCalls(
                            variant_id=site.variant_id,
                            gene=gene,
                            contig=site.kind,
                            child=child,
                            mother=site.calls[trio.mother.individual],
                            father=site.calls[trio.father.individual],
                            in_par=site.in_par,
                            phase_set=None if phase is None else phase[0],
                            haplotype=None if phase is None else phase[1],
                        )
                    )
    findings: list[CompHetFinding] = []
    for trio, per_gene in zip(found, by_trio, strict=True):
        for variants in per_gene.values():
            for pair in compound_heterozygous_pairs(variants, quality=quality):
                findings.append(CompHetFinding(trio.child.family, trio.child.individual, pair))
    return tuple(findings)


# --- phenopacket ranks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhenopacketCase:
    """The parts of one case phenopacket the ranking needs."""

    case_id: str
    """The phenopacket's ``id``."""
    genes: tuple[str, ...]
    """Causal gene symbols (``geneContext`` of the genomic interpretations, or ``gene``)."""
    terms: tuple[str, ...]
    """Observed HPO terms (``excluded: true`` left out), in file order, without repeats."""
    excluded: int
    """Number of excluded terms left out."""
    path: str
    """File name."""


def load_phenopackets(root: Path) -> tuple[PhenopacketCase, ...]:
    """Read every ``*.json`` phenopacket below ``root`` (sorted by path).

    Raises
    ------
    NotFoundError
        If ``root`` is not a directory or holds no phenopacket.
    FormatError
        If a file is not JSON or not a phenopacket (no ``id``).
    """
    if not root.is_dir():
        raise NotFoundError(f"phenopacket folder {root} does not exist")
    cases: list[PhenopacketCase] = []
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path} is not JSON ({exc}); remove or fix it") from exc
        if not isinstance(doc, dict) or "id" not in doc:
            raise FormatError(f"{path} is not a phenopacket (no 'id'); remove it from {root}")
        terms: dict[str, None] = {}
        excluded = 0
        for feature in doc.get("phenotypicFeatures", []):
            if feature.get("excluded"):
                excluded += 1
            else:
                terms[feature["type"]["id"]] = None
        genes: dict[str, None] = {}
        for interpretation in doc.get("interpretations", []):
            diagnosis = interpretation.get("diagnosis", {})
            for gi in diagnosis.get("genomicInterpretations", []):
                descriptor = gi.get("variantInterpretation", {}).get("variationDescriptor", {})
                symbol = descriptor.get("geneContext", {}).get("symbol") or gi.get("gene", {}).get(
                    "symbol"
                )
                if symbol:
                    genes[symbol] = None
        cases.append(
            PhenopacketCase(str(doc["id"]), tuple(genes), tuple(terms), excluded, path.name)
        )
    if not cases:
        raise NotFoundError(f"no phenopacket (*.json) below {root}")
    return tuple(cases)


@dataclass(frozen=True, slots=True)
class CaseRank:
    """Where the causal gene of one case lands."""

    case_id: str
    """The phenopacket's ``id``."""
    gene: str
    """The causal gene (the best-ranked one when a case names several)."""
    terms: int
    """Observed HPO terms used."""
    dropped_terms: tuple[str, ...]
    """Terms the ontology does not know (obsolete or newer), left out."""
    rank: int | None
    """Rank among all annotated genes (1 = best); None when the gene has no annotation."""
    score: float
    """Similarity score of the causal gene."""
    rank_in_candidates: int | None
    """Rank among the causal gene and the case's random decoys."""


@dataclass(frozen=True, slots=True)
class PhenopacketRanking:
    """Rank distribution of the causal genes over a set of phenopackets."""

    genes_ranked: int
    """Size of the full candidate set: every gene with HPO annotations."""
    decoys: int
    """Random annotated genes drawn per case for :attr:`CaseRank.rank_in_candidates`."""
    seed: int
    """Seed of the decoy draw."""
    cases: tuple[CaseRank, ...]
    """One row per ranked case."""
    skipped: tuple[str, ...]
    """Case ids left out (no observed known term or no causal gene)."""

    def _ranks(self, decoys: bool) -> list[int]:
        return [
            r for c in self.cases if (r := (c.rank_in_candidates if decoys else c.rank)) is not None
        ]

    def top(self, k: int, *, decoys: bool = False) -> int:
        """Number of cases whose causal gene ranks ``<= k``."""
        return sum(1 for r in self._ranks(decoys) if r <= k)

    def median(self, *, decoys: bool = False) -> float | None:
        """Median rank; None without ranked cases."""
        ranks = self._ranks(decoys)
        return float(statistics.median(ranks)) if ranks else None

    def summary(self, *, decoys: bool = False) -> dict[str, Any]:
        """Top-1/5/10/50 counts, median and number of cases, overall and per gene."""

        def block(rows: list[CaseRank]) -> dict[str, Any]:
            ranks = [
                r for c in rows if (r := (c.rank_in_candidates if decoys else c.rank)) is not None
            ]
            return {
                "cases": len(rows),
                **{f"top{k}": sum(1 for r in ranks if r <= k) for k in (1, 5, 10, 50)},
                "median": float(statistics.median(ranks)) if ranks else None,
                "worst": max(ranks) if ranks else None,
            }

        per_gene: dict[str, list[CaseRank]] = {}
        for c in self.cases:
            per_gene.setdefault(c.gene, []).append(c)
        return {
            "all": block(list(self.cases)),
            **{g: block(rows) for g, rows in sorted(per_gene.items())},
        }

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form with ``format_version``."""
        return {
            "format_version": FORMAT_VERSION,
            "genes_ranked": self.genes_ranked,
            "decoys": self.decoys,
            "seed": self.seed,
            "summary": self.summary(),
            "summary_decoys": self.summary(decoys=True),
            "cases": [
                {
                    "case_id": c.case_id,
                    "gene": c.gene,
                    "terms": c.terms,
                    "dropped_terms": list(c.dropped_terms),
                    "rank": c.rank,
                    "score": c.score,
                    "rank_in_candidates": c.rank_in_candidates,
                }
                for c in self.cases
            ],
            "skipped": list(self.skipped),
        }

    @overload
    def format_table(self, plain: Literal[False] = ..., *, per_case: bool = ...) -> Table: ...
    @overload
    def format_table(self, plain: Literal[True], *, per_case: bool = ...) -> str: ...
    def format_table(self, plain: bool = False, *, per_case: bool = False) -> Table | str:
        """The distribution (or, with ``per_case``, one row per case) as Rich table or text."""
        rows: list[tuple[str, ...]]
        if per_case:
            header: tuple[str, ...] = (
                "case",
                "gene",
                "terms",
                f"rank of {self.genes_ranked:,}",
                "score",
                f"rank of {self.decoys + 1}",
            )
            rows = [
                (
                    c.case_id,
                    c.gene,
                    str(c.terms),
                    "-" if c.rank is None else str(c.rank),
                    f"{c.score:.3f}",
                    "-" if c.rank_in_candidates is None else str(c.rank_in_candidates),
                )
                for c in sorted(self.cases, key=lambda c: (c.gene, c.rank or 0, c.case_id))
            ]
            title = "causal gene rank per phenopacket"
        else:
            header = ("candidates", "gene", "cases", "top-1", "top-5", "top-10", "top-50")
            header += ("median", "worst")
            rows = []
            blocks = [(True, f"causal + {self.decoys} random")]
            if self.genes_ranked:
                blocks.insert(0, (False, f"all {self.genes_ranked:,}"))
            for decoys, label in blocks:
                for gene, b in self.summary(decoys=decoys).items():
                    n = b["cases"]
                    rows.append(
                        (
                            label,
                            gene,
                            str(n),
                            *(f"{b[f'top{k}']} ({b[f'top{k}'] / n:.0%})" for k in (1, 5, 10, 50)),
                            "-" if b["median"] is None else f"{b['median']:g}",
                            "-" if b["worst"] is None else str(b["worst"]),
                        )
                    )
            title = (
                f"phenopacket-store: rank of the causal gene ({len(self.cases)} cases, "
                f"{len(self.skipped)} skipped)"
            )
        if plain:
            return "\n".join(["# " + title, "\t".join(header), *("\t".join(r) for r in rows)])
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        return table


def _known_terms(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split terms into those usable for ranking and those the ontology lacks.

    An obsolete term is replaced by its ``replaced_by`` term when the ontology gives one,
    else dropped, like an unknown or malformed id.
    """
    onto = ontology()
    known: dict[str, None] = {}
    dropped: list[str] = []
    for term in terms:
        try:
            hpo = onto.get_hpo_object(term)
        except (KeyError, RuntimeError, ValueError):
            dropped.append(term)
            continue
        if hpo.is_obsolete:
            replacement = hpo.replaced_by
            if not replacement:
                dropped.append(term)
                continue
            known[str(replacement)] = None
        else:
            known[term] = None
    return list(known), dropped


def rank_phenopackets(
    cases: Sequence[PhenopacketCase],
    ranker: PhenotypeRanker,
    *,
    decoys: int = 99,
    seed: int = 0,
    all_genes: bool = True,
) -> PhenopacketRanking:
    """Rank genes for each case by HPO similarity and report where the causal gene lands.

    The main figure ranks the causal gene among *all* genes with HPO annotations: the
    phenotype alone, before any variant filter (about 1.2 s per case for ~5,200 genes).
    The second figure ranks it among itself and ``decoys`` annotated genes drawn at random
    per case (seeded), which stands for a filtered exome: a handful of genes with a rare,
    damaging variant, one of them causal. Gene scores do not depend on the candidate set
    (information content is ontology-wide) and ties keep alphabetical order, so the second
    figure is the same whether read off the full ranking or ranked on its own.

    Parameters
    ----------
    cases
        From :func:`load_phenopackets`.
    ranker
        The ranker; the ontology is loaded once per process.
    decoys
        Random annotated genes per case for the second figure.
    seed
        Seed of the decoy draw.
    all_genes
        Rank all annotated genes (both figures); False ranks only the causal gene and the
        decoys (fast; :attr:`CaseRank.rank` is then None).

    Returns
    -------
    PhenopacketRanking
        The per-case ranks; a case without a causal gene or a usable observed term is
        skipped.
    """
    symbols = sorted(ranker.gene_symbols)
    rng = random.Random(seed)  # noqa: S311 (a reproducible draw, not a secret)
    ranked_cases: list[CaseRank] = []
    skipped: list[str] = []
    for case in cases:
        known, dropped = _known_terms(case.terms)
        if not known or not case.genes:
            skipped.append(case.case_id)
            continue
        pool = [g for g in symbols if g not in case.genes]
        drawn = rng.sample(pool, min(decoys, len(pool)))
        ranking = ranker.rank(known, None if all_genes else [*case.genes, *drawn])
        position = {r.gene: r for r in ranking}
        best = min(case.genes, key=lambda g: (position[g].rank, g))
        hit = position[best]
        annotated = best in ranker.gene_symbols
        in_candidates = 1 + sum(1 for g in drawn if position[g].rank < hit.rank)
        ranked_cases.append(
            CaseRank(
                case_id=case.case_id,
                gene=best,
                terms=len(known),
                dropped_terms=tuple(dropped),
                rank=hit.rank if all_genes and annotated else None,
                score=hit.score,
                rank_in_candidates=in_candidates if annotated else None,
            )
        )
    genes_ranked = len(symbols) if all_genes else 0
    return PhenopacketRanking(genes_ranked, decoys, seed, tuple(ranked_cases), tuple(skipped))


__all__ = [
    "DEFAULT_QUALITY",
    "FORMAT_VERSION",
    "KINDS",
    "PAR",
    "CaseRank",
    "CompHetFinding",
    "KindCounts",
    "PhenopacketCase",
    "PhenopacketRanking",
    "TrioResult",
    "TrioValidation",
    "contig_kind",
    "find_compound_heterozygous",
    "genes_of",
    "in_par",
    "load_pedigree",
    "load_phenopackets",
    "make_trio",
    "rank_phenopackets",
    "thousand_genomes_trios",
    "validate_trios",
    "variant_kind",
    "zygosity",
]
