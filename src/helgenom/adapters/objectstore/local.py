"""The embedded backend: objects as files under a local directory."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from helgenom.adapters.files import fsync_dir
from helgenom.adapters.objectstore.base import (
    CHUNK_SIZE,
    Chunk,
    ObjectInfo,
    ObjectStore,
    check_key,
    check_range,
)
from helgenom.core.errors import NotFoundError, StorageUnavailableError

_STAGING = ".staging"


class LocalStore(ObjectStore):
    """Files under ``root``; writes go to ``root/.staging`` then are renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        try:
            (root / _STAGING).mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(root, 0o700)
        except OSError as exc:
            raise StorageUnavailableError(
                f"object store folder {root} cannot be used: {exc.strerror}"
            ) from None

    def __repr__(self) -> str:
        return f"LocalStore({self.root})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, source: BinaryIO, size: int | None = None) -> int:
        def chunks() -> Iterator[bytes]:
            while chunk := source.read(CHUNK_SIZE):
                yield chunk

        return self.put_chunks(key, chunks())

    def put_chunks(
        self,
        key: str,
        chunks: Iterable[Chunk],
        done: Callable[[object], None] | None = None,
        size: int | None = None,
    ) -> int:
        """Write the chunks straight to a staging file, fsync, rename into place."""
        target = self._path(key)
        staging = self.root / _STAGING / f"{secrets.token_hex(8)}.part"
        written = 0
        try:
            fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    at = 0
                    while at < len(view):
                        at += os.write(fd, view[at:])
                    written += at
                    if done is not None:
                        done(view.obj)
                os.fsync(fd)
            finally:
                os.close(fd)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(staging, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageUnavailableError(
                f"cannot write object {key} under {self.root}: {exc.strerror}"
            ) from None
        finally:
            staging.unlink(missing_ok=True)
        return written

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def iter_chunks_into(
        self, key: str, chunk_size: int, take: Callable[[], bytearray]
    ) -> Iterator[memoryview]:
        path = self._path(key)
        try:
            handle = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        with handle:
            while True:
                view = memoryview(take())[:chunk_size]
                got = 0
                while got < chunk_size and (n := handle.readinto(view[got:])):
                    got += n
                if not got:
                    return
                yield view[:got]

    def get_range(self, key: str, start: int, end: int) -> bytes:
        check_range(start, end)
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                handle.seek(start)
                return handle.read(end - start)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def head(self, key: str) -> ObjectInfo:
        try:
            return ObjectInfo(key, self._path(key).stat().st_size)
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        fsync_dir(path.parent)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if rel.startswith(_STAGING) or not path.is_file() or not rel.startswith(prefix):
                continue
            found.append(ObjectInfo(rel, path.stat().st_size))
        yield from sorted(found, key=lambda info: info.key)
