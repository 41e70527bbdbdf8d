"""The header of a VCF file: parsing and validation of its meta lines and column line.

The rules follow the VCF specifications 4.1 to 4.5 as the EBI ``vcf-validator`` (whose
conformance files the hts-specs repository carries) applies them, with the version of
each file deciding which rules hold (for example ``Number=R`` exists from 4.2 on, and
VCFv4.3 forbids ``*`` in contig names). Where the validator is stricter than the files
real pipelines write, the tool output wins; such choices are marked *lenient* below.

Problems are reported as :class:`HeaderProblem` (what is wrong, and the fix) with the
line number; :mod:`helgenom.adapters.variants.vcfin` turns them into a
:class:`~helgenom.core.errors.FormatError` that also names the file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MANDATORY_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
"""The first eight columns of the column line, in order."""

TYPES = frozenset({"Integer", "Float", "Flag", "Character", "String"})
"""Value types of INFO (all) and FORMAT (all but Flag) fields."""

SV_PREFIXES = frozenset({"DEL", "INS", "DUP", "INV", "CNV"})
"""Symbolic ALT types a structured ALT ID (``DEL:ME:ALU``) must start with."""

GVCF_ALT_IDS = frozenset({"NON_REF", "*", "X", "BND"})
"""Symbolic alleles accepted in VCFv4.1/4.2 files although those versions only know the
SV prefixes (*lenient*): gVCF alleles (GATK ``<NON_REF>``, bcftools ``<*>`` and ``<X>``;
GATK 3 wrote its gVCFs as VCFv4.1, GATK 4 and DRAGEN as VCFv4.2) and ``<BND>`` of SV
callers."""

_FILEFORMAT = re.compile(r"VCFv4\.([0-5])")
_META_KEY = re.compile(r"[A-Za-z0-9_.\-:]+")
_INFO_KEY_43 = re.compile(r"(?:[A-Za-z_][0-9A-Za-z_.]*|1000G)")
_LOOSE_KEY = re.compile(r"[^\s,;=:\"'<>]+")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)")
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?:[^@/\s]+@)?(?P<host>[^:/\s?#]+)"
    r"(?::(?P<port>[0-9]+))?(?P<rest>[/?#][^\s]*)?"
)
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_BAD_ID_CHARS = re.compile(r"[\s,<>]")
_BAD_CONTIG_CHARS = re.compile(r"[\s,<>:\"'()\[\]{}\\]")
_BAD_SAMPLE_ID_CHARS = re.compile(r"[\s,<>*:\"'()\[\]{}\\]")
_BAD_PEDIGREE_VALUE_CHARS = re.compile(r"[\s,<>:\"']")


@dataclass(frozen=True, slots=True)
class FieldDef:
    """The declared shape of an INFO or FORMAT field."""

    id: str
    """The key, e.g. ``DP``."""
    number: str
    """``Number``: an integer, ``A``, ``R``, ``G``, ``.`` (4.4+: ``LA``, ``LR``, ``LG``,
    ``P``, ``M``)."""
    type: str
    """``Type``: ``Integer``, ``Float``, ``Flag``, ``Character`` or ``String``
    (``Float`` also accepts integers)."""


class HeaderProblem(Exception):
    """A header line breaks the format; ``vcfin`` adds the file name.

    Parameters
    ----------
    line
        1-based line number in the file.
    problem
        What is wrong (never a value that may be personal data).
    fix
        How to correct it.
    """

    def __init__(self, line: int, problem: str, fix: str) -> None:
        self.line = line
        self.problem = problem
        self.fix = fix
        super().__init__(f"line {line}: {problem}; {fix}")


@dataclass(frozen=True)
class VcfHeader:
    """What a VCF header declares."""

    version: tuple[int, int]
    """``(4, 2)`` for ``##fileformat=VCFv4.2``."""
    info: Mapping[str, FieldDef]
    """Declared INFO fields by key."""
    format: Mapping[str, FieldDef]
    """Declared FORMAT fields by key."""
    contigs: Mapping[str, int | None]
    """``##contig`` lines in header order: name -> length (None when not given)."""
    samples: tuple[str, ...]
    """Sample columns, in order."""
    lines: int
    """Number of header lines (meta lines plus the column line)."""
    filters: frozenset[str] = field(default_factory=frozenset)
    """Declared FILTER IDs."""


@functools.lru_cache(maxsize=64)
def _reserved(version: tuple[int, int], table: str) -> Mapping[str, FieldDef]:
    """The fields the specification of ``version`` reserves (Number and Type fixed);
    made once per version and table, read-only."""
    if table == "INFO":
        spec = {
            "AA": ("1", "String"),
            "AC": ("A", "Integer"),
            "AF": ("A", "Float"),
            "AN": ("1", "Integer"),
            "BQ": ("1", "Float"),
            "CIGAR": ("A", "String"),
            "DB": ("0", "Flag"),
            "DP": ("1", "Integer"),
            "END": ("1", "Integer"),
            "H2": ("0", "Flag"),
            "H3": ("0", "Flag"),
            "MQ": ("1", ""),
            "MQ0": ("1", "Integer"),
            "NS": ("1", "Integer"),
            "SOMATIC": ("0", "Flag"),
            "VALIDATED": ("0", "Flag"),
            "1000G": ("0", "Flag"),
        }
        if version >= (4, 3):
            spec.update({"AD": ("R", "Integer"), "ADF": ("R", "Integer"), "ADR": ("R", "Integer")})
    else:
        spec = {
            "DP": ("1", "Integer"),
            "EC": ("A", "Integer"),
            "FT": ("1", "String"),
            "GL": ("G", "Float"),
            "GP": ("G", "Float"),
            "GQ": ("1", "Integer"),
            "GT": ("1", "String"),
            "HQ": ("2", "Integer"),
            "MQ": ("1", "Integer"),
            "PL": ("G", "Integer"),
            "PQ": ("1", "Integer"),
            "PS": ("1", "Integer"),
        }
        if version >= (4, 3):
            spec.update({"AD": ("R", "Integer"), "ADF": ("R", "Integer"), "ADR": ("R", "Integer")})
        else:
            spec["GLE"] = ("G", "String")
    fields = {key: FieldDef(key, number, kind) for key, (number, kind) in spec.items()}
    return MappingProxyType(fields)


def reserved_fields(version: tuple[int, int]) -> tuple[dict[str, FieldDef], dict[str, FieldDef]]:
    """The reserved INFO and FORMAT fields of a VCF version (used for undeclared keys).

    A reserved field whose Type the specification leaves open (INFO ``MQ``) is given
    ``Float``, which also accepts integers.
    """
    info = {
        k: (v if v.type else FieldDef(v.id, v.number, "Float"))
        for k, v in _reserved(version, "INFO").items()
    }
    return info, dict(_reserved(version, "FORMAT"))


def numbers_for(version: tuple[int, int]) -> frozenset[str]:
    """The non-integer ``Number`` values a version allows."""
    allowed = {"A", "G", "."}
    if version >= (4, 2):
        allowed.add("R")
    if version >= (4, 4):
        allowed.update({"LA", "LR", "LG", "P", "M"})
    return frozenset(allowed)


def parse_structured(text: str) -> list[tuple[str, str, bool]]:
    """Split the inside of a ``<...>`` meta value into ``(key, value, quoted)`` pairs.

    Quoted values may contain commas and backslash-escaped quotes; a ``[...]`` value
    (``##META`` ``Values``) may contain commas.

    Raises
    ------
    ValueError
        A part is not ``key=value``, a quote is not closed, or a closing quote is
        followed by something other than a comma.
    """
    pairs: list[tuple[str, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        comma = text.find(",", i)
        if eq < 0 or (0 <= comma < eq):
            raise ValueError("an entry is not a key=value pair")
        key = text[i:eq]
        if not key or '"' in key:
            raise ValueError("an entry has an empty or quoted key")
        i = eq + 1
        if i < n and text[i] == '"':
            j = i + 1
            chars: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    chars.append(text[j + 1])
                    j += 2
                    continue
                chars.append(text[j])
                j += 1
            if j >= n:
                raise ValueError(f"the quoted value of {key} is not closed")
            j += 1
            if j < n and text[j] != ",":
                raise ValueError(f"the value of {key} has a quote that is not escaped")
            pairs.append((key, "".join(chars), True))
            i = j + 1
            continue
        if i < n and text[i] == "[":
            close = text.find("]", i)
            if close < 0:
                raise ValueError(f"the [...] value of {key} is not closed")
            value = text[i : close + 1]
            j = close + 1
            if j < n and text[j] != ",":
                raise ValueError(f"the [...] value of {key} is followed by text")
            pairs.append((key, value, False))
            i = j + 1
            continue
        end = text.find(",", i)
        end = n if end < 0 else end
        pairs.append((key, text[i:end], False))
        i = end + 1
    return pairs


def valid_url(value: str) -> bool:
    """Whether ``value`` is a plausible URL (``scheme://[user@]host[:port][/path]``).

    The host must be a dotted IPv4 address or a host name with at least one letter
    (``8080`` alone is not a host).
    """
    match = _URL.fullmatch(value)
    if match is None:
        return False
    host = match["host"]
    if _IPV4.fullmatch(host):
        return all(int(part) <= 255 for part in host.split("."))
    labels = host.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return False
    return any(c.isalpha() for c in host)


def contig_name_problem(name: str, version: tuple[int, int]) -> str | None:
    """Why ``name`` is not a valid contig name in ``version``, or None.

    Whitespace, commas, colons, quotes, brackets and angle brackets are refused in all
    versions; VCFv4.3 also refuses ``*``. (A name the instance's reference contains is
    exempted by the caller.)
    """
    if not name:
        return "the contig name is empty"
    if _BAD_CONTIG_CHARS.search(name):
        return "the contig name contains whitespace, a comma, a colon, a quote or a bracket"
    if version >= (4, 3) and "*" in name:
        return "the contig name contains '*', which VCFv4.3 does not allow"
    if name[0] in "*=":
        return "the contig name starts with '*' or '='"
    return None


class HeaderParser:
    """Reads header lines one at a time (see :func:`parse_header`).

    Parameters
    ----------
    known_contigs
        Contig names of the instance's reference; they are exempt from the
        contig-name syntax rules (GRCh38 analysis-set HLA contigs contain ``*`` and
        ``:``).
    """

    def __init__(self, known_contigs: Mapping[str, int] | None = None) -> None:
        self.known_contigs = known_contigs or {}
        self.version: tuple[int, int] | None = None
        self.info: dict[str, FieldDef] = {}
        self.format: dict[str, FieldDef] = {}
        self.filters: set[str] = set()
        self.contigs: dict[str, int | None] = {}
        self.lineno = 0

    def _fail(self, problem: str, fix: str) -> HeaderProblem:
        return HeaderProblem(self.lineno, problem, fix)

    def meta(self, line: str) -> None:
        """Check one ``##`` line (without its newline).

        Raises
        ------
        HeaderProblem
            The line breaks the format.
        """
        self.lineno += 1
        # Lenient: GATK 4.1 writes a space after the closing '>' of ##GATKCommandLine.
        line = line.rstrip(" \t")
        if self.lineno == 1:
            self._fileformat(line)
            return
        if not line.startswith("##"):
            raise self._fail(
                "a header line does not start with '##' (a stray line, or a value broken "
                "over two lines)",
                "join or remove the line so every meta line is '##key=value'",
            )
        body = line[2:]
        eq = body.find("=")
        if eq <= 0:
            raise self._fail(
                "a meta line is not a key=value pair", "write it as ##key=value or remove it"
            )
        key, value = body[:eq], body[eq + 1 :]
        if not _META_KEY.fullmatch(key):
            raise self._fail(
                "a meta line has an invalid key", "use letters, digits, '_', '.' or '-' in keys"
            )
        if not value:
            raise self._fail(f"the meta line ##{key} has an empty value", "give it a value")
        if key == "fileformat":
            raise self._fail(
                "##fileformat appears again after the first line", "keep only the first one"
            )
        structured = value.startswith("<")
        if structured and not value.endswith(">"):
            raise self._fail(
                f"the ##{key} entry is not closed with '>'",
                "end the line with '>' (and close every quoted value)",
            )
        handler = {
            "INFO": self._info,
            "FORMAT": self._format,
            "FILTER": self._filter,
            "ALT": self._alt,
            "contig": self._contig,
            "SAMPLE": self._sample,
            "PEDIGREE": self._pedigree,
            "META": self._meta_def,
        }.get(key)
        if handler is not None:
            if not structured:
                raise self._fail(
                    f"##{key} must be a structured <...> entry", f"write ##{key}=<ID=...,...>"
                )
            handler(self._pairs(key, value[1:-1]))
            return
        if key in ("assembly", "pedigreeDB"):
            target = value[1:-1] if structured else value
            if not target or ("://" in target and not valid_url(target)):
                raise self._fail(
                    f"##{key} is not a valid URL",
                    "give a URL such as https://host.example/path, or remove the line",
                )
            return
        if structured:
            inner = value[1:-1]
            if not inner.strip():
                raise self._fail(f"the ##{key} entry is empty", "remove it or give key=value pairs")
            if self.version is not None and self.version >= (4, 3):
                self._pairs(key, inner)
            # VCFv4.1/4.2 allow free text inside <...> for keys they do not define.

    def _fileformat(self, line: str) -> None:
        if not line.startswith("##fileformat="):
            raise self._fail(
                "the first line is not ##fileformat=VCFv4.x",
                "start the file with the ##fileformat line (is this a VCF file?)",
            )
        match = _FILEFORMAT.fullmatch(line[len("##fileformat=") :])
        if match is None:
            raise self._fail(
                "##fileformat is empty, malformed or not VCF 4.0-4.5",
                "write ##fileformat=VCFv4.2 (no spaces) and convert older files with bcftools",
            )
        minor = int(match.group(1))
        self.version = (4, max(minor, 1))

    def _pairs(self, key: str, inner: str) -> list[tuple[str, str, bool]]:
        try:
            return parse_structured(inner)
        except ValueError as exc:
            raise self._fail(
                f"the ##{key} entry cannot be parsed: {exc}",
                'write <Key=value,...> with "..." around values that contain commas '
                'and \\" for quotes inside them',
            ) from None

    def _vers(self) -> tuple[int, int]:
        return self.version or (4, 2)

    def _ordered(
        self, key: str, pairs: list[tuple[str, str, bool]], order: tuple[str, ...]
    ) -> dict[str, tuple[str, bool]]:
        """The pairs as a dict; the keys of ``order`` that are present must come first
        and in that order."""
        found: dict[str, tuple[str, bool]] = {}
        for k, v, q in pairs:
            if k in found:
                raise self._fail(f"##{key} gives {k} twice", f"keep one {k}")
            found[k] = (v, q)
        present = [k for k, _, _ in pairs if k in order]
        expected = [k for k in order if k in found]
        if present != expected or [k for k, _, _ in pairs[: len(present)]] != present:
            raise self._fail(
                f"the fields of ##{key} are not in the order {', '.join(order)}",
                f"write ##{key}=<{','.join(f'{k}=...' for k in order)}>",
            )
        return found

    def _description(self, key: str, found: Mapping[str, tuple[str, bool]]) -> None:
        if "Description" not in found:
            raise self._fail(f"##{key} has no Description", 'add Description="..."')
        if not found["Description"][1]:
            raise self._fail(
                f"the Description of ##{key} is not in double quotes", 'write Description="..."'
            )

    def _field(self, key: str, pairs: list[tuple[str, str, bool]]) -> FieldDef:
        found = self._ordered(key, pairs, ("ID", "Number", "Type", "Description"))
        for name in ("ID", "Number", "Type"):
            if name not in found:
                raise self._fail(f"##{key} has no {name}", f"add {name}=... to every ##{key} line")
        self._description(key, found)
        ident, number, kind = found["ID"][0], found["Number"][0], found["Type"][0]
        version = self._vers()
        pattern = _INFO_KEY_43 if version >= (4, 3) else _LOOSE_KEY
        if not pattern.fullmatch(ident):
            raise self._fail(
                f"the ##{key} ID is not a valid key",
                "start keys with a letter or '_' and use letters, digits, '_' and '.'",
            )
        if not (_NUMBER.fullmatch(number) or number in numbers_for(version)):
            raise self._fail(
                f"##{key} {ident} has an invalid Number",
                f"use an integer or one of {', '.join(sorted(numbers_for(version)))}",
            )
        allowed = TYPES if key == "INFO" else TYPES - {"Flag"}
        if kind not in allowed:
            raise self._fail(
                f"##{key} {ident} has an invalid Type",
                f"use one of {', '.join(sorted(allowed))}",
            )
        reserved = _reserved(version, key).get(ident)
        if reserved is not None:
            if number != reserved.number:
                raise self._fail(
                    f"##{key} {ident} is reserved with Number={reserved.number}",
                    f"declare {ident} with Number={reserved.number} or rename the field",
                )
            if reserved.type and kind != reserved.type:
                raise self._fail(
                    f"##{key} {ident} is reserved with Type={reserved.type}",
                    f"declare {ident} with Type={reserved.type} or rename the field",
                )
        return FieldDef(ident, number, kind)

    def _info(self, pairs: list[tuple[str, str, bool]]) -> None:
        definition = self._field("INFO", pairs)
        self.info[definition.id] = definition

    def _format(self, pairs: list[tuple[str, str, bool]]) -> None:
        definition = self._field("FORMAT", pairs)
        self.format[definition.id] = definition

    def _filter(self, pairs: list[tuple[str, str, bool]]) -> None:
        found = self._ordered("FILTER", pairs, ("ID", "Description"))
        if "ID" not in found:
            raise self._fail("##FILTER has no ID", "add ID=... first")
        ident = found["ID"][0]
        if not ident or _BAD_ID_CHARS.search(ident) or ";" in ident or ident == "0":
            raise self._fail(
                "a ##FILTER ID is empty, '0' or contains whitespace, ';', ',' or '<>'",
                "rename the filter",
            )
        self._description("FILTER", found)
        self.filters.add(ident)

    def _alt(self, pairs: list[tuple[str, str, bool]]) -> None:
        found = self._ordered("ALT", pairs, ("ID", "Number", "Type", "Description"))
        if "ID" not in found:
            raise self._fail("##ALT has no ID", "add ID=... first")
        ident = found["ID"][0]
        if not ident or _BAD_ID_CHARS.search(ident):
            raise self._fail(
                "a ##ALT ID is empty or contains whitespace, a comma or an angle bracket",
                "use an ID such as DEL or DEL:ME:ALU",
            )
        prefix = ident.split(":", 1)[0]
        version = self._vers()
        if ":" in ident and prefix not in SV_PREFIXES:
            raise self._fail(
                "a structured ##ALT ID does not start with DEL, INS, DUP, INV or CNV",
                "use one of those prefixes (DEL:ME:ALU) or an ID without ':'",
            )
        if version < (4, 3) and prefix not in SV_PREFIXES and ident not in GVCF_ALT_IDS:
            raise self._fail(
                "a VCFv4.1/4.2 ##ALT ID is not DEL, INS, DUP, INV or CNV",
                "use one of those (with :subtypes); VCFv4.3 allows other IDs",
            )
        if "Number" in found:
            number = found["Number"][0]
            if not (_NUMBER.fullmatch(number) or number in numbers_for(version)):
                raise self._fail(
                    "a ##ALT line has an invalid Number", "use an integer, A, R, G or ."
                )
        if "Type" in found and found["Type"][0] not in TYPES:
            raise self._fail("a ##ALT line has an invalid Type", f"use one of {', '.join(TYPES)}")
        self._description("ALT", found)

    def _contig(self, pairs: list[tuple[str, str, bool]]) -> None:
        if not pairs or pairs[0][0] != "ID":
            raise self._fail("a ##contig line has no ID (first)", "write ##contig=<ID=name,...>")
        found = {k: v for k, v, _ in pairs}
        ident = found["ID"]
        if ident not in self.known_contigs:
            why = contig_name_problem(ident, self._vers())
            if why is not None:
                raise self._fail(f"a ##contig ID is invalid: {why}", "rename the contig")
        length: int | None = None
        if "length" in found:
            text = found["length"]
            if not (text.isascii() and text.isdigit()):
                raise self._fail(
                    f"##contig {ident} has a length that is not a whole number",
                    "give length=<number of bases>",
                )
            length = int(text)
        if "URL" in found and not valid_url(found["URL"]):
            raise self._fail(f"##contig {ident} has an invalid URL", "fix or remove URL=...")
        if ident in self.contigs:
            before = self.contigs[ident]
            if before is not None and length is not None and before != length:
                raise self._fail(
                    f"##contig {ident} is declared twice with different lengths",
                    "keep one ##contig line per contig",
                )
            length = before if length is None else length
        self.contigs[ident] = length

    def _sample(self, pairs: list[tuple[str, str, bool]]) -> None:
        found = {k: (v, q) for k, v, q in pairs}
        if "ID" not in found or pairs[0][0] != "ID":
            raise self._fail("a ##SAMPLE line has no ID (first)", "write ##SAMPLE=<ID=name,...>")
        if _BAD_SAMPLE_ID_CHARS.search(found["ID"][0]) or not found["ID"][0]:
            raise self._fail(
                "a ##SAMPLE ID contains whitespace, a comma or another illegal character",
                "use letters, digits, '_', '-' and '.'",
            )
        if self._vers() < (4, 3):
            if "Genomes" not in found:
                raise self._fail(
                    "a VCFv4.1/4.2 ##SAMPLE line has no Genomes field", "add Genomes=..."
                )
            for key, (_, quoted) in found.items():
                if quoted and key != "Description":
                    raise self._fail(
                        f"the ##SAMPLE field {key} is quoted; only Description may be",
                        "remove the quotes",
                    )

    def _pedigree(self, pairs: list[tuple[str, str, bool]]) -> None:
        found = {k: v for k, v, _ in pairs}
        if self._vers() >= (4, 3) and "ID" not in found:
            raise self._fail("a ##PEDIGREE line has no ID", "write ##PEDIGREE=<ID=name,...>")
        for key, value in found.items():
            if not value or _BAD_PEDIGREE_VALUE_CHARS.search(value):
                raise self._fail(
                    f"the ##PEDIGREE value of {key} is empty or contains whitespace, ':' "
                    "or punctuation",
                    "use sample identifiers made of letters, digits, '_', '-' and '.'",
                )

    def _meta_def(self, pairs: list[tuple[str, str, bool]]) -> None:
        found = self._ordered("META", pairs, ("ID", "Number", "Type", "Values"))
        for name in ("ID", "Type", "Values"):
            if name not in found:
                raise self._fail(f"##META has no {name}", f"add {name}=...")
        if "Number" in found:
            number = found["Number"][0]
            if not (_NUMBER.fullmatch(number) or number in numbers_for(self._vers())):
                raise self._fail("##META has an invalid Number", "use an integer, A, R, G or .")
        if found["Type"][0] not in TYPES:
            raise self._fail("##META has an invalid Type", f"use one of {', '.join(TYPES)}")
        values = found["Values"][0]
        if not (values.startswith("[") and values.endswith("]")):
            raise self._fail("##META Values are not in [...]", "write Values=[a, b, c]")

    def columns(self, line: str) -> VcfHeader:
        """Check the ``#CHROM`` line and return the header.

        Raises
        ------
        HeaderProblem
            The line is malformed or there was no ``##fileformat`` line.
        """
        self.lineno += 1
        if self.version is None:
            raise self._fail(
                "the file has no ##fileformat line before #CHROM",
                "start the file with ##fileformat=VCFv4.2",
            )
        cols = line.split("\t")
        if tuple(cols[:8]) != MANDATORY_COLUMNS:
            raise self._fail(
                "the column line is not #CHROM POS ID REF ALT QUAL FILTER INFO separated by tabs",
                "write the eight column names exactly, separated by single tabs",
            )
        samples: tuple[str, ...] = ()
        if len(cols) > 8:
            if cols[8] != "FORMAT":
                raise self._fail(
                    "the ninth column is not FORMAT", "name it FORMAT, followed by the samples"
                )
            samples = tuple(cols[9:])
            if not samples:
                raise self._fail(
                    "the column line has FORMAT but no sample column",
                    "add the sample column or remove FORMAT",
                )
            if any(not s or s != s.strip() for s in samples):
                raise self._fail(
                    "a sample name is empty or has surrounding spaces", "name every sample"
                )
            if len(set(samples)) != len(samples):
                raise self._fail("sample names are not unique", "rename the duplicated samples")
        return VcfHeader(
            version=self.version,
            info=dict(self.info),
            format=dict(self.format),
            contigs=dict(self.contigs),
            samples=samples,
            lines=self.lineno,
            filters=frozenset(self.filters),
        )


__all__ = [
    "GVCF_ALT_IDS",
    "MANDATORY_COLUMNS",
    "SV_PREFIXES",
    "TYPES",
    "FieldDef",
    "HeaderParser",
    "HeaderProblem",
    "VcfHeader",
    "contig_name_problem",
    "numbers_for",
    "parse_structured",
    "reserved_fields",
    "valid_url",
]
