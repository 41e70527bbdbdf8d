"""Validation of VCF data lines against their header (VCF 4.1-4.5).

:class:`RecordChecker` checks one data line at a time, in file order: column count,
CHROM (syntax, records of a contig kept together, positions sorted), POS, ID, REF, ALT
(bases, ``*``, symbolic ``<ID>`` and breakends), QUAL, FILTER, INFO and every sample
column against the declared (or reserved) Number and Type of its fields, genotype
syntax and allele range, and duplicated variants (the same variant after trimming
common bases, ignoring symbolic alleles). It keeps what the ingest needs of the last
line (position, ALT alleles, INFO/END, the first sample's genotype and values) as
attributes, so callers do not parse the line twice.

Problems are raised as :class:`RecordProblem`; they name the position (contig and
POS) and the field, never a genotype, an allele or another value of the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from helgenom.adapters.variants.vcfheader import (
    FieldDef,
    VcfHeader,
    contig_name_problem,
    reserved_fields,
)
from helgenom.core.errors import redact_numbers

INT32_MIN_VALID = -(2**31) + 8
"""Smallest integer a VCF field may hold (the eight below it are reserved by BCF)."""
INT32_MAX = 2**31 - 1
"""Largest integer a VCF field may hold."""

_WS = re.compile(r"\s")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|[+-]?(?:inf|Inf|INF|infinity|Infinity|INFINITY)|nan|NaN|NAN"
)
_BASES = re.compile(r"[ACGTNacgtn]+")
_SYMBOLIC = re.compile(r"<[^<>\s,]+>")
_BREAKEND = re.compile(
    r"[ACGTNacgtn]+(?P<a>[\[\]])[^\[\]\s,]+:[0-9]+(?P=a)"
    r"|(?P<b>[\[\]])[^\[\]\s,]+:[0-9]+(?P=b)[ACGTNacgtn]+"
    r"|\.[ACGTNacgtn]+|[ACGTNacgtn]+\."
)
_KEY = re.compile(r"(?:[A-Za-z_][0-9A-Za-z_.]*|1000G)")
_GT_BODY = r"(?:[0-9]+|\.)(?:[|/](?:[0-9]+|\.))*"
_GT = re.compile(r"[|/]?" + _GT_BODY)
_CIGAR = re.compile(r"(?:[0-9]+[MIDNSHPX=])+")
_SINGLE_BASES = frozenset("ACGTNacgtn")
_NON_NEGATIVE_INFO = frozenset({"AC", "AN", "DP", "MQ0", "NS", "END", "AF"})


class RecordProblem(Exception):
    """A data line breaks the format; ``vcfin`` adds the file name.

    Parameters
    ----------
    line
        1-based line number in the file.
    where
        ``contig:pos`` of the record when known, else ``""``.
    problem
        What is wrong (names fields, never their values).
    fix
        How to correct it.
    """

    def __init__(self, line: int, where: str, problem: str, fix: str) -> None:
        self.line = line
        self.where = where
        self.problem = problem
        self.fix = fix
        at = f" ({where})" if where else ""
        super().__init__(f"line {line}{at}: {problem}; {fix}")


@dataclass(frozen=True, slots=True)
class Genotype:
    """A parsed ``GT`` value."""

    alleles: tuple[int, ...]
    """Allele indices in order; -1 for a missing allele (``.``)."""
    phased: bool
    """True when every separator is ``|`` (and there is more than one allele), or a
    haploid genotype carries the VCF 4.4 leading ``|``."""
    called: int
    """Number of non-missing alleles (the ploidy recorded for the call)."""
    nonref: int
    """Number of non-missing, non-reference alleles."""
    top: int
    """Largest allele index (-1 when all are missing)."""


def parse_genotype(text: str) -> Genotype | None:
    """Parse a ``GT`` value; None when it is not a valid genotype."""
    if not _GT.fullmatch(text):
        return None
    body = text[1:] if text[0] in "|/" else text
    lead_phased = text[0] == "|"
    parts = re.split(r"[|/]", body)
    alleles = tuple(-1 if p == "." else int(p) for p in parts)
    phased = "/" not in body if len(alleles) > 1 else lead_phased
    called = sum(1 for a in alleles if a >= 0)
    nonref = sum(1 for a in alleles if a > 0)
    return Genotype(alleles, phased, called, nonref, max(alleles))


def expected_count(number: str, n_alt: int, ploidy: int, *, info: bool) -> int | None:
    """How many values a field of this ``Number`` must hold (None: any number).

    With no ALT allele (``ALT`` is ``.``) the per-allele Numbers (A, R, G) are not
    checked: such records often carry site annotations of the alleles that were not
    called.
    """
    if number.isdigit():
        return int(number)
    if n_alt == 0:
        return None
    if number == "A":
        return n_alt
    if number == "R":
        return n_alt + 1
    if number == "G" and not info and ploidy > 0:
        return math.comb(n_alt + ploidy, ploidy)
    return None


def value_problem(
    definition: FieldDef, value: str, n_alt: int, ploidy: int, *, info: bool
) -> str | None:
    """Why ``value`` does not fit ``definition`` (None when it does).

    The answer describes the problem without repeating the value.
    """
    if value == ".":
        return None
    kind = definition.type
    if kind == "Flag":
        return None if value in ("0", "1") else "is a flag but has a value"
    quoted = len(value) > 1 and value[0] == '"' and value[-1] == '"'
    items = [value] if quoted else value.split(",")
    want = expected_count(definition.number, n_alt, ploidy, info=info)
    if want is not None and len(items) != want:
        return f"has {len(items)} values where Number={definition.number} means {want}"
    if kind == "Integer":
        for item in items:
            if item == ".":
                continue
            if not _INT.fullmatch(item):
                return "is not an integer"
            number = int(item)
            if not INT32_MIN_VALID <= number <= INT32_MAX:
                return "is an integer outside the 32-bit range VCF allows"
    elif kind == "Float":
        for item in items:
            if item != "." and not _FLOAT.fullmatch(item):
                return "is not a number"
    elif kind == "Character":
        for item in items:
            if len(item) != 1:
                return "is not a single character"
    return None


_INT_ITEM = r"[+-]?[0-9]{1,9}"
_UINT_ITEM = r"\+?[0-9]{1,9}"
_FLOAT_ITEM = _FLOAT.pattern
_UFLOAT_ITEM = _FLOAT.pattern.replace("[+-]?", r"\+?")
_CIGAR_ITEM = _CIGAR.pattern
_ANY_VALUE = re.compile(r"(?s:.*)")
_INFO_KEYS = re.compile(r"(?:^|;)([^=;]*)")


def value_pattern(definition: FieldDef, n_alt: int, *, info: bool) -> str:
    """A regular expression that only accepts values :func:`value_problem` accepts.

    It speeds up the common case; a value it rejects is judged by
    :func:`value_problem` (for example integers of ten digits, quoted strings and the
    Number=G count of FORMAT fields, which depends on the ploidy).
    """
    kind = definition.type
    if kind == "Flag":
        return "[01]"
    unsigned = info and definition.id in _NON_NEGATIVE_INFO
    stop = ",;" if info else ",:"
    if kind == "Integer":
        item = _UINT_ITEM if unsigned else _INT_ITEM
    elif kind == "Float":
        item = _UFLOAT_ITEM if unsigned else _FLOAT_ITEM
    elif kind == "Character":
        item = f"[^{stop}]"
    elif info and definition.id == "CIGAR":
        item = _CIGAR_ITEM
    else:
        item = f"[^{stop}]*"
    item = rf"(?:{item}|\.)"
    want = expected_count(definition.number, n_alt, 0, info=True)
    if want is None:
        body = rf"{item}(?:,{item})*"
    elif want == 0:
        body = "(?!)"
    else:
        body = item + (rf"(?:,{item}){{{want - 1}}}" if want > 1 else "")
    return rf"(?:\.|{body})"


# Possessive quantifiers (no backtracking: fewer steps, never more matches).
_SIMPLE_GT = "[0-9]++(?:[/|][0-9]++)*+"
_SIMPLE_ITEMS = {"Integer": "[0-9]{1,9}+", "Float": r"[0-9]++(?:\.[0-9]++)?+"}


def _simple_value(definition: FieldDef) -> str:
    """A pattern for a FORMAT value of a record with one ALT allele that accepts a
    subset of what :func:`value_pattern` accepts: plain numbers, no missing items."""
    item = _SIMPLE_ITEMS.get(definition.type)
    if item is None:
        return value_pattern(definition, 1, info=False)
    want = expected_count(definition.number, 1, 0, info=True)
    if want is None:
        return rf"{item}(?:,{item})*+"
    if want == 0:
        return value_pattern(definition, 1, info=False)
    return item + (rf"(?:,{item}){{{want - 1}}}" if want > 1 else "")


@dataclass(frozen=True, slots=True)
class FormatPlan:
    """A FORMAT column, checked once and reused for every line that has it."""

    keys: tuple[str, ...]
    """The FORMAT keys in order."""
    defs: tuple[FieldDef | None, ...]
    """The declared or reserved definition of each key (None when undeclared)."""
    index: Mapping[str, int]
    """Key -> position."""
    has_gt: bool
    """Whether ``GT`` is present (it is then first)."""
    g_fields: tuple[int, ...]
    """Positions of fields with ``Number=G`` (their count depends on the ploidy)."""
    gq: int
    """Position of ``GQ`` (-1 when absent); likewise :attr:`dp`, :attr:`ad`,
    :attr:`min_dp`, read by the ingest."""
    dp: int
    """Position of ``DP`` or -1."""
    ad: int
    """Position of ``AD`` or -1."""
    min_dp: int
    """Position of ``MIN_DP`` or -1."""


class RecordChecker:
    """Checks the data lines of one file, in order (see module doc).

    Parameters
    ----------
    header
        The file's header.
    known_contigs
        The instance's contigs; their names are exempt from the contig-name syntax
        rules.
    """

    def __init__(self, header: VcfHeader, known_contigs: Mapping[str, int] | None = None) -> None:
        self.header = header
        self.known_contigs = known_contigs or {}
        reserved_info, reserved_format = reserved_fields(header.version)
        self.info_defs: dict[str, FieldDef] = {**reserved_info, **header.info}
        self.format_defs: dict[str, FieldDef] = {**reserved_format, **header.format}
        self.ncols = 9 + len(header.samples) if header.samples else 8
        self._chroms: dict[str, str] = {}
        self._seen: set[str] = set()
        self._current = ""
        self._last_pos = -1
        self._plans: dict[str, FormatPlan] = {}
        self._sample_res: dict[tuple[str, int], re.Pattern[str]] = {}
        self._info_res: dict[tuple[str, int], re.Pattern[str]] = {}
        self._gts: dict[str, Genotype | None] = {}
        self._recent: dict[tuple[int, str, str], int] = {}
        self._good_quals: set[str] = set()
        self._last_info: tuple[int, re.Pattern[str], int] | None = None
        self._info_sigs: dict[tuple[int, tuple[str, ...]], tuple[int, re.Pattern[str], int]] = {}
        self._located = False
        self._simple_fmt = ""
        self._simple_re: re.Pattern[str] | None = None
        self._simple_plan: FormatPlan | None = None
        self._simple_res: dict[str, re.Pattern[str] | None] = {}
        self.nsamples = len(header.samples)
        """Number of sample columns."""
        self.line = 0
        """Line number of the line being checked."""
        self.chrom = ""
        """CHROM of the last line (as written)."""
        self.pos = 0
        """POS of the last line."""
        self.alts: list[str] = []
        """ALT alleles of the last line (empty for ``.``)."""
        self.end: int | None = None
        """INFO/END of the last line."""
        self.plan: FormatPlan | None = None
        """FORMAT of the last line."""
        self.values0: list[str] = []
        """The first sample's values of the last line."""
        self.gt0: Genotype | None = None
        """The first sample's genotype of the last line (None without GT or when
        fully absent)."""

    @property
    def where(self) -> str:
        """``contig:pos`` of the line being checked (as far as known)."""
        if not self._located:
            return ""
        chrom = redact_numbers(self.chrom)
        return f"{chrom}:{self.pos}" if self.pos >= 0 else chrom

    def _fail(self, problem: str, fix: str) -> RecordProblem:
        return RecordProblem(self.line, self.where, problem, fix)

    # -- state shared with the bulk checks of vcfcheck ---------------------------------

    @property
    def current_contig(self) -> str:
        """CHROM of the last line checked (as written; ``""`` before the first)."""
        return self._current

    @property
    def last_pos(self) -> int:
        """POS of the last line checked on the current contig (-1 before its first)."""
        return self._last_pos

    @property
    def contigs_started(self) -> int:
        """Number of contigs whose records have begun (the duplicate check forgets its
        variants when a new one begins)."""
        return len(self._seen)

    def formats(self) -> list[str]:
        """FORMAT columns checked so far."""
        return list(self._plans)

    def format_plan(self, text: str) -> FormatPlan:
        """The plan of FORMAT ``text`` (checked once, then cached).

        Raises
        ------
        RecordProblem
            The FORMAT column breaks the format.
        """
        return self._plans.get(text) or self._plan(text)

    def info_entry(self, key: str, n_alt: int) -> str | None:
        """A pattern of the INFO entries ``key`` or ``key=value`` that the checks of
        :meth:`check` accept on a line with ``n_alt`` ALT alleles (a subset of them);
        None for ``END`` (read by the ingest) and for keys the checks refuse."""
        if key == "END" or not _KEY.fullmatch(key):
            return None
        definition = self.info_defs.get(key)
        literal = re.escape(key)
        if definition is None:
            return f"{literal}(?:=[^;]*)?"
        if definition.type == "Flag":
            return f"{literal}(?:=[01])?"
        value = value_pattern(definition, n_alt, info=True)
        return None if "(?!" in value else f"{literal}={value}"

    def passed(self, pos: int, snv: tuple[str, str] | None, line: int) -> None:
        """Take note that lines of the current contig up to ``line`` passed checks made
        elsewhere, the last at ``pos`` with single-base REF and ALT ``snv`` (upper-cased;
        None for other alleles). Earlier lines of the run must lie at smaller positions
        than ``pos`` and after every variant the duplicate check remembers."""
        self._last_pos = pos
        if snv is not None:
            self._recent[(pos, snv[0], snv[1])] = line

    def genotype(self, text: str) -> Genotype | None:
        """The parsed genotype for ``text`` (cached); None when invalid.

        A leading phasing character (``|1``) is valid from VCF 4.4 on only.
        """
        try:
            return self._gts[text]
        except KeyError:
            if text[:1] in ("|", "/") and self.header.version < (4, 4):
                parsed = None
            else:
                parsed = parse_genotype(text)
            if len(self._gts) < 4096:
                self._gts[text] = parsed
            return parsed

    def check(self, cols: list[str], line: int) -> None:
        """Check one data line split at tabs (without its newline).

        The common case (one sample, single-base REF and ALT, known FORMAT) is written
        out inline; everything else goes through the general checks.

        Raises
        ------
        RecordProblem
            The line breaks the format.
        """
        self.line = line
        self._located = False
        if len(cols) != self.ncols:
            raise self._fail(
                f"the line has {len(cols)} tab-separated columns where the header has {self.ncols}",
                "separate columns by single tabs and give every sample a column",
            )
        chrom, pos_text, ident, ref, alt, qual, filt, info = cols[:8]
        if chrom != self._current:
            self._chrom(chrom)
        self.chrom = chrom
        self.pos = -1
        self._located = True
        if not (pos_text.isdigit() and pos_text.isascii()):
            raise self._fail("POS is not a whole number >= 0", "write the 1-based position")
        pos = int(pos_text)
        self.pos = pos
        if pos < self._last_pos:
            raise self._fail(
                "the records are not sorted by position",
                "sort the file (bcftools sort) before submitting it",
            )
        self._last_pos = pos
        if ident != ".":
            self._ident(ident)
        if ref in _SINGLE_BASES and alt in _SINGLE_BASES:
            upper_ref = ref.upper()
            upper_alt = alt.upper()
            if upper_alt == upper_ref:
                raise self._fail("ALT equals REF", "remove the record or give a different ALT")
            alts = [alt]
            snv_key: tuple[int, str, str] | None = (pos, upper_ref, upper_alt)
        else:
            self._ref(ref)
            self._alt(alt, ref)
            alts = self.alts
            snv_key = None
        self.alts = alts
        if qual != "." and qual not in self._good_quals:
            self._qual(qual)
        if filt != "PASS" and filt != ".":
            self._filter(filt)
        n_alt = len(alts)
        self.end = None
        if info != ".":
            self._info(info, n_alt)
        if self.nsamples == 1:
            self._sample1(cols[8], cols[9], n_alt)
        elif self.nsamples:
            self._samples(cols, n_alt)
        else:
            self.plan = None
            self.values0 = []
            self.gt0 = None
        recent = self._recent
        if snv_key is not None:
            if snv_key in recent:
                self._duplicate(recent[snv_key])
            recent[snv_key] = line
            if len(recent) > 4096:
                self._evict(pos)
            if self.nsamples == 1 and cols[8] != self._simple_fmt:
                self._simple_for(cols[8])
        else:
            self._duplicates(pos, ref)

    def _simple_for(self, text: str) -> None:
        """Prepare :meth:`check_simple` for lines with FORMAT ``text`` (one sample)."""
        if text in self._simple_res:
            pattern = self._simple_res[text]
        else:
            plan = self._plans.get(text) or self._plan(text)
            pattern = None
            if plan.has_gt:
                # Every field present, values in their plainest form: a subset of what
                # the sample pattern accepts, in far fewer regex steps.
                parts = [_SIMPLE_GT]
                for definition in plan.defs[1:]:
                    if definition is None:
                        parts.append("[^:]*")
                    else:
                        parts.append(_simple_value(definition))
                pattern = re.compile(
                    r"([^\t]++)\t([0-9]++)\t([^\t]++)\t([ACGTNacgtn])\t([ACGTNacgtn])\t"
                    r"([^\t]++)\t([^\t]++)\t([^\t]++)\t"
                    + re.escape(text)
                    + rf"\t({':'.join(parts)})"
                )
            if len(self._simple_res) < 64:
                self._simple_res[text] = pattern
        self._simple_fmt = text
        self._simple_re = pattern
        self._simple_plan = self._plans.get(text) if pattern is not None else None

    def check_simple(
        self, text: str, line: int
    ) -> tuple[str, int, str, str, str, list[str], Genotype | None, int | None] | None:
        """Check a line of the most common shape in one go, or return None (nothing
        checked: call :meth:`check`).

        The shape: one sample, REF and ALT single bases, FORMAT as on the last such
        line checked by :meth:`check`, with GT, every sample value fitting its fast
        pattern. The checks and their order are those of :meth:`check`; the attributes
        are set likewise.

        Returns
        -------
        tuple or None
            ``(chrom, pos, REF upper-cased, ALT upper-cased, FILTER, sample values,
            genotype, INFO/END)``.

        Raises
        ------
        RecordProblem
            The line breaks the format.
        """
        pattern = self._simple_re
        if pattern is None:
            return None
        match = pattern.fullmatch(text)
        if match is None:
            return None
        chrom, pos_text, ident, ref, alt, qual, filt, info, column = match.groups()
        self.line = line
        self._located = False
        if chrom != self._current:
            self._chrom(chrom)
        self.chrom = chrom
        self.pos = -1
        self._located = True
        pos = int(pos_text)
        self.pos = pos
        if pos < self._last_pos:
            raise self._fail(
                "the records are not sorted by position",
                "sort the file (bcftools sort) before submitting it",
            )
        self._last_pos = pos
        if ident != ".":
            self._ident(ident)
        upper_ref = ref.upper()
        upper_alt = alt.upper()
        if upper_alt == upper_ref:
            raise self._fail("ALT equals REF", "remove the record or give a different ALT")
        self.alts = [alt]
        if qual != "." and qual not in self._good_quals:
            self._qual(qual)
        if filt != "PASS" and filt != ".":
            self._filter(filt)
        self.end = None
        if info != ".":
            self._info(info, 1)
        plan = self._simple_plan
        assert plan is not None
        self.plan = plan
        values = column.split(":")
        gt: Genotype | None = None
        first = values[0]
        if first != "." and first != "":
            gt = self._gts.get(first) or self.genotype(first)
            if gt is None:
                raise self._fail(
                    "the GT of sample column 1 is not a valid genotype",
                    "write alleles as numbers or '.', separated by '/' or '|'",
                )
            if gt.top > 1:
                raise self._fail(
                    "the GT of sample column 1 refers to an allele that ALT does not list",
                    "use allele numbers 0 to the number of ALT alleles",
                )
        if plan.g_fields:
            ploidy = len(gt.alleles) if gt is not None else 1 if first == "." else 2
            self._g_counts(plan, values, 0, 1, ploidy)
        self.values0 = values
        self.gt0 = gt
        key = (pos, upper_ref, upper_alt)
        recent = self._recent
        if key in recent:
            self._duplicate(recent[key])
        recent[key] = line
        if len(recent) > 4096:
            self._evict(pos)
        return chrom, pos, upper_ref, upper_alt, filt, values, gt, self.end

    def _ident(self, ident: str) -> None:
        if (
            not ident
            or _WS.search(ident)
            or "" in (parts := ident.split(";"))
            or len(set(parts)) != len(parts)
        ):
            raise self._fail(
                "the ID column is empty, has whitespace, an empty or a repeated ';' entry",
                "write '.' or unique identifiers separated by ';'",
            )

    def _ref(self, ref: str) -> None:
        if ref in _SINGLE_BASES:
            return
        if ref in (".", ""):
            raise self._fail("REF is missing", "give the reference base(s) at POS")
        if not _BASES.fullmatch(ref):
            raise self._fail(
                "REF is not made of the bases A, C, G, T and N (one allele only)",
                "write the reference bases at POS",
            )

    def _qual(self, qual: str) -> None:
        if not _FLOAT.fullmatch(qual) or qual[0] == "-":
            raise self._fail("QUAL is not a number >= 0", "write a non-negative number or '.'")
        if len(self._good_quals) < 65536:
            self._good_quals.add(qual)

    def _filter(self, filt: str) -> None:
        parts = filt.split(";")
        if (
            "" in parts
            or "." in parts
            or "0" in parts
            or _WS.search(filt)
            or len(set(parts)) != len(parts)
        ):
            raise self._fail(
                "FILTER has an empty, '.', '0', repeated or whitespace-containing entry",
                "write PASS, '.' or filter names separated by ';'",
            )

    def _sample1(self, text: str, column: str, n_alt: int) -> None:
        """The checks of :meth:`_samples` for a file with one sample, written for speed."""
        plan = self._plans.get(text) or self._plan(text)
        self.plan = plan
        fast = self._sample_res.get((text, n_alt)) or self._sample_re(text, plan, n_alt)
        if not fast.fullmatch(column):
            self._sample_slow(plan, column, 0, n_alt)
        values = column.split(":")
        gt: Genotype | None = None
        ploidy = 2
        if plan.has_gt:
            first = values[0]
            if first != "." and first != "":
                gt = self._gts.get(first) or self.genotype(first)
                if gt is None:
                    raise self._fail(
                        "the GT of sample column 1 is not a valid genotype",
                        "write alleles as numbers or '.', separated by '/' or '|'",
                    )
                if gt.top > n_alt and n_alt:
                    raise self._fail(
                        "the GT of sample column 1 refers to an allele that ALT does not list",
                        "use allele numbers 0 to the number of ALT alleles",
                    )
                ploidy = len(gt.alleles)
            elif first == ".":
                ploidy = 1
        if plan.g_fields:
            self._g_counts(plan, values, 0, n_alt, ploidy)
        self.values0 = values
        self.gt0 = gt

    def _g_counts(
        self, plan: FormatPlan, values: list[str], number: int, n_alt: int, ploidy: int
    ) -> None:
        for i in plan.g_fields:
            if i < len(values) and values[i] not in (".", "") and n_alt:
                want = math.comb(n_alt + ploidy, ploidy)
                found = values[i].count(",") + 1
                if found != want:
                    raise self._fail(
                        f"FORMAT {plan.keys[i]} of sample column {number + 1} has {found} "
                        f"values where Number=G means {want}",
                        f"correct the values or the ##FORMAT line of {plan.keys[i]}",
                    )

    def _duplicate(self, earlier: int) -> None:
        raise self._fail(
            f"the record repeats the variant of line {earlier} (the same after trimming "
            "shared bases or splitting ALT alleles)",
            "remove the duplicate record",
        )

    def _evict(self, pos: int) -> None:
        """Forget variants before ``pos`` (records are sorted, so none can repeat them)."""
        recent = self._recent
        for key in [k for k in recent if k[0] < pos]:
            del recent[key]

    def _chrom(self, chrom: str) -> None:
        name = self._chroms.get(chrom)
        if name is None:
            inner = (
                chrom[1:-1] if len(chrom) > 2 and chrom[0] == "<" and chrom[-1] == ">" else chrom
            )
            if chrom not in self.known_contigs:
                why = contig_name_problem(inner, self.header.version)
                if why is not None:
                    raise self._fail(f"CHROM is invalid: {why}", "use the reference's contig names")
            name = inner
            self._chroms[chrom] = name
        if self._current and self._chroms.get(self._current) == name:
            self._current = chrom
            return
        if name in self._seen:
            self.chrom, self.pos, self._located = chrom, -1, True
            raise self._fail(
                "the records of a contig are not together (the contig appears again after "
                "another one)",
                "sort the file (bcftools sort) before submitting it",
            )
        self._seen.add(name)
        self._current = chrom
        self._last_pos = -1
        self._recent.clear()

    def _alt(self, alt: str, ref: str) -> None:
        if alt == ".":
            self.alts = []
            return
        alleles = alt.split(",")
        for allele in alleles:
            if not allele:
                raise self._fail("ALT has an empty allele", "separate alleles by single commas")
            if allele == "*" or _BASES.fullmatch(allele):
                continue
            if allele[0] == "<":
                if not _SYMBOLIC.fullmatch(allele):
                    raise self._fail(
                        "a symbolic ALT allele is malformed",
                        "write it as <ID> with no < or > inside",
                    )
                continue
            if not _BREAKEND.fullmatch(allele):
                raise self._fail(
                    "ALT has an allele that is not bases (A, C, G, T, N), '*', <ID> or a breakend",
                    "write ALT alleles as the spec describes",
                )
        upper = [a.upper() for a in alleles]
        if len(set(upper)) != len(upper) or ref.upper() in upper:
            raise self._fail(
                "ALT repeats an allele or equals REF",
                "list each ALT allele once, none equal to REF",
            )
        self.alts = alleles

    def _info_re(self, key: str, n_alt: int) -> re.Pattern[str]:
        """The fast value pattern of INFO ``key`` (checks the key's syntax once)."""
        if not _KEY.fullmatch(key):
            raise self._fail(
                "INFO has an empty or invalid key (keys start with a letter or '_' and "
                "have no whitespace)",
                "write INFO as key=value pairs separated by ';'",
            )
        definition = self.info_defs.get(key)
        pattern = (
            _ANY_VALUE
            if definition is None
            else re.compile(value_pattern(definition, n_alt, info=True))
        )
        if len(self._info_res) < 4096:
            self._info_res[(key, n_alt)] = pattern
        return pattern

    def _info(self, info: str, n_alt: int) -> None:
        """Check INFO; the whole column is first tried against a pattern made for its
        sequence of keys (the last one used, then one looked up by the keys)."""
        last = self._last_info
        if last is not None and last[0] == n_alt:
            match = last[1].fullmatch(info)
            if match is not None:
                self._end_from(match, last[2])
                return
        keys = tuple(_INFO_KEYS.findall(info))
        entry = self._info_sigs.get((n_alt, keys))
        if entry is not None:
            match = entry[1].fullmatch(info)
            if match is not None:
                self._last_info = entry
                self._end_from(match, entry[2])
                return
        self._info_each(info, n_alt)
        if entry is None and len(self._info_sigs) < 1024:
            entry = self._info_signature(keys, n_alt)
            self._info_sigs[(n_alt, keys)] = entry
        self._last_info = entry

    def _end_from(self, match: re.Match[str], group: int) -> None:
        if group:
            value = match.group(group)
            if value is not None and value != ".":
                self.end = int(value)

    def _info_signature(
        self, keys: tuple[str, ...], n_alt: int
    ) -> tuple[int, re.Pattern[str], int]:
        """A pattern for INFO columns with exactly ``keys`` in this order (keys already
        checked), the group number of END's value (0 when absent)."""
        parts: list[str] = []
        end_group = 0
        for key in keys:
            definition = self.info_defs.get(key)
            literal = re.escape(key)
            if definition is None:
                parts.append(f"{literal}(?:=[^;]*)?")
            elif definition.type == "Flag":
                parts.append(f"{literal}(?:=[01])?")
            elif key == "END":
                parts.append(f"{literal}=({value_pattern(definition, n_alt, info=True)})")
                end_group = 1
            else:
                parts.append(f"{literal}={value_pattern(definition, n_alt, info=True)}")
        return n_alt, re.compile(";".join(parts)), end_group

    def _info_each(self, info: str, n_alt: int) -> None:
        """Check INFO key by key (exact messages)."""
        parts = info.split(";")
        if len(parts) > 1:
            keys = [p.partition("=")[0] for p in parts]
            if len(set(keys)) != len(keys):
                twice = next(k for k in keys if keys.count(k) > 1)
                raise self._fail(f"INFO gives {twice} twice", f"keep one {twice}")
        cache = self._info_res
        for part in parts:
            key, eq, value = part.partition("=")
            pattern = cache.get((key, n_alt)) or self._info_re(key, n_alt)
            if not eq:
                definition = self.info_defs.get(key)
                if definition is not None and definition.type != "Flag":
                    raise self._fail(f"INFO {key} has no value", f"write {key}=value")
                continue
            if pattern is not _ANY_VALUE and not pattern.fullmatch(value):
                self._info_slow(key, value, n_alt)
            if key == "END" and value != ".":
                self.end = int(value)

    def _info_slow(self, key: str, value: str, n_alt: int) -> None:
        definition = self.info_defs[key]
        why = value_problem(definition, value, n_alt, 0, info=True)
        if why is not None:
            raise self._fail(f"INFO {key} {why}", f"correct {key} or its ##INFO line")
        if key in _NON_NEGATIVE_INFO and any(i.startswith("-") for i in value.split(",")):
            raise self._fail(f"INFO {key} is negative", f"{key} cannot be negative")
        if key == "CIGAR" and any(
            item != "." and not _CIGAR.fullmatch(item) for item in value.split(",")
        ):
            raise self._fail("INFO CIGAR is not a CIGAR string", "write e.g. 1M2D or '.'")

    def _plan(self, text: str) -> FormatPlan:
        plan = self._plans.get(text)
        if plan is not None:
            return plan
        keys = tuple(text.split(":"))
        for key in keys:
            if not key:
                raise self._fail("FORMAT has an empty key", "separate FORMAT keys by single ':'")
            if not _KEY.fullmatch(key):
                raise self._fail(
                    "FORMAT has an invalid key (keys start with a letter or '_' and use "
                    "letters, digits, '_' and '.')",
                    "rename the key in FORMAT and its ##FORMAT line",
                )
        if len(set(keys)) != len(keys):
            raise self._fail("FORMAT repeats a key", "list each FORMAT key once")
        if "GT" in keys and keys[0] != "GT":
            raise self._fail("GT is not the first FORMAT key", "put GT first")
        defs = tuple(self.format_defs.get(k) for k in keys)
        index = {k: i for i, k in enumerate(keys)}
        plan = FormatPlan(
            keys=keys,
            defs=defs,
            index=index,
            has_gt=bool(keys) and keys[0] == "GT",
            g_fields=tuple(i for i, d in enumerate(defs) if d is not None and d.number == "G"),
            gq=index.get("GQ", -1),
            dp=index.get("DP", -1),
            ad=index.get("AD", -1),
            min_dp=index.get("MIN_DP", -1),
        )
        if len(self._plans) < 1024:
            self._plans[text] = plan
        return plan

    def _sample_re(self, text: str, plan: FormatPlan, n_alt: int) -> re.Pattern[str]:
        """A pattern accepting sample columns whose every value fits (except G counts)."""
        parts: list[str] = []
        for i, definition in enumerate(plan.defs):
            if i == 0 and plan.has_gt:
                gt = _GT.pattern if self.header.version >= (4, 4) else _GT_BODY
                parts.append(rf"(?:{gt})?")
            elif definition is None:
                parts.append("[^:]*")
            else:
                parts.append(value_pattern(definition, n_alt, info=False))
        pattern = ""
        for part in reversed(parts[1:]):
            pattern = f"(?::{part}{pattern})?"
        compiled = re.compile(parts[0] + pattern if parts else "")
        if len(self._sample_res) < 4096:
            self._sample_res[(text, n_alt)] = compiled
        return compiled

    def _samples(self, cols: list[str], n_alt: int) -> None:
        text = cols[8]
        plan = self._plans.get(text) or self._plan(text)
        self.plan = plan
        fast = self._sample_res.get((text, n_alt)) or self._sample_re(text, plan, n_alt)
        has_gt = plan.has_gt
        g_fields = plan.g_fields
        for number, column in enumerate(cols[9:]):
            if not fast.fullmatch(column):
                self._sample_slow(plan, column, number, n_alt)
            values = column.split(":")
            gt: Genotype | None = None
            ploidy = 2
            if has_gt:
                first = values[0]
                if first != "." and first != "":
                    gt = self._gts.get(first) or self.genotype(first)
                    if gt is None:
                        raise self._fail(
                            f"the GT of sample column {number + 1} is not a valid genotype",
                            "write alleles as numbers or '.', separated by '/' or '|'",
                        )
                    if gt.top > n_alt and n_alt:
                        raise self._fail(
                            f"the GT of sample column {number + 1} refers to an allele that "
                            "ALT does not list",
                            "use allele numbers 0 to the number of ALT alleles",
                        )
                    ploidy = len(gt.alleles)
                elif first == ".":
                    ploidy = 1
            if g_fields:
                self._g_counts(plan, values, number, n_alt, ploidy)
            if number == 0:
                self.values0 = values
                self.gt0 = gt

    def _sample_slow(self, plan: FormatPlan, column: str, number: int, n_alt: int) -> None:
        """Find the problem in a sample column the fast pattern refused (or accept it)."""
        values = column.split(":")
        if len(values) > len(plan.keys):
            raise self._fail(
                f"sample column {number + 1} has more fields than FORMAT",
                "give each sample at most one value per FORMAT key",
            )
        ploidy = 2
        start = 0
        if plan.has_gt:
            start = 1
            first = values[0]
            if first not in ("", "."):
                gt = self.genotype(first)
                if gt is None:
                    raise self._fail(
                        f"the GT of sample column {number + 1} is not a valid genotype",
                        "write alleles as numbers or '.', separated by '/' or '|'",
                    )
                ploidy = len(gt.alleles)
            elif first == ".":
                ploidy = 1
        for i in range(start, len(values)):
            definition = plan.defs[i]
            value = values[i]
            if definition is None or value in (".", ""):
                continue
            why = value_problem(definition, value, n_alt, ploidy, info=False)
            if why is not None:
                raise self._fail(
                    f"FORMAT {plan.keys[i]} of sample column {number + 1} {why}",
                    f"correct the values or the ##FORMAT line of {plan.keys[i]}",
                )

    def _duplicates(self, pos: int, ref: str) -> None:
        recent = self._recent
        if len(recent) > 4096:
            self._evict(pos)
        upper_ref = ref.upper()
        for allele in self.alts:
            if allele in _SINGLE_BASES and len(ref) == 1:
                key = (pos, upper_ref, allele.upper())
            elif _BASES.fullmatch(allele):
                key = trimmed(pos, upper_ref, allele.upper())
            else:
                continue
            if key in recent:
                self._duplicate(recent[key])
            recent[key] = self.line


def trimmed(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """``(pos, ref, alt)`` without shared trailing, then leading, bases (one kept)."""
    if len(ref) == 1 or len(alt) == 1:
        return pos, ref, alt
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
        pos += 1
    return pos, ref, alt


__all__ = [
    "INT32_MAX",
    "INT32_MIN_VALID",
    "FormatPlan",
    "Genotype",
    "RecordChecker",
    "RecordProblem",
    "expected_count",
    "parse_genotype",
    "trimmed",
    "value_pattern",
    "value_problem",
]
