"""GA4GH Beacon v2 for genomic variations: queries, privacy defences and response documents.

Pure protocol logic; the HTTP layer parses a request into a :class:`VariantQuery`, the
service reads the consented public allele frequencies of the matching variants and passes
them through :func:`disclose_allele`, and :func:`g_variants_response` renders the answer.
Every document is a plain JSON-ready ``dict`` following the Beacon v2 framework and the
``genomicVariations`` default model (``beacon-v2`` schemas, ``apiVersion`` ``v2.0.0``).

Queries
-------
:func:`parse_get_query` (query-string parameters) and :func:`parse_post_query` (request
body; ``query.requestParameters`` flat or under ``g_variant``) accept

* sequence queries: ``referenceName``, ``start`` (one value), ``alternateBases``, optional
  ``referenceBases`` and ``assemblyId``;
* range queries: ``referenceName``, ``start``, ``end`` (one value each), optional
  ``variantType`` (``SNP``, ``MNP``, ``INDEL``, ``DEL``, ``INS``), ``referenceBases`` and
  ``alternateBases``;
* ``requestedGranularity`` (``boolean`` by default), ``skip`` and ``limit`` (``skip``
  counts pages of ``limit`` results, as the framework defines it; ``limit`` 0 means
  :data:`MAX_LIMIT`), ``includeResultsetResponses`` and ``testMode``.

Beacon coordinates are 0-based: ``start`` is the first base (inclusive), ``end`` is
exclusive. helgenom variant ids ``CONTIG-POS-REF-ALT`` are 1-based VCF positions, so the
sequence query ``start=16570122, referenceBases=A, alternateBases=G`` is the variant
``chr22-16570123-A-G``. Indels match in either form: the VCF form with its anchor base
(``start`` = 0-based position of the anchor, ``referenceBases=AT``, ``alternateBases=A``)
and the trimmed form the Beacon specification describes (``start`` = 0-based position of
the first deleted base, ``referenceBases=T``, ``alternateBases`` empty). IUPAC codes in
the bases are wildcards (``N`` any base). A range query matches the variants whose
reference span, ``[POS - 1, POS - 1 + len(REF))``, overlaps ``[start, end)``. Client
contig names ``1``, ``chr1`` and, on GRCh38, ``refseq:NC_000001.11`` are normalised to
the instance's names.

Granularity
-----------
The audience caps the requested granularity (:meth:`Audience.max_granularity`):
anonymous callers get ``boolean`` answers, registered callers at most ``count``,
controlled (approved) callers at most ``record``. ``meta.returnedGranularity`` tells
what was returned.

Defences
--------
After Shringarpure & Bustamante (2015, Am J Hum Genet 97:631) and Raisaro et al. (2017,
J Am Med Inform Assoc 24:799); :class:`DisclosurePolicy` holds the parameters.

Rare allele
    an allele seen ``1 <= AC < k`` times in the public set (``k`` =
    :attr:`DisclosurePolicy.min_count`, default 5).
(a) Small counts
    an allele count, homozygote or hemizygote count in ``1 .. k-1`` is never shown as
    a number, to any audience: a record whose AC is small (or whose reference allele
    count ``AN - AC`` is small) carries no ``frequencyInPopulations``; a small
    homozygote or hemizygote count is left out of the frequency entry. Counts of 0 and
    of ``k`` or more are exact. ``numTotalResults`` counts variants, not persons.
    The existence of a rare allele is concealed from the audiences in
    :attr:`DisclosurePolicy.conceal_rare_for` (default: anonymous): their boolean
    answer for it is ``false``, exactly as for an absent allele (Shringarpure &
    Bustamante: hide rare alleles; Raisaro et al. strategy 1 with every rare allele
    hidden). Nothing in a response tells a concealed allele from an absent one.
(b) User budget
    each user (the HTTP layer decides who: token subject, or client address when
    anonymous) may make :attr:`DisclosurePolicy.queries_per_window` queries per
    :attr:`~DisclosurePolicy.window_seconds`, as a token bucket (at most that many in
    a burst, refilled evenly); :meth:`BudgetLedger.charge_query` raises
    :class:`~helgenom.core.errors.QuotaExceededError` when it is spent, with
    ``retry_after``: the whole seconds until one query has refilled (HTTP 429 and
    ``Retry-After``). This budget is the asker's own and depends on nothing but their
    own queries, so refusing openly tells them nothing about anyone in the beacon.
(c) Person budget
    every answer that reveals a rare allele (to an audience that may see it) charges
    each of its carriers the risk :func:`allele_risk` of the answer, the expected
    log-likelihood-ratio a "yes" gives a membership attacker: ``-ln(1 - e^-AC)`` nats
    for an allele carried ``AC`` times (0.46 for a singleton, 0.15 for AC 2, 0.05 for
    AC 3). Each person has :attr:`DisclosurePolicy.person_budget` nats for the life of
    the beacon (per user with :attr:`~DisclosurePolicy.person_budget_per_user`, as in
    Raisaro et al. strategy 3; global by default, which many accounts cannot get
    around). A carrier whose remaining budget cannot pay an answer's risk is spent: from
    then on that person is left out of every answer about a rare allele, so the beacon
    answers as if they were not in it. Which persons are left out is never reported,
    and a spent person budget is never an error: a refusal (say HTTP 403) to a query
    about one allele would itself tell that the allele has a carrier whose budget is
    spent, so the answer is the ordinary one with that carrier left out.

The service's part: for each matching frequency row with :func:`needs_carriers` true it
reads the carriers (opaque person ids and alleles carried) from the database and passes
them in :class:`AlleleObservation`; the ledger (:class:`BudgetLedger`, clock injectable,
:meth:`~BudgetLedger.asdict` / :meth:`~BudgetLedger.from_dict` to persist) keeps the
state between requests.
"""

from __future__ import annotations

import enum
import math
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from helgenom.core.errors import FormatError, InvalidInputError, QuotaExceededError
from helgenom.core.version import __version__

API_VERSION: Final = "v2.0.0"
"""Beacon API version this beacon speaks (``meta.apiVersion``)."""
VARIANT_SCHEMA: Final = "ga4gh-beacon-variant-v2.0.0"
"""Id of the default ``genomicVariation`` schema, as named in ``returnedSchemas``."""
INFO_SCHEMA: Final = "beacon-info-v2.0.0"
"""Schema name of the ``/info`` response."""
ENTRY_TYPE: Final = "genomicVariation"
"""The one entry type this beacon serves."""
SCHEMA_BASE: Final = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main"
"""Where the Beacon v2 schemas are published (``$schema`` of configuration documents)."""
DEFAULT_LIMIT: Final = 10
"""Page size when the request gives none (framework default)."""
MAX_LIMIT: Final = 100
"""Largest page size; ``limit=0`` asks for this."""
INDEL_LOOKBACK: Final = 1000
"""Range queries also read variants starting this many bases before ``start``, so that
deletions reaching into the range are found (longer ones are not)."""
LEDGER_FORMAT_VERSION: Final = 1
"""``format_version`` of :meth:`BudgetLedger.asdict`."""

GRCH38_REFSEQ: Final[Mapping[str, str]] = {
    **{
        f"chr{n}": f"NC_0000{n:02d}.{v}"
        for n, v in zip(
            range(1, 23),
            (11, 12, 12, 12, 10, 12, 14, 11, 12, 11, 10, 12, 11, 9, 10, 10, 11, 10, 10, 11, 9, 11),
            strict=True,
        )
    },
    "chrX": "NC_000023.11",
    "chrY": "NC_000024.10",
    "chrM": "NC_012920.1",
}
"""RefSeq accession of each GRCh38 primary contig (``sequence_id`` of records)."""
_REFSEQ_CONTIG: Final = {acc: contig for contig, acc in GRCH38_REFSEQ.items()}

IUPAC: Final[Mapping[str, str]] = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "U": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}
"""Bases each IUPAC code in a query stands for."""
VARIANT_TYPES: Final = ("SNP", "MNP", "INDEL", "DEL", "INS")
"""``variantType`` values a range query may filter on."""

_BASES = re.compile(r"^[ACGTUNRYSWKMBDHV]*$")
_VARIANT_ID = re.compile(r"^(\w[\w.]*)-(\d+)-([ACGTN]+)-([ACGTN]+)$")
_INT = re.compile(r"^\d+$")

SUPPORTED_PARAMETERS: Final = frozenset(
    {
        "referenceName",
        "start",
        "end",
        "referenceBases",
        "alternateBases",
        "assemblyId",
        "variantType",
    }
)
"""``requestParameters`` this beacon answers."""
UNSUPPORTED_PARAMETERS: Final = frozenset(
    {
        "geneId",
        "aminoacidChange",
        "genomicAlleleShortForm",
        "mateName",
        "variantMinLength",
        "variantMaxLength",
    }
)
"""Model parameters this beacon refuses with a message (it has no gene annotation or
structural variants)."""
_GET_CONTROL = frozenset(
    {
        "requestedGranularity",
        "skip",
        "limit",
        "includeResultsetResponses",
        "testMode",
        "requestedSchema",
        "filters",
    }
)
_POST_QUERY_KEYS = frozenset(
    {
        "requestParameters",
        "requestedGranularity",
        "pagination",
        "includeResultsetResponses",
        "testMode",
        "filters",
    }
)
_HOW = (
    "query a variant with referenceName, start (0-based) and alternateBases, "
    "or a range with referenceName, start and end"
)


# -- granularity and audience ----------------------------------------------------------------


class Granularity(enum.StrEnum):
    """Level of detail of an answer, in increasing order."""

    BOOLEAN = "boolean"
    COUNT = "count"
    RECORD = "record"

    @property
    def rank(self) -> int:
        """0 for boolean, 1 for count, 2 for record."""
        return _GRANULARITY_ORDER.index(self)


_GRANULARITY_ORDER: Final = (Granularity.BOOLEAN, Granularity.COUNT, Granularity.RECORD)


class Audience(enum.StrEnum):
    """Who asks, as far as the beacon is concerned (Beacon security levels)."""

    ANONYMOUS = "anonymous"
    """No credentials (security level ``PUBLIC``)."""
    REGISTERED = "registered"
    """An identified user (security level ``REGISTERED``)."""
    CONTROLLED = "controlled"
    """A user whose access to this dataset was approved (security level ``CONTROLLED``)."""

    @property
    def max_granularity(self) -> Granularity:
        """The most detailed answer this audience may get."""
        return {
            Audience.ANONYMOUS: Granularity.BOOLEAN,
            Audience.REGISTERED: Granularity.COUNT,
            Audience.CONTROLLED: Granularity.RECORD,
        }[self]

    @property
    def security_level(self) -> str:
        """The Beacon ``securityLevels`` name."""
        return {
            Audience.ANONYMOUS: "PUBLIC",
            Audience.REGISTERED: "REGISTERED",
            Audience.CONTROLLED: "CONTROLLED",
        }[self]


def cap_granularity(requested: Granularity, audience: Audience) -> Granularity:
    """The granularity returned: the requested one, at most what the audience may get."""
    allowed = audience.max_granularity
    return requested if requested.rank <= allowed.rank else allowed


class QueryKind(enum.StrEnum):
    SEQUENCE = "sequence"
    """One allele at one position."""
    RANGE = "range"
    """Every variant overlapping an interval."""


class IncludeResultsets(enum.StrEnum):
    """Which result sets a record-level answer lists (framework ``IncludeResultsetResponses``)."""

    ALL = "ALL"
    HIT = "HIT"
    MISS = "MISS"
    NONE = "NONE"


# -- contigs and assemblies -------------------------------------------------------------------


def canonical_assembly(name: str) -> str:
    """``GRCh38`` or ``GRCh37`` for their synonyms (hg38, GRCh38.p14, GCF_000001405.40 ...);
    any other name unchanged."""
    text = name.strip()
    low = text.lower()
    if low in ("hg38", "grch38") or re.match(r"^grch38\.p\d+$", low):
        return "GRCh38"
    if low in ("hg19", "grch37") or re.match(r"^grch37\.p\d+$", low):
        return "GRCh37"
    match = re.match(r"^gcf_000001405\.(\d+)$", low)
    if match:
        return "GRCh38" if int(match.group(1)) >= 26 else "GRCh37"
    return text


def normalise_contig(name: str, contigs: Collection[str], assembly: str = "GRCh38") -> str:
    """The instance's name for a client's ``referenceName``.

    ``1``, ``chr1`` and ``CHR1`` name the instance contig ``chr1`` (or ``1`` if the
    instance names it so); ``M``, ``MT`` and ``chrMT`` name ``chrM``; on GRCh38 the RefSeq
    accession (``NC_000001.11``, optionally ``refseq:``-prefixed) names its contig.

    Raises
    ------
    InvalidInputError
        The name is no contig of the instance.
    """
    text = name.strip()
    bare = text.split(":", 1)[1] if text.lower().startswith("refseq:") else text
    if canonical_assembly(assembly) == "GRCh38" and bare in _REFSEQ_CONTIG:
        text = _REFSEQ_CONTIG[bare]
    core = text[3:] if text[:3].lower() == "chr" else text
    if core.upper() in ("M", "MT"):
        forms = ["chrM", "MT", "chrMT", "M"]
    else:
        core = core.upper() if core.upper() in ("X", "Y") else core
        forms = [text, f"chr{core}", core]
    for form in forms:
        if form in contigs:
            return form
    shown = ", ".join(sorted(contigs, key=_contig_order)[:6])
    more = ", ..." if len(contigs) > 6 else ""
    raise InvalidInputError(
        f"referenceName {name!r} is not a contig of this beacon ({assembly}): "
        f"use one of {shown}{more} (with or without the chr prefix)"
    )


def _contig_order(name: str) -> tuple[int, str]:
    core = name[3:] if name.startswith("chr") else name
    return (int(core), "") if core.isdigit() else (100, core)


def sequence_id(contig: str, assembly: str = "GRCh38") -> str:
    """The CURIE naming a contig in record locations: ``refseq:NC_...`` for GRCh38 primary
    contigs, otherwise ``ASSEMBLY:CONTIG``."""
    if canonical_assembly(assembly) == "GRCh38":
        core = contig[3:] if contig.startswith("chr") else contig
        name = "chrM" if core in ("M", "MT") else f"chr{core}"
        if name in GRCH38_REFSEQ:
            return f"refseq:{GRCH38_REFSEQ[name]}"
    return f"{assembly}:{contig}"


# -- variants ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantKey:
    """A helgenom variant id taken apart (1-based ``pos``, VCF alleles)."""

    contig: str
    pos: int
    ref: str
    alt: str

    @classmethod
    def parse(cls, variant_id: str) -> VariantKey:
        """Parse ``CONTIG-POS-REF-ALT``.

        Raises
        ------
        FormatError
            The text is not a variant id.
        """
        match = _VARIANT_ID.match(variant_id)
        if match is None:
            raise FormatError(
                f"variant id {variant_id!r} is not CONTIG-POS-REF-ALT (e.g. chr22-16570123-A-G)"
            )
        contig, pos, ref, alt = match.groups()
        return cls(contig, int(pos), ref, alt)

    @property
    def variant_id(self) -> str:
        return f"{self.contig}-{self.pos}-{self.ref}-{self.alt}"

    @property
    def start(self) -> int:
        """0-based start of the reference allele."""
        return self.pos - 1

    @property
    def end(self) -> int:
        """0-based exclusive end of the reference allele."""
        return self.pos - 1 + len(self.ref)

    def trimmed(self) -> tuple[int, str, str]:
        """(0-based start, ref, alt) with the shared suffix, then prefix, removed."""
        ref, alt, start = self.ref, self.alt, self.start
        while ref and alt and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
        while ref and alt and ref[0] == alt[0]:
            ref, alt, start = ref[1:], alt[1:], start + 1
        return start, ref, alt

    @property
    def variant_type(self) -> str:
        """``SNP``, ``MNP``, ``DEL``, ``INS`` or ``INDEL`` (a complex change)."""
        _, ref, alt = self.trimmed()
        if len(ref) == len(alt):
            return "SNP" if len(ref) == 1 else "MNP"
        if not alt:
            return "DEL"
        if not ref:
            return "INS"
        return "INDEL"


def _bases_match(pattern: str | None, bases: str) -> bool:
    if pattern is None:
        return True
    if len(pattern) != len(bases):
        return False
    return all(b in IUPAC[p] for p, b in zip(pattern, bases, strict=True))


def _type_matches(wanted: str | None, actual: str) -> bool:
    if wanted is None:
        return True
    if wanted == "INDEL":
        return actual in ("DEL", "INS", "INDEL")
    return wanted == actual


# -- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantQuery:
    """A validated g_variants query, in the instance's names and 0-based coordinates."""

    kind: QueryKind
    contig: str
    """The instance's contig name."""
    start: int
    """0-based, inclusive."""
    end: int
    """0-based, exclusive (a sequence query: ``start`` + length of the reference bases,
    at least ``start + 1``)."""
    reference_bases: str | None = None
    """Upper-case; ``""`` for an insertion in trimmed form; None: any."""
    alternate_bases: str | None = None
    """Upper-case; ``""`` for a deletion in trimmed form; None: any (range queries)."""
    variant_type: str | None = None
    assembly_id: str | None = None
    """As the client sent it (already checked against the instance's assembly)."""
    granularity: Granularity = Granularity.BOOLEAN
    """As requested; the returned one is capped by the audience."""
    skip: int = 0
    """Pages to skip."""
    limit: int = DEFAULT_LIMIT
    include_resultsets: IncludeResultsets = IncludeResultsets.HIT
    test_mode: bool = False
    received: Mapping[str, Any] = field(default_factory=dict)
    """The request parameters as received (echoed in ``receivedRequestSummary``)."""

    @property
    def variant_id(self) -> str | None:
        """The helgenom id of an exact sequence query (plain bases, VCF form), else None."""
        ref, alt = self.reference_bases, self.alternate_bases
        if self.kind is not QueryKind.SEQUENCE or not ref or not alt:
            return None
        if not re.match(r"^[ACGT]+$", ref + alt):
            return None
        return f"{self.contig}-{self.start + 1}-{ref}-{alt}"

    @property
    def positions(self) -> tuple[int, int]:
        """1-based inclusive range of the ``POS`` values of the variants that may match."""
        if self.kind is QueryKind.SEQUENCE:
            return max(1, self.start), self.start + 1
        return max(1, self.start + 1 - INDEL_LOOKBACK), self.end

    @property
    def region(self) -> str:
        """:attr:`positions` as ``CONTIG:FIRST-LAST``, for ``VariantService.frequency``;
        filter its rows with :meth:`matches`."""
        first, last = self.positions
        return f"{self.contig}:{first}-{last}"

    @property
    def offset(self) -> int:
        """Index of the first record of the requested page."""
        return self.skip * self.limit

    def matches(self, variant_id: str) -> bool:
        """Whether a variant (helgenom id) answers this query."""
        key = VariantKey.parse(variant_id)
        if key.contig != self.contig:
            return False
        forms = [(key.start, key.ref, key.alt), key.trimmed()]
        if self.kind is QueryKind.SEQUENCE:
            return any(
                start == self.start
                and _bases_match(self.reference_bases, ref)
                and _bases_match(self.alternate_bases, alt)
                for start, ref, alt in forms
            )
        if not (key.start < self.end and key.end > self.start):
            return False
        if not _type_matches(self.variant_type, key.variant_type):
            return False
        return any(
            _bases_match(self.reference_bases, ref) and _bases_match(self.alternate_bases, alt)
            for _, ref, alt in forms
        )

    def request_summary(self) -> dict[str, Any]:
        """The ``meta.receivedRequestSummary`` of a response to this query."""
        summary: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "requestedSchemas": [],
            "pagination": {"skip": self.skip, "limit": self.limit},
            "requestedGranularity": self.granularity.value,
            "includeResultsetResponses": self.include_resultsets.value,
            "testMode": self.test_mode,
        }
        if self.received:
            summary["requestParameters"] = {"g_variant": dict(self.received)}
        return summary


def _bad(parameter: str, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"{parameter}: {problem}; {fix}")


def _bases(parameter: str, value: object) -> str:
    if not isinstance(value, str):
        raise _bad(parameter, f"must be a string of bases, not {value!r}", "e.g. A or AT")
    text = value.strip().upper()
    if text in ("-", "."):
        return ""
    if not _BASES.match(text):
        raise _bad(
            parameter,
            f"{value!r} is not a sequence of bases",
            "use A, C, G, T and IUPAC codes such as N (empty for a trimmed indel)",
        )
    return text.replace("U", "T")


def _coordinates(parameter: str, value: object) -> int:
    """One 0-based coordinate from a GET string (``"123"``), an int or a 1-element list."""
    items: list[object]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, list):
        items = list(value)
    else:
        items = [value]
    if len(items) == 2:
        raise _bad(
            parameter,
            "bracket queries (two values) are not supported by this beacon",
            "give one value for start and one for end",
        )
    if len(items) != 1:
        raise _bad(parameter, f"needs exactly one value, got {value!r}", "e.g. 16570122")
    item = items[0]
    if isinstance(item, str) and _INT.match(item):
        return int(item)
    if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
        return item
    raise _bad(
        parameter,
        f"{item!r} is not a non-negative integer",
        "give a 0-based position such as 16570122",
    )


def _count(parameter: str, value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _bad(parameter, f"{value!r} is not a non-negative integer", "e.g. 0 or 10")


def _choice(parameter: str, value: object, choices: Sequence[str], default: str) -> str:
    if value is None:
        return default
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise _bad(parameter, f"{value!r} is not allowed", f"use one of {', '.join(choices)}")


def _flag(parameter: str, value: object) -> bool:
    if value is None or value is False or value is True:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad(parameter, f"{value!r} is not a boolean", "use true or false")


def _build_query(
    params: Mapping[str, object],
    control: Mapping[str, object],
    *,
    contigs: Collection[str],
    assembly: str,
) -> VariantQuery:
    for given in params:
        if given in UNSUPPORTED_PARAMETERS:
            raise _bad(given, "is not supported by this beacon", _HOW)
        if given not in SUPPORTED_PARAMETERS and given != "$schema":
            known = ", ".join(sorted(SUPPORTED_PARAMETERS))
            raise _bad(given, "is not a g_variants parameter", f"use {known}")
    if "referenceName" not in params:
        raise _bad("referenceName", "is missing", _HOW)
    name = params["referenceName"]
    if not isinstance(name, str) or not name.strip():
        raise _bad("referenceName", f"{name!r} is not a contig name", "e.g. chr22 or 22")
    contig = normalise_contig(name, contigs, assembly)
    assembly_id = params.get("assemblyId")
    if assembly_id is not None and (
        not isinstance(assembly_id, str)
        or canonical_assembly(assembly_id) != canonical_assembly(assembly)
    ):
        raise _bad(
            "assemblyId",
            f"{assembly_id!r} is not the assembly of this beacon",
            f"send assemblyId={assembly} or leave it out",
        )
    if "start" not in params:
        raise _bad("start", "is missing", _HOW)
    start = _coordinates("start", params["start"])
    ref = _bases("referenceBases", params["referenceBases"]) if "referenceBases" in params else None
    alt = _bases("alternateBases", params["alternateBases"]) if "alternateBases" in params else None
    variant_type = params.get("variantType")
    if variant_type is not None:
        if not isinstance(variant_type, str) or variant_type.strip().upper() not in VARIANT_TYPES:
            raise _bad(
                "variantType",
                f"{variant_type!r} is not supported (this beacon holds small variants only)",
                f"use one of {', '.join(VARIANT_TYPES)}",
            )
        variant_type = variant_type.strip().upper()
    if "end" in params:
        end = _coordinates("end", params["end"])
        if end <= start:
            raise _bad("end", f"{end} is not after start {start}", "end is 0-based, exclusive")
        kind = QueryKind.RANGE
    else:
        if alt is None:
            raise _bad(
                "alternateBases",
                "is missing (a query with start and no end names one allele)",
                "give alternateBases, or give end for a range query",
            )
        if variant_type is not None:
            raise _bad("variantType", "needs a range query", "give end as well")
        end = start + max(1, len(ref or ""))
        kind = QueryKind.SEQUENCE
    if kind is QueryKind.SEQUENCE and ref == "" and alt == "":
        raise _bad("alternateBases", "and referenceBases are both empty", "give the bases")

    granularity = Granularity(
        _choice(
            "requestedGranularity",
            control.get("requestedGranularity"),
            [g.value for g in Granularity],
            Granularity.BOOLEAN.value,
        )
    )
    skip = _count("skip", control.get("skip"), 0)
    limit = _count("limit", control.get("limit"), DEFAULT_LIMIT)
    if limit == 0:
        limit = MAX_LIMIT
    if limit > MAX_LIMIT:
        raise _bad("limit", f"{limit} is more than this beacon's {MAX_LIMIT}", "page with skip")
    include = IncludeResultsets(
        _choice(
            "includeResultsetResponses",
            control.get("includeResultsetResponses"),
            [i.value for i in IncludeResultsets],
            IncludeResultsets.HIT.value,
        )
    )
    filters = control.get("filters")
    if filters not in (None, "", []):
        raise _bad(
            "filters",
            "this beacon has no filtering terms (see /filtering_terms)",
            "leave filters out",
        )
    received: dict[str, Any] = {"referenceName": name, "start": [start]}
    if kind is QueryKind.RANGE:
        received["end"] = [end]
    for key, value in (
        ("referenceBases", ref),
        ("alternateBases", alt),
        ("variantType", variant_type),
        ("assemblyId", assembly_id),
    ):
        if value is not None:
            received[key] = value
    return VariantQuery(
        kind=kind,
        contig=contig,
        start=start,
        end=end,
        reference_bases=ref,
        alternate_bases=alt,
        variant_type=variant_type,
        assembly_id=assembly_id if isinstance(assembly_id, str) else None,
        granularity=granularity,
        skip=skip,
        limit=limit,
        include_resultsets=include,
        test_mode=_flag("testMode", control.get("testMode")),
        received=received,
    )


def parse_get_query(
    params: Mapping[str, str], *, contigs: Collection[str], assembly: str = "GRCh38"
) -> VariantQuery:
    """A g_variants query from GET query-string parameters (``start=123``, ``end=456``).

    Parameters
    ----------
    params
        Parameter name to value; a coordinate list may be comma-separated.
    contigs
        The instance's contig names.
    assembly
        The instance's assembly; ``assemblyId`` must name it (or a synonym).

    Raises
    ------
    InvalidInputError
        The message names the parameter and how to fix it.
    """
    control: dict[str, object] = {}
    request: dict[str, object] = {}
    for key, value in params.items():
        if key in _GET_CONTROL:
            control[key] = value
        else:
            request[key] = value
    schema = control.pop("requestedSchema", None)
    if schema not in (None, "", VARIANT_SCHEMA):
        raise _bad("requestedSchema", f"{schema!r} is not served", f"use {VARIANT_SCHEMA}")
    filters = control.get("filters")
    if isinstance(filters, str):
        control["filters"] = [f for f in filters.split(",") if f.strip()]
    return _build_query(request, control, contigs=contigs, assembly=assembly)


def parse_post_query(
    body: Mapping[str, Any], *, contigs: Collection[str], assembly: str = "GRCh38"
) -> VariantQuery:
    """A g_variants query from a POST request body (framework ``beaconRequestBody``).

    ``query.requestParameters`` holds the parameters directly or under ``g_variant``;
    ``query.pagination`` holds ``skip`` and ``limit``.

    Raises
    ------
    InvalidInputError
        The message names the parameter and how to fix it.
    """
    if not isinstance(body, Mapping):
        raise _bad("body", "is not a JSON object", "send a Beacon request body")
    meta = body.get("meta", {})
    if not isinstance(meta, Mapping):
        raise _bad("meta", "is not an object", 'send {"apiVersion": "v2.0.0"}')
    version = meta.get("apiVersion")
    if version is not None and not str(version).lstrip("v").startswith("2"):
        raise _bad("meta.apiVersion", f"{version!r} is not served", f"use {API_VERSION}")
    query = body.get("query")
    if not isinstance(query, Mapping):
        raise _bad("query", "is missing or not an object", "send query.requestParameters")
    for key in query:
        if key not in _POST_QUERY_KEYS:
            raise _bad(f"query.{key}", "is not a Beacon query field", "leave it out")
    params = query.get("requestParameters")
    if not isinstance(params, Mapping):
        raise _bad("query.requestParameters", "is missing or not an object", _HOW)
    if set(params) == {"g_variant"}:
        params = params["g_variant"]
        if not isinstance(params, Mapping):
            raise _bad("query.requestParameters.g_variant", "is not an object", _HOW)
    pagination = query.get("pagination", {})
    if not isinstance(pagination, Mapping):
        raise _bad("query.pagination", "is not an object", 'send {"skip": 0, "limit": 10}')
    control = {k: v for k, v in query.items() if k not in ("requestParameters", "pagination")}
    control["skip"] = pagination.get("skip")
    control["limit"] = pagination.get("limit")
    return _build_query(dict(params), control, contigs=contigs, assembly=assembly)


def query_for_entry(
    entry_id: str,
    *,
    contigs: Collection[str],
    assembly: str = "GRCh38",
    granularity: Granularity = Granularity.RECORD,
) -> VariantQuery:
    """The query behind ``/g_variants/{id}`` (``id`` is a ``variantInternalId``).

    Raises
    ------
    InvalidInputError
        The id is not a variant id of this beacon.
    """
    try:
        key = VariantKey.parse(entry_id)
    except FormatError as exc:
        raise _bad("id", str(exc), "use a variantInternalId from a record") from None
    return _build_query(
        {
            "referenceName": key.contig,
            "start": [key.start],
            "referenceBases": key.ref,
            "alternateBases": key.alt,
        },
        {"requestedGranularity": granularity.value},
        contigs=contigs,
        assembly=assembly,
    )


# -- defences ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """Parameters of the defences (module doc)."""

    min_count: int = 5
    """k: counts in 1..k-1 are not shown; alleles with AC < k are rare."""
    conceal_rare_for: frozenset[Audience] = frozenset({Audience.ANONYMOUS})
    """Audiences to whom rare alleles are answered as absent."""
    person_budget: float = 1.0
    """Risk (nats) each person may be exposed to by answers revealing rare alleles."""
    person_budget_per_user: bool = False
    """Keep a person's budget per asking user (Raisaro et al.) instead of one in total."""
    queries_per_window: int = 1000
    """Queries a user may make per window."""
    window_seconds: float = 86_400.0
    """Length of the user budget window."""

    def __post_init__(self) -> None:
        if self.min_count < 1:
            raise InvalidInputError("min_count must be at least 1 (5 is the platform's rule)")
        if not self.person_budget > 0:
            raise InvalidInputError("person_budget must be positive (nats of risk)")
        if self.queries_per_window < 1 or not self.window_seconds > 0:
            raise InvalidInputError("queries_per_window >= 1 and window_seconds > 0 are needed")


def allele_risk(allele_count: int) -> float:
    """Risk (nats) of answering "present" for an allele carried ``allele_count`` times.

    ``-ln(1 - exp(-AC))``: the log-likelihood ratio a "yes" gives the likelihood-ratio
    test of Shringarpure & Bustamante for a carrier, when the beacon's ``2N`` alleles
    hold ``AC`` copies (``P(yes | not a member) = 1 - (1 - AC/2N)^2N ~ 1 - e^-AC``).
    Zero for ``AC <= 0``.
    """
    if allele_count <= 0:
        return 0.0
    return -math.log(-math.expm1(-allele_count))


@dataclass(frozen=True, slots=True)
class AlleleObservation:
    """What the service knows about one matching variant in the public set."""

    variant_id: str
    ac: int
    an: int
    hom: int = 0
    hemi: int = 0
    n_samples: int = 0
    carriers: Mapping[str, int] = field(default_factory=dict)
    """Opaque person id -> alleles carried (1 or 2); needed when :func:`needs_carriers`."""

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any], carriers: Mapping[str, int] | None = None
    ) -> AlleleObservation:
        """From a ``VariantService.frequency`` row (the ``overall`` group)."""
        return cls(
            variant_id=str(row["variant_id"]),
            ac=int(row["ac"]),
            an=int(row["an"]),
            hom=int(row.get("hom") or 0),
            hemi=int(row.get("hemi") or 0),
            n_samples=int(row.get("n_samples") or 0),
            carriers=dict(carriers or {}),
        )


def needs_carriers(row: Mapping[str, Any], policy: DisclosurePolicy) -> bool:
    """Whether the service must read the carriers of a frequency row (a rare allele)."""
    return 1 <= int(row["ac"]) < policy.min_count


@dataclass(frozen=True, slots=True)
class DisclosedAllele:
    """A variant as the beacon may disclose it to one asker."""

    variant_id: str
    exists: bool
    """Whether the answer says the allele is present."""
    allele_count: int | None = None
    """None: not shown (small count, or no allele)."""
    allele_number: int | None = None
    allele_frequency: float | None = None
    homozygotes: int | None = None
    hemizygotes: int | None = None


def _shown(count: int, k: int) -> int | None:
    return count if count == 0 or count >= k else None


class BudgetLedger:
    """State of the user and person budgets (module doc, defences b and c).

    Parameters
    ----------
    policy
        The budgets.
    clock
        Seconds (wall clock, so a persisted ledger stays valid across restarts).
    """

    def __init__(self, policy: DisclosurePolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self._users: dict[str, tuple[float, float]] = {}
        self._spent: dict[tuple[str | None, str], float] = {}

    # -- (b) queries per user --

    def _tokens(self, user: str, now: float) -> float:
        capacity = float(self.policy.queries_per_window)
        tokens, last = self._users.get(user, (capacity, now))
        rate = capacity / self.policy.window_seconds
        return min(capacity, tokens + max(0.0, now - last) * rate)

    def charge_query(self, user: str) -> int:
        """Take one query from the user's budget; the whole queries left.

        Raises
        ------
        QuotaExceededError
            The budget is spent; ``retry_after`` (and the message) say in how many
            seconds the next query is allowed. A refused query costs nothing.
        """
        now = self.clock()
        tokens = self._tokens(user, now)
        if tokens < 1.0:
            wait = self._wait(tokens)
            raise QuotaExceededError(
                f"the beacon query budget ({self.policy.queries_per_window} queries per "
                f"{self.policy.window_seconds:g} s) is spent: try again in {wait} s",
                retry_after=wait,
            )
        self._users[user] = (tokens - 1.0, now)
        return int(tokens - 1.0)

    def queries_left(self, user: str) -> int:
        """Whole queries the user may make now."""
        return int(self._tokens(user, self.clock()))

    def seconds_to_next_query(self, user: str) -> int:
        """Whole seconds until the user may make a query (0: now). The bucket refills
        evenly, so this is the time one query takes to refill, not the whole window."""
        return self._wait(self._tokens(user, self.clock()))

    def _wait(self, tokens: float) -> int:
        if tokens >= 1.0:
            return 0
        rate = self.policy.queries_per_window / self.policy.window_seconds
        return max(1, math.ceil((1.0 - tokens) / rate))

    # -- (c) risk per person --

    def _key(self, person: str, user: str) -> tuple[str | None, str]:
        return (user if self.policy.person_budget_per_user else None, person)

    def person_remaining(self, person: str, user: str = "") -> float:
        """Risk (nats) the person may still be exposed to (to ``user``, when per user)."""
        spent = self._spent.get(self._key(person, user), 0.0)
        return max(0.0, self.policy.person_budget - spent)

    def is_spent(self, person: str, user: str = "") -> bool:
        """Whether the person is left out of answers about rare alleles."""
        return self.person_remaining(person, user) <= 0.0

    def reveal(self, carriers: Mapping[str, int], user: str) -> dict[str, int]:
        """The carriers an answer may count; charges them the answer's risk.

        Carriers whose budget is spent, or cannot pay the risk of the answer, are left
        out (and spent from then on); the risk is that of the alleles of the carriers
        kept.
        """
        kept = {p: n for p, n in carriers.items() if not self.is_spent(p, user)}
        while kept:
            risk = allele_risk(sum(kept.values()))
            short = [p for p in kept if self.person_remaining(p, user) < risk]
            if not short:
                for person in kept:
                    key = self._key(person, user)
                    self._spent[key] = self._spent.get(key, 0.0) + risk
                break
            for person in short:
                del kept[person]
                self._spent[self._key(person, user)] = self.policy.person_budget
        return kept

    # -- persistence --

    def asdict(self) -> dict[str, Any]:
        """The state as JSON-ready data (with ``format_version``)."""
        return {
            "format_version": LEDGER_FORMAT_VERSION,
            "users": {u: [t, last] for u, (t, last) in sorted(self._users.items())},
            "persons": [[u, p, spent] for (u, p), spent in sorted(self._spent.items(), key=str)],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        policy: DisclosurePolicy,
        clock: Callable[[], float] = time.time,
    ) -> BudgetLedger:
        """A ledger from :meth:`asdict` data.

        Raises
        ------
        FormatError
            Another format version, or malformed data.
        """
        version = data.get("format_version")
        if version != LEDGER_FORMAT_VERSION:
            raise FormatError(
                f"budget ledger format_version {version!r} is not {LEDGER_FORMAT_VERSION}: "
                "write it with this helgenom version"
            )
        ledger = cls(policy, clock)
        try:
            for user, (tokens, last) in data["users"].items():
                ledger._users[str(user)] = (float(tokens), float(last))
            for user, person, spent in data["persons"]:
                ledger._spent[(None if user is None else str(user), str(person))] = float(spent)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"budget ledger data is malformed: {exc}") from exc
        return ledger


def disclose_allele(
    observation: AlleleObservation,
    *,
    audience: Audience,
    user: str,
    policy: DisclosurePolicy,
    ledger: BudgetLedger,
) -> DisclosedAllele:
    """Apply the defences (a) and (c) to one matching variant.

    Raises
    ------
    InvalidInputError
        A rare allele came without its carriers (:func:`needs_carriers`).
    """
    obs, k = observation, policy.min_count
    if obs.ac <= 0:
        return DisclosedAllele(obs.variant_id, exists=False)
    if obs.ac < k:
        if audience in policy.conceal_rare_for:
            return DisclosedAllele(obs.variant_id, exists=False)
        if not obs.carriers or any(n not in (1, 2) for n in obs.carriers.values()):
            raise InvalidInputError(
                f"variant {obs.variant_id} is rare (AC {obs.ac} < {k}): pass its carriers "
                "(person id -> 1 or 2 alleles) in AlleleObservation.carriers"
            )
        kept = ledger.reveal(obs.carriers, user)
        return DisclosedAllele(obs.variant_id, exists=sum(kept.values()) > 0)
    show = not 1 <= obs.an - obs.ac < k
    return DisclosedAllele(
        obs.variant_id,
        exists=True,
        allele_count=obs.ac if show else None,
        allele_number=obs.an if show else None,
        allele_frequency=obs.ac / obs.an if show and obs.an > 0 else None,
        homozygotes=_shown(obs.hom, k) if show else None,
        hemizygotes=_shown(obs.hemi, k) if show else None,
    )


# -- beacon description -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BeaconOrganization:
    """The organisation running the beacon (``/info`` ``organization``)."""

    id: str
    name: str
    description: str = ""
    address: str = ""
    welcome_url: str = ""
    contact_url: str = ""
    logo_url: str = ""


@dataclass(frozen=True, slots=True)
class BeaconInfo:
    """What the framework endpoints say about this beacon."""

    beacon_id: str
    """Reverse domain name, e.g. ``dk.example.helgenom.beacon``."""
    name: str
    organization: BeaconOrganization
    base_url: str
    """Absolute URL of the Beacon API root (no trailing slash)."""
    contigs: tuple[str, ...]
    """The instance's contig names."""
    assembly: str = "GRCh38"
    environment: str = "dev"
    """``prod``, ``test``, ``dev`` or ``staging``."""
    dataset_id: str = "public"
    """Id of the one result set: the consented public allele-frequency set."""
    description: str = (
        "Allele presence, counts and frequencies in the consented public allele-frequency "
        "set of the national genome database."
    )
    welcome_url: str = ""
    alternative_url: str = ""
    create_date_time: str = ""
    update_date_time: str = ""

    def __post_init__(self) -> None:
        if self.environment not in ("prod", "test", "dev", "staging"):
            raise InvalidInputError(
                f"beacon environment {self.environment!r} must be prod, test, dev or staging"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"beacon base_url {self.base_url!r} must be an absolute http(s) URL"
            )


def _informational_meta(beacon: BeaconInfo, entity: str, schema: str) -> dict[str, Any]:
    return {
        "beaconId": beacon.beacon_id,
        "apiVersion": API_VERSION,
        "returnedSchemas": [{"entityType": entity, "schema": schema}],
    }


def info_response(beacon: BeaconInfo) -> dict[str, Any]:
    """The ``/`` and ``/info`` response (framework ``beaconInfoResponse``)."""
    org = beacon.organization
    organization: dict[str, Any] = {"id": org.id, "name": org.name}
    for key, value in (
        ("description", org.description),
        ("address", org.address),
        ("welcomeUrl", org.welcome_url),
        ("contactUrl", org.contact_url),
        ("logoUrl", org.logo_url),
    ):
        if value:
            organization[key] = value
    response: dict[str, Any] = {
        "id": beacon.beacon_id,
        "name": beacon.name,
        "apiVersion": API_VERSION,
        "environment": beacon.environment,
        "organization": organization,
        "description": beacon.description,
        "version": f"v{__version__}",
        "info": {"software": "helgenom", "assemblyId": beacon.assembly},
    }
    for key, value in (
        ("welcomeUrl", beacon.welcome_url),
        ("alternativeUrl", beacon.alternative_url),
        ("createDateTime", beacon.create_date_time),
        ("updateDateTime", beacon.update_date_time),
    ):
        if value:
            response[key] = value
    return {"meta": _informational_meta(beacon, "info", INFO_SCHEMA), "response": response}


def _entry_type_definition() -> dict[str, Any]:
    return {
        "id": ENTRY_TYPE,
        "name": "Genomic Variants",
        "description": "Small variants (SNVs, MNVs and indels) of the public allele-frequency set.",
        "ontologyTermForThisType": {"id": "ENSGLOSSARY:0000092", "label": "Variant"},
        "partOfSpecification": "Beacon v2.0.0",
        "defaultSchema": {
            "id": VARIANT_SCHEMA,
            "name": "Default schema for a genomic variation",
            "referenceToSchemaDefinition": (
                f"{SCHEMA_BASE}/models/json/beacon-v2-default-model/genomicVariations/"
                "defaultSchema.json"
            ),
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": False,
    }


def configuration_response(beacon: BeaconInfo) -> dict[str, Any]:
    """The ``/configuration`` response (framework ``beaconConfigurationResponse``)."""
    status = {"prod": "PROD", "test": "TEST", "staging": "TEST", "dev": "DEV"}
    return {
        "meta": _informational_meta(beacon, "configuration", "beacon-configuration-v2.0.0"),
        "response": {
            "$schema": f"{SCHEMA_BASE}/framework/json/configuration/beaconConfigurationSchema.json",
            "maturityAttributes": {"productionStatus": status[beacon.environment]},
            "securityAttributes": {
                "defaultGranularity": Granularity.BOOLEAN.value,
                "securityLevels": [a.security_level for a in Audience],
            },
            "entryTypes": {ENTRY_TYPE: _entry_type_definition()},
        },
    }


def map_response(beacon: BeaconInfo) -> dict[str, Any]:
    """The ``/map`` response (framework ``beaconMapResponse``)."""
    root = beacon.base_url.rstrip("/")
    return {
        "meta": _informational_meta(beacon, "map", "beacon-map-v2.0.0"),
        "response": {
            "$schema": f"{SCHEMA_BASE}/framework/json/configuration/beaconMapSchema.json",
            "endpointSets": {
                ENTRY_TYPE: {
                    "entryType": ENTRY_TYPE,
                    "rootUrl": f"{root}/g_variants",
                    "singleEntryUrl": f"{root}/g_variants/{{id}}",
                    "filteringTermsUrl": f"{root}/filtering_terms",
                    "openAPIEndpointsDefinition": (
                        f"{SCHEMA_BASE}/models/json/beacon-v2-default-model/genomicVariations/"
                        "endpoints.json"
                    ),
                    "endpoints": {},
                }
            },
        },
    }


def entry_types_response(beacon: BeaconInfo) -> dict[str, Any]:
    """The ``/entry_types`` response (framework ``beaconEntryTypesResponse``)."""
    return {
        "meta": _informational_meta(beacon, "entryType", "beacon-entry-types-v2.0.0"),
        "response": {"entryTypes": {ENTRY_TYPE: _entry_type_definition()}},
    }


def filtering_terms_response(beacon: BeaconInfo) -> dict[str, Any]:
    """The ``/filtering_terms`` response: this beacon has none."""
    return {
        "meta": _informational_meta(beacon, "filteringTerm", "beacon-filtering-terms-v2.0.0"),
        "response": {"filteringTerms": [], "resources": []},
    }


def error_response(beacon: BeaconInfo, status: int, message: str) -> dict[str, Any]:
    """A framework ``beaconErrorResponse`` (``status`` from the interface's error table)."""
    return {
        "meta": {
            "beaconId": beacon.beacon_id,
            "apiVersion": API_VERSION,
            "returnedSchemas": [],
            "returnedGranularity": Granularity.BOOLEAN.value,
            "receivedRequestSummary": {
                "apiVersion": API_VERSION,
                "requestedSchemas": [],
                "pagination": {"skip": 0, "limit": DEFAULT_LIMIT},
                "requestedGranularity": Granularity.BOOLEAN.value,
            },
        },
        "error": {"errorCode": status, "errorMessage": message},
    }


# -- g_variants results -----------------------------------------------------------------------

DISCLOSURE_NOTE: Final = (
    "Counts from 1 to {k_minus} are not shown; rare alleles may be answered as absent, and "
    "persons whose disclosure budget is spent are left out of answers about rare alleles."
)
"""Text of ``info.disclosureControl`` (the same in every answer)."""


def variant_record(
    allele: DisclosedAllele,
    *,
    beacon: BeaconInfo,
    source_version: str = "",
) -> dict[str, Any]:
    """The ``genomicVariation`` record of a disclosed variant (default model)."""
    key = VariantKey.parse(allele.variant_id)
    record: dict[str, Any] = {
        "variantInternalId": allele.variant_id,
        "variation": {
            "referenceBases": key.ref,
            "alternateBases": key.alt,
            "variantType": key.variant_type,
            "location": {
                "type": "SequenceLocation",
                "sequence_id": sequence_id(key.contig, beacon.assembly),
                "interval": {
                    "type": "SequenceInterval",
                    "start": {"type": "Number", "value": key.start},
                    "end": {"type": "Number", "value": key.end},
                },
            },
        },
    }
    if allele.allele_count is not None and allele.allele_frequency is not None:
        frequency: dict[str, Any] = {
            "population": "overall",
            "alleleFrequency": allele.allele_frequency,
            "alleleCount": allele.allele_count,
            "alleleNumber": allele.allele_number,
        }
        if allele.homozygotes is not None:
            frequency["alleleCountHomozygous"] = allele.homozygotes
        if allele.hemizygotes is not None:
            frequency["alleleCountHemizygous"] = allele.hemizygotes
        entry: dict[str, Any] = {
            "source": beacon.name,
            "sourceReference": beacon.welcome_url or beacon.base_url,
            "frequencies": [frequency],
        }
        if source_version:
            entry["version"] = source_version
        record["frequencyInPopulations"] = [entry]
    return record


def g_variants_response(
    query: VariantQuery,
    alleles: Sequence[DisclosedAllele],
    *,
    beacon: BeaconInfo,
    audience: Audience,
    policy: DisclosurePolicy,
    source_version: str = "",
) -> dict[str, Any]:
    """The answer to a g_variants query at the granularity the audience may get.

    Parameters
    ----------
    query
        The parsed query.
    alleles
        :func:`disclose_allele` of every variant that :meth:`VariantQuery.matches`.
    beacon
        This beacon.
    audience
        Who asks; caps the granularity.
    policy
        The defences (for the note in ``info``).
    source_version
        Release or commit of the frequencies (``frequencyInPopulations.version``).

    Returns
    -------
    dict
        A framework ``beaconBooleanResponse``, ``beaconCountResponse`` or
        ``beaconResultsetsResponse``.
    """
    granularity = cap_granularity(query.granularity, audience)
    shown = sorted((a for a in alleles if a.exists), key=lambda a: _sort_key(a.variant_id))
    exists = bool(shown)
    meta: dict[str, Any] = {
        "beaconId": beacon.beacon_id,
        "apiVersion": API_VERSION,
        "returnedGranularity": granularity.value,
        "receivedRequestSummary": query.request_summary(),
        "returnedSchemas": [{"entityType": ENTRY_TYPE, "schema": VARIANT_SCHEMA}],
        "testMode": query.test_mode,
    }
    info = {
        "disclosureControl": DISCLOSURE_NOTE.format(k_minus=policy.min_count - 1),
        "assemblyId": beacon.assembly,
    }
    if granularity is Granularity.BOOLEAN:
        return {"meta": meta, "responseSummary": {"exists": exists}, "info": info}
    summary = {"exists": exists, "numTotalResults": len(shown)}
    if granularity is Granularity.COUNT:
        return {"meta": meta, "responseSummary": summary, "info": info}
    include = query.include_resultsets
    listed = (
        include is IncludeResultsets.ALL
        or (include is IncludeResultsets.HIT and exists)
        or (include is IncludeResultsets.MISS and not exists)
    )
    page = shown[query.offset : query.offset + query.limit]
    result_sets: list[dict[str, Any]] = []
    if listed:
        result_sets.append(
            {
                "id": beacon.dataset_id,
                "setType": "dataset",
                "exists": exists,
                "resultsCount": len(shown),
                "results": [
                    variant_record(a, beacon=beacon, source_version=source_version) for a in page
                ],
            }
        )
    return {
        "meta": meta,
        "responseSummary": summary,
        "response": {"resultSets": result_sets},
        "info": info,
    }


def _sort_key(variant_id: str) -> tuple[tuple[int, str], int, str, str]:
    key = VariantKey.parse(variant_id)
    return _contig_order(key.contig), key.pos, key.ref, key.alt


__all__ = [
    "API_VERSION",
    "DEFAULT_LIMIT",
    "GRCH38_REFSEQ",
    "INDEL_LOOKBACK",
    "MAX_LIMIT",
    "VARIANT_SCHEMA",
    "AlleleObservation",
    "Audience",
    "BeaconInfo",
    "BeaconOrganization",
    "BudgetLedger",
    "DisclosedAllele",
    "DisclosurePolicy",
    "Granularity",
    "IncludeResultsets",
    "QueryKind",
    "VariantKey",
    "VariantQuery",
    "allele_risk",
    "canonical_assembly",
    "cap_granularity",
    "configuration_response",
    "disclose_allele",
    "entry_types_response",
    "error_response",
    "filtering_terms_response",
    "g_variants_response",
    "info_response",
    "map_response",
    "needs_carriers",
    "normalise_contig",
    "parse_get_query",
    "parse_post_query",
    "query_for_entry",
    "sequence_id",
    "variant_record",
]
