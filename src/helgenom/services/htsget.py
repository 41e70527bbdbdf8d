"""GA4GH htsget 1.3: slices of BAM, CRAM, VCF.gz and BCF objects from the encrypted store.

An object is served once it is *registered*: :meth:`HtsgetService.register` names a
stored data object (kind ``bam``, ``cram``, ``vcf`` or ``gvcf``) and its index object (kind
``bai``, ``csi``, ``tbi`` or ``crai``, of the same sample), reads the file's header blocks
and end-of-file marker, checks the index, and records the layout in the catalog
(``htsget_objects``). Clients then ask for it by its htsget id: the name given at
registration (several formats may share a name, e.g. a BAM and a CRAM of the same reads;
``format`` chooses), the name with the format's extension (``NAME.bam``), or the data
object's own id. :meth:`HtsgetService.list` shows what is registered (operators). The
secondary-analysis pipeline registers its own products (see
:data:`helgenom.services.pipeline.HTSGET_PRODUCTS`): a sample's CRAM as ``SAMPLE``
(``reads/SAMPLE``, ``reads/SAMPLE.cram``), its VCF as ``SAMPLE`` (``variants/SAMPLE``,
``variants/SAMPLE.vcf.gz``) and its gVCF as ``SAMPLE.g`` (``variants/SAMPLE.g.vcf.gz``), the
names of the pipeline's own files; a newer run's products take the names over.

A ticket (:meth:`HtsgetService.ticket`) lists plaintext byte ranges of the object: the
header blocks, the BGZF blocks or CRAM containers the index names for the regions, and
the end-of-file marker (inline, as a ``data:`` URI). Where a region starts or ends inside
a BGZF block, the records it takes from that block are recompressed into a new block,
sent inline (a block may begin or end in the middle of a record, so it cannot be sent
whole); so may a header that shares its last block with records. Only the index and
those edge blocks are decrypted for a ticket. Each range is fetched from the data route
(:meth:`HtsgetService.block`), which checks access again and reads only the Crypt4GH
segments holding the range. Every call is one access decision and one audit entry
(``object.put`` to register; ``object.list`` to list; ``object.read`` for tickets and
blocks).

With a client's Crypt4GH public key, every block (data routes and inline ones) is a
complete Crypt4GH stream encrypted to that key under a fresh data key: the client
decrypts each and concatenates the plaintexts. The key only protects the bytes on their
way and at the client, who is authorised to read them anyway, so this is a read
(``object.read``), not an export to a third party (``object.export``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy.engine import Connection

from helgenom.adapters import htsindex
from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import htsget_objects, objects
from helgenom.adapters.htsindex import FileLayout, HtsFormat
from helgenom.adapters.objectstore.crypt4gh import (
    SEGMENT_SIZE,
    key_id,
    make_header,
    parse_public_key,
)
from helgenom.core.access import Action
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
)
from helgenom.core.models import ObjectKind, RequestContext
from helgenom.core.version import __version__
from helgenom.services.gate import Gate
from helgenom.services.objects import ObjectService

HTSGET_FORMAT_VERSION = 1
"""Version of an ``htsget_objects`` row."""
HTSGET_VERSION = "1.3.0"
"""The htsget specification version served."""
MAX_BLOCK_BYTES = 32 << 20
"""Largest byte range one data URL serves; longer ranges are split over several URLs."""
MAX_REGIONS = 100
"""Regions one POST may ask for."""

ENDPOINT_FORMATS: dict[str, tuple[HtsFormat, ...]] = {
    "reads": (HtsFormat.BAM, HtsFormat.CRAM),
    "variants": (HtsFormat.VCF, HtsFormat.BCF),
}
"""The formats of each htsget endpoint, the default first."""
EXTENSIONS: dict[str, HtsFormat] = {
    ".bam": HtsFormat.BAM,
    ".cram": HtsFormat.CRAM,
    ".vcf.gz": HtsFormat.VCF,
    ".bcf": HtsFormat.BCF,
}
"""File extensions an htsget id may carry (``NAME.bam``): they choose the format."""
DATA_KINDS: dict[HtsFormat, frozenset[ObjectKind]] = {
    HtsFormat.BAM: frozenset({ObjectKind.BAM}),
    HtsFormat.CRAM: frozenset({ObjectKind.CRAM}),
    HtsFormat.VCF: frozenset({ObjectKind.VCF, ObjectKind.GVCF}),
    HtsFormat.BCF: frozenset({ObjectKind.VCF, ObjectKind.GVCF}),
}
"""Object kinds that may hold each format."""
INDEX_KINDS = frozenset({ObjectKind.BAI, ObjectKind.CSI, ObjectKind.TBI, ObjectKind.CRAI})
"""Object kinds of indexes."""
PUBLIC_KEY_HEADER = "htsget-client-public-key"
"""Request header carrying a client's Crypt4GH public key (base64 of its key file)."""


class HtsgetInputError(InvalidInputError):
    """A request htsget cannot serve; ``htsget_error`` names it in htsget's terms."""

    htsget_error = "InvalidInput"


class InvalidRangeError(HtsgetInputError):
    """A range that cannot be satisfied (start after end, past the end of an object)."""

    htsget_error = "InvalidRange"


class UnsupportedFormatError(HtsgetInputError):
    """A format the endpoint or the object does not offer."""

    htsget_error = "UnsupportedFormat"


@dataclass(frozen=True, slots=True)
class Region:
    """A region of one reference sequence (0-based, half-open; ``end`` None: to its end)."""

    reference: str
    """Reference name, or ``*`` for unplaced reads."""
    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class HtsgetQuery:
    """What a ticket request asks for."""

    format: HtsFormat | None = None
    header_only: bool = False
    regions: tuple[Region, ...] = ()
    """Empty: the whole file."""


@dataclass(frozen=True, slots=True)
class HtsgetRecord:
    """A registered htsget object (no person)."""

    name: str
    object_id: str
    format: HtsFormat
    index_object_id: str | None
    sample_id: str
    header_end: int
    data_end: int
    registered_at: dt.datetime
    registered_by: str


@dataclass(frozen=True, slots=True)
class TicketBlock:
    """One URL of a ticket: a byte range of an object, or inline bytes."""

    data_class: str
    """``header`` or ``body``."""
    object_id: str | None = None
    start: int = 0
    end: int = 0
    """The plaintext range ``[start, end)`` of the object (when not inline)."""
    inline: bytes | None = None
    """Bytes for a ``data:`` URI (Crypt4GH-encrypted when the ticket is)."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """An htsget ticket: the blocks whose concatenation is the requested data."""

    format: HtsFormat
    blocks: tuple[TicketBlock, ...]
    encrypted: bool
    """Whether every block is a Crypt4GH stream for the client's key."""


@dataclass(frozen=True, slots=True)
class Block:
    """What the data route returns."""

    data: bytes
    start: int
    end: int
    """The plaintext range ``[start, end)``."""
    size: int
    """The object's plaintext size."""
    encrypted: bool


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise HtsgetInputError(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value), 10)
        except ValueError:
            raise HtsgetInputError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0 or number > 1 << 62:
        raise InvalidRangeError(f"{name} must be between 0 and 2^62, not {number}")
    return number


def _region(reference: Any, start: Any, end: Any, endpoint: str) -> Region:
    if not isinstance(reference, str) or not reference:
        raise HtsgetInputError("referenceName must be a non-empty string")
    if reference == "*":
        if endpoint != "reads":
            raise HtsgetInputError("referenceName=* (unplaced reads) is for reads only")
        if start is not None or end is not None:
            raise HtsgetInputError("referenceName=* takes no start or end")
        return Region("*")
    first = 0 if start is None else _int(start, "start")
    last = None if end is None else _int(end, "end")
    if last is not None and first > last:
        raise InvalidRangeError(f"start {first} is after end {last}")
    return Region(reference, first, last)


def _format(value: Any, endpoint: str) -> HtsFormat:
    offered = ENDPOINT_FORMATS[endpoint]
    if isinstance(value, str) and value.upper() in {f.value for f in offered}:
        return HtsFormat(value.upper())
    names = ", ".join(f.value for f in offered)
    raise UnsupportedFormatError(f"format {value!r} is not served for {endpoint}: use {names}")


def _check_class(value: Any) -> bool:
    if value is None:
        return False
    if value != "header":
        raise HtsgetInputError(f"class must be 'header' (or left out), not {value!r}")
    return True


def _check_tags(tags: Any, notags: Any) -> None:
    def names(value: Any, label: str) -> set[str]:
        if value is None:
            return set()
        if isinstance(value, str):
            return {t for t in value.split(",") if t}
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return set(value)
        raise HtsgetInputError(f"{label} must be a list of tag names")

    both = names(tags, "tags") & names(notags, "notags")
    if both:
        raise HtsgetInputError(f"tags {sorted(both)} are both included and excluded")


def parse_get_query(params: Mapping[str, str], endpoint: str) -> HtsgetQuery:
    """The query of a GET ticket request (htsget 1.3 query parameters)."""
    fmt = None if params.get("format") is None else _format(params["format"], endpoint)
    header_only = _check_class(params.get("class"))
    _check_tags(params.get("tags"), params.get("notags"))
    reference = params.get("referenceName")
    start, end = params.get("start"), params.get("end")
    if header_only and any(
        params.get(k) is not None
        for k in ("referenceName", "start", "end", "fields", "tags", "notags")
    ):
        raise HtsgetInputError("class=header takes no other parameter than format")
    if reference is None:
        if start is not None or end is not None:
            raise HtsgetInputError("start and end need a referenceName")
        return HtsgetQuery(fmt, header_only)
    return HtsgetQuery(fmt, header_only, (_region(reference, start, end, endpoint),))


def parse_post_query(body: Any, endpoint: str) -> HtsgetQuery:
    """The query of a POST ticket request (htsget 1.3 JSON body)."""
    if not isinstance(body, dict):
        raise HtsgetInputError("the body must be a JSON object")
    known = {"format", "class", "fields", "tags", "notags", "regions"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise HtsgetInputError(f"unknown fields {unknown}: use {sorted(known)}")
    fmt = None if body.get("format") is None else _format(body["format"], endpoint)
    header_only = _check_class(body.get("class"))
    _check_tags(body.get("tags"), body.get("notags"))
    fields = body.get("fields")
    if fields is not None and not (
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    ):
        raise HtsgetInputError("fields must be a list of field names")
    raw = body.get("regions")
    if raw is None:
        return HtsgetQuery(fmt, header_only)
    if header_only:
        raise HtsgetInputError("class=header takes no regions")
    if not isinstance(raw, list) or not raw:
        raise HtsgetInputError("regions must be a non-empty list (leave it out for everything)")
    if len(raw) > MAX_REGIONS:
        raise HtsgetInputError(f"at most {MAX_REGIONS} regions per request, not {len(raw)}")
    regions = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"referenceName", "start", "end"}:
            raise HtsgetInputError(
                "each region is an object with referenceName and optional start, end"
            )
        regions.append(
            _region(item.get("referenceName"), item.get("start"), item.get("end"), endpoint)
        )
    return HtsgetQuery(fmt, header_only, tuple(regions))


def parse_client_key(encoded: bytes | None) -> bytes | None:
    """A client's Crypt4GH public key from its key file (or the 32 raw bytes)."""
    if encoded is None:
        return None
    try:
        return parse_public_key(encoded)
    except ConfigurationError:
        raise HtsgetInputError(
            f"the {PUBLIC_KEY_HEADER} header must be the base64 of a Crypt4GH public key file"
        ) from None


def seal_for(recipient: bytes, plain: bytes) -> bytes:
    """``plain`` as a complete Crypt4GH stream for ``recipient`` (a fresh data key)."""
    session = os.urandom(32)
    aead = ChaCha20Poly1305(session)
    out = bytearray(make_header(session, recipient))
    for at in range(0, len(plain), SEGMENT_SIZE):
        nonce = os.urandom(12)
        out += nonce + aead.encrypt(nonce, plain[at : at + SEGMENT_SIZE], None)
    return bytes(out)


def _split(start: int, end: int, data_class: str, object_id: str) -> list[TicketBlock]:
    return [
        TicketBlock(data_class, object_id, at, min(end, at + MAX_BLOCK_BYTES))
        for at in range(start, end, MAX_BLOCK_BYTES)
    ]


def _eof(layout: FileLayout, size: int) -> bytes:
    """The end-of-file marker to end a slice with (the file's own kind of marker)."""
    if layout.format is HtsFormat.CRAM:
        if size - layout.data_end == len(htsindex.CRAM2_EOF):
            return htsindex.CRAM2_EOF
        return htsindex.CRAM3_EOF
    return htsindex.BGZF_EOF


class HtsgetService:
    """GA4GH htsget tickets and data blocks over the encrypted object store."""

    def __init__(self, catalog: Catalog, gate: Gate, objects: ObjectService) -> None:
        self.catalog = catalog
        self.gate = gate
        self.objects = objects

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _object(conn: Connection, object_id: str) -> Any:
        row = conn.execute(sa.select(objects).where(objects.c.id == object_id)).first()
        if row is None or row.state != "stored":
            raise NotFoundError(
                f"no stored object {object_id}; list objects with helgenom object list"
            )
        return row

    def _read(self, row: Any, start: int, end: int) -> bytes:
        return self.objects.store.read_range(
            row.body_key,
            row.header,
            row.key_id,
            start,
            end,
            plaintext_size=int(row.plaintext_size),
        )

    @staticmethod
    def _layout(row: Any) -> FileLayout:
        return FileLayout(
            HtsFormat(row.format),
            int(row.header_end),
            int(row.header_voffset),
            int(row.data_end),
            tuple(json.loads(row.reference_names)),
        )

    def _resolve(self, conn: Connection, endpoint: str, ident: str, fmt: HtsFormat | None) -> Any:
        """The registered object of ``ident`` in ``fmt`` (or the endpoint's default)."""
        offered = ENDPOINT_FORMATS.get(endpoint)
        if offered is None:
            raise NotFoundError(f"no htsget endpoint {endpoint!r}: use reads or variants")
        joined = htsget_objects.join(objects, objects.c.id == htsget_objects.c.object_id)
        query = (
            sa.select(htsget_objects, objects.c.person_pseudonym, objects.c.plaintext_size)
            .select_from(joined)
            .where(objects.c.state == "stored")
            .where(htsget_objects.c.format.in_([f.value for f in offered]))
        )
        by_name = conn.execute(
            query.where(sa.or_(htsget_objects.c.name == ident, htsget_objects.c.object_id == ident))
        ).all()
        if not by_name:
            for extension, implied in EXTENSIONS.items():
                if ident.endswith(extension) and implied in offered:
                    if fmt is not None and fmt is not implied:
                        raise UnsupportedFormatError(
                            f"id {ident!r} names a {implied.value} file but format "
                            f"{fmt.value} was asked for"
                        )
                    fmt = implied
                    base = ident[: -len(extension)]
                    by_name = conn.execute(query.where(htsget_objects.c.name == base)).all()
        if not by_name:
            raise NotFoundError(f"no {endpoint} with id {ident!r}")
        available = {HtsFormat(r.format): r for r in by_name}
        if fmt is None:
            fmt = next(f for f in offered if f in available)
        if fmt not in available:
            names = ", ".join(sorted(f.value for f in available))
            raise UnsupportedFormatError(
                f"{ident!r} is not available as {fmt.value}; it is available as {names}"
            )
        return available[fmt]

    # -- registration -----------------------------------------------------------------------

    def register(
        self,
        ctx: RequestContext,
        object_id: str,
        *,
        index_object_id: str | None,
        name: str | None = None,
        replace: bool = False,
    ) -> HtsgetRecord:
        """Serve a stored BAM, CRAM, VCF.gz or BCF object over htsget as ``name``
        (default: its object id), sliced with its index object (operators).

        Registering the same object again updates its name and index. With ``replace``,
        an object *of the same sample* registered under the name and format is unregistered
        first (it stays stored): a newer analysis of the sample takes over the name.

        Raises
        ------
        FormatError
            The object is not one of the formats, or the index is not one for it.
        ConflictError
            Another object is registered under the same name and format (with ``replace``:
            an object of another sample).
        """
        label = (name or object_id).strip()
        if not label or len(label) > 200 or "/" in label:
            raise InvalidInputError(
                f"htsget name {label!r} must be 1-200 characters without '/' (it goes in URLs)"
            )
        with self.catalog.begin() as conn:
            data = self._object(conn, object_id)
            index = None if index_object_id is None else self._object(conn, index_object_id)
        with self.gate.access(
            ctx, Action.OBJECT_PUT, resource=f"object/{object_id}", person=data.person_pseudonym
        ) as grant:
            layout = htsindex.read_layout(
                lambda a, b: self._read(data, a, b), int(data.plaintext_size)
            )
            if ObjectKind(data.kind) not in DATA_KINDS[layout.format]:
                raise FormatError(
                    f"object {object_id} of kind {data.kind} holds {layout.format.value}: store "
                    f"it as kind {' or '.join(sorted(k.value for k in DATA_KINDS[layout.format]))}"
                )
            if index is not None:
                self._check_index(layout, data, index)
            clash = grant.conn.execute(
                sa.select(htsget_objects.c.object_id, objects.c.sample_id)
                .select_from(
                    htsget_objects.join(objects, objects.c.id == htsget_objects.c.object_id)
                )
                .where(htsget_objects.c.name == label)
                .where(htsget_objects.c.format == layout.format.value)
                .where(htsget_objects.c.object_id != object_id)
            ).first()
            replaced = ""
            if clash is not None:
                if not (replace and clash.sample_id == data.sample_id):
                    raise ConflictError(
                        f"{label!r} already names {layout.format.value} object "
                        f"{clash.object_id}: choose another name"
                    )
                grant.conn.execute(
                    htsget_objects.delete().where(htsget_objects.c.object_id == clash.object_id)
                )
                replaced = f", replacing object {clash.object_id}"
            now = dt.datetime.now(dt.UTC)
            values = {
                "name": label,
                "format": layout.format.value,
                "index_object_id": index_object_id,
                "header_end": layout.header_end,
                "header_voffset": layout.header_voffset,
                "data_end": layout.data_end,
                "reference_names": json.dumps(list(layout.reference_names)),
                "registered_at": now,
                "registered_by": ctx.actor.name,
                "format_version": HTSGET_FORMAT_VERSION,
            }
            grant.conn.execute(
                htsget_objects.delete().where(htsget_objects.c.object_id == object_id)
            )
            grant.conn.execute(htsget_objects.insert().values(object_id=object_id, **values))
            grant.note = (
                f"htsget registration as {label!r} ({layout.format.value}, index "
                f"{index_object_id or 'none'}){replaced}"
            )
        return HtsgetRecord(
            name=label,
            object_id=object_id,
            format=layout.format,
            index_object_id=index_object_id,
            sample_id=data.sample_id,
            header_end=layout.header_end,
            data_end=layout.data_end,
            registered_at=now,
            registered_by=ctx.actor.name,
        )

    def _check_index(self, layout: FileLayout, data: Any, index: Any) -> None:
        if ObjectKind(index.kind) not in INDEX_KINDS:
            kinds = ", ".join(sorted(k.value for k in INDEX_KINDS))
            raise FormatError(f"object {index.id} is a {index.kind}, not an index ({kinds})")
        if index.sample_id != data.sample_id:
            raise FormatError(
                f"index {index.id} belongs to sample {index.sample_id}, the data to "
                f"{data.sample_id}: give the index made for this file"
            )
        parsed = htsindex.load_index(self._read(index, 0, int(index.plaintext_size)))
        if parsed.kind not in htsindex.INDEX_FORMATS[layout.format]:
            usable = " or ".join(sorted(htsindex.INDEX_FORMATS[layout.format]))
            raise FormatError(
                f"index {index.id} is a {parsed.kind} index, which cannot slice "
                f"{layout.format.value}: use {usable}"
            )

    # -- tickets ----------------------------------------------------------------------------

    def ticket(
        self,
        ctx: RequestContext,
        endpoint: str,
        ident: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        client_key: bytes | None = None,
    ) -> Ticket:
        """The ticket of a GET (``params``) or POST (``body``) request for ``ident``.

        ``client_key``: the client's Crypt4GH public key file; every block is then
        encrypted to it.
        """
        if endpoint not in ENDPOINT_FORMATS:
            raise NotFoundError(f"no htsget endpoint {endpoint!r}: use reads or variants")
        query = (
            parse_post_query(body, endpoint)
            if params is None
            else parse_get_query(params, endpoint)
        )
        recipient = parse_client_key(client_key)
        with self.catalog.begin() as conn:
            row = self._resolve(conn, endpoint, ident, query.format)
        object_id = str(row.object_id)
        layout = self._layout(row)
        if query.regions and not query.header_only and row.index_object_id is None:
            raise HtsgetInputError(
                f"{ident!r} has no index, so only the whole file or its header can be served"
            )
        size = int(row.plaintext_size)
        with self.gate.access(
            ctx, Action.OBJECT_READ, resource=f"object/{object_id}", person=row.person_pseudonym
        ) as grant:
            data = self._object(grant.conn, object_id)
            index = (
                None
                if row.index_object_id is None or query.header_only or not query.regions
                else self._object(grant.conn, row.index_object_id)
            )
            asked = (
                "header"
                if query.header_only
                else ", ".join(
                    f"{r.reference}:{r.start}-{'' if r.end is None else r.end}"
                    for r in query.regions
                )
                or "whole file"
            )
            if len(asked) > 200:
                asked = f"{asked[:200]}... ({len(query.regions)} regions)"
            grant.note = f"htsget ticket for {row.name!r} ({layout.format.value}): {asked}"
            if recipient is not None:
                grant.note += f"; for client key {key_id(recipient)}"
        blocks = self._blocks(query, layout, size, object_id, data, index)
        if recipient is not None:
            blocks = [
                b
                if b.inline is None
                else TicketBlock(b.data_class, inline=seal_for(recipient, b.inline))
                for b in blocks
            ]
        return Ticket(layout.format, tuple(blocks), recipient is not None)

    def _blocks(
        self,
        query: HtsgetQuery,
        layout: FileLayout,
        size: int,
        object_id: str,
        data: Any,
        index: Any,
    ) -> list[TicketBlock]:
        eof = _eof(layout, size)
        if not query.header_only and not query.regions:
            return _split(0, layout.header_end, "header", object_id) + _split(
                layout.header_end, size, "body", object_id
            )
        blocks: list[TicketBlock]
        if layout.header_is_block_aligned:
            blocks = _split(0, layout.header_end, "header", object_id)
        else:  # the header's last block holds records too: send the header alone
            first = self._read(data, 0, layout.header_end)
            header = htsindex.header_bytes(first, layout.header_voffset)
            blocks = [TicketBlock("header", inline=htsindex.bgzf_compress(header))]
        if index is not None:
            parsed = htsindex.load_index(self._read(index, 0, int(index.plaintext_size)))
            if isinstance(parsed, htsindex.CramIndex):
                ranges: list[tuple[int, int]] = []
                for region in query.regions:
                    ranges += htsindex.cram_ranges(
                        parsed, layout, region.reference, region.start, region.end
                    )
                for start, end in htsindex.merge_ranges(ranges):
                    blocks += _split(start, end, "body", object_id)
            else:
                chunks: list[tuple[int, int]] = []
                for region in query.regions:
                    chunks += htsindex.region_chunks(
                        parsed, layout, region.reference, region.start, region.end
                    )
                pieces = htsindex.bgzf_pieces(
                    htsindex.merge_ranges(chunks), lambda a, b: self._read(data, a, b)
                )
                for piece in pieces:
                    if piece.inline is not None:
                        blocks.append(TicketBlock("body", inline=piece.inline))
                    else:
                        blocks += _split(piece.start, piece.end, "body", object_id)
        if eof:
            blocks.append(TicketBlock("header" if query.header_only else "body", inline=eof))
        return blocks

    # -- data -------------------------------------------------------------------------------

    def block(
        self,
        ctx: RequestContext,
        object_id: str,
        start: int,
        end: int,
        *,
        client_key: bytes | None = None,
    ) -> Block:
        """Plaintext bytes ``[start, end)`` of a registered object (a ticket's data URL);
        Crypt4GH-encrypted to ``client_key`` when given."""
        recipient = parse_client_key(client_key)
        with self.catalog.begin() as conn:
            served = conn.execute(
                sa.select(htsget_objects.c.object_id).where(htsget_objects.c.object_id == object_id)
            ).first()
            row = self._object(conn, object_id) if served is not None else None
        if row is None:
            raise NotFoundError(f"no htsget object {object_id}")
        size = int(row.plaintext_size)
        if not 0 <= start < end <= size:
            raise InvalidRangeError(
                f"range {start}-{end - 1} is not within object {object_id} of {size} bytes"
            )
        if end - start > MAX_BLOCK_BYTES:
            raise InvalidRangeError(
                f"ranges are limited to {MAX_BLOCK_BYTES} bytes: ask for {start}-"
                f"{start + MAX_BLOCK_BYTES - 1} and go on from there"
            )
        with self.gate.access(
            ctx, Action.OBJECT_READ, resource=f"object/{object_id}", person=row.person_pseudonym
        ) as grant:
            row = self._object(grant.conn, object_id)
            grant.note = f"htsget bytes {start}-{end - 1}" + (
                "" if recipient is None else f" for client key {key_id(recipient)}"
            )
        data = self._read(row, start, end)
        if recipient is not None:
            data = seal_for(recipient, data)
        return Block(data, start, end, size, recipient is not None)

    # -- listing ----------------------------------------------------------------------------

    def list(self, ctx: RequestContext, *, sample_id: str | None = None) -> list[HtsgetRecord]:
        """Registered htsget objects of stored data, by name and format (operators; like
        ``object list``: ids, sample ids, no persons)."""
        joined = htsget_objects.join(objects, objects.c.id == htsget_objects.c.object_id)
        query = (
            sa.select(htsget_objects, objects.c.sample_id)
            .select_from(joined)
            .where(objects.c.state == "stored")
            .order_by(htsget_objects.c.name, htsget_objects.c.format)
        )
        if sample_id is not None:
            query = query.where(objects.c.sample_id == sample_id)
        with self.gate.access(ctx, Action.OBJECT_LIST, resource="htsget_objects") as grant:
            rows = grant.conn.execute(query).all()
            grant.note = f"{len(rows)} htsget objects listed"
        return [
            HtsgetRecord(
                name=r.name,
                object_id=r.object_id,
                format=HtsFormat(r.format),
                index_object_id=r.index_object_id,
                sample_id=r.sample_id,
                header_end=int(r.header_end),
                data_end=int(r.data_end),
                registered_at=r.registered_at,
                registered_by=r.registered_by,
            )
            for r in rows
        ]

    # -- service info -----------------------------------------------------------------------

    @staticmethod
    def service_info(endpoint: str) -> dict[str, Any]:
        """GA4GH service-info of an htsget endpoint (no personal data)."""
        formats = ENDPOINT_FORMATS.get(endpoint)
        if formats is None:
            raise NotFoundError(f"no htsget endpoint {endpoint!r}: use reads or variants")
        return {
            "id": f"dk.helgenom.htsget.{endpoint}",
            "name": f"helgenom htsget ({endpoint})",
            "description": "GA4GH htsget slices of genomes in helgenom's encrypted store; "
            f"send a Crypt4GH public key in the {PUBLIC_KEY_HEADER} header to get "
            "Crypt4GH-encrypted blocks",
            "version": __version__,
            "organization": {"name": "helgenom", "url": "https://github.com/helgenom"},
            "type": {"group": "org.ga4gh", "artifact": "htsget", "version": HTSGET_VERSION},
            "htsget": {
                "datatype": endpoint,
                "formats": [f.value for f in formats],
                "fieldsParameterEffective": False,
                "tagsParametersEffective": False,
            },
        }


__all__ = [
    "ENDPOINT_FORMATS",
    "EXTENSIONS",
    "MAX_BLOCK_BYTES",
    "PUBLIC_KEY_HEADER",
    "Block",
    "HtsgetInputError",
    "HtsgetQuery",
    "HtsgetRecord",
    "HtsgetService",
    "InvalidRangeError",
    "Region",
    "Ticket",
    "TicketBlock",
    "UnsupportedFormatError",
    "parse_get_query",
    "parse_post_query",
    "seal_for",
]
