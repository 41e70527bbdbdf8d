"""Checks of whole chunks of VCF data lines at once: the ingest's fast path.

:class:`ChunkScanner` looks at a chunk of data lines (about 1 MiB) in one go. One
regular expression (RE2, run by :func:`pyarrow.compute.match_substring_regex` over
every line) picks the lines of the common shapes, and numpy reads their fields and
applies the checks that a regular expression cannot express. A line takes the fast
path only when every check of
:class:`~helgenom.adapters.variants.vcfrecord.RecordChecker` and of the ingest certainly
holds for it; every other line, and in particular every line with a problem, is handed
back in file order to the per-record path, which checks it again and words the error.
So the fast path never rejects a line and never words a message.

The shapes (one sample column):

* CHROM the contig of the line before (the contig the per-record path switched to),
  POS ``[1-9][0-9]{0,9}``, ID ``.`` or one identifier of printable ASCII without ``;``,
  REF one base;
* ALT one base (A, C, G or T, any case; a call, a ``0/0`` record or a filtered or
  no-call line), one base followed by ``,<NON_REF>`` (a GATK gVCF's variant line;
  REF then A, C, G or T), one symbolic allele ``<ID>`` of printable ASCII (a gVCF
  block) or ``.`` (a reference record);
* QUAL ``.`` or a plain non-negative number, FILTER ``PASS``, ``.`` or one name,
  INFO ``.``, ``END=n`` (when END is an Integer of Number 1) or, on lines with ALT
  alleles, entries ``key=value`` (or a flag's ``key``) of keys seen on earlier or
  sampled lines, other than END, each at most once and all in one order that those
  lines follow (ASCII, as GATK writes them, or the header's), values as the per-record
  path's value patterns accept them for the line's number of ALT alleles;
* FORMAT one of those already seen in the file or in the chunk, with GT first, every
  value present and in its plainest form: GT of one or two single-digit alleles
  (``.`` allowed), ``GQ``/``DP``/``MIN_DP`` (Integer, Number 1) up to nine digits or
  ``.``, ``AD`` (Integer, Number R) two counts (three with ``X,<NON_REF>``) or ``.``,
  any other field as the per-record path's value pattern accepts it.

numpy then requires: ten columns and FORMAT exactly a candidate's (the INFO pattern of
keys could take in a tab), POS strictly after the line before (and after every variant
the per-record path remembered for the duplicate check), the record inside the contig
(END too, and not before POS), REF equal to the reference base (ignoring case), ALT
different from REF, genotype alleles that ALT lists (0 to 2 with ``X,<NON_REF>``),
counts of up to nine digits, and Number=G counts matching the ploidy and the ALT
alleles.

A ``X,<NON_REF>`` line with a non-reference genotype is a record the per-record path
splits; the fast path hands it on in columns (:class:`NonRefCalls`) to the same split.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from helgenom.adapters.variants.vcfheader import FieldDef
from helgenom.adapters.variants.vcfrecord import (
    FormatPlan,
    RecordChecker,
    RecordProblem,
    value_pattern,
)

Bases = Callable[[str, npt.NDArray[np.int64]], "npt.NDArray[np.uint8] | None"]
"""``bases(contig, starts)``: the reference's bytes at 0-based ``starts`` (as in the
FASTA, maybe soft-masked), or None when they cannot be read in bulk."""

CALL_TYPES = (
    pa.string(),
    pa.int64(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.int8(),
    pa.int8(),
    pa.int8(),
    pa.bool_(),
    pa.int32(),
    pa.int32(),
    pa.int32(),
    pa.int32(),
)
"""Types of a call's columns: ``(contig, pos, ref, alt, type, gt, ploidy, alt_count,
other_count, phased, gq, dp, ad_ref, ad_alt)``."""
BLOCK_TYPES = (pa.string(), pa.int64(), pa.int64(), pa.int8(), pa.int32(), pa.int32())
"""Types of a reference block's columns: ``(contig, start, end, ploidy, gq, dp)``."""

MAX_FORMATS = 16
"""Most FORMAT columns one pattern covers."""
FORMAT_SAMPLES = 32
"""Lines of a chunk whose FORMAT is looked at to find the chunk's FORMAT columns."""

_TAB, _NL, _COLON, _COMMA, _DOT = 9, 10, 58, 44, 46
_POWERS = np.concatenate([np.zeros(20, dtype=np.int64), 10 ** np.arange(19, dtype=np.int64)])
"""``_POWERS[20 + e]`` is 10^e for 0 <= e <= 18 and 0 for -20 <= e < 0."""
_UPPER = 0xDF
"""Mask that upper-cases an ASCII letter."""
_INT1 = r"[0-9]+|\."
"""Digits (at most nine: counted by numpy, which RE2 does faster than repeats) or ``.``."""
_COUNTS = {"GQ": "1", "DP": "1", "MIN_DP": "1", "AD": "R"}
"""FORMAT keys the ingest reads, and the Number they must be declared with (Integer)."""
_ONE_BASE = "[ACGTNacgtn]"
_ALT_BASE = "[ACGTacgt]"
_SYMBOL = r"<[!-+\--;=?-~]+>"
"""A symbolic allele: printable ASCII other than ``<``, ``>`` and ``,`` between angle
brackets (the per-record path's ``<[^<>\\s,]+>`` accepts all of them)."""
_IDENT = "[!-:<-~]+"
"""One identifier: printable ASCII without ``;``."""
_QUAL = r"\.|[0-9]+\.?[0-9]*|\.[0-9]+"
_FILTER = r"PASS|\.|[A-Za-z_][0-9A-Za-z_.\-]*"
_GT = "[0-9.](?:[/|][0-9.])?"
_NON_REF = ",<NON_REF>"
"""What follows the one ALT base on a GATK gVCF's variant line."""
MAX_INFO_KEYS = 64
"""Most INFO keys one pattern covers."""


def _escape(text: str) -> str:
    """``text`` as an RE2 literal."""
    return "".join(c if c.isalnum() or c == "_" or not c.isascii() else "\\" + c for c in text)


def _re2(pattern: str) -> str:
    """A pattern of :func:`value_pattern` for RE2 over a line with its newline: negated
    classes exclude tab and newline too (Python's matched within one column)."""
    return pattern.replace("[^", "[^\\t\\n")


@dataclass(frozen=True)
class _Format:
    """A FORMAT column the fast path handles."""

    text: str
    plan: FormatPlan
    samples: dict[int, str]
    """Sample-column pattern per number of ALT alleles (0, 1 or 2) where one exists."""


@dataclass
class Chunk:
    """Data lines of a file: ``count`` lines of UTF-8 ``data``, each ending in ``\\n``."""

    first: int
    """Line number of the first line."""
    data: bytes
    """The lines (CR LF already turned into LF)."""
    text: str
    """``data`` decoded."""
    count: int
    """Number of lines."""
    _starts: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    _ends: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    _buffer: npt.NDArray[np.uint8] | None = field(default=None, repr=False)

    @property
    def ends(self) -> npt.NDArray[np.int64]:
        """Byte offset of each line's newline."""
        if self._ends is None:
            self._ends = np.flatnonzero(self.buffer == _NL).astype(np.int64)
        return self._ends

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        """Byte offset of each line's first byte."""
        if self._starts is None:
            ends = self.ends
            starts = np.empty(len(ends), dtype=np.int64)
            starts[:1] = 0
            starts[1:] = ends[:-1] + 1
            self._starts = starts
        return self._starts

    @property
    def buffer(self) -> npt.NDArray[np.uint8]:
        """``data`` as bytes for numpy."""
        if self._buffer is None:
            self._buffer = np.frombuffer(self.data, dtype=np.uint8)
        return self._buffer

    def line(self, index: int) -> str:
        """Line ``index`` (0-based in the chunk) without its newline."""
        start, end = int(self.starts[index]), int(self.ends[index])
        if len(self.text) == len(self.data):  # ASCII: characters are bytes
            return self.text[start:end]
        return self.data[start:end].decode("utf-8")

    def lines(self) -> list[str]:
        """Every line without its newline."""
        lines = self.text.split("\n")
        lines.pop()
        return lines


def _digits(
    buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The numbers written in ``buf[starts[i]:ends[i]]`` (ASCII digits, 1-18 of them)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = ends - starts
    width = int(lengths.max())
    # digit k of a number of L digits weighs 10^(L-1-k); positions past L weigh 0
    weight = _POWERS[19 + lengths[:, None] - np.arange(width)]
    index = np.minimum(starts[:, None] + np.arange(width), len(buf) - 1)
    return np.asarray(((buf[index].astype(np.int64) - 48) * weight).sum(axis=1), dtype=np.int64)


def _number(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    most: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """:func:`_digits` of numbers of at most ``most`` digits, and which numbers are that
    short (the others are read cut to ``most`` digits)."""
    return _digits(buf, starts, np.minimum(ends, starts + most)), ends - starts <= most


def _strings(
    buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> pa.Array:
    """A string array of ``buf[starts[i]:ends[i]]`` (valid UTF-8 pieces)."""
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    index = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1] - starts, lengths)
    data = buf[index].tobytes()
    return pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(offsets), pa.py_buffer(data)
    ).cast(pa.string())


def _chars(codes: npt.NDArray[np.integer[Any]]) -> pa.Array:
    """A string array of one ASCII character per code."""
    offsets = np.arange(len(codes) + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(codes), pa.py_buffer(offsets), pa.py_buffer(codes.astype(np.uint8).tobytes())
    )


def _ints(values: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_]) -> pa.Array:
    return pa.array(values.astype(np.int32), type=pa.int32(), mask=missing)


_SPLIT_ALLELE = np.frombuffer(b".01.", dtype=np.uint8)
"""Genotype allele ``a`` (-1 to 2) at ``a + 1`` as the split for the first ALT allele
writes it: ``.``, ``0``, ``1`` and ``.`` for ``<NON_REF>``."""


@dataclass
class NonRefCalls:
    """Fast lines with ALT ``X,<NON_REF>`` and a non-reference genotype, in file order.

    The per-record path hands such a record to the split of multi-allelic records
    (``vcfin``): written as ``bcftools norm`` reads it (:meth:`text`), or split by the
    ingest itself into one call for ``X`` (:meth:`columns`; ``<NON_REF>`` gives none).
    """

    contig: str
    lines: npt.NDArray[np.int64]
    """Line numbers."""
    pos: npt.NDArray[np.int64]
    ref: npt.NDArray[np.uint8]
    """REF, upper-cased."""
    alt: npt.NDArray[np.uint8]
    """The ALT base, upper-cased."""
    a1: npt.NDArray[np.int64]
    """First genotype allele (-1 missing, 0 to 2)."""
    a2: npt.NDArray[np.int64]
    """Second genotype allele (-1 missing or haploid)."""
    phased: npt.NDArray[np.bool_]
    gq: npt.NDArray[np.int64]
    """GQ, -1 when missing; likewise :attr:`dp`, :attr:`ad_ref`, :attr:`ad_alt`."""
    dp: npt.NDArray[np.int64]
    ad_ref: npt.NDArray[np.int64]
    ad_alt: npt.NDArray[np.int64]
    gt: pa.Array
    """GT as written."""
    ad: pa.Array
    """AD as written (``""`` without AD)."""

    def __len__(self) -> int:
        return len(self.lines)

    def slice(self, start: int, stop: int) -> NonRefCalls:
        """The calls ``start:stop``."""
        return NonRefCalls(
            contig=self.contig,
            lines=self.lines[start:stop],
            pos=self.pos[start:stop],
            ref=self.ref[start:stop],
            alt=self.alt[start:stop],
            a1=self.a1[start:stop],
            a2=self.a2[start:stop],
            phased=self.phased[start:stop],
            gq=self.gq[start:stop],
            dp=self.dp[start:stop],
            ad_ref=self.ad_ref[start:stop],
            ad_alt=self.ad_alt[start:stop],
            gt=self.gt.slice(start, stop - start),
            ad=self.ad.slice(start, stop - start),
        )

    def text(self) -> str:
        """The records as the per-record path writes them for ``bcftools norm``."""
        contig = self.contig
        out = []
        for pos, ref, alt, gt, gq, dp, ad in zip(
            self.pos.tolist(),
            self.ref.tobytes().decode("ascii"),
            self.alt.tobytes().decode("ascii"),
            self.gt.to_pylist(),
            self.gq.tolist(),
            self.dp.tolist(),
            self.ad.to_pylist(),
            strict=True,
        ):
            out.append(
                f"{contig}\t{pos}\t.\t{ref}\t{alt}{_NON_REF}\t.\t.\tOGT={gt}\tGT:GQ:DP:AD\t"
                f"{gt}:{gq if gq >= 0 else '.'}:{dp if dp >= 0 else '.'}:{ad or '.'}\n"
            )
        return "".join(out)

    def columns(self) -> tuple[list[pa.Array], pa.Array]:
        """The calls (:data:`CALL_TYPES`) as the ingest's own split gives them: the
        genotype keeping ``0``, ``1`` and its separator and writing ``.`` for allele 2,
        ploidy the called alleles, ``other_count`` the copies of ``<NON_REF>``; and
        the line numbers."""
        n = len(self.lines)
        a1, a2 = self.a1, self.a2
        two = pc.utf8_length(self.gt).to_numpy() == 3
        text = np.empty((n, 3), dtype=np.uint8)
        text[:, 0] = _SPLIT_ALLELE[a1 + 1]
        text[:, 1] = np.where(self.phased, ord("|"), ord("/"))
        text[:, 2] = _SPLIT_ALLELE[a2 + 1]
        starts = np.arange(n, dtype=np.int64) * 3
        called = (a1 >= 0).astype(np.int64) + (a2 >= 0)
        alt_count = (a1 == 1).astype(np.int64) + (a2 == 1)
        other = (a1 == 2).astype(np.int64) + (a2 == 2)
        gq, dp, ad_ref, ad_alt = self.gq, self.dp, self.ad_ref, self.ad_alt
        return [
            pa.repeat(pa.scalar(self.contig, pa.string()), n),
            pa.array(self.pos, type=pa.int64()),
            _chars(self.ref),
            _chars(self.alt),
            pa.repeat(pa.scalar("snv", pa.string()), n),
            _strings(text.ravel(), starts, starts + np.where(two, 3, 1)),
            pa.array(called.astype(np.int8), type=pa.int8()),
            pa.array(alt_count.astype(np.int8), type=pa.int8()),
            pa.array(other.astype(np.int8), type=pa.int8()),
            pa.array(self.phased, type=pa.bool_()),
            _ints(gq, gq < 0),
            _ints(dp, dp < 0),
            _ints(ad_ref, ad_ref < 0),
            _ints(ad_alt, ad_alt < 0),
        ], pa.array(self.lines, type=pa.int64())


@dataclass
class _Scan:
    """What one look at the lines ``start..`` of a chunk found for one contig."""

    contig: str
    start: int
    fast: npt.NDArray[np.bool_]
    """Per line of the chunk: takes the fast path (when its run is entered)."""
    pos: npt.NDArray[np.int64]
    """Per line of the chunk: POS (lines on the fast path only)."""
    breaks: list[int]
    """Lines that cannot continue a run of fast lines, ascending."""
    snv: npt.NDArray[np.bool_]
    """Per line of the chunk: REF and ALT single bases (the duplicate check's key)."""
    taken: npt.NDArray[np.bool_]
    """Per line of the chunk: handled by the fast path."""
    idx: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Lines that passed every check (ascending)."""
    fields: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    """Per line of :attr:`idx`: what the rows need."""


class ChunkScanner:
    """The fast path of one file's first pass (see module doc).

    Parameters
    ----------
    checker
        The per-record checker of the file (its state is read and kept up to date).
    contigs
        The instance's contigs and lengths.
    bases
        Reference bases in bulk (see :data:`Bases`).
    """

    def __init__(self, checker: RecordChecker, contigs: Mapping[str, int], bases: Bases) -> None:
        self.checker = checker
        self.contigs = contigs
        self.bases = bases
        self.enabled = checker.nsamples == 1
        self.filtered = 0
        """Fast lines skipped for their FILTER."""
        self.no_call = 0
        """Fast lines skipped for a missing genotype."""
        self.symbolic = 0
        """Fast non-reference lines whose only ALT allele is symbolic."""
        self.normalised = 0
        """Fast ``X,<NON_REF>`` lines with a non-reference genotype (split as the
        per-record path splits them: see :class:`NonRefCalls`)."""
        self.calls: list[tuple[list[pa.Array], pa.Array]] = []
        """Calls of the fast lines since :meth:`take`: columns (:data:`CALL_TYPES`) and
        line numbers."""
        self.blocks: list[tuple[list[pa.Array], pa.Array]] = []
        """Reference blocks likewise (:data:`BLOCK_TYPES`)."""
        self.splits: list[NonRefCalls] = []
        """The ``X,<NON_REF>`` calls of the fast lines since :meth:`take`, in file order."""
        self._guard = -1
        self._seen = 0
        self._formats: dict[str, _Format | None] = {}
        end = checker.info_defs.get("END")
        self._info = (
            r"\.|END=[0-9]+"
            if end is not None and end.type == "Integer" and end.number == "1"
            else r"\."
        )
        self._info_orders: set[tuple[str, ...]] = set()
        """INFO keys of lines seen (in their order), other than ``.`` and ``END=n``."""
        self._non_ref = False
        """Whether a line with ALT ``X,<NON_REF>`` was seen."""

    # -- the walk over a chunk ---------------------------------------------------------

    def lines(self, chunk: Chunk) -> Iterator[tuple[int, str]]:
        """Yield ``(line number, line)`` of the lines the per-record path must take, in
        file order; take the others. Each yielded line must have passed the per-record
        checks before the walk resumes (a problem ends the walk)."""
        checker = self.checker
        n = chunk.count
        i = 0
        scan: _Scan | None = None
        scanned: str | None = None
        while i < n:
            contig = checker.current_contig
            if contig != scanned:
                if scan is not None:
                    self._finish(chunk, scan)
                scan = self._scan(chunk, i, contig) if contig and self.enabled else None
                scanned = contig
            if scan is not None and scan.fast[i]:
                pos = int(scan.pos[i])
                if pos > checker.last_pos and pos > self._guard:
                    at = bisect.bisect_right(scan.breaks, i)
                    j = scan.breaks[at] if at < len(scan.breaks) else n
                    scan.taken[i:j] = True
                    last = j - 1
                    checker.passed(
                        int(scan.pos[last]), self._snv(chunk, scan, last), chunk.first + last
                    )
                    i = j
                    continue
            line = chunk.line(i)
            yield chunk.first + i, line
            seen = checker.contigs_started
            if seen != self._seen:
                # a new contig: the checker forgot the variants of the one before
                self._seen = seen
                self._guard = -1
            cols = line.split("\t", 8)
            ref = cols[3]
            self._note(cols)
            # the duplicate check now knows variants up to the end of this REF
            self._guard = max(self._guard, checker.pos + len(ref) - 1)
            i += 1
        if scan is not None:
            self._finish(chunk, scan)

    @staticmethod
    def _snv(chunk: Chunk, scan: _Scan, index: int) -> tuple[str, str] | None:
        """REF and ALT (upper-cased) of fast line ``index`` when both are single bases."""
        if not scan.snv[index]:
            return None
        k = int(np.searchsorted(scan.idx, index))
        buf = chunk.buffer
        ref = chr(int(buf[scan.fields["ref_at"][k]]) & _UPPER)
        alt = chr(int(buf[scan.fields["alt_at"][k]]) & _UPPER)
        return ref, alt

    def take(
        self,
    ) -> tuple[list[tuple[list[pa.Array], pa.Array]], list[tuple[list[pa.Array], pa.Array]]]:
        """The calls and blocks collected since the last call (and forget them)."""
        calls, blocks = self.calls, self.blocks
        self.calls, self.blocks = [], []
        return calls, blocks

    def take_splits(self) -> list[NonRefCalls]:
        """The ``X,<NON_REF>`` calls collected since the last call (and forget them)."""
        splits, self.splits = self.splits, []
        return splits

    def _note(self, cols: list[str]) -> None:
        """Take note of the INFO keys and the ALT shape of a line (split at its first
        eight tabs)."""
        if len(cols) < 9:
            return
        self._non_ref = self._non_ref or cols[4].endswith(_NON_REF)
        info = cols[7]
        if info != "." and not info.startswith("END=") and len(self._info_orders) < 256:
            self._info_orders.add(tuple(part.partition("=")[0] for part in info.split(";")))

    # -- the patterns --------------------------------------------------------------------

    def _format(self, text: str) -> _Format | None:
        """The fast-path description of FORMAT ``text`` (None when it has none)."""
        if text in self._formats:
            return self._formats[text]
        found: _Format | None = None
        try:
            plan = self.checker.format_plan(text)
        except RecordProblem:
            plan = None
        if plan is not None and plan.has_gt:
            ok = True
            for key, number in _COUNTS.items():
                i = plan.index.get(key)
                if i is not None:
                    definition = plan.defs[i]
                    if definition is None or definition != FieldDef(key, number, "Integer"):
                        ok = False
            samples: dict[int, str] = {}
            for n_alt in (0, 1, 2) if ok else ():
                parts = [_GT]
                for key, definition in zip(plan.keys[1:], plan.defs[1:], strict=True):
                    if key in ("GQ", "DP", "MIN_DP"):
                        part = _INT1
                    elif key == "AD" and n_alt:
                        part = ",".join(["[0-9]+"] * (n_alt + 1)) + r"|\."
                    elif definition is None:
                        part = "[^:\\t\\n]*"
                    else:
                        part = _re2(value_pattern(definition, n_alt, info=False))
                    if "(?!" in part:
                        break
                    parts.append(f"(?:{part})")
                else:
                    samples[n_alt] = ":".join(parts)
            if samples:
                found = _Format(text, plan, samples)
        if len(self._formats) < 1024:
            self._formats[text] = found
        return found

    def _candidates(self, chunk: Chunk, start: int) -> tuple[list[_Format], bool]:
        """FORMAT columns of the file so far and of some lines of the chunk, and whether
        one of those lines has no ALT allele (``.``); the INFO keys and ALT shapes of
        those lines are noted."""
        texts = self.checker.formats()
        step = max(1, (chunk.count - start) // FORMAT_SAMPLES)
        no_alt = False
        for i in range(start, chunk.count, step):
            cols = chunk.line(i).split("\t", 9)
            if len(cols) == 10:
                texts.append(cols[8])
                no_alt = no_alt or cols[4] == "."
                self._note(cols)
        found: list[_Format] = []
        for text in dict.fromkeys(texts):
            fmt = self._format(text)
            if fmt is not None:
                found.append(fmt)
                if len(found) >= MAX_FORMATS:
                    break
        return found, no_alt

    def _info_order(self) -> list[str] | None:
        """An order of the INFO keys noted (and of the header's, when there are not too
        many) in which every line noted lists them: ASCII order (as GATK writes them) or
        the header's; None when there is none."""
        orders = self._info_orders
        if not orders:
            return None
        noted = {key for order in orders for key in order}
        header = [key for key in self.checker.header.info if key != "END"]
        if len(noted.union(header)) <= MAX_INFO_KEYS:
            noted.update(header)
        keys = sorted(noted)
        declared = [key for key in header if key in noted]
        for candidate in (keys, declared + [key for key in keys if key not in declared]):
            rank = {key: i for i, key in enumerate(candidate)}
            if all(
                all(rank[a] < rank[b] for a, b in itertools.pairwise(order)) for order in orders
            ):
                return candidate[:MAX_INFO_KEYS]
        return None

    def _info_pattern(self, n_alt: int, order: list[str] | None) -> str:
        """INFO with its closing tab: ``.``, ``END=n`` or, on lines with ALT alleles, the
        noted keys in ``order``, each at most once, each entry ending in ``;`` or (the
        last) the tab. That the last ends in the tab, that INFO is not empty and that
        FORMAT follows whole is checked by :meth:`_check` (nine tabs, FORMAT as given)."""
        plain = f"(?:{self._info})\\t"
        if not order or not n_alt:
            return plain
        entries = [self.checker.info_entry(key, n_alt) for key in order]
        chain = "".join(f"(?:{_re2(entry)}[;\\t])?" for entry in entries if entry is not None)
        return f"(?:{plain}|{chain})" if chain else plain

    def _pattern(self, contig: str, formats: list[_Format], no_alt: bool) -> str | None:
        """The RE2 pattern of the fast lines of ``contig`` (with their newline); lines
        without ALT allele only when ``no_alt``, and lines with ALT ``X,<NON_REF>`` only
        when one was seen (a shorter pattern runs faster)."""
        tails: list[str] = []
        order = self._info_order()
        shapes = [(1, f"(?:{_ALT_BASE}|{_SYMBOL})")]
        if self._non_ref:
            shapes.append((2, f"{_ALT_BASE}{_escape(_NON_REF)}"))
        if no_alt:
            shapes.append((0, r"\."))
        for n_alt, alt in shapes:
            samples = [
                f"{_escape(f.text)}\\t(?:{f.samples[n_alt]})" for f in formats if n_alt in f.samples
            ]
            if samples:
                tails.append(
                    f"{alt}\\t(?:{_QUAL})\\t(?:{_FILTER})\\t{self._info_pattern(n_alt, order)}"
                    f"(?:{'|'.join(samples)})"
                )
        if not tails:
            return None
        return (
            f"^{_escape(contig)}\\t[1-9][0-9]*\\t{_IDENT}\\t{_ONE_BASE}\\t(?:{'|'.join(tails)})\\n$"
        )

    # -- one look at a chunk ---------------------------------------------------------------

    def _scan(self, chunk: Chunk, start: int, contig: str) -> _Scan | None:
        """Check lines ``start..`` of ``chunk`` as lines of ``contig``."""
        length = self.contigs.get(contig)
        if length is None:
            return None
        formats, no_alt = self._candidates(chunk, start)
        pattern = self._pattern(contig, formats, no_alt) if formats else None
        if pattern is None:
            return None
        n = chunk.count
        buf = chunk.buffer
        offsets = np.empty(n + 1, dtype=np.int64)
        offsets[0] = 0
        offsets[1:] = chunk.ends + 1
        lines = pa.LargeStringArray.from_buffers(
            n - start, pa.py_buffer(offsets[start:]), pa.py_buffer(chunk.data)
        )
        try:
            matched = pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self.enabled = False  # the pattern is beyond RE2: every line per record
            return None
        idx = np.flatnonzero(matched).astype(np.int64) + start
        scan = _Scan(
            contig=contig,
            start=start,
            fast=np.zeros(n, dtype=bool),
            pos=np.zeros(n, dtype=np.int64),
            breaks=[],
            snv=np.zeros(n, dtype=bool),
            taken=np.zeros(n, dtype=bool),
        )
        if len(idx):
            idx = self._check(chunk, buf, idx, contig, length, formats, scan)
        scan.idx = idx
        scan.fast[idx] = True
        fast = scan.fast
        pos = scan.pos
        cont = np.zeros(n, dtype=bool)
        cont[start + 1 :] = fast[start + 1 :] & fast[start:-1] & (pos[start + 1 :] > pos[start:-1])
        scan.breaks = (np.flatnonzero(~cont[start:]) + start).tolist()
        return scan

    def _check(
        self,
        chunk: Chunk,
        buf: npt.NDArray[np.uint8],
        idx: npt.NDArray[np.int64],
        contig: str,
        length: int,
        formats: list[_Format],
        scan: _Scan,
    ) -> npt.NDArray[np.int64]:
        """Read the fields of the matched lines ``idx`` and keep those that pass."""
        tabs = np.flatnonzero(buf == _TAB).astype(np.int64)
        first_tab = np.searchsorted(tabs, chunk.starts[idx])
        # ten columns (an INFO pattern of keys could take in another tab)
        ten = np.searchsorted(tabs, chunk.ends[idx]) - first_tab == 9
        idx, first_tab = idx[ten], first_tab[ten]
        if not len(idx):
            return idx
        t = tabs[first_tab[:, None] + np.arange(9)]
        ends = chunk.ends[idx]
        pos, ok = _number(buf, t[:, 0] + 1, t[:, 1], 10)
        ref_at = t[:, 2] + 1
        ref = buf[ref_at] & _UPPER
        alt_at = t[:, 3] + 1
        alt_len = t[:, 4] - alt_at
        alt0 = buf[alt_at]
        snv = (alt_len == 1) & (alt0 != _DOT)
        no_alt = (alt_len == 1) & (alt0 == _DOT)
        # ALT X,<NON_REF> (the pattern's only ALT with a comma); REF A, C, G or T as the
        # per-record path needs to split it itself
        gatk = (alt_len == len(_NON_REF) + 1) & (buf[alt_at + 1] == _COMMA)
        ok &= ~gatk | np.isin(ref, np.frombuffer(b"ACGT", dtype=np.uint8))
        filter_at = t[:, 5] + 1
        filter_len = t[:, 6] - filter_at
        passed = (filter_len == 1) & (buf[filter_at] == _DOT)
        four = filter_len == 4
        if four.any():
            word = buf[np.minimum(filter_at[:, None] + np.arange(4), len(buf) - 1)]
            passed |= four & (word == np.frombuffer(b"PASS", dtype=np.uint8)).all(axis=1)
        info_at = t[:, 6] + 1
        has_end = (t[:, 7] - info_at) > 4
        if has_end.any():
            word = buf[np.minimum(info_at[:, None] + np.arange(4), len(buf) - 1)]
            has_end &= (word == np.frombuffer(b"END=", dtype=np.uint8)).all(axis=1)
        end = np.where(has_end, 0, pos)
        if has_end.any():
            end[has_end], short = _number(buf, info_at[has_end] + 4, t[has_end, 7], 9)
            ok[has_end] &= short

        ok &= (pos <= length) & (~has_end | ((end >= pos) & (end <= length)))
        ok &= ~(snv | gatk) | (ref != (alt0 & _UPPER))
        found = self.bases(contig, np.where(ok, pos - 1, 0))
        if found is None:
            return np.zeros(0, dtype=np.int64)
        ok &= (found & _UPPER) == ref

        # FORMAT and the sample column, per FORMAT
        fmt_at = t[:, 7] + 1
        fmt_len = t[:, 8] - fmt_at
        sample_at = t[:, 8] + 1
        colons = np.flatnonzero(buf == _COLON).astype(np.int64)
        commas = np.flatnonzero(buf == _COMMA).astype(np.int64)
        m = len(idx)
        gt_len = np.zeros(m, dtype=np.int64)
        a1 = np.full(m, -1, dtype=np.int64)
        a2 = np.full(m, -1, dtype=np.int64)
        phased = np.zeros(m, dtype=bool)
        gq = np.full(m, -1, dtype=np.int64)
        dp = np.full(m, -1, dtype=np.int64)
        min_dp = np.full(m, -1, dtype=np.int64)
        ad_ref = np.full(m, -1, dtype=np.int64)
        ad_alt = np.full(m, -1, dtype=np.int64)
        ad_at = np.zeros(m, dtype=np.int64)
        ad_end = np.zeros(m, dtype=np.int64)
        known = np.zeros(m, dtype=bool)
        sizes = [len(f.text.encode("utf-8")) for f in formats]
        for fmt, size in zip(formats, sizes, strict=True):
            # the pattern let through FORMAT columns that end in a candidate's (an INFO
            # pattern of keys could take in the start of the column)
            rows = np.flatnonzero(~known & (fmt_len == size))
            if len(rows):
                literal = np.frombuffer(fmt.text.encode("utf-8"), dtype=np.uint8)
                at = buf[fmt_at[rows, None] + np.arange(size)]
                rows = rows[(at == literal).all(axis=1)]
            if len(rows) == 0:
                continue
            known[rows] = True
            plan = fmt.plan
            nkeys = len(plan.keys)
            s = sample_at[rows]
            if nkeys > 1:
                c = colons[np.searchsorted(colons, s)[:, None] + np.arange(nkeys - 1)]
                f_start = np.concatenate([s[:, None], c + 1], axis=1)
                f_end = np.concatenate([c, ends[rows, None]], axis=1)
            else:
                f_start = s[:, None]
                f_end = ends[rows, None]
            # GT: one or two single-digit alleles
            g0 = f_start[:, 0]
            glen = f_end[:, 0] - g0
            two = glen == 3
            first = buf[g0].astype(np.int64)
            second = buf[np.where(two, g0 + 2, g0)].astype(np.int64)
            gt_len[rows] = glen
            a1[rows] = np.where(first == _DOT, -1, first - 48)
            a2[rows] = np.where(two, np.where(second == _DOT, -1, second - 48), -1)
            phased[rows] = two & (buf[np.where(two, g0 + 1, g0)] == ord("|"))
            # the counts the rows need, read in one go: (field, rows, starts, ends)
            spans: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Any, Any]] = []
            for key, out in (("GQ", gq), ("DP", dp), ("MIN_DP", min_dp)):
                k = plan.index.get(key)
                if k is not None:
                    fs, fe = f_start[:, k], f_end[:, k]
                    given = buf[fs] != _DOT
                    spans.append((out, rows[given], fs[given], fe[given]))
            k = plan.index.get("AD")
            if k is not None:
                fs, fe = f_start[:, k], f_end[:, k]
                ad_at[rows], ad_end[rows] = fs, fe
                # two counts with one ALT, three with X,<NON_REF> (the pattern of lines
                # without ALT is the plain one)
                pair = ~no_alt[rows] & (buf[fs] != _DOT)
                three = gatk[rows][pair]
                where = rows[pair]
                fs, fe = fs[pair], fe[pair]
                at = np.searchsorted(commas, fs)
                comma = commas[at]
                second = np.where(three, commas[np.minimum(at + 1, len(commas) - 1)], fe)
                spans.append((ad_ref, where, fs, comma))
                spans.append((ad_alt, where, comma + 1, second))
                spans.append((np.zeros(m, dtype=np.int64), where[three], second[three] + 1,
                              fe[three]))  # fmt: skip
            if spans:
                values, short = _number(
                    buf,
                    np.concatenate([span[2] for span in spans]),
                    np.concatenate([span[3] for span in spans]),
                    9,
                )
                at = 0
                for out, where, _starts, _ends in spans:
                    out[where] = values[at : at + len(where)]
                    ok[where] &= short[at : at + len(where)]
                    at += len(where)
            # Number=G fields: as many values as genotypes of the ploidy (one ALT)
            counted = ~no_alt[rows]
            ploidy = np.where(two, 2, 1)
            # (1 + ploidy choose ploidy) with one ALT, (2 + ploidy choose ploidy) with two
            want = np.where(gatk[rows], np.where(two, 6, 3), ploidy + 1)
            for k in plan.g_fields:
                fs, fe = f_start[:, k], f_end[:, k]
                flen = fe - fs
                skip = (flen == 0) | ((flen == 1) & (buf[fs] == _DOT))
                items = np.searchsorted(commas, fe) - np.searchsorted(commas, fs) + 1
                bad = counted & ~skip & (items != want)
                ok[rows[bad]] = False
        ok &= known
        # alleles that ALT lists: 0 and 1 with one ALT, 0 to 2 with X,<NON_REF>, 0 alone
        # without
        top = np.maximum(a1, a2)
        ok &= np.where(no_alt, top <= 0, top <= np.where(gatk, 2, 1))

        keep = np.flatnonzero(ok)
        idx = idx[keep]
        scan.pos[idx] = pos[keep]
        scan.snv[idx] = (snv | gatk)[keep]
        scan.fields = {
            "ref_at": ref_at[keep],
            "alt_at": alt_at[keep],
            "symbolic": (~snv & ~no_alt & ~gatk)[keep].astype(np.int64),
            "passed": passed[keep].astype(np.int64),
            "end": end[keep],
            "gt_at": (sample_at[keep]),
            "gt_len": gt_len[keep],
            "a1": a1[keep],
            "a2": a2[keep],
            "phased": phased[keep].astype(np.int64),
            "gq": gq[keep],
            "dp": dp[keep],
            "min_dp": min_dp[keep],
            "ad_ref": ad_ref[keep],
            "ad_alt": ad_alt[keep],
            "gatk": gatk[keep].astype(np.int64),
            "ad_at": ad_at[keep],
            "ad_end": ad_end[keep],
        }
        return idx

    # -- rows of the lines taken ------------------------------------------------------------

    def _finish(self, chunk: Chunk, scan: _Scan) -> None:
        """Count the lines ``scan`` took and make their rows."""
        if not len(scan.idx):
            return
        sel = scan.taken[scan.idx]
        if not sel.any():
            return
        f = {k: v[sel] for k, v in scan.fields.items()}
        idx = scan.idx[sel]
        pos = scan.pos[idx]
        lines = pa.array(idx + chunk.first, type=pa.int64())
        a1, a2 = f["a1"], f["a2"]
        called = (a1 >= 0).astype(np.int64) + (a2 >= 0)
        nonref = (a1 > 0).astype(np.int64) + (a2 > 0)
        passed = f["passed"].astype(bool)
        self.filtered += int((~passed).sum())
        live = passed & (called > 0)
        self.no_call += int((passed & (called == 0)).sum())
        symbolic = f["symbolic"].astype(bool)
        self.symbolic += int((live & (nonref > 0) & symbolic).sum())
        buf = chunk.buffer

        block = np.flatnonzero(live & (nonref == 0))
        if len(block):
            n = len(block)
            dp = np.where(f["min_dp"][block] >= 0, f["min_dp"][block], f["dp"][block])
            gq = f["gq"][block]
            self.blocks.append(
                (
                    [
                        pa.repeat(pa.scalar(scan.contig, pa.string()), n),
                        pa.array(pos[block], type=pa.int64()),
                        pa.array(np.maximum(f["end"][block], pos[block]), type=pa.int64()),
                        pa.array(called[block].astype(np.int8), type=pa.int8()),
                        _ints(gq, gq < 0),
                        _ints(dp, dp < 0),
                    ],
                    lines.take(pa.array(block)),
                )
            )
        gatk = f["gatk"].astype(bool)
        split = np.flatnonzero(live & (nonref > 0) & gatk)
        if len(split):
            self.normalised += len(split)
            ad_at, ad_end = f["ad_at"][split], f["ad_end"][split]
            gt_at = f["gt_at"][split]
            self.splits.append(
                NonRefCalls(
                    contig=scan.contig,
                    lines=idx[split] + chunk.first,
                    pos=pos[split],
                    ref=(buf[f["ref_at"][split]] & _UPPER).astype(np.uint8),
                    alt=(buf[f["alt_at"][split]] & _UPPER).astype(np.uint8),
                    a1=a1[split],
                    a2=a2[split],
                    phased=f["phased"][split].astype(bool),
                    gq=f["gq"][split],
                    dp=f["dp"][split],
                    ad_ref=f["ad_ref"][split],
                    ad_alt=f["ad_alt"][split],
                    gt=_strings(buf, gt_at, gt_at + f["gt_len"][split]),
                    ad=_strings(buf, ad_at, ad_end),
                )
            )
        call = np.flatnonzero(live & (nonref > 0) & ~symbolic & ~gatk)
        if len(call):
            n = len(call)
            gq, dp = f["gq"][call], f["dp"][call]
            ad_ref, ad_alt = f["ad_ref"][call], f["ad_alt"][call]
            gt_at = f["gt_at"][call]
            self.calls.append(
                (
                    [
                        pa.repeat(pa.scalar(scan.contig, pa.string()), n),
                        pa.array(pos[call], type=pa.int64()),
                        _chars(buf[f["ref_at"][call]] & _UPPER),
                        _chars(buf[f["alt_at"][call]] & _UPPER),
                        pa.repeat(pa.scalar("snv", pa.string()), n),
                        _strings(buf, gt_at, gt_at + f["gt_len"][call]),
                        pa.array(called[call].astype(np.int8), type=pa.int8()),
                        pa.array(nonref[call].astype(np.int8), type=pa.int8()),
                        pa.array(np.zeros(n, dtype=np.int8), type=pa.int8()),
                        pa.array(f["phased"][call].astype(bool), type=pa.bool_()),
                        _ints(gq, gq < 0),
                        _ints(dp, dp < 0),
                        _ints(ad_ref, ad_ref < 0),
                        _ints(ad_alt, ad_alt < 0),
                    ],
                    lines.take(pa.array(call)),
                )
            )


__all__ = ["BLOCK_TYPES", "CALL_TYPES", "Chunk", "ChunkScanner", "NonRefCalls"]
