"""ACMG/AMP 2015 variant classification (Richards et al. 2015, Genet Med 17:405).

Three parts, all pure:

* automatic evidence functions: each takes plain facts gathered by the services
  layer and returns an :class:`Evidence` (criterion, applied strength, the rule
  text and the JSON-ready data that triggered it) or None;
* :func:`apply_overrides`: a geneticist's additions, removals and strength changes,
  each with a mandatory justification;
* :func:`combine`: the combining rules of Table 5, naming the rule that fired.

Strength modifications follow ClinGen SVI practice: evidence is counted at its
*applied* strength, so PM2 applied at supporting counts as a PP, and PP1 upgraded
to strong counts as a PS. A very strong criterion beyond the first counts as strong
(Table 5 has no rule for two PVS; without this, PVS1 + PS2 upgraded to very strong
would be a VUS).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from helgenom.core.errors import FormatError, InvalidInputError


class Strength(enum.StrEnum):
    """Strength at which a criterion is applied."""

    STAND_ALONE = "stand_alone"
    VERY_STRONG = "very_strong"
    STRONG = "strong"
    MODERATE = "moderate"
    SUPPORTING = "supporting"


class Direction(enum.StrEnum):
    """Which way a criterion points."""

    PATHOGENIC = "pathogenic"
    BENIGN = "benign"


class Criterion(enum.StrEnum):
    """The 28 ACMG/AMP 2015 criteria."""

    PVS1 = "PVS1"
    PS1 = "PS1"
    PS2 = "PS2"
    PS3 = "PS3"
    PS4 = "PS4"
    PM1 = "PM1"
    PM2 = "PM2"
    PM3 = "PM3"
    PM4 = "PM4"
    PM5 = "PM5"
    PM6 = "PM6"
    PP1 = "PP1"
    PP2 = "PP2"
    PP3 = "PP3"
    PP4 = "PP4"
    PP5 = "PP5"
    BA1 = "BA1"
    BS1 = "BS1"
    BS2 = "BS2"
    BS3 = "BS3"
    BS4 = "BS4"
    BP1 = "BP1"
    BP2 = "BP2"
    BP3 = "BP3"
    BP4 = "BP4"
    BP5 = "BP5"
    BP6 = "BP6"
    BP7 = "BP7"

    @property
    def default_strength(self) -> Strength:
        """Strength as defined in 2015, from the code's prefix."""
        prefix = self.value.rstrip("0123456789")
        return _PREFIX_STRENGTH[prefix]

    @property
    def direction(self) -> Direction:
        """Pathogenic for ``P*`` codes, benign for ``B*`` codes."""
        return Direction.PATHOGENIC if self.value.startswith("P") else Direction.BENIGN


_PREFIX_STRENGTH = {
    "PVS": Strength.VERY_STRONG,
    "PS": Strength.STRONG,
    "PM": Strength.MODERATE,
    "PP": Strength.SUPPORTING,
    "BA": Strength.STAND_ALONE,
    "BS": Strength.STRONG,
    "BP": Strength.SUPPORTING,
}

ALLOWED_STRENGTHS: Mapping[Direction, frozenset[Strength]] = {
    Direction.PATHOGENIC: frozenset(
        {Strength.VERY_STRONG, Strength.STRONG, Strength.MODERATE, Strength.SUPPORTING}
    ),
    Direction.BENIGN: frozenset({Strength.STAND_ALONE, Strength.STRONG, Strength.SUPPORTING}),
}
"""Strengths Table 5 can count, per direction (stand-alone is BA1's only)."""


class Classification(enum.StrEnum):
    """The five ACMG classes, from most benign to most pathogenic."""

    BENIGN = "benign"
    LIKELY_BENIGN = "likely_benign"
    UNCERTAIN_SIGNIFICANCE = "uncertain_significance"
    LIKELY_PATHOGENIC = "likely_pathogenic"
    PATHOGENIC = "pathogenic"

    @property
    def rank(self) -> int:
        """0 (benign) to 4 (pathogenic), for ordering."""
        return list(Classification).index(self)


def _check_json(data: Mapping[str, Any], what: str) -> None:
    """Raise InvalidInputError unless ``data`` serialises as strict JSON."""
    try:
        json.dumps(data, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} is not JSON-ready ({exc}); give plain values") from None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One criterion applied to a variant."""

    code: Criterion
    """The criterion."""
    strength: Strength
    """The applied strength (may differ from the default)."""
    rule: str
    """The rule, in words, that made it apply (and any modification)."""
    data: dict[str, Any] = field(default_factory=dict)
    """The facts that triggered it, JSON-ready, for the report and the audit."""

    def __post_init__(self) -> None:
        """Check the strength fits the criterion and the data is JSON-ready.

        Raises
        ------
        InvalidInputError
            If the strength cannot be used for the criterion's direction, a
            stand-alone strength is given to anything but BA1, BA1 is given any other
            strength, or the data is not JSON-ready.
        """
        if self.strength not in ALLOWED_STRENGTHS[self.code.direction]:
            raise InvalidInputError(
                f"{self.code.value} cannot be applied at {self.strength.value}: "
                f"{self.code.direction.value} evidence is one of "
                f"{', '.join(sorted(s.value for s in ALLOWED_STRENGTHS[self.code.direction]))}"
            )
        if (self.strength is Strength.STAND_ALONE) != (self.code is Criterion.BA1):
            raise InvalidInputError(
                f"{self.code.value} at {self.strength.value}: only BA1 is stand-alone, and "
                "BA1 is only stand-alone"
            )
        if not self.rule.strip():
            raise InvalidInputError(f"{self.code.value} needs the rule text that applied it")
        _check_json(self.data, f"data of {self.code.value}")

    @property
    def direction(self) -> Direction:
        """The criterion's direction."""
        return self.code.direction

    @property
    def modified(self) -> bool:
        """Whether applied at other than the default strength."""
        return self.strength is not self.code.default_strength

    def label(self) -> str:
        """``PM2`` or, when modified, ``PM2_Supporting`` (ClinGen notation)."""
        if not self.modified:
            return self.code.value
        return f"{self.code.value}_{self.strength.value.replace('_', ' ').title().replace(' ', '')}"

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "code": self.code.value,
            "strength": self.strength.value,
            "direction": self.direction.value,
            "rule": self.rule,
            "data": dict(self.data),
        }


# --------------------------------------------------------------------------------------
# Automatic evidence
# --------------------------------------------------------------------------------------

NULL_CONSEQUENCES = frozenset(
    {
        "stop_gained",
        "frameshift_variant",
        "splice_acceptor_variant",
        "splice_donor_variant",
        "start_lost",
        "exon_loss_variant",
        "transcript_ablation",
    }
)
"""Sequence Ontology terms of null variants for PVS1 (splice terms are the ±1,2 sites)."""


def pvs1(
    consequences: Iterable[str],
    *,
    loss_of_function_mechanism: bool,
    strength: Strength = Strength.VERY_STRONG,
) -> Evidence | None:
    """PVS1: a null variant in a gene where loss of function causes the disease.

    Parameters
    ----------
    consequences
        Sequence Ontology terms of the variant on the transcript considered
        (``stop_gained``, ``frameshift_variant``, ``splice_donor_variant`` ...).
    loss_of_function_mechanism
        Whether the gene's panel entry gives loss of function as the mechanism.
    strength
        The strength to apply; the caller lowers it after the ClinGen PVS1 decision
        tree (NMD escape, last exon, alternative start), default very strong.

    Returns
    -------
    Evidence or None
        PVS1 when a null consequence meets a loss-of-function gene.

    Raises
    ------
    InvalidInputError
        If ``strength`` is not a pathogenic strength.
    """
    terms = sorted(set(consequences))
    null = [t for t in terms if t in NULL_CONSEQUENCES]
    if not null or not loss_of_function_mechanism:
        return None
    rule = "PVS1: null variant (" + ", ".join(null) + ") in a gene where LoF is the mechanism"
    if strength is not Strength.VERY_STRONG:
        rule += f"; applied at {strength.value} (PVS1 decision tree)"
    return Evidence(
        Criterion.PVS1,
        strength,
        rule,
        {"consequences": terms, "null_consequences": null, "loss_of_function_mechanism": True},
    )


def ps2_pm6(
    *, de_novo: bool, parentage_confirmed: bool, phenotype_consistent: bool = True
) -> Evidence | None:
    """PS2 (confirmed de novo) or PM6 (assumed de novo).

    Parameters
    ----------
    de_novo
        Whether the variant is de novo: child carries it, both parents proven
        hom_ref (e.g. :func:`helgenom.core.inheritance.classify_variant` gave
        ``de_novo`` with certainty ``fits``).
    parentage_confirmed
        Whether maternity and paternity are confirmed (the caller's flag, e.g. from
        a relatedness check of the trio).
    phenotype_consistent
        Whether the patient's phenotype fits the gene's disease with no family
        history, as PS2 requires.

    Returns
    -------
    Evidence or None
        PS2 when parentage is confirmed, PM6 when assumed, None otherwise.
    """
    if not de_novo or not phenotype_consistent:
        return None
    data = {"de_novo": True, "parentage_confirmed": parentage_confirmed}
    if parentage_confirmed:
        return Evidence(
            Criterion.PS2,
            Strength.STRONG,
            "PS2: de novo, both parents tested, maternity and paternity confirmed",
            data,
        )
    return Evidence(
        Criterion.PM6,
        Strength.MODERATE,
        "PM6: assumed de novo, maternity and paternity not confirmed",
        data,
    )


def _frequencies(frequencies: Mapping[str, float | None]) -> dict[str, float | None]:
    """Checked copy of population frequencies (None: absent from the database).

    Raises
    ------
    InvalidInputError
        If no database is given or a frequency is outside 0 to 1.
    """
    if not frequencies:
        raise InvalidInputError(
            "no population frequency given; pass at least one database, e.g. "
            "{'national': 0.0, 'gnomad': None}"
        )
    checked: dict[str, float | None] = {}
    for source, value in frequencies.items():
        if value is not None and (not math.isfinite(value) or not 0.0 <= value <= 1.0):
            raise InvalidInputError(
                f"allele frequency {value!r} of {source!r} is outside 0 to 1; give a fraction"
            )
        checked[source] = value
    return checked


def _max_af(frequencies: Mapping[str, float | None]) -> float:
    """Highest frequency, absent counting as 0."""
    return max((v or 0.0) for v in frequencies.values())


def pm2(
    frequencies: Mapping[str, float | None],
    *,
    threshold: float = 0.0,
    strength: Strength = Strength.MODERATE,
) -> Evidence | None:
    """PM2: absent from (or extremely rare in) the population databases.

    Parameters
    ----------
    frequencies
        Allele frequency per database (``national``, ``gnomad`` ...); None when the
        variant is absent from that database.
    threshold
        Highest frequency still counted as "absent": 0 (absent) by default; a
        gene- or disease-specific value (e.g. 1e-4 for recessive disorders).
    strength
        Moderate as in 2015 by default; ClinGen SVI (2020) recommends supporting.

    Returns
    -------
    Evidence or None
        PM2 when every frequency is at or below ``threshold``.

    Raises
    ------
    InvalidInputError
        If no database is given, a frequency or the threshold is outside 0 to 1, or
        the strength is not a pathogenic strength.
    """
    freqs = _frequencies(frequencies)
    _threshold(threshold)
    highest = _max_af(freqs)
    if highest > threshold:
        return None
    if threshold == 0.0:
        rule = "PM2: absent from population databases"
    else:
        rule = f"PM2: allele frequency at most {threshold:g} in population databases"
    if strength is not Strength.MODERATE:
        rule += f"; applied at {strength.value}"
    return Evidence(
        Criterion.PM2,
        strength,
        rule,
        {"frequencies": freqs, "max_af": highest, "threshold": threshold},
    )


def _threshold(value: float) -> None:
    """Raise InvalidInputError unless 0 <= value <= 1."""
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"threshold {value!r} is outside 0 to 1; give a fraction")


def ba1(frequencies: Mapping[str, float | None], *, threshold: float = 0.05) -> Evidence | None:
    """BA1: allele frequency above 5 % in a population database.

    Parameters
    ----------
    frequencies
        Allele frequency per database; None when absent.
    threshold
        Frequency that must be exceeded, 0.05 by default.

    Returns
    -------
    Evidence or None
        BA1 (stand-alone) when the highest frequency exceeds ``threshold``.

    Raises
    ------
    InvalidInputError
        If no database is given or a frequency or the threshold is outside 0 to 1.
    """
    freqs = _frequencies(frequencies)
    _threshold(threshold)
    highest = _max_af(freqs)
    if highest <= threshold:
        return None
    return Evidence(
        Criterion.BA1,
        Strength.STAND_ALONE,
        f"BA1: allele frequency {highest:g} > {threshold:g}",
        {"frequencies": freqs, "max_af": highest, "threshold": threshold},
    )


def bs1(frequencies: Mapping[str, float | None], *, threshold: float) -> Evidence | None:
    """BS1: allele frequency greater than expected for the disorder.

    Parameters
    ----------
    frequencies
        Allele frequency per database; None when absent.
    threshold
        The highest frequency compatible with the disorder (from prevalence,
        penetrance and genetic heterogeneity), computed by the caller.

    Returns
    -------
    Evidence or None
        BS1 when the highest frequency exceeds ``threshold``.

    Raises
    ------
    InvalidInputError
        If no database is given or a frequency or the threshold is outside 0 to 1.
    """
    freqs = _frequencies(frequencies)
    _threshold(threshold)
    highest = _max_af(freqs)
    if highest <= threshold:
        return None
    return Evidence(
        Criterion.BS1,
        Strength.STRONG,
        f"BS1: allele frequency {highest:g} greater than expected for the disorder ({threshold:g})",
        {"frequencies": freqs, "max_af": highest, "threshold": threshold},
    )


class GeneInheritance(enum.StrEnum):
    """The inheritance of the gene-disease pair, from the gene panel."""

    DOMINANT = "dominant"
    RECESSIVE = "recessive"
    X_LINKED = "x_linked"


def bs2(
    *,
    inheritance: GeneInheritance,
    healthy_homozygotes: int = 0,
    healthy_hemizygotes: int = 0,
    healthy_heterozygotes: int = 0,
    fully_penetrant: bool = False,
    min_count: int = 1,
) -> Evidence | None:
    """BS2: observed in healthy adults in a state that should cause the disease.

    Recessive: homozygous; X-linked (recessive): hemizygous or homozygous; dominant
    with full penetrance at an early age: heterozygous (or homozygous).

    Parameters
    ----------
    inheritance
        The gene-disease inheritance.
    healthy_homozygotes, healthy_hemizygotes, healthy_heterozygotes
        Counts of healthy adults observed in each state.
    fully_penetrant
        Whether the dominant disorder is fully penetrant at an early age; without it
        heterozygotes do not count.
    min_count
        Observations needed (1 by default).

    Returns
    -------
    Evidence or None
        BS2 when the relevant count reaches ``min_count``.

    Raises
    ------
    InvalidInputError
        If a count is negative or ``min_count`` is below 1.
    """
    counts = {
        "healthy_homozygotes": healthy_homozygotes,
        "healthy_hemizygotes": healthy_hemizygotes,
        "healthy_heterozygotes": healthy_heterozygotes,
    }
    for name, value in counts.items():
        if value < 0:
            raise InvalidInputError(f"{name} is {value}; give a count >= 0")
    if min_count < 1:
        raise InvalidInputError(f"min_count is {min_count}; give 1 or more")
    if inheritance is GeneInheritance.RECESSIVE:
        relevant, state = healthy_homozygotes, "homozygous"
    elif inheritance is GeneInheritance.X_LINKED:
        relevant, state = healthy_hemizygotes + healthy_homozygotes, "hemizygous/homozygous"
    elif fully_penetrant:
        relevant, state = healthy_heterozygotes + healthy_homozygotes, "heterozygous"
    else:
        return None
    if relevant < min_count:
        return None
    return Evidence(
        Criterion.BS2,
        Strength.STRONG,
        f"BS2: observed {state} in {relevant} healthy adult(s) for a {inheritance.value} disorder",
        {
            **counts,
            "inheritance": inheritance.value,
            "fully_penetrant": fully_penetrant,
            "min_count": min_count,
        },
    )


def pm3(
    *,
    gene_recessive: bool,
    in_trans_with_pathogenic: bool,
    partner: str | None = None,
) -> Evidence | None:
    """PM3: for a recessive disorder, detected in trans with a pathogenic variant.

    Parameters
    ----------
    gene_recessive
        Whether the gene-disease inheritance is recessive.
    in_trans_with_pathogenic
        Whether the variant is shown in trans (by parental testing or read-backed
        phasing: a :class:`~helgenom.core.inheritance.CompHetPair` with phase
        ``trans``) with a pathogenic or likely pathogenic variant.
    partner
        Id of the variant in trans, for the record.

    Returns
    -------
    Evidence or None
        PM3 when both hold.
    """
    if not gene_recessive or not in_trans_with_pathogenic:
        return None
    return Evidence(
        Criterion.PM3,
        Strength.MODERATE,
        "PM3: recessive disorder, in trans with a pathogenic variant",
        {"in_trans_with": partner},
    )


_AMINO = {
    "A": "Ala",
    "R": "Arg",
    "N": "Asn",
    "D": "Asp",
    "C": "Cys",
    "Q": "Gln",
    "E": "Glu",
    "G": "Gly",
    "H": "His",
    "I": "Ile",
    "L": "Leu",
    "K": "Lys",
    "M": "Met",
    "F": "Phe",
    "P": "Pro",
    "S": "Ser",
    "T": "Thr",
    "W": "Trp",
    "Y": "Tyr",
    "V": "Val",
    "U": "Sec",
}
_THREE = frozenset(_AMINO.values())
_MISSENSE = re.compile(r"^(?:[^:\s]+:)?p\.\(?([A-Z][a-z]{2}|[A-Z])(\d+)([A-Z][a-z]{2}|[A-Z])\)?$")


@dataclass(frozen=True, slots=True)
class ProteinChange:
    """A missense change: reference residue, position, alternate residue."""

    ref: str
    """Reference amino acid, three-letter code."""
    position: int
    """Residue number."""
    alt: str
    """Alternate amino acid, three-letter code."""

    @classmethod
    def parse(cls, hgvs_p: str) -> ProteinChange | None:
        """Parse ``p.Arg123Cys``, ``p.(Arg123Cys)``, ``p.R123C`` or with an accession.

        Returns None when the text is not a missense change (nonsense, synonymous,
        frameshift, unparseable).
        """
        match = _MISSENSE.match(hgvs_p.strip())
        if match is None:
            return None
        ref, pos, alt = (
            _AMINO.get(match.group(1), match.group(1)),
            int(match.group(2)),
            _AMINO.get(match.group(3), match.group(3)),
        )
        if ref not in _THREE or alt not in _THREE or ref == alt:
            return None
        return cls(ref, pos, alt)

    def __str__(self) -> str:
        """HGVS protein notation without accession."""
        return f"p.{self.ref}{self.position}{self.alt}"


@dataclass(frozen=True, slots=True)
class KnownVariant:
    """A variant with an established classification (e.g. ClinVar), same transcript."""

    accession: str
    """Where it is recorded (a ClinVar variation id ...)."""
    hgvs_c: str
    """Coding change (``c.367C>T``) on the transcript of the candidate."""
    hgvs_p: str
    """Protein change (``p.Arg123Cys``)."""
    pathogenic: bool
    """Whether established as pathogenic (or likely pathogenic, by the caller's policy)."""


def _candidate_missense(hgvs_p: str) -> ProteinChange:
    """The candidate's parsed missense change.

    Raises
    ------
    FormatError
        If ``hgvs_p`` is not a missense change.
    """
    change = ProteinChange.parse(hgvs_p)
    if change is None:
        raise FormatError(
            f"protein change {hgvs_p!r} is not a missense change; give e.g. 'p.Arg123Cys' "
            "(PS1/PM5 apply to missense variants only)"
        )
    return change


def ps1(hgvs_c: str, hgvs_p: str, known: Iterable[KnownVariant]) -> Evidence | None:
    """PS1: same amino-acid change as an established pathogenic variant, other nucleotide.

    Parameters
    ----------
    hgvs_c, hgvs_p
        The candidate's coding and (missense) protein change.
    known
        Classified variants of the same gene and transcript.

    Returns
    -------
    Evidence or None
        PS1 naming the matching pathogenic variants.

    Raises
    ------
    FormatError
        If ``hgvs_p`` is not a missense change.
    """
    change = _candidate_missense(hgvs_p)
    matches = [
        k
        for k in known
        if k.pathogenic
        and ProteinChange.parse(k.hgvs_p) == change
        and k.hgvs_c.strip() != hgvs_c.strip()
    ]
    if not matches:
        return None
    return Evidence(
        Criterion.PS1,
        Strength.STRONG,
        f"PS1: same amino-acid change {change} as established pathogenic variant(s) with a "
        "different nucleotide change",
        {
            "hgvs_c": hgvs_c,
            "hgvs_p": str(change),
            "matches": [{"accession": k.accession, "hgvs_c": k.hgvs_c} for k in matches],
        },
    )


def pm5(hgvs_p: str, known: Iterable[KnownVariant]) -> Evidence | None:
    """PM5: novel missense change at a residue where another pathogenic missense is known.

    Not applied when the same amino-acid change is itself known pathogenic (that is
    PS1, or the same variant).

    Parameters
    ----------
    hgvs_p
        The candidate's missense protein change.
    known
        Classified variants of the same gene and transcript.

    Returns
    -------
    Evidence or None
        PM5 naming the pathogenic missense variants at the residue.

    Raises
    ------
    FormatError
        If ``hgvs_p`` is not a missense change.
    """
    change = _candidate_missense(hgvs_p)
    pathogenic = [(k, ProteinChange.parse(k.hgvs_p)) for k in known if k.pathogenic]
    if any(c == change for _, c in pathogenic):
        return None
    matches = [
        (k, c)
        for k, c in pathogenic
        if c is not None and c.position == change.position and c.ref == change.ref
    ]
    if not matches:
        return None
    return Evidence(
        Criterion.PM5,
        Strength.MODERATE,
        f"PM5: novel missense {change} at a residue with a different pathogenic missense",
        {
            "hgvs_p": str(change),
            "matches": [{"accession": k.accession, "hgvs_p": str(c)} for k, c in matches],
        },
    )


PP1_THRESHOLDS = ((7, Strength.STRONG), (5, Strength.MODERATE), (3, Strength.SUPPORTING))
"""Informative meioses for PP1 strengths (Jarvik & Browning 2016, adopted by ClinGen
SVI): 7 (LOD 2.1), 5 (LOD 1.5), 3 (LOD 0.9)."""


def pp1(*, informative_meioses: int, discordant: int = 0) -> Evidence | None:
    """PP1: cosegregation with disease in affected family members.

    Parameters
    ----------
    informative_meioses
        Informative meioses consistent with cosegregation, counted by the caller
        (for recessive disorders the caller counts by the ClinGen rules).
    discordant
        Affected non-carriers (or, in a fully penetrant disorder, unaffected
        carriers); any discordance withholds PP1 (consider BS4).

    Returns
    -------
    Evidence or None
        PP1 at supporting (>=3), moderate (>=5) or strong (>=7).

    Raises
    ------
    InvalidInputError
        If a count is negative.
    """
    if informative_meioses < 0 or discordant < 0:
        raise InvalidInputError(
            f"meiosis counts ({informative_meioses}, {discordant}) must be >= 0"
        )
    if discordant:
        return None
    for needed, strength in PP1_THRESHOLDS:
        if informative_meioses >= needed:
            lod = round(informative_meioses * math.log10(2), 2)
            return Evidence(
                Criterion.PP1,
                strength,
                f"PP1: cosegregation in {informative_meioses} informative meioses "
                f"(LOD {lod}; >= {needed} for {strength.value})",
                {"informative_meioses": informative_meioses, "lod": lod, "discordant": 0},
            )
    return None


# --------------------------------------------------------------------------------------
# Combining (Table 5)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CombinationResult:
    """The classification and the rule of Table 5 behind it."""

    classification: Classification
    """The class."""
    rule: str
    """The rule that fired, e.g. ``Pathogenic (ii): >=2 strong``."""
    pathogenic_rule: str | None
    """The pathogenic-side rule met, if any (also when overruled by a conflict)."""
    benign_rule: str | None
    """The benign-side rule met, if any (also when overruled by a conflict)."""


def _pathogenic_rule(vs: int, s: int, m: int, p: int) -> tuple[Classification, str] | None:
    """The first pathogenic or likely pathogenic rule met by the counts."""
    path, likely = Classification.PATHOGENIC, Classification.LIKELY_PATHOGENIC
    rules: tuple[tuple[bool, Classification, str], ...] = (
        (vs >= 1 and s >= 1, path, "Pathogenic (i)(a): 1 very strong and >=1 strong"),
        (vs >= 1 and m >= 2, path, "Pathogenic (i)(b): 1 very strong and >=2 moderate"),
        (
            vs >= 1 and m >= 1 and p >= 1,
            path,
            "Pathogenic (i)(c): 1 very strong, 1 moderate and 1 supporting",
        ),
        (vs >= 1 and p >= 2, path, "Pathogenic (i)(d): 1 very strong and >=2 supporting"),
        (s >= 2, path, "Pathogenic (ii): >=2 strong"),
        (s >= 1 and m >= 3, path, "Pathogenic (iii)(a): 1 strong and >=3 moderate"),
        (
            s >= 1 and m >= 2 and p >= 2,
            path,
            "Pathogenic (iii)(b): 1 strong, 2 moderate and >=2 supporting",
        ),
        (
            s >= 1 and m >= 1 and p >= 4,
            path,
            "Pathogenic (iii)(c): 1 strong, 1 moderate and >=4 supporting",
        ),
        (vs >= 1 and m >= 1, likely, "Likely pathogenic (i): 1 very strong and 1 moderate"),
        (s >= 1 and m >= 1, likely, "Likely pathogenic (ii): 1 strong and 1-2 moderate"),
        (s >= 1 and p >= 2, likely, "Likely pathogenic (iii): 1 strong and >=2 supporting"),
        (m >= 3, likely, "Likely pathogenic (iv): >=3 moderate"),
        (m >= 2 and p >= 2, likely, "Likely pathogenic (v): 2 moderate and >=2 supporting"),
        (m >= 1 and p >= 4, likely, "Likely pathogenic (vi): 1 moderate and >=4 supporting"),
    )
    for met, classification, text in rules:
        if met:
            return classification, text
    return None


def _benign_rule(sa: int, s: int, p: int) -> tuple[Classification, str] | None:
    """The first benign or likely benign rule met by the counts."""
    if sa >= 1:
        return Classification.BENIGN, "Benign (i): 1 stand-alone"
    if s >= 2:
        return Classification.BENIGN, "Benign (ii): >=2 strong"
    if s >= 1 and p >= 1:
        return Classification.LIKELY_BENIGN, "Likely benign (i): 1 strong and 1 supporting"
    if p >= 2:
        return Classification.LIKELY_BENIGN, "Likely benign (ii): >=2 supporting"
    return None


def combine(evidence: Iterable[Evidence]) -> CombinationResult:
    """Classify by the combining rules of Richards et al. 2015, Table 5.

    Evidence counts at its applied strength. A very strong criterion beyond the
    first counts as strong. When a pathogenic-side rule and a benign-side rule are
    both met, the evidence conflicts and the class is uncertain significance (ii);
    evidence on the other side that meets no rule does not overturn a class.

    Parameters
    ----------
    evidence
        The applied criteria, each code at most once.

    Returns
    -------
    CombinationResult
        The class and the rule that fired.

    Raises
    ------
    InvalidInputError
        If a criterion occurs more than once.
    """
    items = list(evidence)
    codes = [e.code for e in items]
    duplicates = sorted({c.value for c in codes if codes.count(c) > 1})
    if duplicates:
        raise InvalidInputError(
            f"criteria {', '.join(duplicates)} are given more than once; apply each once "
            "(change its strength instead)"
        )

    def count(direction: Direction, strength: Strength) -> int:
        return sum(1 for e in items if e.direction is direction and e.strength is strength)

    pvs = count(Direction.PATHOGENIC, Strength.VERY_STRONG)
    ps = count(Direction.PATHOGENIC, Strength.STRONG) + max(0, pvs - 1)
    pm = count(Direction.PATHOGENIC, Strength.MODERATE)
    pp = count(Direction.PATHOGENIC, Strength.SUPPORTING)
    ba = count(Direction.BENIGN, Strength.STAND_ALONE)
    bs = count(Direction.BENIGN, Strength.STRONG)
    bp = count(Direction.BENIGN, Strength.SUPPORTING)
    path = _pathogenic_rule(min(pvs, 1), ps, pm, pp)
    benign = _benign_rule(ba, bs, bp)
    p_text = path[1] if path else None
    b_text = benign[1] if benign else None
    if path and benign:
        return CombinationResult(
            Classification.UNCERTAIN_SIGNIFICANCE,
            f"Uncertain significance (ii): conflicting evidence ({path[1]}; {benign[1]})",
            p_text,
            b_text,
        )
    if path:
        return CombinationResult(path[0], path[1], p_text, None)
    if benign:
        return CombinationResult(benign[0], benign[1], None, b_text)
    return CombinationResult(
        Classification.UNCERTAIN_SIGNIFICANCE,
        "Uncertain significance (i): criteria for another class not met",
        None,
        None,
    )


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------


class OverrideAction(enum.StrEnum):
    """What a geneticist does to the automatic evidence."""

    ADD = "add"
    REMOVE = "remove"
    CHANGE_STRENGTH = "change_strength"


@dataclass(frozen=True, slots=True)
class Override:
    """A manual change to the evidence, with who, when and why."""

    code: Criterion
    """The criterion concerned."""
    action: OverrideAction
    """Add, remove or change the strength."""
    strength: Strength | None
    """The new strength (add: None for the default; change_strength: required)."""
    justification: str
    """Why; required and recorded in the evidence and the audit log."""
    actor: str
    """Principal who made the change."""
    at: dt.datetime
    """When (timezone-aware)."""

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "code": self.code.value,
            "action": self.action.value,
            "strength": None if self.strength is None else self.strength.value,
            "justification": self.justification,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


def apply_overrides(
    evidence: Iterable[Evidence], overrides: Iterable[Override]
) -> tuple[Evidence, ...]:
    """Apply manual overrides in order.

    Added or changed evidence records the override in its rule text and under
    ``data["overrides"]``; removed evidence disappears (the overrides themselves are
    the record of the removal).

    Parameters
    ----------
    evidence
        The automatic (or previously overridden) evidence.
    overrides
        The changes, oldest first.

    Returns
    -------
    tuple of Evidence
        The evidence after the changes, in input order with additions last.

    Raises
    ------
    InvalidInputError
        If an override has an empty justification or actor, a naive time, adds a
        criterion already present, removes or changes one that is absent, lacks
        the strength of a change, or gives a strength the criterion cannot take.
    """
    current: dict[Criterion, Evidence] = {}
    for e in evidence:
        if e.code in current:
            raise InvalidInputError(f"{e.code.value} is given more than once; apply it once")
        current[e.code] = e
    for o in overrides:
        what = f"override of {o.code.value} ({o.action.value})"
        if not o.justification.strip():
            raise InvalidInputError(f"{what} has no justification; say why the change is made")
        if not o.actor.strip():
            raise InvalidInputError(f"{what} names no actor; give the principal's name")
        if o.at.tzinfo is None or o.at.utcoffset() is None:
            raise InvalidInputError(f"{what} has a time without timezone; give UTC")
        record = o.asdict()
        note = f"[{o.action.value} by {o.actor} at {o.at.isoformat()}: {o.justification.strip()}]"
        if o.action is OverrideAction.ADD:
            if o.code in current:
                raise InvalidInputError(
                    f"{what}: {o.code.value} is already applied; use change_strength or remove"
                )
            strength = o.strength or o.code.default_strength
            current[o.code] = Evidence(
                o.code,
                strength,
                f"{o.code.value}: applied manually {note}",
                {"overrides": [record]},
            )
            continue
        old = current.get(o.code)
        if old is None:
            raise InvalidInputError(
                f"{what}: {o.code.value} is not applied; add it instead of changing it"
            )
        if o.action is OverrideAction.REMOVE:
            del current[o.code]
            continue
        if o.strength is None:
            raise InvalidInputError(f"{what} gives no strength; give the new strength")
        data = dict(old.data)
        data["overrides"] = [*data.get("overrides", []), record]
        current[o.code] = Evidence(
            o.code,
            o.strength,
            f"{old.rule}; strength {old.strength.value} -> {o.strength.value} {note}",
            data,
        )
    return tuple(current.values())


__all__ = [
    "ALLOWED_STRENGTHS",
    "NULL_CONSEQUENCES",
    "PP1_THRESHOLDS",
    "Classification",
    "CombinationResult",
    "Criterion",
    "Direction",
    "Evidence",
    "GeneInheritance",
    "KnownVariant",
    "Override",
    "OverrideAction",
    "ProteinChange",
    "Strength",
    "apply_overrides",
    "ba1",
    "bs1",
    "bs2",
    "combine",
    "pm2",
    "pm3",
    "pm5",
    "pp1",
    "ps1",
    "ps2_pm6",
    "pvs1",
]
