"""One conformance suite for every object store backend: local folder and S3.

The S3 cases run against a real S3-protocol server (``rclone serve s3``, see
``objectstore_s3.py``) and are marked ``s3``; each test gets a fresh prefix.
"""

from __future__ import annotations

import hashlib
import io
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helgenom.adapters.objectstore import LocalStore, ObjectStore, create_store
from helgenom.adapters.objectstore.s3 import PART_SIZE, STREAM_PART_SIZE, S3Store
from helgenom.core.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)
from objectstore_s3 import S3Server, free_port

MiB = 1 << 20


S3 = pytest.mark.s3


# -- fixtures ----------------------------------------------------------------------------


def make_s3_store(server: S3Server, prefix: str | None = None, **kwargs: Any) -> S3Store:
    """A store on the test server; a fresh random prefix unless one is given."""
    options: dict[str, Any] = {
        "endpoint_url": server.endpoint_url,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "max_attempts": 2,
        **kwargs,
    }
    return S3Store(
        str(options.pop("bucket", server.bucket)),
        prefix if prefix is not None else f"t-{secrets.token_hex(6)}",
        **options,
    )


@dataclass
class Harness:
    """A store under test and where its half-written data would linger."""

    store: ObjectStore
    scratch: Path
    is_leftover: Callable[[Path], bool]

    def leftovers(self) -> list[Path]:
        if not self.scratch.exists():
            return []
        return [p for p in self.scratch.rglob("*") if self.is_leftover(p)]


@pytest.fixture(params=["local", pytest.param("s3", marks=S3)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Runs the test once per object store backend."""
    if request.param == "local":
        local = LocalStore(tmp_path / "objects")
        result = Harness(local, local.root / ".staging", lambda p: p.is_file())
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        s3 = make_s3_store(server)
        # rclone keeps the parts of unfinished multipart uploads in hidden folders.
        result = Harness(
            s3,
            server.root / server.bucket / s3.prefix,
            lambda p: p.name.startswith(".rclone_temp"),
        )
    try:
        yield result
    finally:
        result.store.close()


@pytest.fixture
def store(harness: Harness) -> ObjectStore:
    return harness.store


# -- sources -----------------------------------------------------------------------------


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


class TrickleSource(io.RawIOBase):
    """A pipe-like source: every read returns at most ``piece`` bytes."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._piece = piece

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._piece if size is None or size < 0 else min(size, self._piece)
        chunk = bytes(self._data[self._pos : self._pos + n])
        self._pos += len(chunk)
        return chunk


class FailingSource(io.RawIOBase):
    """Yields ``fail_after`` bytes of ``data``, then raises OSError; calls ``probe`` first."""

    def __init__(self, data: bytes, fail_after: int, probe: Callable[[], None] = lambda: None):
        self._data = data
        self._pos = 0
        self._fail_after = fail_after
        self._probe = probe

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._pos >= self._fail_after:
            self._probe()
            raise OSError(5, "Input/output error")
        n = self._fail_after - self._pos if size is None or size < 0 else size
        n = min(n, self._fail_after - self._pos)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- put / get ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, PART_SIZE + 4 * MiB])
def test_put_get_roundtrip(store: ObjectStore, size: int) -> None:
    data = payload(size)
    assert store.put("genomes/sample.cram", io.BytesIO(data)) == size
    assert store.head("genomes/sample.cram").size == size
    assert sha256(store.get("genomes/sample.cram")) == sha256(data)
    chunks = list(store.iter_chunks("genomes/sample.cram", chunk_size=MiB))
    assert all(0 < len(c) <= MiB for c in chunks)
    assert sha256(b"".join(chunks)) == sha256(data)


def test_put_from_a_source_with_short_reads(store: ObjectStore) -> None:
    data = payload(STREAM_PART_SIZE + 3 * MiB + 7, seed=1)
    assert store.put("pipe", TrickleSource(data, 256 * 1024)) == len(data)
    assert store.head("pipe").size == len(data)
    assert sha256(store.get("pipe")) == sha256(data)


def test_iter_chunks_respects_chunk_size(store: ObjectStore) -> None:
    data = payload(10_000, seed=2)
    store.put("k", io.BytesIO(data))
    chunks = list(store.iter_chunks("k", chunk_size=1000))
    assert all(len(c) <= 1000 for c in chunks)
    assert b"".join(chunks) == data


def test_put_replaces_existing_object(store: ObjectStore) -> None:
    store.put("a/b", io.BytesIO(b"first version"))
    assert store.put("a/b", io.BytesIO(b"second")) == 6
    assert store.get("a/b") == b"second"
    assert store.head("a/b").size == 6
    assert [info.key for info in store.list()] == ["a/b"]


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("fail_after", [100_000, STREAM_PART_SIZE + 2 * MiB])
def test_failed_put_keeps_the_old_object(harness: Harness, fail_after: int) -> None:
    store = harness.store
    old = payload(70_000, seed=3)
    store.put("obj", io.BytesIO(old))
    seen: list[bytes] = []
    partial: list[bool] = []

    def probe() -> None:  # runs just before the source fails
        if fail_after > STREAM_PART_SIZE:  # a part is on its way: wait for the server to have some
            partial.append(wait_for(lambda: bool(harness.leftovers())))
        seen.append(store.get("obj"))

    source = FailingSource(payload(fail_after + MiB, seed=4), fail_after, probe)
    with pytest.raises(StorageUnavailableError, match="obj"):
        store.put("obj", source)
    assert seen == [old]  # while the new version was being written
    assert all(partial)
    assert store.get("obj") == old
    assert [i.key for i in store.list()] == ["obj"]
    assert harness.leftovers() == []


@pytest.mark.parametrize("fail_after", [0, 100_000, STREAM_PART_SIZE + 2 * MiB])
def test_failed_put_leaves_no_object(harness: Harness, fail_after: int) -> None:
    store = harness.store
    visible: list[bool] = []
    partial: list[bool] = []

    def probe() -> None:
        if fail_after > STREAM_PART_SIZE:
            partial.append(wait_for(lambda: bool(harness.leftovers())))
        visible.append(store.exists("new"))

    source = FailingSource(payload(fail_after + MiB, seed=5), fail_after, probe)
    with pytest.raises(StorageUnavailableError, match="new"):
        store.put("new", source)
    assert visible == [False]
    assert all(partial)
    assert not store.exists("new")
    assert list(store.list()) == []
    assert harness.leftovers() == []


class SourceBrokeError(Exception):
    """Not an OSError: e.g. a failed integrity check in an encrypting source."""


def test_failed_put_passes_other_source_errors_through(harness: Harness) -> None:
    store = harness.store

    class Source(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise SourceBrokeError("bad data")

    with pytest.raises(SourceBrokeError):
        store.put("k", Source())
    assert not store.exists("k")
    assert harness.leftovers() == []


def test_complete_put_is_visible_only_at_the_end(store: ObjectStore) -> None:
    data = payload(STREAM_PART_SIZE + MiB, seed=6)
    visible: list[bool] = []

    class Source(io.RawIOBase):
        pos = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if self.pos == len(data):
                visible.append(store.exists("late"))
            n = len(data) - self.pos if size is None or size < 0 else size
            chunk = data[self.pos : self.pos + n]
            self.pos += len(chunk)
            return chunk

    assert store.put("late", Source()) == len(data)
    assert visible
    assert not any(visible)
    assert store.head("late").size == len(data)


# -- ranges ------------------------------------------------------------------------------

RANGE_DATA = payload(200 * 1024 + 3, seed=7)
N = len(RANGE_DATA)
positions = st.one_of(
    st.integers(0, N + 5000),
    st.sampled_from([0, 1, 65535, 65536, N - 1, N, N + 1]),
)


def test_get_range_matches_slicing(store: ObjectStore) -> None:
    store.put("ranges/blob", io.BytesIO(RANGE_DATA))

    @settings(max_examples=50, deadline=None, database=None)
    @given(a=positions, b=positions)
    @example(a=0, b=0)
    @example(a=0, b=N)
    @example(a=N, b=N)
    @example(a=N - 1, b=N + 10)
    @example(a=N + 5, b=N + 100)
    def check(a: int, b: int) -> None:
        start, end = min(a, b), max(a, b)
        assert store.get_range("ranges/blob", start, end) == RANGE_DATA[start:end]

    check()


def test_get_range_of_empty_object(store: ObjectStore) -> None:
    store.put("empty", io.BytesIO(b""))
    assert store.get_range("empty", 0, 0) == b""
    assert store.get_range("empty", 0, 10) == b""
    assert store.get_range("empty", 5, 10) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4)])
def test_get_range_rejects_bad_ranges(store: ObjectStore, start: int, end: int) -> None:
    store.put("k", io.BytesIO(b"0123456789"))
    with pytest.raises(InvalidInputError):
        store.get_range("k", start, end)


# -- head / list / delete ----------------------------------------------------------------


def test_list_prefixes_and_order(store: ObjectStore) -> None:
    sizes = {"b": 1, "a/2": 2, "a/1": 3, "a-b": 4, "a0": 5, "a.b/c": 6, "ab/c": 7, "c/d/e": 0}
    for key, size in sizes.items():
        store.put(key, io.BytesIO(payload(size)))
    everything = list(store.list())
    assert [i.key for i in everything] == sorted(sizes)
    assert {i.key: i.size for i in everything} == sizes
    assert [i.key for i in store.list("a")] == ["a-b", "a.b/c", "a/1", "a/2", "a0", "ab/c"]
    assert [i.key for i in store.list("a/")] == ["a/1", "a/2"]
    assert [i.key for i in store.list("c/d")] == ["c/d/e"]
    assert list(store.list("zzz")) == []


def test_delete(store: ObjectStore) -> None:
    store.put("x/y", io.BytesIO(b"data"))
    store.put("x/z", io.BytesIO(b"more"))
    assert store.exists("x/y")
    store.delete("x/y")
    assert not store.exists("x/y")
    with pytest.raises(NotFoundError, match="x/y"):
        store.head("x/y")
    assert [i.key for i in store.list()] == ["x/z"]
    with pytest.raises(NotFoundError, match="x/y"):
        store.delete("x/y")


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.get("missing/key"),
        lambda s: list(s.iter_chunks("missing/key")),
        lambda s: s.head("missing/key"),
        lambda s: s.get_range("missing/key", 0, 10),
        lambda s: s.get_range("missing/key", 0, 0),
        lambda s: s.get_range("missing/key", 100, 200),
        lambda s: s.delete("missing/key"),
    ],
    ids=["get", "iter_chunks", "head", "get_range", "get_range_empty", "get_range_far", "delete"],
)
def test_missing_key_is_not_found(
    store: ObjectStore, operation: Callable[[ObjectStore], object]
) -> None:
    store.put("missing/other", io.BytesIO(b"x"))  # the bucket and folder exist
    with pytest.raises(NotFoundError, match="missing/key"):
        operation(store)
    assert not store.exists("missing/key")


@pytest.mark.parametrize("key", ["../x", "a/../b", "/abs", "a//b", "", "a/", ".hidden", "a b"])
def test_invalid_keys_are_rejected(store: ObjectStore, key: str) -> None:
    operations: list[Callable[[], object]] = [
        lambda: store.put(key, io.BytesIO(b"x")),
        lambda: store.get(key),
        lambda: store.get_range(key, 0, 1),
        lambda: store.head(key),
        lambda: store.delete(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidInputError):
            operation()
    assert list(store.list()) == []


# -- S3 specifics ------------------------------------------------------------------------


@S3
def test_s3_list_pages_and_prefix_isolation(s3_server: S3Server) -> None:
    base = f"t-{secrets.token_hex(6)}"
    store = make_s3_store(s3_server, base, list_page_size=2)
    sibling = make_s3_store(s3_server, base + "x")
    keys = [f"k{i:02d}" for i in range(7)]
    for key in reversed(keys):
        store.put(key, io.BytesIO(key.encode()))
    sibling.put("k00", io.BytesIO(b"other"))
    assert [i.key for i in store.list()] == keys
    assert [i.key for i in sibling.list()] == ["k00"]
    assert store.get("k00") == b"k00"
    store.close()
    sibling.close()


@S3
def test_s3_url_and_repr_hide_the_secret(s3_server: S3Server) -> None:
    store = make_s3_store(s3_server, "some/prefix")
    assert store.url == f"s3://{s3_server.bucket}/some/prefix"
    for text in (store.url, repr(store), str(store)):
        assert s3_server.secret_access_key not in text
    assert s3_server.endpoint_url in repr(store)
    store.close()


@S3
def test_s3_unreachable_endpoint_fails_fast() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3Store(
        "bucket",
        "p",
        endpoint_url=endpoint,
        access_key_id="HGTESTKEY0000001",
        secret_access_key="not-the-secret-0123456789",
        connect_timeout=1,
        read_timeout=1,
        max_attempts=1,
    )
    operations: list[Callable[[], object]] = [
        lambda: store.put("k", io.BytesIO(b"x")),
        lambda: store.get("k"),
        lambda: store.get_range("k", 0, 4),
        lambda: store.head("k"),
        lambda: list(store.list()),
    ]
    for operation in operations:
        began = time.monotonic()
        with pytest.raises(StorageUnavailableError, match="unreachable") as caught:
            operation()
        assert time.monotonic() - began < 5
        assert endpoint in str(caught.value)
        assert "not-the-secret" not in str(caught.value)
    store.close()


@S3
@pytest.mark.parametrize("wrong", ["secret", "key"])
def test_s3_wrong_credentials_are_a_configuration_error(s3_server: S3Server, wrong: str) -> None:
    bad_secret = "wrong-" + secrets.token_urlsafe(20)
    kwargs = {"secret_access_key": bad_secret}
    if wrong == "key":
        kwargs["access_key_id"] = "HGWRONG" + secrets.token_hex(8)
    store = make_s3_store(s3_server, **kwargs)
    operations: list[Callable[[], object]] = [
        lambda: store.put("k", io.BytesIO(b"x")),
        lambda: store.get("k"),
        lambda: store.get_range("k", 0, 4),
        lambda: store.head("k"),
        lambda: store.delete("k"),
        lambda: list(store.list()),
    ]
    for operation in operations:
        with pytest.raises(ConfigurationError, match="access key") as caught:
            operation()
        message = str(caught.value)
        assert bad_secret not in message
        assert s3_server.secret_access_key not in message
    store.close()


@S3
def test_s3_missing_bucket_is_a_configuration_error(s3_server: S3Server) -> None:
    store = make_s3_store(s3_server, bucket="no-such-bucket")
    operations: list[Callable[[], object]] = [
        lambda: store.put("k", io.BytesIO(b"x")),
        lambda: store.get("k"),
        lambda: store.get_range("k", 0, 4),
        lambda: store.head("k"),
        lambda: store.exists("k"),
        lambda: store.delete("k"),
        lambda: list(store.list()),
    ]
    for operation in operations:
        with pytest.raises(ConfigurationError, match=r"'no-such-bucket' does not exist.*create"):
            operation()
    store.close()


@S3
def test_s3_credentials_from_the_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    store = S3Store(
        s3_server.bucket, f"t-{secrets.token_hex(6)}", endpoint_url=s3_server.endpoint_url
    )
    assert store.put("k", io.BytesIO(b"from env")) == 8
    assert store.get("k") == b"from env"
    store.close()

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3Store(s3_server.bucket, "p", endpoint_url=s3_server.endpoint_url, max_attempts=1)
    with pytest.raises(ConfigurationError, match="no S3 credentials"):
        store.head("k")
    store.close()


@S3
def test_s3_put_refuses_objects_beyond_the_part_limit(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helgenom.adapters.objectstore.s3 as s3_module

    monkeypatch.setattr(s3_module, "MAX_PARTS", 2)
    store = make_s3_store(s3_server, part_size=5 * MiB)

    class Stream(io.RawIOBase):  # a pipe: its size is not known in advance
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self._data.readinto(buffer)

    # a stream of unknown size goes up in parts of 2 x 5 MiB: at most 20 MiB
    assert store.put("fits", cast(BinaryIO, Stream(payload(20 * MiB)))) == 20 * MiB
    with pytest.raises(InvalidInputError, match="larger than"):
        store.put("big", cast(BinaryIO, Stream(payload(20 * MiB + 1))))
    assert [i.key for i in store.list()] == ["fits"]
    # a file (its size known) gets parts large enough: 2 parts of 11 MiB
    data = payload(21 * MiB + 1, seed=2)
    assert store.put("file", io.BytesIO(data)) == len(data)
    assert store.get("file") == data
    # and so does a stream whose size is given
    assert store.put("given", cast(BinaryIO, Stream(data)), size=len(data)) == len(data)
    assert store.get("given") == data
    store.close()


def test_s3_incomplete_or_invalid_configuration() -> None:
    with pytest.raises(ConfigurationError, match="incomplete"):
        S3Store("bucket", "p", access_key_id="HGTESTKEY0000001")
    with pytest.raises(ConfigurationError, match="bucket name"):
        S3Store("bad/bucket", "p")
    with pytest.raises(ConfigurationError, match="prefix"):
        S3Store("bucket", "a/../b")
    with pytest.raises(ConfigurationError, match="endpoint"):
        S3Store("bucket", "p", endpoint_url="ftp://example.org")
    with pytest.raises(ConfigurationError, match="part size"):
        S3Store("bucket", "p", part_size=1024)


# -- create_store ------------------------------------------------------------------------


def test_create_store_builds_the_right_backend(tmp_path: Path) -> None:
    local = create_store((tmp_path / "objects").as_uri())
    assert isinstance(local, LocalStore)
    assert local.root == tmp_path / "objects"

    s3 = create_store(
        "s3://my-bucket/helgenom/prod/",
        endpoint_url="http://user:pw@127.0.0.1:9",
        access_key_id="HGTESTKEY0000001",
        secret_access_key="s3cr3t-value-0123456789",
        region="eu-north-1",
    )
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == (
        "my-bucket",
        "helgenom/prod",
        "s3://my-bucket/helgenom/prod",
    )
    assert "s3cr3t" not in repr(s3)
    assert "pw" not in repr(s3)
    s3.close()
    with pytest.raises(ConfigurationError, match="bucket"):
        create_store("s3:///prefix")
