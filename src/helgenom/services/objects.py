"""The encrypted object store service: put, get, export, verify, delete, key rotation.

Bodies are encrypted with Crypt4GH by :class:`Crypt4ghStore` around whatever
backend the settings name; headers, checksums and provenance live in the catalog.
Long transfers run outside database transactions: the gate decides (and audits a
denial) first, the bytes move, then the catalog row and the ``allow`` entry are
committed together. A put killed at any point leaves at most an unreferenced body
(reported by ``verify --all``), never a visible partial object or a catalog row
without its body.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import objects, samples
from helgenom.adapters.keys import KeyStore
from helgenom.adapters.objectstore.crypt4gh import (
    Crypt4ghKeyring,
    Crypt4ghStore,
    KeyPair,
    key_id,
    make_header,
    open_header,
    parse_public_key,
)
from helgenom.core.access import Action
from helgenom.core.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from helgenom.core.models import ObjectKind, RequestContext
from helgenom.core.version import __version__
from helgenom.services.gate import Gate

OBJECT_FORMAT_VERSION = 1
"""Version of the catalog record of an object (Crypt4GH header apart from its body)."""

BODY_PREFIX = "bodies/"
OBJECT_KINDS = tuple(k.value for k in ObjectKind)
"""The kinds of object, for interfaces."""


def object_id_for(sample_id: str, kind: ObjectKind, plaintext_sha256: str) -> str:
    """The stable, DRS-style id of some content of a sample: same content, same id."""
    digest = hashlib.sha256(f"{sample_id}\0{kind.value}\0{plaintext_sha256}".encode()).digest()
    return "obj-" + base64.b32encode(digest[:16]).decode("ascii").rstrip("=").lower()


def parse_kind(text: str) -> ObjectKind:
    """Parse an object kind with a helpful error."""
    try:
        return ObjectKind(text)
    except ValueError:
        kinds = ", ".join(k.value for k in ObjectKind)
        raise InvalidInputError(f"unknown object kind {text!r}: choose one of {kinds}") from None


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """An object as the catalog knows it (no header, no person pseudonym)."""

    object_id: str
    kind: ObjectKind
    sample_id: str
    plaintext_sha256: str
    plaintext_size: int
    ciphertext_sha256: str
    ciphertext_size: int
    key_id: str
    state: str
    created_at: dt.datetime
    created_by: str
    provenance: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PutResult:
    """What a put did."""

    record: ObjectRecord
    created: bool
    """False when the same content was already stored for the sample (a no-op)."""


@dataclass(frozen=True, slots=True)
class ObjectCheck:
    """Verification of one object."""

    object_id: str
    kind: str
    sample_id: str
    status: str
    """``ok``, ``missing``, ``truncated`` or ``corrupt``."""
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Verification of the store."""

    checks: list[ObjectCheck]
    orphans: list[str]
    """Bodies in the store that no catalog row references (left by interrupted puts)."""

    @property
    def ok(self) -> bool:
        return all(c.status == "ok" for c in self.checks)


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What a key rotation did."""

    old_key_id: str
    new_key_id: str
    rewrapped: int
    backup_path: Path


def _record(row: Any) -> ObjectRecord:
    return ObjectRecord(
        object_id=row.id,
        kind=ObjectKind(row.kind),
        sample_id=row.sample_id,
        plaintext_sha256=row.plaintext_sha256,
        plaintext_size=int(row.plaintext_size),
        ciphertext_sha256=row.ciphertext_sha256,
        ciphertext_size=int(row.ciphertext_size),
        key_id=row.key_id,
        state=row.state,
        created_at=row.created_at,
        created_by=row.created_by,
        provenance=json.loads(row.provenance) if row.provenance else {},
    )


def _temporary_beside(out: Path) -> Path:
    return out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")


class ObjectService:
    """Encrypted genome files: every call access-checked and audited."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        keys: KeyStore,
        store_factory: Callable[[Crypt4ghKeyring], Crypt4ghStore],
        backups_path: Path,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.keys = keys
        self._store_factory = store_factory
        self._store: Crypt4ghStore | None = None
        self.backups_path = backups_path

    # -- plumbing ---------------------------------------------------------------------------

    def _keyring(self) -> Crypt4ghKeyring:
        (secret, public), others = self.keys.crypt4gh_pairs()
        return Crypt4ghKeyring(KeyPair(secret, public), [KeyPair(s, p) for s, p in others])

    @property
    def store(self) -> Crypt4ghStore:
        """The encrypted store (built on first use)."""
        if self._store is None:
            self._store = self._store_factory(self._keyring())
        return self._store

    def _reload_keys(self) -> None:
        if self._store is not None:
            self._store.keyring = self._keyring()

    def _row(self, conn: Connection, object_id: str) -> Any:
        row = conn.execute(sa.select(objects).where(objects.c.id == object_id)).first()
        if row is None:
            raise NotFoundError(f"no object {object_id}; list objects with helgenom object list")
        return row

    def _live_row(self, conn: Connection, object_id: str) -> Any:
        row = self._row(conn, object_id)
        if row.state != "stored":
            raise NotFoundError(
                f"object {object_id} was deleted on {row.deleted_at:%Y-%m-%d} by {row.deleted_by}"
            )
        return row

    def _sample_person(self, sample_id: str) -> str:
        with self.catalog.begin() as conn:
            row = conn.execute(
                sa.select(samples.c.person_pseudonym).where(samples.c.id == sample_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no sample {sample_id}; see helgenom sample status")
        return str(row.person_pseudonym)

    def _object_person(self, object_id: str) -> str:
        with self.catalog.begin() as conn:
            return str(self._row(conn, object_id).person_pseudonym)

    # -- put --------------------------------------------------------------------------------

    def put(
        self,
        ctx: RequestContext,
        path: Path,
        *,
        sample_id: str,
        kind: ObjectKind,
        provenance: dict[str, Any] | None = None,
        action: Action = Action.OBJECT_PUT,
    ) -> PutResult:
        """Encrypt and store a file for a sample; the same content again is a no-op.

        ``action`` is what the access check and the audit entry name: another service
        storing its own product (a signed report) passes its action instead.
        """
        person = self._sample_person(sample_id)
        self.gate.authorise(ctx, action, resource=f"sample/{sample_id}", person=person)
        try:
            source: BinaryIO = path.open("rb")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
        body_key = BODY_PREFIX + secrets.token_hex(16)
        with source:
            stored = self.store.put(body_key, source)
        object_id = object_id_for(sample_id, kind, stored.plaintext_sha256)
        record_provenance = {
            "source": "upload",
            "file_name": path.name,
            "software": f"helgenom {__version__}",
            "encryption": "crypt4gh-v1 (X25519, ChaCha20-Poly1305, 64 KiB segments)",
            **(provenance or {}),
        }
        now = dt.datetime.now(dt.UTC)
        values = {
            "kind": kind.value,
            "sample_id": sample_id,
            "person_pseudonym": person,
            "plaintext_sha256": stored.plaintext_sha256,
            "plaintext_size": stored.plaintext_size,
            "ciphertext_sha256": stored.ciphertext_sha256,
            "tag_sha256": stored.tag_sha256,
            "ciphertext_size": stored.ciphertext_size,
            "header": stored.header,
            "key_id": stored.key_id,
            "body_key": body_key,
            "state": "stored",
            "provenance": json.dumps(record_provenance, sort_keys=True),
            "created_at": now,
            "created_by": ctx.actor.name,
            "deleted_at": None,
            "deleted_by": None,
            "format_version": OBJECT_FORMAT_VERSION,
        }
        created = True
        try:
            with self.gate.access(
                ctx, action, resource=f"object/{object_id}", person=person
            ) as grant:
                existing = grant.conn.execute(
                    sa.select(objects.c.state).where(objects.c.id == object_id).with_for_update()
                ).first()
                if existing is None:
                    try:
                        with grant.conn.begin_nested():
                            grant.conn.execute(objects.insert().values(id=object_id, **values))
                    except DbIntegrityError:
                        # A concurrent put of the same content committed first.
                        created = False
                        grant.note = "same content stored concurrently: no-op"
                elif existing.state == "stored":
                    created = False
                    grant.note = "same content already stored: no-op"
                else:  # stored again after a deletion
                    grant.conn.execute(
                        objects.update().where(objects.c.id == object_id).values(**values)
                    )
                    grant.note = "stored again after deletion"
                row = self._row(grant.conn, object_id)
        except BaseException:
            self._discard(body_key)
            raise
        if not created:
            self._discard(body_key)
        return PutResult(_record(row), created)

    def _discard(self, body_key: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.store.inner.delete(body_key)

    # -- read -------------------------------------------------------------------------------

    def get(
        self,
        ctx: RequestContext,
        object_id: str,
        out: Path,
        *,
        force: bool = False,
        action: Action = Action.OBJECT_READ,
    ) -> ObjectRecord:
        """Decrypt an object to ``out`` (written aside, checked, then renamed into place).

        ``action`` is what the access check and the audit entry name (a report view
        passes ``report.read``).
        """
        _check_output(out, force)
        person = self._object_person(object_id)
        with self.gate.access(ctx, action, resource=f"object/{object_id}", person=person) as grant:
            row = self._live_row(grant.conn, object_id)
        try:
            # Every segment is authenticated and the digest of the segment MACs (or, for
            # objects stored before catalog revision 0008, of the whole ciphertext) must
            # match the catalog's: the plaintext is then exactly the stored one.
            chunks = self.store.iter_plaintext(
                row.body_key,
                row.header,
                row.key_id,
                ciphertext_size=int(row.ciphertext_size),
                ciphertext_sha256=str(row.ciphertext_sha256),
                tag_sha256=None if row.tag_sha256 is None else str(row.tag_sha256),
                reuse=True,  # each chunk is written out before the next is asked for
            )
        except NotFoundError:
            raise IntegrityError(
                f"object {object_id} is in the catalog but its encrypted data is missing from "
                "the object store; run helgenom object verify --all and restore it from backup"
            ) from None

        def check(size: int) -> None:
            if size != int(row.plaintext_size):
                raise IntegrityError(
                    f"object {object_id} decrypted to {size} bytes, the catalog says "
                    f"{int(row.plaintext_size)}; nothing was written"
                )

        try:
            _write_atomically(out, chunks, on_size=check)
        except IntegrityError as exc:
            raise IntegrityError(f"object {object_id}: {exc}; nothing was written") from None
        return _record(row)

    def read_range(self, ctx: RequestContext, object_id: str, start: int, end: int) -> bytes:
        """Plaintext bytes ``[start, end)`` (only the segments holding them are read)."""
        person = self._object_person(object_id)
        with self.gate.access(
            ctx, Action.OBJECT_READ, resource=f"object/{object_id}", person=person
        ) as grant:
            row = self._live_row(grant.conn, object_id)
            grant.note = f"bytes {start}-{end}"
        return self.store.read_range(
            row.body_key,
            row.header,
            row.key_id,
            start,
            end,
            plaintext_size=int(row.plaintext_size),
        )

    def export(
        self,
        ctx: RequestContext,
        object_id: str,
        recipient_key: bytes,
        out: Path,
        *,
        force: bool = False,
    ) -> ObjectRecord:
        """Write a Crypt4GH file for a recipient: a new header, the stored body unchanged."""
        recipient = parse_public_key(recipient_key)
        _check_output(out, force)
        person = self._object_person(object_id)
        with self.gate.access(
            ctx, Action.OBJECT_EXPORT, resource=f"object/{object_id}", person=person
        ) as grant:
            row = self._live_row(grant.conn, object_id)
            grant.note = f"for recipient key {key_id(recipient)}"
        pair = self.store.keyring.pair(row.key_id)
        header = make_header(open_header(row.header, pair.secret), recipient)
        cipher_hash = hashlib.sha256()

        def chunks() -> Iterator[bytes]:
            yield header
            for chunk in self.store.iter_ciphertext(row.body_key):
                cipher_hash.update(chunk)
                yield chunk

        _write_atomically(out, chunks(), on_size=lambda _size: _check_cipher(row, cipher_hash))
        return _record(row)

    def list(self, ctx: RequestContext, *, sample_id: str | None = None) -> list[ObjectRecord]:
        """Stored objects (operators): ids, kinds, sizes, checksums; no persons."""
        with self.gate.access(ctx, Action.OBJECT_LIST, resource="objects") as grant:
            query = (
                sa.select(objects).where(objects.c.state == "stored").order_by(objects.c.created_at)
            )
            if sample_id is not None:
                query = query.where(objects.c.sample_id == sample_id)
            rows = grant.conn.execute(query).all()
            grant.note = f"{len(rows)} objects listed"
        return [_record(r) for r in rows]

    def describe(self, ctx: RequestContext, object_id: str) -> ObjectRecord:
        """One stored object's metadata (kind, sizes, checksums, provenance), for whoever may
        read it (GA4GH DRS object metadata); audited like a read."""
        person = self._object_person(object_id)
        with self.gate.access(
            ctx, Action.OBJECT_READ, resource=f"object/{object_id}", person=person
        ) as grant:
            row = self._live_row(grant.conn, object_id)
            grant.note = "metadata"
        return _record(row)

    # -- verify / delete --------------------------------------------------------------------

    def verify(self, ctx: RequestContext, object_id: str | None = None) -> VerifyReport:
        """Re-read and re-hash one object or all; report missing, truncated, corrupt."""
        resource = f"object/{object_id}" if object_id else "objects"
        with self.gate.access(ctx, Action.OBJECT_VERIFY, resource=resource) as grant:
            query = sa.select(objects).where(objects.c.state == "stored").order_by(objects.c.id)
            if object_id is not None:
                self._live_row(grant.conn, object_id)
                query = query.where(objects.c.id == object_id)
            rows = grant.conn.execute(query).all()
            # A tombstone references no body: one still stored (a delete interrupted before
            # the body was removed) is reported as an orphan.
            live = sa.select(objects.c.body_key).where(objects.c.state == "stored")
            referenced = {r.body_key for r in grant.conn.execute(live).all()}
        checks = []
        for row in rows:
            result = self.store.check(
                row.body_key,
                row.header,
                row.key_id,
                plaintext_sha256=row.plaintext_sha256,
                plaintext_size=int(row.plaintext_size),
                ciphertext_sha256=row.ciphertext_sha256,
                ciphertext_size=int(row.ciphertext_size),
                tag_sha256=row.tag_sha256,
            )
            checks.append(
                ObjectCheck(row.id, row.kind, row.sample_id, result.status, result.detail)
            )
        orphans: list[str] = []
        if object_id is None:
            orphans = [
                info.key
                for info in self.store.inner.list(BODY_PREFIX)
                if info.key not in referenced
            ]
        bad = [c for c in checks if c.status != "ok"]
        self.gate.record(
            ctx,
            Action.OBJECT_VERIFY,
            resource,
            decision="allow",
            reason=f"verified {len(checks)} objects: {len(bad)} bad, {len(orphans)} orphan bodies",
        )
        return VerifyReport(checks, orphans)

    def delete(self, ctx: RequestContext, object_id: str, *, reason: str) -> ObjectRecord:
        """Delete an object's body, leaving an audited tombstone in the catalog (stewards)."""
        if not reason.strip():
            raise InvalidInputError("say why the object is deleted: give --reason TEXT")
        person = self._object_person(object_id)
        with self.gate.access(
            ctx, Action.OBJECT_DELETE, resource=f"object/{object_id}", person=person
        ) as grant:
            row = self._live_row(grant.conn, object_id)
            grant.conn.execute(
                objects.update()
                .where(objects.c.id == object_id)
                .values(
                    state="deleted",
                    deleted_at=dt.datetime.now(dt.UTC),
                    deleted_by=ctx.actor.name,
                )
            )
            grant.note = f"tombstone left; reason: {reason.strip()[:200]}"
        self._discard(row.body_key)
        return _record(row)

    # -- key rotation -----------------------------------------------------------------------

    def rotate_keys(self, ctx: RequestContext) -> RotationResult:
        """Re-wrap every header to a new platform key; bodies untouched; old key retired.

        Resumable: an interrupted rotation is completed by running it again (headers
        already re-wrapped are skipped; the next key is kept until it becomes active).
        """
        with self.gate.access(ctx, Action.KEYS_ROTATE, resource="keys/crypt4gh") as grant:
            grant.note = "rotation started"
        old = self._keyring().active
        next_public = self.keys.begin_crypt4gh_rotation()
        new_id = key_id(next_public)
        keyring = self._keyring()
        backup = self._backup_headers()
        rewrapped = 0
        while True:
            with self.catalog.begin() as conn:
                rows = conn.execute(
                    sa.select(objects.c.id, objects.c.header, objects.c.key_id)
                    .where(objects.c.key_id != new_id)
                    .limit(500)
                ).all()
                for row in rows:
                    session_key = open_header(row.header, keyring.pair(row.key_id).secret)
                    conn.execute(
                        objects.update()
                        .where(objects.c.id == row.id)
                        .values(header=make_header(session_key, next_public), key_id=new_id)
                    )
                rewrapped += len(rows)
            if not rows:
                break
        if old.key_id != new_id:
            self.keys.finish_crypt4gh_rotation(old.key_id)
        self._reload_keys()
        self.gate.record(
            ctx,
            Action.KEYS_ROTATE,
            "keys/crypt4gh",
            decision="allow",
            reason=f"rotated {old.key_id} -> {new_id}: {rewrapped} headers re-wrapped, "
            f"old key retired; header backup {backup.name}",
        )
        return RotationResult(old.key_id, new_id, rewrapped, backup)

    def _backup_headers(self) -> Path:
        self.backups_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.backups_path / f"crypt4gh-headers-{stamp}.jsonl"
        tmp = _temporary_beside(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle, self.catalog.begin() as conn:
            for row in conn.execute(
                sa.select(objects.c.id, objects.c.key_id, objects.c.header).order_by(objects.c.id)
            ):
                handle.write(
                    json.dumps(
                        {
                            "format_version": 1,
                            "object_id": row.id,
                            "key_id": row.key_id,
                            "header": base64.b64encode(row.header).decode("ascii"),
                        }
                    )
                    + "\n"
                )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return path


def _check_output(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise ConflictError(f"{out} exists; choose another file or pass --force to replace it")
    if not out.parent.is_dir():
        raise InvalidInputError(f"folder {out.parent} does not exist")


def _check_cipher(row: Any, cipher_hash: Any) -> None:
    if cipher_hash.hexdigest() != row.ciphertext_sha256:
        raise IntegrityError(
            f"object {row.id}: stored body's SHA-256 differs from the catalog (corrupt); "
            "nothing was written"
        )


def _write_atomically(
    out: Path,
    chunks: Iterator[bytes | bytearray | memoryview],
    on_size: Callable[[int], None] | None = None,
) -> None:
    """Write ``chunks`` beside ``out``, fsync, check with ``on_size(bytes)``, then rename.

    A check that raises leaves nothing behind.
    """
    tmp = _temporary_beside(out)
    size = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if on_size is not None:
            on_size(size)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
