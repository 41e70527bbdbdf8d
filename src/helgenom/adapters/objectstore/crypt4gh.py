"""Crypt4GH encryption at rest, as a wrapper around any :class:`ObjectStore`.

A GA4GH Crypt4GH file is a header (the data key, encrypted to each recipient's
X25519 key) followed by the body: 64 KiB plaintext segments, each sealed with
ChaCha20-Poly1305 under the data key as ``nonce(12) || ciphertext || MAC(16)``.

Here the header is kept apart from the body (the catalog stores it), and only
the body goes to the backend. So:

* re-encryption for a recipient, or to a new platform key, rewrites the header
  (a few hundred bytes) and never the data;
* ``header + body`` is a standard Crypt4GH file any Crypt4GH tool can decrypt;
* a plaintext byte range maps onto whole segments, and only those are read and
  decrypted (the crypt4gh library's own offset/span code is not used: it returns
  wrong bytes past 64 KiB).

Headers are built and opened with the ``crypt4gh`` library; segments are sealed
with the ``cryptography`` package's ChaCha20-Poly1305 (the same IETF construction,
several times faster). The library logs secret keys at DEBUG level, so its logger
is held at INFO or above while helgenom uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from helgenom.adapters.keys import SecretBytes
from helgenom.adapters.objectstore.base import ObjectStore, check_range, remaining_bytes
from helgenom.core.errors import ConfigurationError, IntegrityError, NotFoundError

SEGMENT_SIZE = 65536
"""Plaintext bytes per Crypt4GH segment."""
SEGMENT_OVERHEAD = 12 + 16
"""Nonce and MAC added to every segment."""
CIPHER_SEGMENT_SIZE = SEGMENT_SIZE + SEGMENT_OVERHEAD
"""Ciphertext bytes per full segment (65,564)."""
BATCH_SEGMENTS = 16
"""Segments handled per step of the streaming pipeline (1 MiB)."""
QUEUE_DEPTH = 8
"""Batches in flight between two pipeline threads; bounds memory to a few MiB per stage."""


def _no_debug_records(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.INFO


def _quiet_crypt4gh_logger() -> None:
    logger = logging.getLogger("crypt4gh")
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)
    # Levels can be lowered again later, or set on the modules' own loggers: a filter on
    # the loggers that emit the secrets drops their DEBUG records whatever the levels.
    for name in ("crypt4gh.header", "crypt4gh.lib"):
        module_logger = logging.getLogger(name)
        if _no_debug_records not in module_logger.filters:
            module_logger.addFilter(_no_debug_records)


def ciphertext_size(plaintext_size: int) -> int:
    """Body size of a plaintext of ``plaintext_size`` bytes."""
    full, rest = divmod(plaintext_size, SEGMENT_SIZE)
    return full * CIPHER_SEGMENT_SIZE + (rest + SEGMENT_OVERHEAD if rest else 0)


def key_id(public_key: bytes) -> str:
    """A short, stable name of a Crypt4GH public key (hex of its SHA-256, 32 chars)."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def parse_public_key(data: bytes) -> bytes:
    """Read a Crypt4GH public key file (PEM-like) or 32 raw bytes."""
    import base64
    import binascii

    if len(data) == 32 and not data.startswith(b"-----"):  # raw: never strip key bytes
        return bytes(data)
    text = data.strip()
    lines = text.splitlines()
    if len(lines) == 3 and lines[0] == b"-----BEGIN CRYPT4GH PUBLIC KEY-----":
        try:
            key = base64.b64decode(lines[1], validate=True)
        except binascii.Error:
            key = b""
        if len(key) == 32:
            return key
    raise ConfigurationError(
        "not a Crypt4GH public key: expected the file written by crypt4gh-keygen "
        "(-----BEGIN CRYPT4GH PUBLIC KEY----- ...)"
    )


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A Crypt4GH X25519 key pair of the platform."""

    secret: SecretBytes
    public: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public)


class Crypt4ghKeyring:
    """The platform's active key pair (new writes) and retired ones (old headers)."""

    def __init__(self, active: KeyPair, retired: Iterable[KeyPair] = ()) -> None:
        _quiet_crypt4gh_logger()
        self.active = active
        self._by_id = {kp.key_id: kp for kp in (*retired, active)}

    def __repr__(self) -> str:
        return f"Crypt4ghKeyring(active={self.active.key_id}, keys={len(self._by_id)})"

    def pair(self, header_key_id: str) -> KeyPair:
        """The key pair a header was made for."""
        try:
            return self._by_id[header_key_id]
        except KeyError:
            raise ConfigurationError(
                f"no platform Crypt4GH key with id {header_key_id} is available (neither active "
                "nor retired): restore the key file from your key backup"
            ) from None


def _ephemeral_secret() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def make_header(session_key: bytes, recipient_public: bytes) -> bytes:
    """A Crypt4GH header carrying ``session_key`` for one recipient."""
    from crypt4gh import header as c4gh_header

    packet = c4gh_header.make_packet_data_enc(0, session_key)
    packets = list(c4gh_header.encrypt(packet, [(0, _ephemeral_secret(), recipient_public)]))
    return bytes(c4gh_header.serialize(packets))


def open_header(header: bytes, secret: SecretBytes) -> bytes:
    """The data key inside ``header`` (raises IntegrityError if it cannot be opened)."""
    from crypt4gh import header as c4gh_header

    try:
        packets = list(c4gh_header.parse(io.BytesIO(header)))
        session_keys, edit_list = c4gh_header.deconstruct(
            io.BytesIO(header), [(0, secret.reveal(), None)]
        )
    except Exception as exc:  # the library raises bare ValueError/Exception
        raise IntegrityError(
            "Crypt4GH header cannot be opened with the platform key (corrupt header or wrong key)"
        ) from exc
    if edit_list is not None or len(session_keys) != 1 or not packets:
        raise IntegrityError("Crypt4GH header has an edit list or several data keys")
    return bytes(session_keys[0])


def reencrypt_header(header: bytes, secret: SecretBytes, recipient_public: bytes) -> bytes:
    """The same data key, in a new header for ``recipient_public`` only."""
    return make_header(open_header(header, secret), recipient_public)


@dataclass(frozen=True, slots=True)
class StoredBody:
    """What a put produced: the header (for the catalog) and the checksums."""

    body_key: str
    header: bytes
    key_id: str
    plaintext_sha256: str
    plaintext_size: int
    ciphertext_sha256: str
    ciphertext_size: int
    tag_sha256: str
    """SHA-256 of the segments' MACs (16 bytes each) in order: with every MAC verified,
    it proves the body is exactly the stored sequence of segments (none replaced, moved,
    dropped or taken from another body) for a fraction of the cost of ``ciphertext_sha256``."""


@dataclass(frozen=True, slots=True)
class BodyCheck:
    """Result of re-reading and re-hashing a body."""

    status: str
    """``ok``, ``missing``, ``truncated``, ``corrupt`` or ``no-key`` (its key is unavailable)."""
    detail: str


_DONE = object()


_Chunk = TypeVar("_Chunk", bound=bytes | bytearray | memoryview)


class _BufferPool:
    """Buffers of one size, handed back after use and lent out again.

    A large buffer made in one pipeline thread and freed in another makes the allocator
    return its memory to the OS and fault it in again: tens of thousands of page faults
    per GiB. Reusing a few buffers avoids that. At most ``keep`` idle buffers are kept.
    """

    def __init__(self, size: int, keep: int) -> None:
        self.size = size
        self._idle: queue.Queue[bytearray] = queue.Queue(maxsize=keep)

    def take(self) -> bytearray:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return bytearray(self.size)

    def give(self, buffer: object) -> None:
        if isinstance(buffer, bytearray) and len(buffer) == self.size:
            with contextlib.suppress(queue.Full):
                self._idle.put_nowait(buffer)


def _pipeline(produce: Iterator[_Chunk], depth: int = QUEUE_DEPTH) -> Generator[_Chunk, None, None]:
    """Run ``produce`` in a background thread, handing items over a bounded queue.

    Reading, hashing, sealing and writing then overlap (hashing, I/O and the copies of
    whole buffers release the GIL; stages can be chained, one thread each). Errors in the
    producer are re-raised in the consumer; closing or abandoning the consumer stops the
    producer and closes ``produce`` (so a chained stage stops too).
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer
            offer(exc)
        finally:
            close = getattr(produce, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="helgenom-crypt4gh", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(_Chunk, item)
    finally:
        stop.set()
        thread.join(timeout=5)


def _whole_segments(
    chunks: Iterable[bytes | memoryview], size: int, batch: int
) -> Iterator[bytes | memoryview]:
    """Re-cut a stream of chunks into buffers of whole ``size`` segments (``batch`` bytes or so).

    Only the last buffer may end with a shorter segment. A chunk that already holds
    whole segments is passed on as it is, without a copy: the usual case, as backends
    are read in chunks of ``batch`` bytes, a multiple of the segment size.
    """
    pending = bytearray()
    for chunk in chunks:
        if not pending and len(chunk) % size == 0:
            if chunk:
                yield chunk
            continue
        pending += chunk
        if len(pending) >= batch:
            whole = len(pending) - len(pending) % size
            yield bytes(pending[:whole])
            del pending[:whole]
    if pending:
        yield bytes(pending)


_REORDERED = (
    "body {body_key} is corrupt: its SHA-256 differs from the catalog (segments replaced, "
    "reordered or not this object's)"
)
_REORDERED_TAGS = (
    "body {body_key} is corrupt: the SHA-256 of its segment MACs differs from the catalog "
    "(segments replaced, reordered, dropped or not this object's)"
)


def _hash_tags(digest: Any, sealed: bytes | memoryview) -> None:
    """Add the MACs (last 16 bytes) of the whole segments in ``sealed`` to ``digest``."""
    view = memoryview(sealed)
    for at in range(0, len(view), CIPHER_SEGMENT_SIZE):
        end = min(at + CIPHER_SEGMENT_SIZE, len(view))
        digest.update(view[end - 16 : end])


class Crypt4ghStore:
    """Encrypts bodies with Crypt4GH into any :class:`ObjectStore`.

    It does not decide who may read: services do, then call this wrapper.
    """

    def __init__(self, inner: ObjectStore, keyring: Crypt4ghKeyring) -> None:
        self.inner = inner
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"Crypt4ghStore({self.inner!r})"

    # -- writing ------------------------------------------------------------------------

    def put(self, body_key: str, source: BinaryIO) -> StoredBody:
        """Encrypt ``source`` into ``body_key`` (streaming, constant memory).

        Three threads overlap: one reads and hashes the plaintext, one seals segments
        and hashes the ciphertext, and the caller's thread writes to the backend.
        """
        plain_size = remaining_bytes(source)
        expected = None if plain_size is None else ciphertext_size(plain_size)
        session_key = os.urandom(32)
        aead = ChaCha20Poly1305(session_key)
        plain_hash, cipher_hash, tag_hash = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
        sizes = [0, 0]

        plain_buffers = _BufferPool(SEGMENT_SIZE * BATCH_SEGMENTS, QUEUE_DEPTH + 2)
        sealed_buffers = _BufferPool(CIPHER_SEGMENT_SIZE * BATCH_SEGMENTS, QUEUE_DEPTH + 2)
        readinto = [getattr(source, "readinto", None)]

        def read_some(target: memoryview) -> int:
            if readinto[0] is not None:
                try:
                    return int(readinto[0](target) or 0)
                except (NotImplementedError, io.UnsupportedOperation):
                    readinto[0] = None  # a file-like object that only has read()
            data = source.read(len(target)) or b""
            target[: len(data)] = data
            return len(data)

        def fill(target: memoryview) -> int:
            """Read until ``target`` is full or the source ends."""
            got = 0
            while got < len(target) and (n := read_some(target[got:])):
                got += n
            return got

        def read() -> Iterator[memoryview]:
            while True:
                buffer = plain_buffers.take()
                n = fill(memoryview(buffer))
                if not n:
                    return
                block = memoryview(buffer)[:n]
                plain_hash.update(block)
                sizes[0] += n
                yield block

        def seal(blocks: Generator[memoryview, None, None]) -> Iterator[memoryview]:
            with closing(blocks):
                for plain in blocks:
                    buffer = sealed_buffers.take()
                    out = memoryview(buffer)
                    at = 0
                    for i in range(0, len(plain), SEGMENT_SIZE):
                        segment = plain[i : i + SEGMENT_SIZE]
                        nonce = os.urandom(12)
                        out[at : at + 12] = nonce
                        end = at + 12 + len(segment) + 16
                        aead.encrypt_into(nonce, segment, None, out[at + 12 : end])
                        tag_hash.update(out[end - 16 : end])
                        at = end
                    plain_buffers.give(plain.obj)
                    sizes[1] += at
                    yield out[:at]

        def hashed(chunks: Iterator[memoryview]) -> Iterator[memoryview]:
            # The ciphertext is hashed by the writing thread, beside the sealing one.
            for sealed in chunks:
                cipher_hash.update(sealed)
                yield sealed

        with closing(_pipeline(seal(_pipeline(read())))) as chunks:
            written = self.inner.put_chunks(
                body_key, hashed(chunks), done=sealed_buffers.give, size=expected
            )
        if written != sizes[1]:
            raise IntegrityError(
                f"object store wrote {written} bytes of body {body_key} but {sizes[1]} were sent"
            )
        active = self.keyring.active
        return StoredBody(
            body_key=body_key,
            header=make_header(session_key, active.public),
            key_id=active.key_id,
            plaintext_sha256=plain_hash.hexdigest(),
            plaintext_size=sizes[0],
            ciphertext_sha256=cipher_hash.hexdigest(),
            ciphertext_size=sizes[1],
            tag_sha256=tag_hash.hexdigest(),
        )

    # -- reading ------------------------------------------------------------------------

    def _aead(self, header: bytes, header_key_id: str) -> ChaCha20Poly1305:
        pair = self.keyring.pair(header_key_id)
        return ChaCha20Poly1305(open_header(header, pair.secret))

    @staticmethod
    def _open_segment(
        aead: ChaCha20Poly1305, segment: bytes | memoryview, index: int, body_key: str
    ) -> bytes:
        if len(segment) <= SEGMENT_OVERHEAD:
            raise IntegrityError(f"body {body_key} is truncated in segment {index}")
        try:
            return aead.decrypt(segment[:12], segment[12:], None)
        except InvalidTag:
            raise IntegrityError(
                f"body {body_key} is corrupt: segment {index} fails its MAC (altered, truncated "
                "or not encrypted for this header)"
            ) from None

    def _open_segments(
        self,
        aead: ChaCha20Poly1305,
        sealed: bytes | memoryview,
        first: int,
        body_key: str,
        into: bytearray | None = None,
    ) -> bytearray | memoryview:
        """Decrypt a buffer of whole segments (the last may be short); ``first`` is its index.

        Decrypts into one new buffer, or into the start of ``into`` (then a view of the
        plaintext in it is returned); no per-segment objects, no join.
        """
        view = memoryview(sealed)
        starts = range(0, len(sealed), CIPHER_SEGMENT_SIZE)
        last = len(sealed) - starts[-1] if starts else 0
        if starts and last <= SEGMENT_OVERHEAD:
            raise IntegrityError(
                f"body {body_key} is truncated in segment {first + len(starts) - 1}"
            )
        size = len(sealed) - len(starts) * SEGMENT_OVERHEAD
        plain: bytearray | memoryview
        if into is not None and len(into) >= size:
            plain = memoryview(into)[:size]
        else:
            plain = bytearray(size)
        out = memoryview(plain)
        for n, at in enumerate(starts):
            segment = view[at : at + CIPHER_SEGMENT_SIZE]
            size = len(segment) - SEGMENT_OVERHEAD
            begin = n * SEGMENT_SIZE
            try:
                aead.decrypt_into(segment[:12], segment[12:], None, out[begin : begin + size])
            except InvalidTag:
                raise IntegrityError(
                    f"body {body_key} is corrupt: segment {first + n} fails its MAC (altered, "
                    "truncated or not encrypted for this header)"
                ) from None
        return plain

    def _iter_sealed(
        self,
        body_key: str,
        ciphertext_sha256: str | None = None,
        buffers: _BufferPool | None = None,
    ) -> Generator[tuple[int, bytes | memoryview], None, None]:
        """The stored body in buffers of whole segments, with the index of their first.

        With ``ciphertext_sha256``, the reading thread hashes the body as it arrives and
        raises IntegrityError after the last buffer when the digest differs. With
        ``buffers``, the backend reads into buffers of that pool where it can; the
        consumer hands each back (``buffers.give(view.obj)``) once done with it.
        """
        index = 0
        batch = CIPHER_SEGMENT_SIZE * BATCH_SEGMENTS

        def checked(chunks: Iterator[_Chunk]) -> Iterator[_Chunk]:
            digest = hashlib.sha256()
            with closing(chunks):  # type: ignore[type-var]
                for chunk in chunks:
                    digest.update(chunk)
                    yield chunk
            if digest.hexdigest() != ciphertext_sha256:
                raise IntegrityError(_REORDERED.format(body_key=body_key))

        chunks: Iterator[bytes | memoryview] = (
            self.inner.iter_chunks(body_key, batch)
            if buffers is None
            else self.inner.iter_chunks_into(body_key, batch, buffers.take)
        )
        if ciphertext_sha256 is not None:
            chunks = checked(chunks)
        with closing(_pipeline(chunks)) as raw:
            for sealed in _whole_segments(raw, CIPHER_SEGMENT_SIZE, batch):
                yield index, sealed
                index += -(-len(sealed) // CIPHER_SEGMENT_SIZE)

    def iter_plaintext(
        self,
        body_key: str,
        header: bytes,
        header_key_id: str,
        *,
        ciphertext_size: int,
        ciphertext_sha256: str | None = None,
        tag_sha256: str | None = None,
        reuse: bool = False,
    ) -> Iterator[bytes | bytearray | memoryview]:
        """Decrypt the whole body as a stream of chunks (about 1 MiB each).

        One thread reads the backend (and, given ``ciphertext_sha256``, hashes it), one
        decrypts, the caller consumes. Every segment is authenticated; a matching
        ciphertext digest also rules out segments reordered or swapped between bodies,
        so the plaintext is exactly what was stored (IntegrityError otherwise, raised
        before the iterator ends). ``tag_sha256`` (the digest of the segments' MACs) proves
        the same at almost no cost; given it, the body is not hashed.

        With ``reuse``, a chunk is valid only until the next one is asked for: its
        buffer is then decrypted into again. A consumer that writes each chunk out at
        once (a file) saves an allocation per chunk, and on machines that hand freed
        memory back to their host, the page faults of touching it again.
        """
        aead = self._aead(header, header_key_id)
        self._check_size(body_key, ciphertext_size)
        sealed_buffers = _BufferPool(CIPHER_SEGMENT_SIZE * BATCH_SEGMENTS, QUEUE_DEPTH + 4)
        plain_buffers = _BufferPool(SEGMENT_SIZE * BATCH_SEGMENTS, QUEUE_DEPTH + 4)

        whole = ciphertext_sha256 if tag_sha256 is None else None
        tags = hashlib.sha256()

        def produce() -> Iterator[bytearray | memoryview]:
            batches = self._iter_sealed(body_key, whole, sealed_buffers)
            with closing(batches):
                for first, sealed in batches:
                    into = plain_buffers.take() if reuse else None
                    plain = self._open_segments(aead, sealed, first, body_key, into)
                    if tag_sha256 is not None:
                        _hash_tags(tags, sealed)
                    yield plain
                    if isinstance(sealed, memoryview):
                        sealed_buffers.give(sealed.obj)
            if tag_sha256 is not None and tags.hexdigest() != tag_sha256:
                raise IntegrityError(_REORDERED_TAGS.format(body_key=body_key))

        chunks = _pipeline(produce())
        if not reuse:
            return chunks

        def lent() -> Generator[bytearray | memoryview, None, None]:
            with closing(chunks):
                for chunk in chunks:
                    yield chunk
                    # asked for the next: this one's buffer may be decrypted into again
                    if isinstance(chunk, memoryview):
                        plain_buffers.give(chunk.obj)

        return lent()

    def _check_size(self, body_key: str, expected: int) -> None:
        actual = self.inner.head(body_key).size
        if actual < expected:
            raise IntegrityError(
                f"body {body_key} is truncated: {actual} of {expected} bytes are stored"
            )
        if actual > expected:
            raise IntegrityError(
                f"body {body_key} is corrupt: {actual} bytes are stored, {expected} expected"
            )

    def read_range(
        self,
        body_key: str,
        header: bytes,
        header_key_id: str,
        start: int,
        end: int,
        *,
        plaintext_size: int,
    ) -> bytes:
        """Plaintext bytes ``[start, end)``, reading and decrypting only their segments."""
        check_range(start, end)
        end = min(end, plaintext_size)
        if start >= end:
            return b""
        first, last = start // SEGMENT_SIZE, (end - 1) // SEGMENT_SIZE
        aead = self._aead(header, header_key_id)
        raw = self.inner.get_range(
            body_key, first * CIPHER_SEGMENT_SIZE, (last + 1) * CIPHER_SEGMENT_SIZE
        )
        plain = bytearray()
        for n, offset in enumerate(range(0, len(raw), CIPHER_SEGMENT_SIZE)):
            segment = raw[offset : offset + CIPHER_SEGMENT_SIZE]
            plain += self._open_segment(aead, segment, first + n, body_key)
        skip = start - first * SEGMENT_SIZE
        piece = bytes(plain[skip : skip + (end - start)])
        if len(piece) != end - start:
            raise IntegrityError(f"body {body_key} is truncated before byte {end}")
        return piece

    def iter_ciphertext(self, body_key: str) -> Iterator[bytes]:
        """The stored body as it is (for export behind a recipient's header)."""
        return self.inner.iter_chunks(body_key, CIPHER_SEGMENT_SIZE * BATCH_SEGMENTS)

    def check(
        self,
        body_key: str,
        header: bytes,
        header_key_id: str,
        *,
        plaintext_sha256: str,
        plaintext_size: int,
        ciphertext_sha256: str,
        ciphertext_size: int,
        tag_sha256: str | None = None,
    ) -> BodyCheck:
        """Re-read and re-hash a body: ``ok``, ``missing``, ``truncated`` or ``corrupt``."""
        try:
            stored = self.inner.head(body_key).size
        except NotFoundError:
            return BodyCheck("missing", f"body {body_key} is not in {self.inner.url}")
        if stored < ciphertext_size:
            return BodyCheck("truncated", f"{stored} of {ciphertext_size} bytes stored")
        if stored > ciphertext_size:
            return BodyCheck("corrupt", f"{stored} bytes stored, {ciphertext_size} expected")
        try:
            aead = self._aead(header, header_key_id)
        except IntegrityError as exc:
            return BodyCheck("corrupt", str(exc))
        except ConfigurationError as exc:
            return BodyCheck("no-key", str(exc))
        plain_hash, cipher_hash, tag_hash = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
        size = 0
        sealed_buffers = _BufferPool(CIPHER_SEGMENT_SIZE * BATCH_SEGMENTS, QUEUE_DEPTH + 4)
        into = bytearray(SEGMENT_SIZE * BATCH_SEGMENTS)
        try:
            with closing(self._iter_sealed(body_key, buffers=sealed_buffers)) as batches:
                for first, sealed in batches:
                    cipher_hash.update(sealed)
                    _hash_tags(tag_hash, sealed)
                    plain = self._open_segments(aead, sealed, first, body_key, into)
                    plain_hash.update(plain)
                    size += len(plain)
                    if isinstance(sealed, memoryview):
                        sealed_buffers.give(sealed.obj)
        except IntegrityError as exc:
            return BodyCheck("corrupt", str(exc))
        except NotFoundError:
            return BodyCheck("missing", f"body {body_key} vanished while being read")
        if cipher_hash.hexdigest() != ciphertext_sha256:
            return BodyCheck("corrupt", "ciphertext SHA-256 differs from the catalog")
        if tag_sha256 is not None and tag_hash.hexdigest() != tag_sha256:
            return BodyCheck("corrupt", "the SHA-256 of the segment MACs differs from the catalog")
        if size != plaintext_size or plain_hash.hexdigest() != plaintext_sha256:
            return BodyCheck("corrupt", "plaintext SHA-256 differs from the catalog")
        return BodyCheck("ok", f"{size} bytes, checksums match")
