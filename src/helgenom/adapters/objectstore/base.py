"""The object store interface: bytes under keys, written atomically, read in ranges.

Backends know nothing of encryption or policy; :class:`~.crypt4gh.Crypt4ghStore`
wraps any of them. Keys are ``/``-separated relative names of safe characters.
"""

from __future__ import annotations

import abc
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from helgenom.core.errors import InvalidInputError

Chunk = bytes | bytearray | memoryview
"""A piece of an object's bytes as the writers hand it over."""

CHUNK_SIZE = 1 << 20
"""Default chunk size for streaming reads (1 MiB)."""

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """Validate an object key (no ``..``, no leading ``/``, safe characters only)."""
    if len(key) > 512 or not _KEY_RE.match(key) or ".." in key.split("/"):
        raise InvalidInputError(
            f"object key {key!r} is not valid: use '/'-separated names of letters, digits, "
            "'.', '_' or '-'"
        )
    return key


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one stored object."""

    key: str
    """The object's key."""
    size: int
    """Size in bytes."""


class ObjectStore(abc.ABC):
    """Bytes under keys. Every backend passes the same conformance suite.

    ``put`` is atomic: a reader sees the whole object or nothing, never a part,
    even if the writer is killed. ``get_range`` reads only the bytes asked for.
    Missing keys raise :class:`~helgenom.core.errors.NotFoundError`; an unreachable
    backend raises :class:`~helgenom.core.errors.StorageUnavailableError`.
    """

    url: str
    """Where the store is (never contains a secret)."""

    @abc.abstractmethod
    def put(self, key: str, source: BinaryIO, size: int | None = None) -> int:
        """Stream ``source`` to its end into ``key``, atomically; returns the bytes written.

        An existing object under ``key`` is replaced only once the new one is complete.
        ``size``, when known, is how many bytes will come (a backend may size its
        transfer to it; a different count is not an error).
        """

    def put_chunks(
        self,
        key: str,
        chunks: Iterable[Chunk],
        done: Callable[[object], None] | None = None,
        size: int | None = None,
    ) -> int:
        """Like :meth:`put`, from an iterable of byte chunks; returns the bytes written.

        ``done(chunk.obj)`` (``done(chunk)`` for bytes) is called once a chunk's bytes
        have been consumed, so a caller can lend out its buffers again. The default
        streams the chunks through :meth:`put`; a backend may write them directly.
        """
        raw = ChunkReader(iter(chunks), done)
        return self.put(key, io.BufferedReader(raw, buffer_size=CHUNK_SIZE), size)

    @abc.abstractmethod
    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the whole object in chunks of at most ``chunk_size`` bytes."""

    def iter_chunks_into(
        self, key: str, chunk_size: int, take: Callable[[], bytearray]
    ) -> Iterator[memoryview]:
        """Like :meth:`iter_chunks`, but a backend that can read into buffers fills
        ``take()`` (a buffer of at least ``chunk_size`` bytes, which the caller lends out
        again once done with it) instead of allocating one per chunk. The default
        yields views of :meth:`iter_chunks`' chunks."""
        for chunk in self.iter_chunks(key, chunk_size):
            yield memoryview(chunk)

    def get(self, key: str) -> bytes:
        """The whole object in memory (small objects only)."""
        return b"".join(self.iter_chunks(key))

    @abc.abstractmethod
    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object, clipped to its size."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Size of the object."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; raises NotFoundError when there is none."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        from helgenom.core.errors import NotFoundError

        try:
            self.head(key)
        except NotFoundError:
            return False
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def remaining_bytes(source: BinaryIO) -> int | None:
    """Bytes from the position of a seekable ``source`` to its end (None if unknown)."""
    try:
        if not source.seekable():
            return None
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return max(end - here, 0)


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (each handed to ``done`` once read)."""

    def __init__(
        self, chunks: Iterator[Chunk], done: Callable[[object], None] | None = None
    ) -> None:
        self._chunks = chunks
        self._done = done
        self._buffer = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._buffer):
            if self._done is not None and self._buffer.obj is not None:
                self._done(self._buffer.obj)
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                self._buffer = memoryview(b"")
                return 0
            self._offset = 0
        n = min(len(target), len(self._buffer) - self._offset)
        target[:n] = self._buffer[self._offset : self._offset + n]
        self._offset += n
        return n


def check_range(start: int, end: int) -> None:
    """Validate a half-open byte range."""
    if start < 0 or end < start:
        raise InvalidInputError(f"byte range [{start}, {end}) is not valid: need 0 <= start <= end")
