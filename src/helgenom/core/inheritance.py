"""Inheritance modes of candidate variants in a singleton, duo or trio.

Pure functions over per-person genotype calls at one site. The services layer
gathers the calls (from the genome database, gVCF reference blocks for proven
``hom_ref``) and the family facts (child's sex, parents' affection status from the
pedigree) and calls these functions.

Conventions
-----------
* ``hom_ref`` means *proven* reference: the site was covered (a gVCF reference block
  or a confident call). A site without coverage is ``no_call``. A parent that was
  not sequenced is ``None`` and is treated as ``no_call``.
* A :class:`QualityFilter` may demote parental calls below a GQ/DP threshold to
  ``no_call``, so a badly covered parent never "proves" a de novo.
* On chrX/chrY outside the pseudo-autosomal regions (``in_par=False``) a male is
  ``hemi``; a male ``hom_alt`` there is read as ``hemi``. ``hemi`` is rejected on
  autosomes, chrM and for females (a hemizygous deletion must be described by the
  caller some other way).
* Sites in a PAR are treated as autosomal.
* A mode is reported as ``fits`` when every parental call needed is known and
  matches, and as ``possible`` when a needed parental call is missing (no_call, not
  sequenced, singleton) but nothing contradicts it.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from helgenom.core.errors import InvalidInputError
from helgenom.core.pedigree import Sex


class Zygosity(enum.StrEnum):
    """Genotype state of one person at one site."""

    HOM_REF = "hom_ref"
    HET = "het"
    HOM_ALT = "hom_alt"
    HEMI = "hemi"
    NO_CALL = "no_call"


class ContigKind(enum.StrEnum):
    """Kind of chromosome a site lies on."""

    AUTOSOME = "autosome"
    X = "chrX"
    Y = "chrY"
    MT = "chrM"


class InheritanceMode(enum.StrEnum):
    """A mode of inheritance a variant (or a pair of variants) may fit."""

    DE_NOVO = "de_novo"
    AUTOSOMAL_RECESSIVE_HOMOZYGOUS = "autosomal_recessive_homozygous"
    X_LINKED_HEMIZYGOUS = "x_linked_hemizygous"
    X_LINKED_RECESSIVE_HOMOZYGOUS = "x_linked_recessive_homozygous"
    AUTOSOMAL_DOMINANT = "autosomal_dominant"
    COMPOUND_HETEROZYGOUS = "compound_heterozygous"


class Certainty(enum.StrEnum):
    """How firmly the family's calls support a mode."""

    FITS = "fits"
    POSSIBLE = "possible"


class Phase(enum.StrEnum):
    """Phase of two heterozygous variants in the child."""

    TRANS = "trans"
    UNKNOWN = "unknown"


_CARRIER = frozenset({Zygosity.HET, Zygosity.HOM_ALT, Zygosity.HEMI})
"""States that carry the alternate allele."""


@dataclass(frozen=True, slots=True)
class SiteCall:
    """The genotype call of one person at one site."""

    zygosity: Zygosity
    """The state; ``hom_ref`` only when proven by coverage."""
    gq: int | None = None
    """Genotype quality (Phred), when known."""
    dp: int | None = None
    """Read depth, when known."""
    allele_balance: float | None = None
    """Fraction of reads supporting the alternate allele, when known."""

    def __post_init__(self) -> None:
        """Check the optional metrics.

        Raises
        ------
        InvalidInputError
            If GQ or DP is negative or the allele balance is outside 0 to 1.
        """
        if self.gq is not None and self.gq < 0:
            raise InvalidInputError(f"GQ {self.gq} is negative; give a Phred quality >= 0")
        if self.dp is not None and self.dp < 0:
            raise InvalidInputError(f"DP {self.dp} is negative; give a read depth >= 0")
        if self.allele_balance is not None and not 0.0 <= self.allele_balance <= 1.0:
            raise InvalidInputError(
                f"allele balance {self.allele_balance} is outside 0 to 1; give a fraction"
            )


NO_CALL = SiteCall(Zygosity.NO_CALL)
"""A call without a genotype."""


@dataclass(frozen=True, slots=True)
class QualityFilter:
    """Thresholds below which a parental call is treated as ``no_call``."""

    min_gq: int | None = None
    """Minimum genotype quality of a parental call, or None for no check."""
    min_dp: int | None = None
    """Minimum read depth of a parental call, or None for no check."""
    min_dp_without_gq: int | None = None
    """A call that carries no GQ at all (bcftools writes none in its gVCF reference
    blocks, which are banded by depth) passes the GQ check when its depth is at least
    this (8 reads without one ALT read: a heterozygote would show none with probability
    1/256, about GQ 24); None: such a call fails the GQ check."""

    def apply(self, call: SiteCall | None) -> Zygosity:
        """The state of ``call`` after the thresholds (None gives ``no_call``)."""
        if call is None:
            return Zygosity.NO_CALL
        if self.min_gq is not None:
            if call.gq is None:
                if (
                    self.min_dp_without_gq is None
                    or call.dp is None
                    or call.dp < self.min_dp_without_gq
                ):
                    return Zygosity.NO_CALL
            elif call.gq < self.min_gq:
                return Zygosity.NO_CALL
        if self.min_dp is not None and (call.dp is None or call.dp < self.min_dp):
            return Zygosity.NO_CALL
        return call.zygosity


_NO_FILTER = QualityFilter()


@dataclass(frozen=True, slots=True)
class VariantCalls:
    """One variant with the calls of the child and its parents."""

    variant_id: str
    """Stable id of the variant (e.g. ``chr1-12345-A-G``)."""
    gene: str
    """Gene symbol the variant is assigned to."""
    contig: ContigKind
    """Kind of chromosome."""
    child: SiteCall
    """The child's (proband's) call."""
    mother: SiteCall | None = None
    """The mother's call, or None when she was not sequenced."""
    father: SiteCall | None = None
    """The father's call, or None when he was not sequenced."""
    in_par: bool = False
    """Whether the site lies in a pseudo-autosomal region (given by the caller)."""
    phase_set: str | None = None
    """Read-backed phase set of the child's call, when phased."""
    haplotype: int | None = None
    """Which haplotype (0 or 1) of ``phase_set`` carries the alternate allele."""

    @property
    def singleton(self) -> bool:
        """Whether neither parent was sequenced."""
        return self.mother is None and self.father is None


@dataclass(frozen=True, slots=True)
class ModeCall:
    """A mode a variant fits, with why."""

    mode: InheritanceMode
    """The mode."""
    certainty: Certainty
    """``fits`` or ``possible``."""
    reason: str
    """The family pattern behind the call, for the report."""


@dataclass(frozen=True, slots=True)
class CompHetPair:
    """Two heterozygous variants in one gene that may lie on different haplotypes."""

    gene: str
    """Gene symbol."""
    first: str
    """Variant id of the first variant (input order)."""
    second: str
    """Variant id of the second variant."""
    certainty: Certainty
    """``fits`` when in trans is shown, ``possible`` otherwise."""
    phase: Phase
    """``trans`` when shown by parental inheritance or read-backed phasing."""
    reason: str
    """Why the pair is reported."""


def _effective_contig(contig: ContigKind, in_par: bool) -> ContigKind:
    """Sites in a PAR behave as autosomal."""
    if in_par and contig in (ContigKind.X, ContigKind.Y):
        return ContigKind.AUTOSOME
    return contig


def _normalise(zyg: Zygosity, contig: ContigKind, sex: Sex, who: str) -> Zygosity:
    """Read male ``hom_alt`` on X/Y as ``hemi``; reject impossible ``hemi``.

    Raises
    ------
    InvalidInputError
        If ``hemi`` is given on an autosome, chrM, a PAR or for a female.
    """
    sex_linked = contig in (ContigKind.X, ContigKind.Y)
    if sex_linked and sex is Sex.MALE and zyg is Zygosity.HOM_ALT:
        return Zygosity.HEMI
    if zyg is Zygosity.HEMI and (not sex_linked or sex is Sex.FEMALE):
        where = "a female" if sex_linked else f"{contig.value} (or a PAR)"
        raise InvalidInputError(
            f"{who} is 'hemi' on {where}; use hom_alt, or het with a note on the deletion"
        )
    return zyg


def _transmits(zyg: Zygosity) -> frozenset[int]:
    """Alleles (0 ref, 1 alt) a parent in state ``zyg`` can pass on."""
    if zyg is Zygosity.HOM_REF:
        return frozenset({0})
    if zyg is Zygosity.HET:
        return frozenset({0, 1})
    return frozenset({1})


def _error_called(
    child: Zygosity, mother: Zygosity, father: Zygosity, contig: ContigKind, sex: Sex
) -> bool:
    """Mendelian error for fully called genotypes (no no_call)."""
    if contig is ContigKind.MT:
        if child is Zygosity.HOM_REF:
            return mother is Zygosity.HOM_ALT
        if child is Zygosity.HOM_ALT:
            return mother is Zygosity.HOM_REF
        return False  # heteroplasmy may arise in the child
    if contig in (ContigKind.X, ContigKind.Y) and sex is Sex.MALE:
        source = mother if contig is ContigKind.X else father
        if child is Zygosity.HET:
            return True  # one copy only
        needed = 1 if child is Zygosity.HEMI else 0
        return needed not in _transmits(source)
    if contig is ContigKind.Y:  # female
        return child is not Zygosity.HOM_REF
    need = {Zygosity.HOM_REF: (0, 0), Zygosity.HET: (0, 1), Zygosity.HOM_ALT: (1, 1)}[child]
    return not any(
        tuple(sorted((a, b))) == need for a in _transmits(mother) for b in _transmits(father)
    )


def _options(zyg: Zygosity, contig: ContigKind, male: bool) -> tuple[Zygosity, ...]:
    """States a parental call may stand for (all plausible ones for a no_call)."""
    if zyg is not Zygosity.NO_CALL:
        return (zyg,)
    if male and contig in (ContigKind.X, ContigKind.Y):
        return (Zygosity.HOM_REF, Zygosity.HEMI)
    return (Zygosity.HOM_REF, Zygosity.HET, Zygosity.HOM_ALT)


def mendelian_error(
    child: SiteCall,
    mother: SiteCall | None,
    father: SiteCall | None,
    contig_kind: ContigKind,
    child_sex: Sex,
    *,
    in_par: bool = False,
) -> bool | None:
    """Whether the child's call cannot be explained by its parents' calls.

    chrX outside the PAR: a son's allele comes from the mother only, a daughter's
    from both. chrY outside the PAR: a son's from the father only; a daughter with
    an alternate allele on chrY is an error. chrM: maternal; a heteroplasmic (``het``)
    child is never an error.

    Parameters
    ----------
    child, mother, father
        The calls; a parent not sequenced is None.
    contig_kind
        Kind of chromosome.
    child_sex
        The child's sex.
    in_par
        Whether the site lies in a pseudo-autosomal region.

    Returns
    -------
    bool or None
        True or False when decided; None when a no_call (or an unknown sex on a sex
        chromosome) leaves both answers open.

    Raises
    ------
    InvalidInputError
        If a call is ``hemi`` where a single copy is impossible.
    """
    contig = _effective_contig(contig_kind, in_par)
    c = _normalise(child.zygosity, contig, child_sex, "the child")
    m = _normalise(_NO_FILTER.apply(mother), contig, Sex.FEMALE, "the mother")
    f = _normalise(_NO_FILTER.apply(father), contig, Sex.MALE, "the father")
    if c is Zygosity.NO_CALL:
        return None
    if contig in (ContigKind.X, ContigKind.Y) and child_sex is Sex.UNKNOWN:
        return None
    outcomes = {
        _error_called(c, mo, fo, contig, child_sex)
        for mo in _options(m, contig, male=False)
        for fo in _options(f, contig, male=True)
    }
    return outcomes.pop() if len(outcomes) == 1 else None


def _describe(name: str, zyg: Zygosity) -> str:
    """``mother het`` etc."""
    return f"{name} {zyg.value}"


def classify_variant(
    variant: VariantCalls,
    *,
    child_sex: Sex,
    mother_affected: bool | None = None,
    father_affected: bool | None = None,
    quality: QualityFilter | None = None,
) -> tuple[ModeCall, ...]:
    """The inheritance modes one variant fits in the child.

    * ``de_novo``: child het (hemi for a son on chrX/chrY; het or hom_alt on chrM)
      and every parent that could pass the allele on is proven ``hom_ref``. A
      missing parental call gives ``possible``; a carrier parent excludes it.
    * ``autosomal_recessive_homozygous``: child hom_alt on an autosome, both parents
      het, neither hom_alt nor hom_ref.
    * ``x_linked_hemizygous``: a son hemi on chrX (non-PAR); mother het (inherited)
      or proven hom_ref together with the father (de novo); father not a carrier;
      mother not hom_alt.
    * ``x_linked_recessive_homozygous``: a daughter hom_alt on chrX (non-PAR);
      mother het and father hemi.
    * ``autosomal_dominant``: child het on an autosome and either de novo or
      inherited from a carrier parent; ``fits`` for an affected carrier parent,
      ``possible`` when the carrier's affection status is unknown; a carrier
      parent known to be unaffected does not support it (reduced penetrance is
      left to the geneticist).

    A singleton (no parent sequenced) gets ``possible`` AR for hom_alt, AD for het,
    X-linked for a hemizygous son, and no de novo.

    Parameters
    ----------
    variant
        The variant and the family's calls.
    child_sex
        The child's sex, from the pedigree (or checked against coverage).
    mother_affected, father_affected
        Parents' affection status from the pedigree; None when unknown.
    quality
        Thresholds demoting poor parental calls to no_call.

    Returns
    -------
    tuple of ModeCall
        The modes, in :class:`InheritanceMode` order; empty when none fits.

    Raises
    ------
    InvalidInputError
        If a call is ``hemi`` where a single copy is impossible, or the child's sex
        is unknown for a site on chrX/chrY outside the PAR.
    """
    filt = quality or _NO_FILTER
    contig = _effective_contig(variant.contig, variant.in_par)
    sex_linked = contig in (ContigKind.X, ContigKind.Y)
    if sex_linked and child_sex is Sex.UNKNOWN:
        raise InvalidInputError(
            f"variant {variant.variant_id} is on {contig.value} outside the PAR but the "
            "child's sex is unknown; give the sex from the pedigree or from coverage"
        )
    c = _normalise(variant.child.zygosity, contig, child_sex, "the child")
    m = _normalise(filt.apply(variant.mother), contig, Sex.FEMALE, "the mother")
    f = _normalise(filt.apply(variant.father), contig, Sex.MALE, "the father")
    male = child_sex is Sex.MALE
    if c in (Zygosity.HOM_REF, Zygosity.NO_CALL):
        return ()
    found: list[ModeCall] = []

    if variant.singleton:
        note = "parents not tested"
        if contig is ContigKind.AUTOSOME and c is Zygosity.HOM_ALT:
            found.append(
                ModeCall(
                    InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS,
                    Certainty.POSSIBLE,
                    f"child hom_alt; {note}",
                )
            )
        if contig is ContigKind.X and male and c is Zygosity.HEMI:
            found.append(
                ModeCall(
                    InheritanceMode.X_LINKED_HEMIZYGOUS,
                    Certainty.POSSIBLE,
                    f"son hemizygous on chrX; {note}",
                )
            )
        if contig is ContigKind.X and not male and c is Zygosity.HOM_ALT:
            found.append(
                ModeCall(
                    InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
                    Certainty.POSSIBLE,
                    f"daughter hom_alt on chrX; {note}",
                )
            )
        if contig is ContigKind.AUTOSOME and c is Zygosity.HET:
            found.append(
                ModeCall(
                    InheritanceMode.AUTOSOMAL_DOMINANT,
                    Certainty.POSSIBLE,
                    f"child het; {note}",
                )
            )
        return tuple(found)

    parents = (("mother", m, mother_affected), ("father", f, father_affected))
    pattern = f"{_describe('mother', m)}, {_describe('father', f)}"

    # De novo.
    sources: tuple[tuple[str, Zygosity], ...]
    if contig is ContigKind.MT:
        de_novo_child = c in (Zygosity.HET, Zygosity.HOM_ALT)
        sources = (("mother", m),)
    elif contig is ContigKind.Y:
        de_novo_child = male and c is Zygosity.HEMI
        sources = (("father", f),)
    else:
        de_novo_child = c is (Zygosity.HEMI if contig is ContigKind.X and male else Zygosity.HET)
        sources = (("mother", m), ("father", f))
    de_novo: Certainty | None = None
    if de_novo_child and not any(z in _CARRIER for _, z in sources):
        missing = [name for name, z in sources if z is Zygosity.NO_CALL]
        if missing:
            de_novo = Certainty.POSSIBLE
            reason = f"child {c.value}, {' and '.join(missing)} not called; {pattern}"
        else:
            de_novo = Certainty.FITS
            reason = f"child {c.value}; {pattern} (proven reference)"
        found.append(ModeCall(InheritanceMode.DE_NOVO, de_novo, reason))

    # Autosomal recessive, homozygous.
    if (
        contig is ContigKind.AUTOSOME
        and c is Zygosity.HOM_ALT
        and all(z in (Zygosity.HET, Zygosity.NO_CALL) for z in (m, f))
    ):
        certainty = (
            Certainty.FITS if m is Zygosity.HET and f is Zygosity.HET else Certainty.POSSIBLE
        )
        found.append(
            ModeCall(
                InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS,
                certainty,
                f"child hom_alt; {pattern}",
            )
        )

    # X-linked, hemizygous son.
    if (
        contig is ContigKind.X
        and male
        and c is Zygosity.HEMI
        and f not in _CARRIER
        and m is not Zygosity.HOM_ALT
    ):
        if m is Zygosity.HET and f is Zygosity.HOM_REF:
            found.append(
                ModeCall(
                    InheritanceMode.X_LINKED_HEMIZYGOUS,
                    Certainty.FITS,
                    f"son hemizygous, inherited from carrier mother; {pattern}",
                )
            )
        elif m is Zygosity.HOM_REF and f is Zygosity.HOM_REF:
            found.append(
                ModeCall(
                    InheritanceMode.X_LINKED_HEMIZYGOUS,
                    Certainty.FITS,
                    f"son hemizygous, de novo; {pattern}",
                )
            )
        else:
            found.append(
                ModeCall(
                    InheritanceMode.X_LINKED_HEMIZYGOUS,
                    Certainty.POSSIBLE,
                    f"son hemizygous, a parent not called; {pattern}",
                )
            )

    # X-linked recessive, homozygous daughter.
    if (
        contig is ContigKind.X
        and not male
        and c is Zygosity.HOM_ALT
        and m in (Zygosity.HET, Zygosity.NO_CALL)
        and f in (Zygosity.HEMI, Zygosity.NO_CALL)
    ):
        certainty = (
            Certainty.FITS if (m, f) == (Zygosity.HET, Zygosity.HEMI) else Certainty.POSSIBLE
        )
        found.append(
            ModeCall(
                InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
                certainty,
                f"daughter hom_alt on chrX; {pattern}",
            )
        )

    # Autosomal dominant.
    if contig is ContigKind.AUTOSOME and c is Zygosity.HET:
        affected_carrier = [n for n, z, a in parents if z in _CARRIER and a is True]
        open_source = [
            n
            for n, z, a in parents
            if (z in _CARRIER and a is None) or (z is Zygosity.NO_CALL and a is not False)
        ]
        if de_novo is Certainty.FITS:
            found.append(
                ModeCall(
                    InheritanceMode.AUTOSOMAL_DOMINANT,
                    Certainty.FITS,
                    f"child het, de novo; {pattern}",
                )
            )
        elif affected_carrier:
            found.append(
                ModeCall(
                    InheritanceMode.AUTOSOMAL_DOMINANT,
                    Certainty.FITS,
                    f"child het, inherited from affected {' and '.join(affected_carrier)}; "
                    f"{pattern}",
                )
            )
        elif de_novo is Certainty.POSSIBLE or open_source:
            why = (
                f"may come from {' or '.join(open_source)} (affection or call unknown)"
                if open_source
                else "possibly de novo"
            )
            found.append(
                ModeCall(
                    InheritanceMode.AUTOSOMAL_DOMINANT,
                    Certainty.POSSIBLE,
                    f"child het, {why}; {pattern}",
                )
            )
    order = list(InheritanceMode)
    return tuple(sorted(found, key=lambda call: order.index(call.mode)))


def _origin(mother: Zygosity, father: Zygosity, singleton: bool) -> str:
    """``maternal``, ``paternal``, ``de_novo`` or ``unknown`` for a child-het variant."""
    if singleton:
        return "unknown"
    if mother in _CARRIER and father is Zygosity.HOM_REF:
        return "maternal"
    if father in _CARRIER and mother is Zygosity.HOM_REF:
        return "paternal"
    if mother is Zygosity.HOM_REF and father is Zygosity.HOM_REF:
        return "de_novo"
    return "unknown"


def compound_heterozygous_pairs(
    variants_in_gene: Iterable[VariantCalls],
    *,
    quality: QualityFilter | None = None,
) -> tuple[CompHetPair, ...]:
    """Pairs of child-het variants in one gene that may be in trans.

    Only child ``het`` calls on autosomes or chrX are considered; variants are grouped
    by gene, so a mixed list may be passed. A pair is excluded when a parent is
    hom_alt for either variant, when one parent carries both (they may be in cis and
    the parent would otherwise be affected), when both come from the same parent, or
    when read-backed phasing puts them on the same haplotype.

    * ``fits``/``trans``: one maternal only and one paternal only, or shown on
      different haplotypes of one read-backed phase set.
    * ``possible``/``unknown``: one (or both) de novo with proven parental hom_ref,
      or a parental call missing, or a singleton.

    Parameters
    ----------
    variants_in_gene
        The candidate variants (any order; other zygosities are skipped).
    quality
        Thresholds demoting poor parental calls to no_call.

    Returns
    -------
    tuple of CompHetPair
        The pairs, in input order of their first and then second variant.

    Raises
    ------
    InvalidInputError
        If a parental call is ``hemi`` where a single copy is impossible, or two
        variants share an id.
    """
    filt = quality or _NO_FILTER
    by_gene: dict[str, list[tuple[VariantCalls, Zygosity, Zygosity]]] = {}
    seen: set[str] = set()
    for v in variants_in_gene:
        if v.variant_id in seen:
            raise InvalidInputError(f"variant {v.variant_id} is given twice; pass each once")
        seen.add(v.variant_id)
        contig = _effective_contig(v.contig, v.in_par)
        if contig not in (ContigKind.AUTOSOME, ContigKind.X):
            continue
        if v.child.zygosity is not Zygosity.HET:
            continue
        m = _normalise(filt.apply(v.mother), contig, Sex.FEMALE, "the mother")
        f = _normalise(filt.apply(v.father), contig, Sex.MALE, "the father")
        by_gene.setdefault(v.gene, []).append((v, m, f))
    pairs: list[CompHetPair] = []
    for gene, items in by_gene.items():
        for (a, am, af), (b, bm, bf) in itertools.combinations(items, 2):
            if Zygosity.HOM_ALT in (am, af, bm, bf):
                continue
            if (am in _CARRIER and bm in _CARRIER) or (af in _CARRIER and bf in _CARRIER):
                continue
            read_phase: str | None = None
            if (
                a.phase_set is not None
                and a.phase_set == b.phase_set
                and a.haplotype is not None
                and b.haplotype is not None
            ):
                read_phase = "cis" if a.haplotype == b.haplotype else "trans"
            if read_phase == "cis":
                continue
            oa = _origin(am, af, a.singleton)
            ob = _origin(bm, bf, b.singleton)
            if oa == ob and oa in ("maternal", "paternal"):
                continue
            origins = f"{a.variant_id} {oa}, {b.variant_id} {ob}"
            if {oa, ob} == {"maternal", "paternal"}:
                certainty, phase = Certainty.FITS, Phase.TRANS
                reason = f"in trans by parental inheritance: {origins}"
            elif read_phase == "trans":
                certainty, phase = Certainty.FITS, Phase.TRANS
                reason = f"in trans by read-backed phasing ({a.phase_set}): {origins}"
            else:
                certainty, phase = Certainty.POSSIBLE, Phase.UNKNOWN
                reason = f"phase unknown: {origins}"
            pairs.append(CompHetPair(gene, a.variant_id, b.variant_id, certainty, phase, reason))
    return tuple(pairs)


__all__ = [
    "NO_CALL",
    "Certainty",
    "CompHetPair",
    "ContigKind",
    "InheritanceMode",
    "ModeCall",
    "Phase",
    "QualityFilter",
    "SiteCall",
    "VariantCalls",
    "Zygosity",
    "classify_variant",
    "compound_heterozygous_pairs",
    "mendelian_error",
]
