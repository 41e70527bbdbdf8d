"""Case analysis: from a family's annotated calls to a ranked, classified candidate list.

Pure logic on plain records (the services gather the calls, annotations, frequencies and
panel; nothing here reads a file or a database):

1. **quality**: the proband's call needs GQ, DP and (for a het) an allele balance within
   the thresholds of :class:`AnalysisSettings`;
2. **frequency**: the highest allele frequency over the national database (the family
   left out) and every external population is at most ``max_af``; a variant that ClinVar
   calls pathogenic or likely pathogenic is kept up to ``max_af_clinvar``;
3. **consequence**: impact in ``impacts`` (HIGH and MODERATE by default), or ClinVar P/LP;
4. **gene and inheritance**: the gene is on the panel (green genes by default) and the
   variant fits a mode of :func:`helgenom.core.inheritance.classify_variant` (or a pair of
   :func:`~helgenom.core.inheritance.compound_heterozygous_pairs`) that the gene's mode
   of inheritance allows;
5. **ACMG/AMP**: PVS1, PS2/PM6, PM2, BA1, BS1, BS2, PM3, PS1, PM5, PP1 from the data, each
   with its rule and data, then the geneticist's overrides, combined by Table 5;
6. **ranking**: classification, then how firmly the family fits the mode, then the
   phenotype similarity of the gene to the proband's HPO terms, then impact.

Secondary findings are the variants in the configured secondary-findings genes that are
pathogenic or likely pathogenic, whatever their inheritance; the service asks for them
only when the proband's consent does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from helgenom.core import acmg
from helgenom.core.errors import InvalidInputError
from helgenom.core.inheritance import (
    Certainty,
    ContigKind,
    InheritanceMode,
    ModeCall,
    QualityFilter,
    SiteCall,
    VariantCalls,
    Zygosity,
    classify_variant,
    compound_heterozygous_pairs,
)
from helgenom.core.pedigree import Sex

ANALYSIS_FORMAT_VERSION = 1
"""Version of the candidate records stored with an analysis."""

IMPACT_ORDER = ("HIGH", "MODERATE", "LOW", "MODIFIER")
"""Consequence impact, most severe first (as bcftools csq's terms are grouped)."""

MODES_FOR_GENE: Mapping[str, frozenset[InheritanceMode]] = {
    "AD": frozenset({InheritanceMode.DE_NOVO, InheritanceMode.AUTOSOMAL_DOMINANT}),
    "AR": frozenset(
        {InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS, InheritanceMode.COMPOUND_HETEROZYGOUS}
    ),
    "AD_AR": frozenset(
        {
            InheritanceMode.DE_NOVO,
            InheritanceMode.AUTOSOMAL_DOMINANT,
            InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS,
            InheritanceMode.COMPOUND_HETEROZYGOUS,
        }
    ),
    "XLR": frozenset(
        {
            InheritanceMode.X_LINKED_HEMIZYGOUS,
            InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
            InheritanceMode.COMPOUND_HETEROZYGOUS,
        }
    ),
    "XLD": frozenset(
        {
            InheritanceMode.X_LINKED_HEMIZYGOUS,
            InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
            InheritanceMode.DE_NOVO,
        }
    ),
    "XL": frozenset(
        {
            InheritanceMode.X_LINKED_HEMIZYGOUS,
            InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
            InheritanceMode.DE_NOVO,
            InheritanceMode.COMPOUND_HETEROZYGOUS,
        }
    ),
    "MT": frozenset({InheritanceMode.DE_NOVO, InheritanceMode.AUTOSOMAL_DOMINANT}),
    "unknown": frozenset(InheritanceMode),
}
"""Which family patterns a gene's panel mode of inheritance allows."""

_GENE_INHERITANCE = {
    "AD": acmg.GeneInheritance.DOMINANT,
    "MT": acmg.GeneInheritance.DOMINANT,
    "AR": acmg.GeneInheritance.RECESSIVE,
    "XLR": acmg.GeneInheritance.X_LINKED,
    "XLD": acmg.GeneInheritance.X_LINKED,
    "XL": acmg.GeneInheritance.X_LINKED,
}

DEFAULT_SECONDARY_FINDINGS_GENES: frozenset[str] = frozenset(
    [
        "APC",
        "MUTYH",
        "BRCA1",
        "BRCA2",
        "PALB2",
        "TP53",
        "MLH1",
        "MSH2",
        "MSH6",
        "PMS2",
        "MEN1",
        "RET",
        "PTEN",
        "STK11",
        "SMAD4",
        "BMPR1A",
        "TSC1",
        "TSC2",
        "VHL",
        "WT1",
        "NF2",
        "SDHD",
        "SDHAF2",
        "SDHC",
        "SDHB",
        "MAX",
        "TMEM127",
        "FBN1",
        "TGFBR1",
        "TGFBR2",
        "SMAD3",
        "ACTA2",
        "MYH11",
        "COL3A1",
        "MYBPC3",
        "MYH7",
        "TNNT2",
        "TNNI3",
        "TPM1",
        "MYL3",
        "ACTC1",
        "PRKAG2",
        "GLA",
        "MYL2",
        "LMNA",
        "FLNC",
        "TTN",
        "PKP2",
        "DSP",
        "DSC2",
        "TMEM43",
        "DSG2",
        "KCNQ1",
        "KCNH2",
        "SCN5A",
        "CASQ2",
        "RYR2",
        "TRDN",
        "CALM1",
        "CALM2",
        "CALM3",
        "LDLR",
        "APOB",
        "PCSK9",
        "RYR1",
        "CACNA1S",
        "BTD",
        "GAA",
        "HFE",
        "OTC",
        "ATP7B",
        "HNF1A",
        "RPE65",
        "TTR",
    ]
)
"""The ACMG SF v3.2 gene list (Miller et al. 2023), the default secondary-findings genes."""

SECONDARY_NOT_LOSS_OF_FUNCTION: frozenset[str] = frozenset(
    ["RET", "RYR1", "CACNA1S", "MYH7", "TNNT2", "TNNI3", "TPM1", "MYL3", "ACTC1", "PRKAG2",
     "MYL2", "SCN5A", "CALM1", "CALM2", "CALM3", "TTR"]
)  # fmt: skip
"""Secondary-findings genes whose disease mechanism is not (only) loss of function: a null
variant there gets no PVS1 unless a panel says otherwise."""


class Overall(enum.StrEnum):
    """The overall interpretation of a case."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Filter thresholds and evidence settings of one analysis (stored with it)."""

    max_af: float = 0.01
    """Highest allele frequency kept (national and external)."""
    max_af_clinvar: float = 0.05
    """Highest allele frequency kept for a ClinVar pathogenic/likely pathogenic variant."""
    min_gq: int = 20
    """Lowest proband genotype quality kept; parents' calls below it count as no-call (a
    parental call without any GQ, as in bcftools' depth-banded gVCF blocks, counts when
    its depth is at least ``min_dp``)."""
    min_dp: int = 8
    """Lowest proband read depth kept."""
    min_allele_balance: float = 0.2
    """Lowest ALT read fraction of a heterozygous proband call."""
    max_allele_balance: float = 0.8
    """Highest ALT read fraction of a heterozygous proband call."""
    impacts: tuple[str, ...] = ("HIGH", "MODERATE")
    """Consequence impacts kept."""
    green_only: bool = True
    """Only the panel's green genes (else amber too; red never)."""
    pm2_threshold: float = 0.0001
    """Frequency still counted as extremely rare for PM2."""
    pm2_strength: str = "moderate"
    """Strength PM2 is applied at: moderate as in the 2015 rules that :func:`analyse`
    combines by (ClinGen SVI 2020 recommends supporting together with its point system)."""
    bs1_threshold: float = 0.01
    """Frequency above which BS1 applies."""
    parentage_max_unexplained: float = 0.02
    """Largest fraction of the proband's variants unexplained by the parents (de novo
    looking, genome-wide) for which parentage counts as confirmed (PS2 rather than PM6)."""

    def __post_init__(self) -> None:
        """Check the values.

        Raises
        ------
        InvalidInputError
            A frequency outside 0 to 1, negative GQ/DP, an unknown impact or strength.
        """
        for name in (
            "max_af",
            "max_af_clinvar",
            "pm2_threshold",
            "bs1_threshold",
            "min_allele_balance",
            "max_allele_balance",
            "parentage_max_unexplained",
        ):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise InvalidInputError(f"{name} {value} is outside 0 to 1: give a fraction")
        if self.min_gq < 0 or self.min_dp < 0:
            raise InvalidInputError("min_gq and min_dp must be >= 0")
        bad = [i for i in self.impacts if i not in IMPACT_ORDER]
        if bad or not self.impacts:
            raise InvalidInputError(
                f"impacts {list(self.impacts)} must be a non-empty choice of {list(IMPACT_ORDER)}"
            )
        try:
            acmg.Strength(self.pm2_strength)
        except ValueError:
            raise InvalidInputError(
                f"pm2_strength {self.pm2_strength!r} is not a strength "
                f"({', '.join(s.value for s in acmg.Strength)})"
            ) from None

    def asdict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "max_af": self.max_af,
            "max_af_clinvar": self.max_af_clinvar,
            "min_gq": self.min_gq,
            "min_dp": self.min_dp,
            "min_allele_balance": self.min_allele_balance,
            "max_allele_balance": self.max_allele_balance,
            "impacts": list(self.impacts),
            "green_only": self.green_only,
            "pm2_threshold": self.pm2_threshold,
            "pm2_strength": self.pm2_strength,
            "bs1_threshold": self.bs1_threshold,
            "parentage_max_unexplained": self.parentage_max_unexplained,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisSettings:
        """Inverse of :meth:`asdict` (unknown keys refused).

        Raises
        ------
        InvalidInputError
            An unknown key or a bad value.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown analysis settings {unknown}; known: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if "impacts" in values:
            values["impacts"] = tuple(values["impacts"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class GeneInfo:
    """What the panel says about a gene."""

    symbol: str
    """HGNC symbol."""
    hgnc_id: str | None
    """``HGNC:NNNN``."""
    confidence: str
    """green, amber or red."""
    mode: str
    """Canonical mode of inheritance (AD, AR, AD_AR, XL, XLD, XLR, MT, unknown)."""
    loss_of_function: bool | None
    """Whether the panel names loss of function as the mechanism."""


@dataclass(frozen=True, slots=True)
class ClinvarHit:
    """A ClinVar record of the same allele."""

    accession: str
    """ClinVar variation id (or the record id)."""
    significance: str
    """Normalised CLNSIG."""
    pathogenic: bool
    """Pathogenic or likely pathogenic."""
    stars: int | None
    """Review status in stars."""


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """One site where the proband carries an ALT allele, with everything known about it."""

    variant_id: str
    contig: str
    pos: int
    ref: str
    alt: str
    contig_kind: ContigKind
    in_par: bool
    proband: SiteCall
    mother: SiteCall | None
    father: SiteCall | None
    gene: str | None
    transcript: str | None = None
    consequences: tuple[str, ...] = ()
    impact: str = "MODIFIER"
    hgvs_c: str | None = None
    hgvs_p: str | None = None
    frequencies: Mapping[str, float | None] = field(default_factory=dict)
    """Allele frequency per database (``national``, external names); None when absent."""
    population_homozygotes: int = 0
    """Homozygotes (and hemizygotes) in the external populations (BS2)."""
    clinvar: tuple[ClinvarHit, ...] = ()
    residue_known: tuple[acmg.KnownVariant, ...] = ()
    """ClinVar pathogenic variants changing the same residue (PS1/PM5)."""

    @property
    def clinvar_pathogenic(self) -> bool:
        """Whether a ClinVar record calls this allele pathogenic or likely pathogenic."""
        return any(h.pathogenic for h in self.clinvar)

    @property
    def max_af(self) -> float:
        """Highest known allele frequency (0 when absent everywhere)."""
        values = [v for v in self.frequencies.values() if v is not None]
        return max(values, default=0.0)


@dataclass(frozen=True, slots=True)
class Family:
    """Who the proband is and which parents were sequenced."""

    proband_sex: Sex
    mother_affected: bool | None = None
    father_affected: bool | None = None
    trio: bool = False
    """Both parents sequenced."""
    parentage_confirmed: bool = False
    """Genotype concordance supports the stated parents (PS2 instead of PM6)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked candidate variant."""

    rank: int
    record: SiteRecord
    modes: tuple[ModeCall, ...]
    partner: str | None
    """The other variant of a compound heterozygous pair."""
    evidence: tuple[acmg.Evidence, ...]
    classification: acmg.Classification
    rule: str
    phenotype_score: float
    secondary_finding: bool = False
    automatic: tuple[acmg.Evidence, ...] = ()
    """The evidence from the data alone, before the geneticist's overrides."""

    def asdict(self) -> dict[str, Any]:
        """JSON-ready form stored with the analysis."""
        r = self.record
        return {
            "rank": self.rank,
            "variant_id": r.variant_id,
            "contig": r.contig,
            "pos": r.pos,
            "ref": r.ref,
            "alt": r.alt,
            "gene": r.gene,
            "transcript": r.transcript,
            "consequences": list(r.consequences),
            "impact": r.impact,
            "hgvs_c": r.hgvs_c,
            "hgvs_p": r.hgvs_p,
            "zygosity": r.proband.zygosity.value,
            "gq": r.proband.gq,
            "dp": r.proband.dp,
            "allele_balance": r.proband.allele_balance,
            "mother": None if r.mother is None else r.mother.zygosity.value,
            "father": None if r.father is None else r.father.zygosity.value,
            "frequencies": dict(r.frequencies),
            "clinvar": [
                {"accession": h.accession, "significance": h.significance, "stars": h.stars}
                for h in r.clinvar
            ],
            "modes": [
                {"mode": m.mode.value, "certainty": m.certainty.value, "reason": m.reason}
                for m in self.modes
            ],
            "partner": self.partner,
            "evidence": [e.asdict() for e in self.evidence],
            "automatic_evidence": [e.asdict() for e in self.automatic],
            "criteria": [e.label() for e in self.evidence],
            "classification": self.classification.value,
            "rule": self.rule,
            "phenotype_score": round(self.phenotype_score, 6),
            "secondary_finding": self.secondary_finding,
        }


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """Candidates, secondary findings and what each filter removed."""

    candidates: tuple[Candidate, ...]
    secondary_findings: tuple[Candidate, ...]
    counts: Mapping[str, int]
    """Sites after each step (``input``, ``quality``, ``frequency``, ``consequence``,
    ``inheritance``)."""


def _ab_ok(call: SiteCall, settings: AnalysisSettings) -> bool:
    if call.zygosity is not Zygosity.HET or call.allele_balance is None:
        return True
    return settings.min_allele_balance <= call.allele_balance <= settings.max_allele_balance


def passes_quality(call: SiteCall, settings: AnalysisSettings) -> bool:
    """Whether the proband's call meets the GQ, DP and allele-balance thresholds."""
    if call.gq is not None and call.gq < settings.min_gq:
        return False
    if call.dp is not None and call.dp < settings.min_dp:
        return False
    return _ab_ok(call, settings)


def passes_frequency(record: SiteRecord, settings: AnalysisSettings) -> bool:
    """Whether the variant is rare enough (ClinVar P/LP up to ``max_af_clinvar``)."""
    limit = settings.max_af_clinvar if record.clinvar_pathogenic else settings.max_af
    return record.max_af <= limit


def passes_consequence(record: SiteRecord, settings: AnalysisSettings) -> bool:
    """Whether the consequence is severe enough (or ClinVar P/LP)."""
    return record.impact in settings.impacts or record.clinvar_pathogenic


def _variant_calls(record: SiteRecord) -> VariantCalls:
    return VariantCalls(
        variant_id=record.variant_id,
        gene=record.gene or "",
        contig=record.contig_kind,
        child=record.proband,
        mother=record.mother,
        father=record.father,
        in_par=record.in_par,
    )


def _frequencies(record: SiteRecord) -> dict[str, float | None]:
    return dict(record.frequencies) or {"national": None}


def automatic_evidence(
    record: SiteRecord,
    gene: GeneInfo | None,
    modes: Sequence[ModeCall],
    family: Family,
    settings: AnalysisSettings,
    *,
    partner_pathogenic: str | None = None,
) -> list[acmg.Evidence]:
    """The criteria the data supports for one variant (see the module doc)."""
    evidence: list[acmg.Evidence | None] = []
    freqs = _frequencies(record)
    lof = bool(gene is not None and gene.loss_of_function)
    evidence.append(acmg.pvs1(record.consequences, loss_of_function_mechanism=lof))
    de_novo = any(
        m.mode is InheritanceMode.DE_NOVO and m.certainty is Certainty.FITS for m in modes
    )
    if de_novo:
        evidence.append(acmg.ps2_pm6(de_novo=True, parentage_confirmed=family.parentage_confirmed))
    evidence.append(
        acmg.pm2(
            freqs,
            threshold=settings.pm2_threshold,
            strength=acmg.Strength(settings.pm2_strength),
        )
    )
    evidence.append(acmg.ba1(freqs))
    if acmg.ba1(freqs) is None:
        evidence.append(acmg.bs1(freqs, threshold=settings.bs1_threshold))
    inheritance = _GENE_INHERITANCE.get(gene.mode) if gene is not None else None
    if inheritance is not None and record.population_homozygotes > 0:
        evidence.append(
            acmg.bs2(inheritance=inheritance, healthy_homozygotes=record.population_homozygotes)
        )
    if partner_pathogenic is not None:
        evidence.append(
            acmg.pm3(gene_recessive=True, in_trans_with_pathogenic=True, partner=partner_pathogenic)
        )
    if record.hgvs_p and record.residue_known:
        known = [k for k in record.residue_known if k.hgvs_c != record.hgvs_c]
        evidence.append(acmg.ps1(record.hgvs_c or "", record.hgvs_p, known))
        evidence.append(acmg.pm5(record.hgvs_p, known))
    meioses, discordant = _segregation(record, gene, family)
    if meioses:
        evidence.append(acmg.pp1(informative_meioses=meioses, discordant=discordant))
    found = [e for e in evidence if e is not None]
    codes = {e.code for e in found}
    if acmg.Criterion.PS1 in codes:  # PM5 does not add to PS1 for the same residue
        found = [e for e in found if e.code is not acmg.Criterion.PM5]
    return found


def _segregation(record: SiteRecord, gene: GeneInfo | None, family: Family) -> tuple[int, int]:
    """Informative meioses and discordant parents for PP1 (dominant genes, parents known)."""
    if gene is None or gene.mode not in ("AD", "XLD") or not family.trio:
        return 0, 0
    meioses = discordant = 0
    carriers = (Zygosity.HET, Zygosity.HOM_ALT, Zygosity.HEMI)
    for call, affected in (
        (record.mother, family.mother_affected),
        (record.father, family.father_affected),
    ):
        if call is None or affected is None or call.zygosity is Zygosity.NO_CALL:
            continue
        carrier = call.zygosity in carriers
        if affected and carrier:
            meioses += 1
        elif affected and not carrier:
            discordant += 1
    return meioses, discordant


def classify(
    evidence: Iterable[acmg.Evidence], overrides: Iterable[acmg.Override] = ()
) -> tuple[tuple[acmg.Evidence, ...], acmg.CombinationResult]:
    """Apply the overrides, then the combining rules."""
    final = acmg.apply_overrides(evidence, overrides)
    return final, acmg.combine(final)


def rank_key(
    classification: str,
    certainties: Iterable[str],
    phenotype_score: float,
    impact: str,
    variant_id: str,
) -> tuple[int, int, float, int, str]:
    """The candidate order: classification, then how firmly a mode fits (``fits`` before
    ``possible`` before none), phenotype similarity, impact, variant id."""
    seen = set(certainties)
    certainty = 2 if Certainty.FITS.value in seen else (1 if seen else 0)
    return (
        -acmg.Classification(classification).rank,
        -certainty,
        -phenotype_score,
        IMPACT_ORDER.index(impact) if impact in IMPACT_ORDER else len(IMPACT_ORDER),
        variant_id,
    )


def analyse(
    records: Sequence[SiteRecord],
    genes: Mapping[str, GeneInfo],
    family: Family,
    settings: AnalysisSettings,
    *,
    phenotype_scores: Mapping[str, float] | None = None,
    overrides: Mapping[str, Sequence[acmg.Override]] | None = None,
    secondary_genes: frozenset[str] = frozenset(),
) -> AnalysisResult:
    """Filter, interpret and rank the proband's variants (see the module doc).

    Parameters
    ----------
    records
        The proband's annotated sites in and around the genes of interest.
    genes
        Panel genes by symbol (all confidences; ``settings.green_only`` selects).
    family
        Proband sex, parents' status.
    settings
        Thresholds.
    phenotype_scores
        Gene symbol -> similarity of its HPO annotations to the proband's terms.
    overrides
        Variant id -> the geneticist's overrides, applied in order.
    secondary_genes
        Genes screened for secondary findings (empty: none asked for).

    Returns
    -------
    AnalysisResult
    """
    scores = phenotype_scores or {}
    manual = overrides or {}
    allowed = {"green"} if settings.green_only else {"green", "amber"}
    panel = {s: g for s, g in genes.items() if g.confidence in allowed}
    counts = {"input": len(records)}
    good = [r for r in records if passes_quality(r.proband, settings)]
    counts["quality"] = len(good)
    rare = [r for r in good if passes_frequency(r, settings)]
    counts["frequency"] = len(rare)
    severe = [r for r in rare if passes_consequence(r, settings)]
    counts["consequence"] = len(severe)
    quality = QualityFilter(min_gq=settings.min_gq, min_dp_without_gq=settings.min_dp)
    in_panel = [r for r in severe if r.gene in panel]
    counts["panel"] = len(in_panel)

    modes: dict[str, tuple[ModeCall, ...]] = {}
    for r in in_panel:
        modes[r.variant_id] = classify_variant(
            _variant_calls(r),
            child_sex=family.proband_sex,
            mother_affected=family.mother_affected,
            father_affected=family.father_affected,
            quality=quality,
        )
    partners: dict[str, list[str]] = {}
    by_gene: dict[str, list[SiteRecord]] = {}
    for r in in_panel:
        by_gene.setdefault(r.gene or "", []).append(r)
    for group in by_gene.values():
        for pair in compound_heterozygous_pairs(
            [_variant_calls(r) for r in group], quality=quality
        ):
            ch = ModeCall(InheritanceMode.COMPOUND_HETEROZYGOUS, pair.certainty, pair.reason)
            for me, other in ((pair.first, pair.second), (pair.second, pair.first)):
                if ch not in modes[me]:
                    modes[me] = (*modes[me], ch)
                partners.setdefault(me, []).append(other)
    kept: list[tuple[SiteRecord, tuple[ModeCall, ...]]] = []
    for r in in_panel:
        gene = panel[r.gene or ""]
        fitting = tuple(m for m in modes[r.variant_id] if m.mode in MODES_FOR_GENE[gene.mode])
        if fitting:
            kept.append((r, fitting))
    counts["inheritance"] = len(kept)

    def evaluate(
        r: SiteRecord, ms: tuple[ModeCall, ...], partner_p: str | None
    ) -> tuple[tuple[acmg.Evidence, ...], tuple[acmg.Evidence, ...], acmg.CombinationResult]:
        ev = automatic_evidence(
            r, genes.get(r.gene or ""), ms, family, settings, partner_pathogenic=partner_p
        )
        final, res = classify(ev, manual.get(r.variant_id, ()))
        return tuple(ev), final, res

    first = {r.variant_id: evaluate(r, ms, None) for r, ms in kept}
    pathogenic = {
        vid
        for vid, (_, _, res) in first.items()
        if res.classification.rank >= acmg.Classification.LIKELY_PATHOGENIC.rank
    }
    built: list[Candidate] = []
    for r, ms in kept:
        mates = [p for p in partners.get(r.variant_id, []) if p in first]
        trans_mate = next(
            (
                p
                for p in mates
                if p in pathogenic
                and any(
                    m.mode is InheritanceMode.COMPOUND_HETEROZYGOUS
                    and m.certainty is Certainty.FITS
                    for m in ms
                )
            ),
            None,
        )
        auto, ev, res = evaluate(r, ms, trans_mate) if trans_mate else first[r.variant_id]
        built.append(
            Candidate(
                rank=0,
                record=r,
                modes=ms,
                partner=mates[0] if mates else None,
                evidence=ev,
                classification=res.classification,
                rule=res.rule,
                phenotype_score=scores.get(r.gene or "", 0.0),
                automatic=auto,
            )
        )
    built.sort(
        key=lambda c: rank_key(
            c.classification.value,
            (m.certainty.value for m in c.modes),
            c.phenotype_score,
            c.record.impact,
            c.record.variant_id,
        )
    )
    ranked = tuple(replace(c, rank=i + 1) for i, c in enumerate(built))

    secondary: list[Candidate] = []
    for r in good:
        if r.gene not in secondary_genes or r.gene in panel:
            continue
        if not (passes_frequency(r, settings) and passes_consequence(r, settings)):
            continue
        sf_gene = genes.get(r.gene or "") or GeneInfo(
            r.gene or "", None, "green", "unknown", r.gene not in SECONDARY_NOT_LOSS_OF_FUNCTION
        )
        sf_evidence = automatic_evidence(r, sf_gene, (), family, settings)
        ev, res = classify(sf_evidence, manual.get(r.variant_id, ()))
        sf_pathogenic = res.classification.rank >= acmg.Classification.LIKELY_PATHOGENIC.rank
        if sf_pathogenic or r.clinvar_pathogenic:
            secondary.append(Candidate(0, r, (), None, ev, res.classification, res.rule, 0.0, True))
    secondary.sort(key=lambda c: (-c.classification.rank, c.record.variant_id))
    sf = tuple(replace(c, rank=i + 1) for i, c in enumerate(secondary))
    return AnalysisResult(ranked, sf, counts)


def overall_of(classifications: Iterable[str]) -> Overall:
    """Positive with a reported P/LP variant, inconclusive with only VUS, else negative."""
    values = set(classifications)
    if values & {"pathogenic", "likely_pathogenic"}:
        return Overall.POSITIVE
    if "uncertain_significance" in values:
        return Overall.INCONCLUSIVE
    return Overall.NEGATIVE


def _clinvar(candidate: Mapping[str, Any]) -> str:
    return ",".join(sorted(str(h.get("significance")) for h in candidate.get("clinvar", [])))


def compare_analyses(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *, top: int = 10
) -> list[str]:
    """What changed between two stored candidate lists (empty: nothing that matters).

    Compares the classifications of every variant in either list and the set of the
    ``top`` ranked variants.
    """
    before = {c["variant_id"]: c for c in old}
    after = {c["variant_id"]: c for c in new}
    changes: list[str] = []
    for vid in sorted(set(before) | set(after)):
        b, a = before.get(vid), after.get(vid)
        if b is None and a is not None:
            changes.append(f"{vid} ({a.get('gene')}) is new: {a['classification']}")
        elif a is None and b is not None:
            changes.append(f"{vid} ({b.get('gene')}) is no longer a candidate")
        elif a is not None and b is not None and a["classification"] != b["classification"]:
            changes.append(
                f"{vid} ({a.get('gene')}): {b['classification']} -> {a['classification']}"
            )
        elif a is not None and b is not None and _clinvar(a) != _clinvar(b):
            changes.append(
                f"{vid} ({a.get('gene')}): ClinVar {_clinvar(b) or 'none'} -> "
                f"{_clinvar(a) or 'none'}"
            )
    top_before = [c["variant_id"] for c in old[:top]]
    top_after = [c["variant_id"] for c in new[:top]]
    if not changes and top_before != top_after:
        changes.append(f"the order of the top {top} candidates changed")
    return changes


__all__ = [
    "ANALYSIS_FORMAT_VERSION",
    "DEFAULT_SECONDARY_FINDINGS_GENES",
    "MODES_FOR_GENE",
    "SECONDARY_NOT_LOSS_OF_FUNCTION",
    "AnalysisResult",
    "AnalysisSettings",
    "Candidate",
    "ClinvarHit",
    "Family",
    "GeneInfo",
    "Overall",
    "SiteRecord",
    "analyse",
    "automatic_evidence",
    "classify",
    "compare_analyses",
    "overall_of",
    "passes_consequence",
    "passes_frequency",
    "passes_quality",
    "rank_key",
]
