"""Reading the layout and indexes of BAM, CRAM, VCF.gz and BCF files, to slice them by region.

Pure parsing (standard library only): nothing here opens a file or decides who may
read one. The htsget service hands in bytes it read from the encrypted store and gets
back plaintext byte ranges that hold every record of a region:

* :func:`read_layout` finds where a file's header ends and where its data ends (before
  the BGZF or CRAM end-of-file marker), reading the file through a ``read(start, end)``
  callback, header blocks only;
* :func:`load_index` parses a BAI, CSI, TBI (binning indexes over BGZF virtual
  offsets) or CRAI (CRAM container offsets);
* :func:`region_chunks` turns a region into BGZF virtual-offset chunks, and
  :func:`bgzf_pieces` those into whole blocks of the file plus new blocks for the
  records cut out of the blocks a chunk starts or ends in; :func:`cram_ranges` turns a
  region into byte ranges of whole CRAM containers. Slices may hold records outside the
  region (as far as the index cannot tell them apart; htsget allows that), never part of
  a record.

Coordinates are 0-based, half-open.
"""

from __future__ import annotations

import bisect
import bz2
import enum
import gzip
import lzma
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from helgenom.core.errors import FormatError

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
"""The empty BGZF block that ends a BAM, VCF.gz or BCF file."""
CRAM3_EOF = bytes.fromhex(
    "0f000000ffffffff0fe0454f4600000000010005bdd94f0001000606010001000100ee63014b"
)
"""The end-of-file container of CRAM 3.x."""
CRAM2_EOF = bytes.fromhex("0b000000ffffffffffe0454f460000000001000001000606010001000100")
"""The end-of-file container of CRAM 2.1."""
BGZF_MAX_PLAIN = 0xFF00
"""Plaintext bytes per BGZF block written here (as htslib does)."""
HEADER_READ_STEP = 1 << 16
"""Bytes first read while looking for the end of a header (doubled until it is found)."""
MAX_HEADER_BYTES = 256 << 20
"""A header larger than this is refused (a damaged file, not a genome)."""

_BAI_MAX_END = 1 << 29


class HtsFormat(enum.StrEnum):
    """A file format htsget serves."""

    BAM = "BAM"
    CRAM = "CRAM"
    VCF = "VCF"
    """BGZF-compressed VCF (``.vcf.gz``)."""
    BCF = "BCF"

    @property
    def is_bgzf(self) -> bool:
        return self is not HtsFormat.CRAM


@dataclass(frozen=True, slots=True)
class FileLayout:
    """Where a file's parts are, as plaintext byte offsets."""

    format: HtsFormat
    header_end: int
    """Where the block holding the header's last byte ends (a block/container boundary)."""
    header_voffset: int
    """BGZF virtual offset of the first byte after the header (CRAM: ``header_end << 16``)."""
    data_end: int
    """Where the end-of-file marker starts (the file size when there is none)."""
    reference_names: tuple[str, ...]
    """Reference sequences in header order (what BAI/CSI/CRAI numbers refer to)."""

    @property
    def header_is_block_aligned(self) -> bool:
        """Whether the header ends exactly at a block boundary (no record shares its block)."""
        return self.header_voffset == self.header_end << 16


# -- BGZF -------------------------------------------------------------------------------


def _bgzf_block_size(data: bytes | memoryview, at: int) -> int | None:
    """Total size of the BGZF block starting at ``at``, or None if ``data`` ends first."""
    if len(data) - at < 18:
        return None
    if data[at] != 0x1F or data[at + 1] != 0x8B or data[at + 3] & 4 == 0:
        raise FormatError(f"not a BGZF block at byte {at} (compress the file with bgzip)")
    xlen = struct.unpack_from("<H", data, at + 10)[0]
    extra = at + 12
    end_extra = extra + xlen
    while extra + 4 <= end_extra:
        si1, si2, slen = data[extra], data[extra + 1], struct.unpack_from("<H", data, extra + 2)[0]
        if si1 == 66 and si2 == 67 and slen == 2:
            return int(struct.unpack_from("<H", data, extra + 4)[0]) + 1
        extra += 4 + slen
    raise FormatError(f"gzip member at byte {at} has no BGZF block size (use bgzip, not gzip)")


def iter_bgzf_blocks(data: bytes, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """The complete BGZF blocks of ``data``: ``(offset, compressed size, plaintext)``."""
    at = start
    while True:
        size = _bgzf_block_size(data, at)
        if size is None or at + size > len(data):
            return
        xlen = struct.unpack_from("<H", data, at + 10)[0]
        try:
            plain = zlib.decompress(data[at + 12 + xlen : at + size - 8], -15)
        except zlib.error as exc:
            raise FormatError(f"corrupt BGZF block at byte {at}: {exc}") from None
        yield at, size, plain
        at += size


def bgzf_compress(data: bytes) -> bytes:
    """``data`` as BGZF blocks (without the EOF block)."""
    out = bytearray()
    for at in range(0, len(data), BGZF_MAX_PLAIN):
        piece = data[at : at + BGZF_MAX_PLAIN]
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = packer.compress(piece) + packer.flush()
        size = 18 + len(deflated) + 8
        out += b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00"
        out += struct.pack("<H", size - 1)
        out += deflated
        out += struct.pack("<II", zlib.crc32(piece), len(piece))
    return bytes(out)


def header_bytes(data: bytes, header_voffset: int) -> bytes:
    """The plaintext header of a BGZF file, from its first blocks (``data`` starts at 0)."""
    stop, within = header_voffset >> 16, header_voffset & 0xFFFF
    plain = bytearray()
    for offset, _size, block in iter_bgzf_blocks(data):
        if offset == stop:
            plain += block[:within]
            return bytes(plain)
        plain += block
    raise FormatError("the header's blocks are incomplete")


# -- headers ----------------------------------------------------------------------------


def _bam_header(plain: bytes) -> tuple[int, tuple[str, ...]] | None:
    if len(plain) < 12:
        return None
    if plain[:4] != b"BAM\x01":
        raise FormatError("not a BAM file (no BAM magic after decompression)")
    (l_text,) = struct.unpack_from("<i", plain, 4)
    at = 8 + l_text
    if len(plain) < at + 4:
        return None
    (n_ref,) = struct.unpack_from("<i", plain, at)
    at += 4
    names = []
    for _ in range(n_ref):
        if len(plain) < at + 4:
            return None
        (l_name,) = struct.unpack_from("<i", plain, at)
        if len(plain) < at + 4 + l_name + 4:
            return None
        names.append(plain[at + 4 : at + 4 + l_name].rstrip(b"\0").decode("ascii", "replace"))
        at += 4 + l_name + 4
    return at, tuple(names)


_CONTIG = re.compile(rb"^##contig=<(.*)>\s*$", re.MULTILINE)
_ID = re.compile(rb"(?:^|,)ID=([^,>]+)")
_IDX = re.compile(rb"(?:^|,)IDX=(\d+)")


def _vcf_contigs(text: bytes) -> tuple[str, ...]:
    """Contig names of a VCF header, in dictionary order (BCF ``IDX=`` honoured)."""
    found: list[tuple[int, str]] = []
    for n, match in enumerate(_CONTIG.finditer(text)):
        ident = _ID.search(match.group(1))
        if ident is None:
            continue
        idx = _IDX.search(match.group(1))
        found.append((int(idx.group(1)) if idx else n, ident.group(1).decode("ascii", "replace")))
    return tuple(name for _, name in sorted(found))


def _vcf_header(plain: bytes) -> tuple[int, tuple[str, ...]] | None:
    if not plain.startswith(b"##fileformat=VCF"):
        raise FormatError("not a VCF file (no ##fileformat=VCF line after decompression)")
    at = plain.find(b"\n#CHROM")
    if at < 0:
        return None
    end = plain.find(b"\n", at + 1)
    if end < 0:
        return None
    return end + 1, _vcf_contigs(plain[: end + 1])


def _bcf_header(plain: bytes) -> tuple[int, tuple[str, ...]] | None:
    if len(plain) < 9:
        return None
    if plain[:3] != b"BCF" or plain[3] != 2:
        raise FormatError("not a BCF 2 file (no BCF magic after decompression)")
    (l_text,) = struct.unpack_from("<I", plain, 5)
    if len(plain) < 9 + l_text:
        return None
    return 9 + l_text, _vcf_contigs(plain[9 : 9 + l_text])


def _itf8(data: bytes, at: int) -> tuple[int, int]:
    first = data[at]
    if first < 0x80:
        return first, at + 1
    if first < 0xC0:
        return ((first & 0x3F) << 8) | data[at + 1], at + 2
    if first < 0xE0:
        return ((first & 0x1F) << 16) | (data[at + 1] << 8) | data[at + 2], at + 3
    if first < 0xF0:
        value = ((first & 0x0F) << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]
        return value, at + 4
    value = (
        ((first & 0x0F) << 28)
        | (data[at + 1] << 20)
        | (data[at + 2] << 12)
        | (data[at + 3] << 4)
        | (data[at + 4] & 0x0F)
    )
    if value >= 1 << 31:
        value -= 1 << 32
    return value, at + 5


def _ltf8(data: bytes, at: int) -> tuple[int, int]:
    first = data[at]
    extra = 0
    while extra < 8 and first & (0x80 >> extra):
        extra += 1
    value = first & (0xFF >> (extra + 1)) if extra < 8 else 0
    for i in range(extra):
        value = (value << 8) | data[at + 1 + i]
    return value, at + 1 + extra


_CRAM_CODECS: dict[int, Callable[[bytes], bytes]] = {
    0: lambda b: b,
    1: gzip.decompress,
    2: bz2.decompress,
    3: lzma.decompress,
}


def _cram_header(data: bytes) -> tuple[int, tuple[str, ...]] | None:
    """End of the CRAM header container and the @SQ names, or None if ``data`` is short."""
    if len(data) < 26 + 40:
        return None
    if data[:4] != b"CRAM":
        raise FormatError("not a CRAM file (no CRAM magic)")
    major = data[4]
    if major < 2:
        raise FormatError(f"CRAM {major}.x is not supported: convert it to CRAM 3")
    try:
        (length,) = struct.unpack_from("<i", data, 26)
        at = 30
        for _ in range(4):  # reference id, start, span, records
            _, at = _itf8(data, at)
        for _ in range(2):  # record counter, bases
            _, at = _ltf8(data, at)
        _, at = _itf8(data, at)  # blocks
        landmarks, at = _itf8(data, at)
        for _ in range(landmarks):
            _, at = _itf8(data, at)
        if major >= 3:
            at += 4  # CRC32
        end = at + length
        if len(data) < end:
            return None
        method, block = data[at], at + 2
        _, block = _itf8(data, block)  # content id
        compressed, block = _itf8(data, block)
        _raw, block = _itf8(data, block)
    except (IndexError, struct.error):
        return None
    codec = _CRAM_CODECS.get(method)
    if codec is None:
        raise FormatError(f"the CRAM header block uses compression method {method}, not read here")
    try:
        content = codec(data[block : block + compressed])
    except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        raise FormatError(f"corrupt CRAM header block: {exc}") from None
    (l_text,) = struct.unpack_from("<i", content, 0)
    text = content[4 : 4 + l_text].decode("utf-8", "replace")
    names = tuple(
        field[3:]
        for line in text.splitlines()
        if line.startswith("@SQ")
        for field in line.split("\t")
        if field.startswith("SN:")
    )
    return end, names


def sniff_format(first: bytes) -> HtsFormat:
    """The format of a file from its first bytes (a whole first BGZF block, if BGZF)."""
    if first.startswith(b"CRAM"):
        return HtsFormat.CRAM
    if first.startswith(b"\x1f\x8b"):
        for _offset, _size, plain in iter_bgzf_blocks(first):
            if plain.startswith(b"BAM\x01"):
                return HtsFormat.BAM
            if plain.startswith(b"BCF\x02"):
                return HtsFormat.BCF
            if plain.startswith(b"##fileformat=VCF"):
                return HtsFormat.VCF
            break
        raise FormatError("a BGZF file that is neither BAM, BCF nor VCF")
    if first.startswith(b"##fileformat=VCF"):
        raise FormatError("an uncompressed VCF: compress it with bgzip and index it with tabix")
    raise FormatError("not a BAM, CRAM, VCF.gz or BCF file")


def read_layout(read: Callable[[int, int], bytes], size: int) -> FileLayout:
    """The layout of a file of ``size`` bytes, read through ``read(start, end)``.

    Reads the header's blocks (64 KiB, then twice as much each time) and the end-of-file
    marker only.
    """
    data = read(0, min(size, HEADER_READ_STEP))
    fmt = sniff_format(data)
    tail_size = len(CRAM3_EOF) if fmt is HtsFormat.CRAM else len(BGZF_EOF)
    tail = read(max(0, size - tail_size), size)
    if fmt is HtsFormat.CRAM:
        data_end = size
        for eof in (CRAM3_EOF, CRAM2_EOF):
            if tail.endswith(eof):
                data_end = size - len(eof)
        while (cram := _cram_header(data)) is None:
            data = _read_more(read, data, size)
        end, names = cram
        return FileLayout(fmt, end, end << 16, data_end, names)
    data_end = size - len(BGZF_EOF) if tail == BGZF_EOF else size
    parse = {HtsFormat.BAM: _bam_header, HtsFormat.VCF: _vcf_header, HtsFormat.BCF: _bcf_header}[
        fmt
    ]
    while True:
        blocks = list(iter_bgzf_blocks(data))
        plain = b"".join(b for _, _, b in blocks)
        parsed = parse(plain)
        if parsed is not None:
            break
        data = _read_more(read, data, size)
    length, names = parsed
    consumed = 0
    for offset, csize, block in blocks:
        if consumed + len(block) > length:
            within = length - consumed
            voffset = (offset << 16) | within
            end = offset if within == 0 else offset + csize
            return FileLayout(fmt, end, voffset, data_end, names)
        consumed += len(block)
        if consumed == length:
            end = offset + csize
            return FileLayout(fmt, end, end << 16, data_end, names)
    raise FormatError("the header runs to the end of the file")  # pragma: no cover


def _read_more(read: Callable[[int, int], bytes], data: bytes, size: int) -> bytes:
    if len(data) >= size:
        raise FormatError("the file ends inside its header (truncated or not this format)")
    if len(data) >= MAX_HEADER_BYTES:
        raise FormatError(f"the header is larger than {MAX_HEADER_BYTES} bytes")
    return data + read(len(data), min(size, 2 * len(data)))


# -- indexes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceBins:
    """The bins of one reference sequence: bin number -> chunks (virtual offset pairs)."""

    bins: dict[int, tuple[tuple[int, int], ...]]
    linear: tuple[int, ...] = ()
    """BAI/TBI linear index: smallest virtual offset per 16 kb window."""
    loffsets: dict[int, int] | None = None
    """CSI: bin number -> smallest virtual offset of a record overlapping the bin."""


@dataclass(frozen=True, slots=True)
class BinningIndex:
    """A BAI, CSI or TBI index."""

    kind: str
    """``BAI``, ``CSI`` or ``TBI``."""
    min_shift: int
    depth: int
    references: tuple[ReferenceBins, ...]
    names: tuple[str, ...] = ()
    """Reference names kept in the index itself (TBI, and CSI with tabix metadata)."""

    @property
    def pseudo_bin(self) -> int:
        return ((1 << ((self.depth + 1) * 3)) - 1) // 7 + 1

    @property
    def max_end(self) -> int:
        return 1 << (self.min_shift + 3 * self.depth)

    def chunks(self, tid: int, start: int, end: int) -> list[tuple[int, int]]:
        """Chunks (virtual offsets) that may hold records overlapping ``[start, end)``."""
        if tid >= len(self.references):
            return []
        ref = self.references[tid]
        end = min(end, self.max_end)
        if start >= end:
            return []
        wanted = set(reg2bins(start, end, self.min_shift, self.depth))
        # No record overlapping the region lies before ``min_offset``: the first record
        # overlapping the window (BAI/TBI) or the finest bin (CSI) holding ``start``.
        min_offset = 0
        if ref.linear:
            window = start >> self.min_shift
            min_offset = ref.linear[min(window, len(ref.linear) - 1)]
        elif ref.loffsets:
            for level in range(self.depth, -1, -1):
                shift = self.min_shift + 3 * (self.depth - level)
                number = ((1 << (3 * level)) - 1) // 7 + (start >> shift)
                if number in ref.loffsets:
                    min_offset = ref.loffsets[number]
                    break
        # Nor after ``max_offset``: the first record of the nearest bin right of the region
        # (records are sorted by position, so every later one starts after the region).
        max_offset = self._first_offset_after(ref, end)
        found = [
            (max(begin, min_offset), min(finish, max_offset))
            for number, chunks in ref.bins.items()
            if number in wanted and number != self.pseudo_bin
            for begin, finish in chunks
            if finish > min_offset and begin < max_offset
        ]
        return sorted(found)

    def _first_offset_after(self, ref: ReferenceBins, end: int) -> int:
        """Virtual offset of the first record of the nearest non-empty bin right of
        ``end`` (climbing to a parent's right sibling from a first child), or 2^64."""
        number = ((1 << (3 * self.depth)) - 1) // 7 + ((end - 1) >> self.min_shift) + 1
        if number >= self.pseudo_bin - 1:
            number = 0
        while True:
            while number % 8 == 1:
                number = (number - 1) >> 3
            if number == 0:
                return 1 << 64
            chunks = ref.bins.get(number)
            if chunks:
                return min(begin for begin, _ in chunks)
            number += 1

    def placed_end(self) -> int | None:
        """Virtual offset after the last record with a position (unplaced reads follow)."""
        ends = [
            chunk[1]
            for ref in self.references
            for number, chunks in ref.bins.items()
            if number != self.pseudo_bin
            for chunk in chunks
        ]
        return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class CramIndexEntry:
    """One line of a CRAI index (a slice's span on one reference)."""

    reference: int
    """Reference index in the header, -1 for unplaced reads."""
    start: int
    """1-based alignment start."""
    span: int
    container_offset: int


@dataclass(frozen=True, slots=True)
class CramIndex:
    """A CRAI index."""

    entries: tuple[CramIndexEntry, ...]

    @property
    def kind(self) -> str:
        return "CRAI"

    def containers(self, tid: int, start: int, end: int) -> list[int]:
        """Offsets of the containers with records of ``tid`` overlapping ``[start, end)``."""
        return sorted(
            {
                e.container_offset
                for e in self.entries
                if e.reference == tid
                and (tid < 0 or (e.start - 1 < end and e.start - 1 + max(e.span, 1) > start))
            }
        )


def reg2bins(start: int, end: int, min_shift: int, depth: int) -> list[int]:
    """Bins that overlap ``[start, end)`` in a binning scheme (SAM specification 5.3)."""
    last = end - 1
    bins: list[int] = []
    shift = min_shift + depth * 3
    first_of_level = 0
    for level in range(depth + 1):
        bins.extend(range(first_of_level + (start >> shift), first_of_level + (last >> shift) + 1))
        shift -= 3
        first_of_level += 1 << (level * 3)
    return bins


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.at = 0
        self.what = what

    def take(self, fmt: str) -> tuple[int, ...]:
        try:
            values = struct.unpack_from(fmt, self.data, self.at)
        except struct.error:
            raise FormatError(f"the {self.what} index is truncated") from None
        self.at += struct.calcsize(fmt)
        return tuple(int(v) for v in values)

    def one(self, fmt: str) -> int:
        return self.take(fmt)[0]

    def raw(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise FormatError(f"the {self.what} index is truncated")
        piece = self.data[self.at : self.at + n]
        self.at += n
        return piece


def _chunks(r: _Reader) -> tuple[tuple[int, int], ...]:
    n = r.one("<i")
    flat = r.take(f"<{2 * n}Q")
    return tuple((flat[2 * i], flat[2 * i + 1]) for i in range(n))


def _tabix_names(r: _Reader) -> tuple[str, ...]:
    r.take("<6i")  # format, col_seq, col_beg, col_end, meta, skip
    l_nm = r.one("<i")
    return tuple(n.decode("ascii", "replace") for n in r.raw(l_nm).split(b"\0") if n)


def _binning_refs(r: _Reader, n_ref: int, linear: bool, loffset: bool) -> list[ReferenceBins]:
    refs = []
    for _ in range(n_ref):
        bins: dict[int, tuple[tuple[int, int], ...]] = {}
        loffsets: dict[int, int] = {}
        for _ in range(r.one("<i")):
            number = r.one("<I")
            if loffset:
                loffsets[number] = r.one("<Q")
            bins[number] = _chunks(r)
        offsets: tuple[int, ...] = ()
        if linear:
            n_intv = r.one("<i")
            offsets = r.take(f"<{n_intv}Q")
        refs.append(ReferenceBins(bins, offsets, loffsets if loffset else None))
    return refs


def load_index(data: bytes) -> BinningIndex | CramIndex:
    """Parse a BAI, CSI, TBI or CRAI index (the format is recognised from its bytes)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError(f"corrupt compressed index: {exc}") from None
    magic = data[:4]
    if magic == b"BAI\x01":
        r = _Reader(data, "BAI")
        r.raw(4)
        refs = _binning_refs(r, r.one("<i"), linear=True, loffset=False)
        return BinningIndex("BAI", 14, 5, tuple(refs))
    if magic == b"TBI\x01":
        r = _Reader(data, "TBI")
        r.raw(4)
        n_ref = r.one("<i")
        names = _tabix_names(r)
        refs = _binning_refs(r, n_ref, linear=True, loffset=False)
        return BinningIndex("TBI", 14, 5, tuple(refs), names)
    if magic == b"CSI\x01":
        r = _Reader(data, "CSI")
        r.raw(4)
        min_shift, depth, l_aux = r.take("<3i")
        aux = r.raw(l_aux)
        aux_names = _tabix_names(_Reader(aux, "CSI")) if l_aux >= 28 else ()
        refs = _binning_refs(r, r.one("<i"), linear=False, loffset=True)
        return BinningIndex("CSI", min_shift, depth, tuple(refs), aux_names)
    return _load_crai(data)


def _load_crai(data: bytes) -> CramIndex:
    entries = []
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError("not a BAI, CSI, TBI or CRAI index") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            ref, start, span, offset = (int(f) for f in fields[:4])
        except ValueError:
            raise FormatError(f"not a CRAI index: line {number} is {line[:60]!r}") from None
        if len(fields) != 6:
            raise FormatError(f"not a CRAI index: line {number} has {len(fields)} fields, not 6")
        entries.append(CramIndexEntry(ref, start, span, offset))
    return CramIndex(tuple(entries))


INDEX_FORMATS: dict[HtsFormat, frozenset[str]] = {
    HtsFormat.BAM: frozenset({"BAI", "CSI"}),
    HtsFormat.CRAM: frozenset({"CRAI"}),
    HtsFormat.VCF: frozenset({"TBI", "CSI"}),
    HtsFormat.BCF: frozenset({"CSI"}),
}
"""Which index kinds can slice which file format."""


def reference_names(index: BinningIndex | CramIndex, layout: FileLayout) -> tuple[str, ...]:
    """The names the index numbers: its own (TBI, tabix CSI) or the file header's."""
    if isinstance(index, BinningIndex) and index.names:
        return index.names
    return layout.reference_names


def region_chunks(
    index: BinningIndex,
    layout: FileLayout,
    reference: str,
    start: int = 0,
    end: int | None = None,
) -> list[tuple[int, int]]:
    """BGZF virtual-offset chunks holding every record of ``reference`` overlapping
    ``[start, end)`` (``"*"``: unplaced reads), sorted, merged and kept between the end of
    the header and the end of the data. An unknown reference gives none."""
    if reference == "*":
        placed = index.placed_end()
        chunks = [(layout.header_voffset if placed is None else placed, layout.data_end << 16)]
    else:
        names = reference_names(index, layout)
        if reference not in names:
            return []
        stop = end if end is not None else 1 << 62
        chunks = index.chunks(names.index(reference), start, stop)
    return merge_ranges(
        [(max(a, layout.header_voffset), min(b, layout.data_end << 16)) for a, b in chunks]
    )


def cram_ranges(
    index: CramIndex,
    layout: FileLayout,
    reference: str,
    start: int = 0,
    end: int | None = None,
) -> list[tuple[int, int]]:
    """Byte ranges of the CRAM containers holding every record of ``reference``
    overlapping ``[start, end)`` (``"*"``: unplaced reads), sorted and merged."""
    if reference == "*":
        tid = -1
    elif reference in layout.reference_names:
        tid = layout.reference_names.index(reference)
    else:
        return []
    offsets = sorted({e.container_offset for e in index.entries} | {layout.data_end})
    ranges = []
    for offset in index.containers(tid, start, end if end is not None else 1 << 62):
        after = bisect.bisect_right(offsets, offset)
        ranges.append((offset, offsets[after] if after < len(offsets) else layout.data_end))
    return merge_ranges([(max(a, layout.header_end), min(b, layout.data_end)) for a, b in ranges])


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of a slice: a byte range of the file, or new BGZF blocks (``inline``)."""

    start: int = 0
    end: int = 0
    inline: bytes | None = None


def bgzf_pieces(chunks: list[tuple[int, int]], read: Callable[[int, int], bytes]) -> list[Piece]:
    """Whole BGZF blocks of the file for the inside of each chunk, and new blocks for the
    records a chunk takes from a block it starts or ends inside of (a block may begin
    or end in the middle of a record; the cut is made where the index says a record
    starts). ``read(start, end)`` reads the file; only those edge blocks are read."""

    def block_at(offset: int) -> tuple[bytes, int]:
        data = read(offset, offset + 0x10000)
        for _offset, size, plain in iter_bgzf_blocks(data):
            return plain, size
        raise FormatError(f"no complete BGZF block at byte {offset}: index and file disagree")

    pieces: list[Piece] = []
    for begin, finish in chunks:
        first, within = begin >> 16, begin & 0xFFFF
        last, upto = finish >> 16, finish & 0xFFFF
        if first == last:
            plain, _ = block_at(first)
            pieces.append(Piece(inline=bgzf_compress(plain[within:upto])))
            continue
        raw_start = first
        if within:
            plain, size = block_at(first)
            pieces.append(Piece(inline=bgzf_compress(plain[within:])))
            raw_start = first + size
        if last > raw_start:
            pieces.append(Piece(raw_start, last))
        if upto:
            plain, _ = block_at(last)
            pieces.append(Piece(inline=bgzf_compress(plain[:upto])))
    return pieces


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with overlapping or touching ones joined; empty ones dropped."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


__all__ = [
    "BGZF_EOF",
    "CRAM2_EOF",
    "CRAM3_EOF",
    "INDEX_FORMATS",
    "BinningIndex",
    "CramIndex",
    "FileLayout",
    "HtsFormat",
    "Piece",
    "bgzf_compress",
    "bgzf_pieces",
    "cram_ranges",
    "header_bytes",
    "load_index",
    "merge_ranges",
    "read_layout",
    "reference_names",
    "region_chunks",
    "sniff_format",
]
