"""The encrypted object store service end to end, on the local and the S3 backend.

Crypt4GH at rest with the header kept in the catalog apart from the body: put/get,
byte ranges, export to a recipient (decrypted with the real ``crypt4gh`` tool), verify,
delete with a tombstone, key rotation (also interrupted), atomicity under ``kill -9``,
bad input and broken keys, the command line, and that no secret reaches a log line.

The catalog is SQLite here (one PostgreSQL flow shows the catalog side there); the S3
cases run against ``rclone serve s3`` (the session's ``s3_server``) and are marked ``s3``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import os
import random
import re
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from conftest import make_cpr
from helgenom.adapters.catalog.schema import audit_log, objects
from helgenom.adapters.keys import KeyName, crypt4gh_public_of, write_crypt4gh_keypair
from helgenom.adapters.objectstore import ObjectStore
from helgenom.adapters.objectstore.crypt4gh import (
    CIPHER_SEGMENT_SIZE,
    SEGMENT_SIZE,
    ciphertext_size,
    key_id,
    make_header,
    open_header,
)
from helgenom.cli.main import app
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.models import ObjectKind, Role, SampleOrigin, Sex
from helgenom.services.instance import init_instance
from helgenom.services.objects import ObjectService, object_id_for
from helgenom.services.platform import Platform, open_platform
from objectstore_s3 import S3Server

S3 = pytest.mark.s3
MiB = 1 << 20
VENV_BIN = Path(sys.executable).parent
CRYPT4GH = str(VENV_BIN / "crypt4gh") if (VENV_BIN / "crypt4gh").exists() else "crypt4gh"
CRYPT4GH_KEYGEN = (
    str(VENV_BIN / "crypt4gh-keygen")
    if (VENV_BIN / "crypt4gh-keygen").exists()
    else "crypt4gh-keygen"
)
runner = CliRunner()


# ----------------------------------------------------------------------------- the world


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ObjWorld:
    """An initialised instance with departments, users, two patients and their samples."""

    platform: Platform
    home: Path
    backend: str
    work: Path
    """A scratch folder for input and output files."""
    sample_a: str
    """A sample of patient A (requisition from DEP-A)."""
    sample_b: str
    """A sample of patient B (requisition from DEP-B)."""
    person_a: str
    """Person pseudonym of patient A."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment for a CLI run or a child process against this instance."""
    _extra: list[Platform] = field(default_factory=list, repr=False)

    @property
    def objects(self) -> ObjectService:
        return self.platform.objects

    @property
    def inner(self) -> ObjectStore:
        return self.platform.objects.store.inner

    def ctx(self, name: str | None = None) -> Any:
        return self.platform.context(name)

    def file(self, name: str, data: bytes) -> Path:
        path = self.work / name
        path.write_bytes(data)
        return path

    def put(self, data: bytes, name: str = "in.bin", **kwargs: Any) -> str:
        kwargs.setdefault("sample_id", self.sample_a)
        kwargs.setdefault("kind", ObjectKind.BAM)
        result = self.objects.put(self.ctx("operator"), self.file(name, data), **kwargs)
        return result.record.object_id

    def row(self, object_id: str) -> Any:
        with self.platform.catalog.engine.connect() as conn:
            return conn.execute(sa.select(objects).where(objects.c.id == object_id)).one()

    def rows(self) -> list[Any]:
        with self.platform.catalog.engine.connect() as conn:
            return list(conn.execute(sa.select(objects).order_by(objects.c.id)).all())

    def body(self, object_id: str) -> bytes:
        return self.inner.get(self.row(object_id).body_key)

    def replace_body(self, object_id: str, data: bytes) -> None:
        """Overwrite the stored body behind the service's back (as damage would)."""
        self.inner.put(self.row(object_id).body_key, io.BytesIO(data))

    def bodies(self) -> dict[str, int]:
        return {info.key: info.size for info in self.inner.list("bodies/")}

    def last_audit(self) -> Any:
        with self.platform.catalog.engine.connect() as conn:
            return conn.execute(
                sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)
            ).one()

    def audit_count(self) -> int:
        with self.platform.catalog.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())

    def reopen(self) -> Platform:
        """A freshly opened platform of the same instance (closed with the world)."""
        fresh = open_platform(str(self.home))
        self._extra.append(fresh)
        return fresh


def populate(p: Platform) -> tuple[str, str, str]:
    """DEP-A and DEP-B, one user per role needed here, a sample of a patient of each."""
    admin = p.context()
    p.directory.add_org(admin, "DEP-A", "Department A")
    p.directory.add_org(admin, "DEP-B", "Department B")
    for name, role, org in [
        ("clin-a", Role.CLINICIAN, "DEP-A"),
        ("gen-a", Role.GENETICIST, "DEP-A"),
        ("clin-b", Role.CLINICIAN, "DEP-B"),
        ("gen-b", Role.GENETICIST, "DEP-B"),
        ("operator", Role.OPERATOR, "platform"),
        ("steward", Role.STEWARD, "platform"),
        ("auditor", Role.AUDITOR, "platform"),
    ]:
        p.directory.add_user(admin, name, role, org)
    samples = []
    for cpr, clinician in [(make_cpr(1), "clin-a"), (make_cpr(2, Sex.MALE), "clin-b")]:
        ctx = p.context(clinician)
        requisition = p.requisitions.create(ctx, cpr, indication="R59")
        samples.append(
            p.samples.register(ctx, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition)
        )
    person_a = p.persons.vault.pseudonym(parse_cpr(make_cpr(1)))
    return samples[0], samples[1], person_a


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HELGENOM_") and not name.startswith(
            ("HELGENOM_REQUIRE_", "HELGENOM_TEST_")
        ):
            monkeypatch.delenv(name)


def make_instance(
    home: Path,
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None = None,
) -> dict[str, str]:
    """``init_instance`` on the local or the S3 store; returns the environment it needs."""
    env = {"HELGENOM_HOME": str(home)}
    if backend == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        monkeypatch.setenv("HELGENOM_S3_ACCESS_KEY_ID", server.access_key_id)
        monkeypatch.setenv("HELGENOM_S3_SECRET_ACCESS_KEY", server.secret_access_key)
        env["HELGENOM_S3_ACCESS_KEY_ID"] = server.access_key_id
        env["HELGENOM_S3_SECRET_ACCESS_KEY"] = server.secret_access_key
        result = init_instance(
            home,
            database_url=database_url,
            object_store_url=f"s3://{server.bucket}/obj-{secrets.token_hex(6)}",
            s3_endpoint_url=server.endpoint_url,
        )
        assert result.object_store_url.startswith(f"s3://{server.bucket}/obj-")
    else:
        result = init_instance(home, database_url=database_url)
        assert result.object_store_url == (home / "objects").as_uri()
    return env


@pytest.fixture(params=["local", pytest.param("s3", marks=S3)])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Runs the test once per object store backend."""
    return str(request.param)


@pytest.fixture
def ow(
    store_backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[ObjWorld]:
    """An initialised, populated instance on the chosen store (catalog on SQLite)."""
    home = tmp_path / "instance"
    env = make_instance(home, store_backend, request, monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    p = open_platform(str(home))
    world = ObjWorld(p, home, store_backend, work, *populate(p), env=env)
    try:
        yield world
    finally:
        for opened in (*world._extra, p):
            opened.objects.store.inner.close()
            opened.close()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables of the CLI unwrapped (its consoles are made at import, 80 columns)."""
    from helgenom.cli import main

    monkeypatch.setattr(main.out, "width", 250)
    monkeypatch.setattr(main.err, "width", 250)


def cli(ow: ObjWorld, *args: str, actor: str = "operator") -> Result:
    return runner.invoke(app, ["--as", actor, *args], env=ow.env)


def flat(text: str) -> str:
    """Rich table text without box-drawing characters and line wraps."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def assert_cli_error(result: Result, exit_code: int, *phrases: str) -> str:
    """The exit code, and one ``error (...)`` line on stderr naming the problem."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    for phrase in phrases:
        assert phrase in line, line
    return line


def recipient_keys(work: Path, name: str = "recipient") -> tuple[Path, Path]:
    """An unencrypted key pair made by the standard ``crypt4gh-keygen`` tool."""
    sec, pub = work / f"{name}.sec", work / f"{name}.pub"
    subprocess.run(
        [CRYPT4GH_KEYGEN, "--nocrypt", "--sk", str(sec), "--pk", str(pub), "-f"],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    return sec, pub


def c4gh_decrypt(secret_key: Path, encrypted: Path) -> subprocess.CompletedProcess[bytes]:
    """The standard ``crypt4gh decrypt`` tool, as a recipient would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("C4GH_")}
    with encrypted.open("rb") as stdin:
        return subprocess.run(
            [CRYPT4GH, "decrypt", "--sk", str(secret_key)],
            stdin=stdin,
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )


def header_length(c4gh_file: bytes) -> int:
    """Length of the Crypt4GH header at the start of a file (parsed by the crypt4gh library)."""
    from crypt4gh import header as c4gh_header

    stream = io.BytesIO(c4gh_file)
    list(c4gh_header.parse(stream))
    return stream.tell()


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".part")]


# ----------------------------------------------------------------------------- put / get

SIZES = [0, 1, 65535, 65536, 65537, 3 * MiB + 12345]


def test_put_get_roundtrip(ow: ObjWorld) -> None:
    operator = ow.ctx("operator")
    ids = {}
    for size in SIZES:
        data = payload(size, seed=1)
        result = ow.objects.put(
            operator, ow.file(f"in-{size}", data), sample_id=ow.sample_a, kind=ObjectKind.CRAM
        )
        assert result.created
        record = result.record
        assert (record.plaintext_size, record.plaintext_sha256) == (size, sha256(data))
        assert record.ciphertext_size == ciphertext_size(size)
        ids[size] = record.object_id
    assert len(set(ids.values())) == len(SIZES)
    for size, object_id in ids.items():
        out = ow.work / f"out-{size}"
        record = ow.objects.get(operator, object_id, out)
        assert out.read_bytes() == payload(size, seed=1)
        assert record.object_id == object_id
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert leftovers(ow.work) == []
    # A clinician of the requesting department reads too; a freshly opened platform too.
    fresh = ow.reopen()
    out = ow.work / "by-clinician"
    fresh.objects.get(fresh.context("clin-a"), ids[65537], out)
    assert out.read_bytes() == payload(65537, seed=1)
    assert len(ow.bodies()) == len(SIZES)


def test_reused_chunks_carry_every_byte(ow: ObjWorld) -> None:
    # iter_plaintext(reuse=True) decrypts into a few buffers lent out again once the
    # consumer asks for the next chunk: a slow and a fast consumer see every byte once.
    store = ow.objects.store
    data = payload(24 * MiB + 777, seed=3)
    stored = store.put("bodies/reuse-test", io.BytesIO(data))
    args = (stored.body_key, stored.header, stored.key_id)
    for pause in (0.0, 0.003):
        digest, size, held = hashlib.sha256(), 0, []
        for chunk in store.iter_plaintext(
            *args,
            ciphertext_size=stored.ciphertext_size,
            ciphertext_sha256=stored.ciphertext_sha256,
            reuse=True,
        ):
            time.sleep(pause)
            digest.update(chunk)
            size += len(chunk)
            held.append(memoryview(chunk).obj)
        assert (size, digest.hexdigest()) == (len(data), sha256(data))
        assert len({id(buffer) for buffer in held}) < len(held) // 2  # buffers were reused
    kept = list(store.iter_plaintext(*args, ciphertext_size=stored.ciphertext_size))
    assert b"".join(kept) == data  # without reuse every chunk stays as it was


def test_same_content_again_is_a_noop(ow: ObjWorld) -> None:
    operator = ow.ctx("operator")
    data = payload(200_000, seed=2)
    path = ow.file("reads.fastq", data)
    first = ow.objects.put(operator, path, sample_id=ow.sample_a, kind=ObjectKind.FASTQ)
    before = ow.row(first.record.object_id)
    again = ow.objects.put(operator, path, sample_id=ow.sample_a, kind=ObjectKind.FASTQ)
    assert first.created
    assert not again.created
    assert again.record == first.record
    assert ow.bodies() == {before.body_key: ciphertext_size(len(data))}
    after = ow.row(first.record.object_id)
    assert (after.header, after.body_key, after.created_at) == (
        before.header,
        before.body_key,
        before.created_at,
    )
    entry = ow.last_audit()
    assert (entry.action, entry.decision) == ("object.put", "allow")
    assert "no-op" in entry.reason
    # Same bytes under another name too; another sample or kind is another object.
    copy = ow.file("copy.fastq", data)
    assert (
        ow.objects.put(operator, copy, sample_id=ow.sample_a, kind=ObjectKind.FASTQ).created
        is False
    )
    other_sample = ow.objects.put(operator, path, sample_id=ow.sample_b, kind=ObjectKind.FASTQ)
    other_kind = ow.objects.put(operator, path, sample_id=ow.sample_a, kind=ObjectKind.OTHER)
    assert other_sample.created
    assert other_kind.created
    ids = {first.record.object_id, other_sample.record.object_id, other_kind.record.object_id}
    assert len(ids) == 3
    assert len(ow.bodies()) == 3


def test_catalog_record(ow: ObjWorld) -> None:
    data = payload(150_000, seed=3)
    began = dt.datetime.now(dt.UTC)
    result = ow.objects.put(
        ow.ctx("operator"),
        ow.file("sample.vcf", data),
        sample_id=ow.sample_a,
        kind=ObjectKind.VCF,
        provenance={"pipeline": "germline-1.2"},
    )
    record = result.record
    assert re.fullmatch(r"obj-[a-z2-7]{26}", record.object_id)
    assert record.object_id == object_id_for(ow.sample_a, ObjectKind.VCF, sha256(data))
    assert record.kind is ObjectKind.VCF
    assert record.sample_id == ow.sample_a
    assert record.plaintext_sha256 == sha256(data)
    assert record.plaintext_size == len(data)
    body = ow.body(record.object_id)
    assert record.ciphertext_sha256 == sha256(body)
    assert record.ciphertext_size == len(body) == ciphertext_size(len(data))
    assert record.state == "stored"
    assert record.created_by == "operator"
    assert began - dt.timedelta(seconds=5) <= record.created_at <= dt.datetime.now(dt.UTC)
    assert record.created_at.tzinfo is not None
    assert record.provenance["file_name"] == "sample.vcf"
    assert record.provenance["pipeline"] == "germline-1.2"
    assert record.provenance["source"] == "upload"
    assert "crypt4gh" in record.provenance["encryption"]
    assert "helgenom" in record.provenance["software"]
    # The put is audited with the person as its subject.
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("object.put", "allow", "operator")
    assert entry.resource == f"object/{record.object_id}"
    assert json.loads(entry.subjects) == [ow.person_a]
    platform_public = crypt4gh_public_of(ow.platform.keys.load_crypt4gh_secret())
    assert record.key_id == key_id(platform_public)

    # The catalog row: the person pseudonym and the header live here, apart from the body.
    row = ow.row(record.object_id)
    assert row.person_pseudonym == ow.person_a
    assert row.header.startswith(b"crypt4gh")
    assert not body.startswith(b"crypt4gh")
    assert row.body_key.startswith("bodies/")
    assert row.format_version == 1
    # ... and the header with the body is a standard Crypt4GH stream.
    from crypt4gh import lib as c4gh_lib

    secret = ow.platform.keys.load_crypt4gh_secret().reveal()
    plain = io.BytesIO()
    c4gh_lib.decrypt([(0, secret, None)], io.BytesIO(row.header + body), plain)
    assert plain.getvalue() == data

    # No person pseudonym in what services hand out.
    listed = ow.objects.list(ow.ctx("operator"))
    assert [r.object_id for r in listed] == [record.object_id]
    for text in (repr(record), repr(listed), json.dumps(record.provenance)):
        assert ow.person_a not in text
        assert "hp-" not in text
    assert not hasattr(record, "person_pseudonym")
    assert ow.objects.list(ow.ctx("operator"), sample_id=ow.sample_b) == []
    assert len(ow.objects.list(ow.ctx("operator"), sample_id=ow.sample_a)) == 1


def test_failed_puts_store_nothing(ow: ObjWorld) -> None:
    data = payload(70_000, seed=4)
    path = ow.file("x.bam", data)
    with pytest.raises(NotFoundError, match="no sample S-NOPE"):
        ow.objects.put(ow.ctx("operator"), path, sample_id="S-NOPE", kind=ObjectKind.BAM)
    with pytest.raises(InvalidInputError, match="cannot read"):
        ow.objects.put(
            ow.ctx("operator"), ow.work / "missing.bam", sample_id=ow.sample_a, kind=ObjectKind.BAM
        )
    before = ow.audit_count()
    with pytest.raises(PermissionDeniedError):
        ow.objects.put(ow.ctx("clin-a"), path, sample_id=ow.sample_a, kind=ObjectKind.BAM)
    assert ow.audit_count() == before + 1
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("object.put", "deny", "clin-a")
    assert ow.bodies() == {}
    assert ow.rows() == []


# ----------------------------------------------------------------------------- ranges

RANGE_DATA = payload(300 * 1024 + 5, seed=5)
N = len(RANGE_DATA)
BOUNDARIES = [0, 1, 65535, 65536, 65537, 131071, 131072, 131073, 262144, N - 1, N, N + 1]
positions = st.one_of(st.integers(0, N + 70_000), st.sampled_from(BOUNDARIES))


def test_read_range_matches_slicing(ow: ObjWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    object_id = ow.put(RANGE_DATA, "ranges.bam")
    operator = ow.ctx("operator")
    inner = ow.inner
    reads: list[tuple[int, int]] = []
    real_get_range = inner.get_range

    def recording_get_range(key: str, start: int, end: int) -> bytes:
        reads.append((start, end))
        return real_get_range(key, start, end)

    def no_whole_reads(*args: object, **kwargs: object) -> Any:
        raise AssertionError("a range read must not stream the whole body")

    monkeypatch.setattr(inner, "get_range", recording_get_range)
    monkeypatch.setattr(inner, "iter_chunks", no_whole_reads)

    @settings(max_examples=60 if ow.backend == "s3" else 150, deadline=None, database=None)
    @given(a=positions, b=positions)
    @example(a=0, b=0)
    @example(a=0, b=N)
    @example(a=N, b=N)
    @example(a=65530, b=65540)
    @example(a=65536, b=131072)
    @example(a=100_000, b=250_000)
    @example(a=N - 1, b=N + 10)
    @example(a=N + 5, b=N + 100)
    def check(a: int, b: int) -> None:
        start, end = min(a, b), max(a, b)
        reads.clear()
        assert ow.objects.read_range(operator, object_id, start, end) == RANGE_DATA[start:end]
        clipped = min(end, N)
        if start >= clipped:
            assert reads == []  # nothing to read
            return
        first, last = start // SEGMENT_SIZE, (clipped - 1) // SEGMENT_SIZE
        # Only the segments holding the range, read in one request.
        assert reads == [(first * CIPHER_SEGMENT_SIZE, (last + 1) * CIPHER_SEGMENT_SIZE)]

    check()
    for start, end in [(-1, 5), (10, 9)]:
        with pytest.raises(InvalidInputError, match="byte range"):
            ow.objects.read_range(operator, object_id, start, end)
    ow.objects.read_range(operator, object_id, 70_000, 70_010)
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("object.read", "allow", "operator")
    assert "bytes 70000-70010" in entry.reason
    assert json.loads(entry.subjects) == [ow.person_a]


def test_read_range_of_an_empty_object(ow: ObjWorld) -> None:
    object_id = ow.put(b"", "empty")
    operator = ow.ctx("operator")
    for start, end in [(0, 0), (0, 10), (5, 100_000)]:
        assert ow.objects.read_range(operator, object_id, start, end) == b""


# ----------------------------------------------------------------------------- export


@pytest.mark.parametrize("size", [0, 65536, 3 * MiB + 7])
def test_export_decrypts_with_the_crypt4gh_tool(ow: ObjWorld, size: int) -> None:
    data = payload(size, seed=6)
    object_id = ow.put(data, "export.cram")
    sec, pub = recipient_keys(ow.work)
    out = ow.work / "for-recipient.c4gh"
    record = ow.objects.export(ow.ctx("gen-a"), object_id, pub.read_bytes(), out)
    assert record.object_id == object_id
    decrypted = c4gh_decrypt(sec, out)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == data

    # Only the header was re-encrypted: the body is the stored one, byte for byte.
    exported = out.read_bytes()
    n = header_length(exported)
    assert exported[n:] == ow.body(object_id)
    assert sha256(exported[n:]) == ow.row(object_id).ciphertext_sha256
    assert exported[:n] != ow.row(object_id).header
    # The header is for the recipient alone: the platform key does not open it.
    platform_sec = ow.home / "keys" / KeyName.CRYPT4GH_SECRET.value
    assert c4gh_decrypt(platform_sec, out).returncode != 0
    with pytest.raises(IntegrityError):
        open_header(exported[:n], ow.platform.keys.load_crypt4gh_secret())
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("object.export", "allow", "gen-a")
    assert key_id(base64.b64decode(pub.read_text().splitlines()[1])) in entry.reason
    assert leftovers(ow.work) == []


def test_export_is_for_the_requesting_department_and_stewards(ow: ObjWorld) -> None:
    object_id = ow.put(payload(1000, seed=7))
    _sec, pub = recipient_keys(ow.work)
    for actor in ("operator", "clin-a", "gen-b", "auditor"):
        out = ow.work / f"{actor}.c4gh"
        with pytest.raises(PermissionDeniedError):
            ow.objects.export(ow.ctx(actor), object_id, pub.read_bytes(), out)
        assert not out.exists()
        assert ow.last_audit().decision == "deny"
    ow.objects.export(ow.ctx("steward"), object_id, pub.read_bytes(), ow.work / "s.c4gh")
    assert (ow.work / "s.c4gh").exists()


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"not a key at all\n",
        b"-----BEGIN CRYPT4GH PUBLIC KEY-----\nAAAA\n-----END CRYPT4GH PUBLIC KEY-----\n",
        b"-----BEGIN CRYPT4GH PRIVATE KEY-----\nYzRnaC12MQ==\n-----END CRYPT4GH PRIVATE KEY-----\n",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMk7 someone@example\n",
    ],
    ids=["empty", "text", "short-key", "private-key", "ssh-key"],
)
def test_export_rejects_what_is_not_a_crypt4gh_public_key(ow: ObjWorld, key: bytes) -> None:
    object_id = ow.put(payload(1000, seed=8))
    out = ow.work / "x.c4gh"
    with pytest.raises(ConfigurationError, match="not a Crypt4GH public key"):
        ow.objects.export(ow.ctx("gen-a"), object_id, key, out)
    assert not out.exists()


# ----------------------------------------------------------------------------- verify / integrity


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_verify_reports_missing_truncated_and_corrupt(ow: ObjWorld) -> None:
    size = 200_000
    ok, missing, truncated, corrupt = (
        ow.put(payload(size, seed=10 + i), f"f{i}") for i in range(4)
    )
    report = ow.objects.verify(ow.ctx("operator"))
    assert report.ok
    assert {c.status for c in report.checks} == {"ok"}
    assert report.orphans == []

    ow.inner.delete(ow.row(missing).body_key)
    ow.replace_body(truncated, ow.body(truncated)[: CIPHER_SEGMENT_SIZE + 100])
    ow.replace_body(corrupt, flip_byte(ow.body(corrupt), 70_000))
    report = ow.objects.verify(ow.ctx("operator"))
    assert not report.ok
    status = {c.object_id: c.status for c in report.checks}
    assert status == {ok: "ok", missing: "missing", truncated: "truncated", corrupt: "corrupt"}
    assert report.orphans == []
    entry = ow.last_audit()
    assert (entry.action, entry.decision) == ("object.verify", "allow")
    assert "3 bad" in entry.reason

    # The command line: exit 7 and the table names each status.
    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 7, result.output
    text = flat(result.stdout)
    for object_id, word in status.items():
        assert re.search(rf"{object_id} bam {ow.sample_a} {word}\b", text), text
    assert "4 objects checked, 3 bad" in text
    assert cli(ow, "object", "verify", ok).exit_code == 0
    for bad in (missing, truncated, corrupt):
        result = cli(ow, "object", "verify", bad)
        assert result.exit_code == 7
        assert status[bad] in flat(result.stdout)

    # Reads of the damaged objects fail clearly and write nothing.
    operator = ow.ctx("operator")
    with pytest.raises(IntegrityError, match="truncated"):
        ow.objects.get(operator, truncated, ow.work / "t.out")
    with pytest.raises(IntegrityError, match="corrupt"):
        ow.objects.get(operator, corrupt, ow.work / "c.out")
    with pytest.raises(IntegrityError, match="encrypted data is missing"):
        ow.objects.get(operator, missing, ow.work / "m.out")
    with pytest.raises(IntegrityError, match="truncated"):
        ow.objects.read_range(operator, truncated, 150_000, 160_000)
    assert ow.objects.read_range(operator, truncated, 0, 1000) == payload(size, seed=12)[:1000]
    assert sorted(p.name for p in ow.work.iterdir()) == ["f0", "f1", "f2", "f3"]


@pytest.mark.parametrize("store_backend", ["local"])  # the body is a file only there
def test_flipped_byte_on_disk(ow: ObjWorld) -> None:
    """Damage done to the stored body in place, as a failing disk would (local backend)."""
    data = payload(3 * MiB, seed=11)
    object_id = ow.put(data)
    path = ow.home / "objects" / ow.row(object_id).body_key
    with path.open("r+b") as handle:
        handle.seek(2 * MiB)
        byte = handle.read(1)
        handle.seek(2 * MiB)
        handle.write(bytes([byte[0] ^ 0x80]))
    with pytest.raises(IntegrityError, match="segment 31"):
        ow.objects.get(ow.ctx("operator"), object_id, ow.work / "out")
    assert not (ow.work / "out").exists()
    [check] = ow.objects.verify(ow.ctx("operator"), object_id).checks
    assert check.status == "corrupt"
    os.truncate(path, path.stat().st_size - 1)
    [check] = ow.objects.verify(ow.ctx("operator"), object_id).checks
    assert check.status == "truncated"
    with pytest.raises(IntegrityError, match="truncated"):
        ow.objects.get(ow.ctx("operator"), object_id, ow.work / "out")


def test_failed_reads_never_touch_the_output(ow: ObjWorld) -> None:
    data = payload(3 * MiB, seed=12)
    object_id = ow.put(data)
    operator = ow.ctx("operator")
    existing = ow.file("existing.out", b"precious earlier result")
    inode = existing.stat().st_ino

    # Without --force an existing file is refused before anything is read.
    with pytest.raises(ConflictError, match="exists"):
        ow.objects.get(operator, object_id, existing)
    with pytest.raises(InvalidInputError, match="does not exist"):
        ow.objects.get(operator, object_id, ow.work / "no-such-folder" / "out")

    # A flipped byte deep in the body: IntegrityError, the old file stays as it was.
    body = ow.body(object_id)
    ow.replace_body(object_id, flip_byte(body, 20 * CIPHER_SEGMENT_SIZE + 5000))
    with pytest.raises(IntegrityError, match="corrupt"):
        ow.objects.get(operator, object_id, existing, force=True)
    with pytest.raises(IntegrityError, match="corrupt"):
        ow.objects.get(operator, object_id, ow.work / "new.out")
    _sec, pub = recipient_keys(ow.work)
    with pytest.raises(IntegrityError, match="corrupt"):
        ow.objects.export(ow.ctx("steward"), object_id, pub.read_bytes(), existing, force=True)
    with pytest.raises(IntegrityError):
        ow.objects.read_range(operator, object_id, 20 * SEGMENT_SIZE, 20 * SEGMENT_SIZE + 10)
    assert ow.objects.read_range(operator, object_id, 0, 10) == data[:10]

    # Two whole segments swapped: every MAC holds, the digest of the MACs does not; the
    # same for an object stored before catalog revision 0008 (no MAC digest), whose
    # whole ciphertext is hashed instead.
    segments = [body[i : i + CIPHER_SEGMENT_SIZE] for i in range(0, len(body), CIPHER_SEGMENT_SIZE)]
    segments[3], segments[4] = segments[4], segments[3]
    ow.replace_body(object_id, b"".join(segments))
    with pytest.raises(IntegrityError, match="SHA-256 of its segment MACs"):
        ow.objects.get(operator, object_id, existing, force=True)
    [check] = ow.objects.verify(operator, object_id).checks
    assert check.status == "corrupt"
    tag = ow.row(object_id).tag_sha256
    assert re.fullmatch("[0-9a-f]{64}", tag)
    with ow.platform.catalog.engine.begin() as conn:
        conn.execute(objects.update().where(objects.c.id == object_id).values(tag_sha256=None))
    with pytest.raises(IntegrityError, match="its SHA-256 differs"):
        ow.objects.get(operator, object_id, existing, force=True)
    with ow.platform.catalog.engine.begin() as conn:
        conn.execute(objects.update().where(objects.c.id == object_id).values(tag_sha256=tag))
    # One segment copied over its neighbour: every MAC holds again, the digest does not.
    copied = [body[i : i + CIPHER_SEGMENT_SIZE] for i in range(0, len(body), CIPHER_SEGMENT_SIZE)]
    copied[5] = copied[6]
    ow.replace_body(object_id, b"".join(copied))
    with pytest.raises(IntegrityError, match="segment MACs"):
        ow.objects.get(operator, object_id, existing, force=True)

    assert existing.read_bytes() == b"precious earlier result"
    assert existing.stat().st_ino == inode
    assert sorted(p.name for p in ow.work.iterdir()) == [
        "existing.out",
        "in.bin",
        "recipient.pub",
        "recipient.sec",
    ]
    # Repaired, the same call succeeds and replaces the file.
    ow.replace_body(object_id, body)
    ow.objects.get(operator, object_id, existing, force=True)
    assert existing.read_bytes() == data


# ----------------------------------------------------------------------------- delete


def test_delete_leaves_an_audited_tombstone(ow: ObjWorld) -> None:
    data = payload(100_000, seed=13)
    object_id = ow.put(data, "gone.bam")
    body_key = ow.row(object_id).body_key
    before = ow.audit_count()
    with pytest.raises(PermissionDeniedError):
        ow.objects.delete(ow.ctx("operator"), object_id, reason="cleaning up")
    assert ow.audit_count() == before + 1
    assert ow.last_audit().decision == "deny"
    with pytest.raises(InvalidInputError, match="reason"):
        ow.objects.delete(ow.ctx("steward"), object_id, reason="  ")
    assert ow.row(object_id).state == "stored"

    record = ow.objects.delete(ow.ctx("steward"), object_id, reason="consent withdrawn")
    assert record.object_id == object_id
    row = ow.row(object_id)
    assert row.state == "deleted"
    assert row.deleted_by == "steward"
    assert row.deleted_at is not None
    assert row.plaintext_sha256 == sha256(data)  # the tombstone keeps what it was
    assert body_key not in ow.bodies()
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("object.delete", "allow", "steward")
    assert entry.resource == f"object/{object_id}"
    assert "consent withdrawn" in entry.reason
    assert json.loads(entry.subjects) == [ow.person_a]

    operator = ow.ctx("operator")
    with pytest.raises(NotFoundError, match="deleted"):
        ow.objects.get(operator, object_id, ow.work / "out")
    assert not (ow.work / "out").exists()
    with pytest.raises(NotFoundError, match="deleted"):
        ow.objects.read_range(operator, object_id, 0, 10)
    with pytest.raises(NotFoundError, match="deleted"):
        ow.objects.verify(operator, object_id)
    with pytest.raises(NotFoundError, match="deleted"):
        ow.objects.delete(ow.ctx("steward"), object_id, reason="again")
    assert ow.objects.list(operator) == []
    report = ow.objects.verify(operator)
    assert report.ok
    assert (report.checks, report.orphans) == ([], [])

    # The same content stored again gets the same id back, readable again.
    again = ow.objects.put(
        operator, ow.file("gone.bam", data), sample_id=ow.sample_a, kind=ObjectKind.BAM
    )
    assert again.created
    assert again.record.object_id == object_id
    assert again.record.state == "stored"
    assert "stored again after deletion" in ow.last_audit().reason
    ow.objects.get(operator, object_id, ow.work / "out")
    assert (ow.work / "out").read_bytes() == data
    assert ow.row(object_id).deleted_at is None


def test_a_body_left_behind_by_an_interrupted_delete_is_reported(
    ow: ObjWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the tombstone's commit and the body's removal: verify must say so."""
    object_id = ow.put(payload(10_000, seed=16))
    body_key = ow.row(object_id).body_key

    class Killed(BaseException):
        pass

    def killed(key: str) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(ow.objects, "_discard", killed)
        with pytest.raises(Killed):
            ow.objects.delete(ow.ctx("steward"), object_id, reason="consent withdrawn")
    assert ow.row(object_id).state == "deleted"
    assert body_key in ow.bodies()  # the deleted person's data is still stored ...
    report = ow.objects.verify(ow.ctx("operator"))
    assert report.orphans == [body_key]  # ... and verify --all reports it
    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 0, result.output
    assert body_key in result.stderr


@pytest.mark.parametrize("where", [0, -1], ids=["leading", "trailing"])
def test_export_to_a_raw_public_key(ow: ObjWorld, where: int) -> None:
    """32 raw bytes are a key as they are, even when they begin or end like whitespace."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    while True:  # a key pair whose raw public key has a whitespace byte at ``where``
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if bytes([public[where]]).isspace():
            break
    object_id = ow.put(payload(70_000, seed=17))
    out = ow.work / "raw.c4gh"
    ow.objects.export(ow.ctx("steward"), object_id, public, out)
    from crypt4gh import lib as c4gh_lib

    secret = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    plain = io.BytesIO()
    with out.open("rb") as infile:
        c4gh_lib.decrypt([(0, secret, None)], infile, plain)
    assert plain.getvalue() == payload(70_000, seed=17)
    # A 32-character text line (here an MD5 in hex) is no key.
    with pytest.raises(ConfigurationError, match="not a Crypt4GH public key"):
        ow.objects.export(
            ow.ctx("steward"), object_id, b"d41d8cd98f00b204e9800998ecf8427e\n", ow.work / "x"
        )


# ----------------------------------------------------------------------------- key rotation


def body_digests(ow: ObjWorld) -> dict[str, str]:
    return {
        row.id: sha256(ow.inner.get(row.body_key)) for row in ow.rows() if row.state == "stored"
    }


def assert_all_readable(ow: ObjWorld, p: Platform, contents: dict[str, bytes]) -> None:
    for object_id, data in contents.items():
        out = ow.work / f"check-{secrets.token_hex(4)}"
        p.objects.get(p.context("operator"), object_id, out)
        assert out.read_bytes() == data
        out.unlink()


def test_key_rotation_rewraps_headers_only(ow: ObjWorld) -> None:
    contents = {ow.put(d, f"r{i}"): d for i, d in enumerate([b"", b"x", payload(300_000, 14)])}
    deleted = ow.put(payload(5000, seed=15), "doomed")
    ow.objects.delete(ow.ctx("steward"), deleted, reason="test")
    keys_dir = ow.home / "keys"
    old_secret = ow.platform.keys.load_crypt4gh_secret()
    old_sec_file = (keys_dir / KeyName.CRYPT4GH_SECRET.value).read_bytes()
    old_id = key_id(crypt4gh_public_of(old_secret))
    old_headers = {row.id: row.header for row in ow.rows()}
    digests = body_digests(ow)
    cipher_sha = {row.id: row.ciphertext_sha256 for row in ow.rows()}
    bodies_before = ow.bodies()

    with pytest.raises(PermissionDeniedError):
        ow.objects.rotate_keys(ow.ctx("operator"))
    result = ow.objects.rotate_keys(ow.ctx("admin"))
    assert result.old_key_id == old_id
    assert result.new_key_id != old_id
    assert result.rewrapped == 4  # the tombstone's header too

    # The backup holds every old header, privately.
    assert result.backup_path.parent == ow.home / "backups"
    assert stat.S_IMODE(result.backup_path.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in result.backup_path.read_text().splitlines()]
    assert {x["object_id"]: base64.b64decode(x["header"]) for x in lines} == old_headers
    assert {x["key_id"] for x in lines} == {old_id}

    # Every header opens with the new key only; bodies are untouched.
    new_secret = ow.platform.keys.load_crypt4gh_secret()
    assert key_id(crypt4gh_public_of(new_secret)) == result.new_key_id
    for row in ow.rows():
        assert row.key_id == result.new_key_id
        assert row.header != old_headers[row.id]
        assert open_header(row.header, new_secret) == open_header(old_headers[row.id], old_secret)
        with pytest.raises(IntegrityError):
            open_header(row.header, old_secret)
        assert row.ciphertext_sha256 == cipher_sha[row.id]
    assert body_digests(ow) == digests
    assert ow.bodies() == bodies_before

    # The old key is retired (kept, private), the next-key files are gone.
    retired = keys_dir / "retired" / f"{old_id}.c4gh.sec"
    assert retired.read_bytes() == old_sec_file
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert (keys_dir / "retired" / f"{old_id}.c4gh.pub").exists()
    assert not (keys_dir / KeyName.CRYPT4GH_NEXT_SECRET.value).exists()
    assert not (keys_dir / KeyName.CRYPT4GH_NEXT_PUBLIC.value).exists()
    public_file = (keys_dir / KeyName.CRYPT4GH_PUBLIC.value).read_text().splitlines()[1]
    assert key_id(base64.b64decode(public_file)) == result.new_key_id
    entry = ow.last_audit()
    assert (entry.action, entry.decision, entry.actor) == ("keys.rotate", "allow", "admin")
    assert result.backup_path.name in entry.reason

    # Reads work, in this platform and a fresh one; new puts use the new key.
    assert_all_readable(ow, ow.platform, contents)
    assert_all_readable(ow, ow.reopen(), contents)
    assert ow.objects.verify(ow.ctx("operator")).ok
    newer = ow.put(b"after rotation", "new")
    assert ow.row(newer).key_id == result.new_key_id
    contents[newer] = b"after rotation"

    # A second rotation: both old keys retired, everything still readable.
    second = ow.objects.rotate_keys(ow.ctx("admin"))
    assert second.old_key_id == result.new_key_id
    assert second.rewrapped == 5
    assert second.backup_path != result.backup_path
    assert {p.name for p in (keys_dir / "retired").glob("*.sec")} == {
        f"{old_id}.c4gh.sec",
        f"{result.new_key_id}.c4gh.sec",
    }
    assert {row.key_id for row in ow.rows()} == {second.new_key_id}
    assert body_digests(ow) == {**digests, newer: body_digests(ow)[newer]}
    assert_all_readable(ow, ow.platform, contents)
    assert_all_readable(ow, ow.reopen(), contents)


def test_interrupted_rotation_is_completed_by_running_it_again(ow: ObjWorld) -> None:
    contents = {ow.put(payload(70_000, seed=20 + i), f"i{i}"): b"" for i in range(5)}
    contents = {oid: ow.objects.read_range(ow.ctx("operator"), oid, 0, 70_000) for oid in contents}
    digests = body_digests(ow)
    keys = ow.platform.keys
    old_secret = keys.load_crypt4gh_secret()
    old_id = key_id(crypt4gh_public_of(old_secret))

    # A rotation killed after re-wrapping some headers: the next key exists, two rows use it.
    next_public = keys.begin_crypt4gh_rotation()
    next_id = key_id(next_public)
    rows = ow.rows()
    with ow.platform.catalog.begin() as conn:
        for row in rows[:2]:
            conn.execute(
                objects.update()
                .where(objects.c.id == row.id)
                .values(
                    header=make_header(open_header(row.header, old_secret), next_public),
                    key_id=next_id,
                )
            )
    # Meanwhile every object stays readable (the next key can open the re-wrapped ones).
    assert_all_readable(ow, ow.reopen(), contents)

    fresh = ow.reopen()
    result = fresh.objects.rotate_keys(fresh.context("admin"))
    assert (result.old_key_id, result.new_key_id) == (old_id, next_id)
    assert result.rewrapped == 3
    assert {row.key_id for row in ow.rows()} == {next_id}
    assert body_digests(ow) == digests
    assert (ow.home / "keys" / "retired" / f"{old_id}.c4gh.sec").exists()
    assert_all_readable(ow, ow.reopen(), contents)


def test_rotation_failing_midway_is_completed_by_running_it_again(
    ow: ObjWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helgenom.services.objects as objects_module

    contents = {ow.put(payload(1000 * (i + 1), seed=30 + i), f"m{i}"): b"" for i in range(4)}
    contents = {oid: ow.objects.read_range(ow.ctx("operator"), oid, 0, 10_000) for oid in contents}
    digests = body_digests(ow)
    old_id = ow.rows()[0].key_id
    calls = []
    real_make_header = objects_module.make_header

    def failing_make_header(session_key: bytes, public: bytes) -> bytes:
        calls.append(public)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_make_header(session_key, public)

    with monkeypatch.context() as patch:  # not monkeypatch.undo(): that drops the S3 settings
        patch.setattr(objects_module, "make_header", failing_make_header)
        with pytest.raises(RuntimeError, match="power cut"):
            ow.objects.rotate_keys(ow.ctx("admin"))
    next_file = ow.home / "keys" / KeyName.CRYPT4GH_NEXT_PUBLIC.value
    assert next_file.exists()
    next_id = key_id(base64.b64decode(next_file.read_text().splitlines()[1]))
    assert {row.key_id for row in ow.rows()} == {old_id}  # the batch was rolled back
    assert_all_readable(ow, ow.reopen(), contents)

    result = ow.objects.rotate_keys(ow.ctx("admin"))
    assert (result.old_key_id, result.new_key_id, result.rewrapped) == (old_id, next_id, 4)
    assert {row.key_id for row in ow.rows()} == {next_id}
    assert body_digests(ow) == digests
    assert_all_readable(ow, ow.platform, contents)
    assert_all_readable(ow, ow.reopen(), contents)


# ----------------------------------------------------------------------------- broken keys


def test_missing_platform_key_is_a_configuration_error(ow: ObjWorld) -> None:
    object_id = ow.put(payload(1000, seed=40))
    (ow.home / "keys" / KeyName.CRYPT4GH_SECRET.value).unlink()
    with pytest.raises(ConfigurationError, match=r"platform\.c4gh\.sec is missing.*restore"):
        open_platform(str(ow.home))
    out = ow.work / "out"
    result = cli(ow, "object", "get", object_id, "-o", str(out))
    assert_cli_error(result, 9, "platform.c4gh.sec", "missing")
    assert not out.exists()


def test_wrong_platform_key_is_a_clear_error(ow: ObjWorld) -> None:
    data = payload(100_000, seed=41)
    object_id = ow.put(data)
    stored_id = ow.row(object_id).key_id
    sec = ow.home / "keys" / KeyName.CRYPT4GH_SECRET.value
    other_sec, other_pub = ow.work / "other.sec", ow.work / "other.pub"
    write_crypt4gh_keypair(other_sec, other_pub)
    sec.unlink()
    shutil.copyfile(other_sec, sec)
    os.chmod(sec, 0o600)

    p = ow.reopen()
    out = ow.work / "out"
    # The header names the key it was made for: a different active key is spotted at once.
    with pytest.raises(ConfigurationError, match=f"no platform Crypt4GH key with id {stored_id}"):
        p.objects.get(p.context("operator"), object_id, out)
    with pytest.raises(ConfigurationError, match="restore the key file"):
        p.objects.read_range(p.context("operator"), object_id, 0, 10)
    result = cli(ow, "object", "get", object_id, "-o", str(out))
    assert_cli_error(result, 9, stored_id)
    # A header that claims to be for the active key but is not opens to an IntegrityError.
    with p.catalog.begin() as conn:
        conn.execute(
            objects.update()
            .where(objects.c.id == object_id)
            .values(key_id=key_id(base64.b64decode(other_pub.read_text().splitlines()[1])))
        )
    with pytest.raises(IntegrityError, match=r"header cannot be opened.*wrong key"):
        p.objects.get(p.context("operator"), object_id, out)
    [check] = p.objects.verify(p.context("operator"), object_id).checks
    assert check.status == "corrupt"
    assert "wrong key" in check.detail
    assert_cli_error(cli(ow, "object", "get", object_id, "-o", str(out)), 7, "header")
    assert not out.exists()
    assert leftovers(ow.work) == []


# ----------------------------------------------------------------------------- kill -9

CHILD = r"""
import sys, time
from pathlib import Path
from helgenom.adapters.objectstore.crypt4gh import Crypt4ghStore
from helgenom.core.models import ObjectKind
from helgenom.services.objects import ObjectService
from helgenom.services.platform import open_platform

mode, path, sample = sys.argv[1:4]

def pause():
    print("PAUSED", flush=True)
    time.sleep(300)

if mode == "after-body":  # the body is stored, the catalog row not yet written
    real_put = Crypt4ghStore.put
    def put(self, *args, **kwargs):
        stored = real_put(self, *args, **kwargs)
        pause()
        return stored
    Crypt4ghStore.put = put
elif mode == "in-transaction":  # the row is inserted but not committed
    real_row = ObjectService._row
    def row(self, conn, object_id):
        found = real_row(self, conn, object_id)
        pause()
        return found
    ObjectService._row = row

p = open_platform()
ctx = p.context("operator")
p.objects.store
print("READY", flush=True)
result = p.objects.put(ctx, Path(path), sample_id=sample, kind=ObjectKind.BAM)
print("DONE", result.record.object_id, flush=True)
"""


def wait_for_line(proc: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline()
                if not line or line.startswith(marker):
                    return line
    finally:
        selector.close()
    raise AssertionError(f"the child did not print {marker!r} within {timeout} s")


def kill_put(ow: ObjWorld, big: Path, mode: str, delay: float) -> str:
    """Start a put in a child process and SIGKILL it; returns how far it got."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELGENOM_")}
    env.update(ow.env)
    log = ow.work / f"child-{mode}.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, str(big), ow.sample_a],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    try:
        ready = wait_for_line(proc, b"READY", 30)
        assert ready.startswith(b"READY"), log.read_text()
        if mode == "timed":
            time.sleep(delay)
        else:
            assert wait_for_line(proc, b"PAUSED", 30).startswith(b"PAUSED"), log.read_text()
        proc.send_signal(signal.SIGKILL)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "done" if b"DONE" in rest else "killed"


def assert_consistent(ow: ObjWorld, size: int) -> list[str]:
    """No partial object is visible, every row is complete; returns the orphan bodies."""
    p = ow.reopen()  # a new process's view: the catalog as committed
    rows = [r for r in ow.rows() if r.state == "stored"]
    assert len(rows) <= 1
    for row in rows:
        assert row.plaintext_size == size
        assert p.objects.store.inner.head(row.body_key).size == row.ciphertext_size
    for key, stored in ow.bodies().items():
        assert stored == ciphertext_size(size), f"partial body {key} is visible"
    report = p.objects.verify(p.context("operator"))
    assert report.ok, report.checks
    assert {c.object_id for c in report.checks} == {r.id for r in rows}
    assert set(report.orphans) == set(ow.bodies()) - {r.body_key for r in rows}
    with ow.platform.catalog.engine.connect() as conn:
        if ow.platform.catalog.engine.dialect.name == "sqlite":
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
    return report.orphans


def test_kill_9_during_put_leaves_no_partial_object(ow: ObjWorld) -> None:
    size = (200 if ow.backend == "local" else 100) * MiB
    block = payload(MiB, seed=50)
    big = ow.work / "big.bam"
    with big.open("wb") as handle:
        for i in range(size // MiB):
            handle.write(block[i:] + block[:i])
    digest = hashlib.sha256(big.read_bytes()).hexdigest()

    outcomes = {}
    for mode, delay in [
        ("in-transaction", 0),
        ("after-body", 0),
        ("timed", 0.05),
        ("timed", 0.3),
        ("timed", 0.7),
    ]:
        outcomes[(mode, delay)] = kill_put(ow, big, mode, delay)
        orphans = assert_consistent(ow, size)
        if mode in ("in-transaction", "after-body"):
            assert ow.rows() == [], "an uncommitted row must not survive"
            assert len(orphans) >= 1  # the complete body nobody references
        if ow.backend == "local":
            visible = [p for p in (ow.home / "objects").rglob("*") if p.is_file()]
            assert all(
                ".staging" in p.parts or p.stat().st_size == ciphertext_size(size) for p in visible
            )
    assert outcomes[("in-transaction", 0)] == outcomes[("after-body", 0)] == "killed"
    assert outcomes[("timed", 0.05)] == "killed"  # at least one kill in the middle of the body

    # verify --all on the command line: fine, the orphans are reported apart.
    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 0, result.output
    assert "unreferenced bodies" in result.stderr

    # Running the put again completes it.
    again = ow.objects.put(ow.ctx("operator"), big, sample_id=ow.sample_a, kind=ObjectKind.BAM)
    assert again.record.plaintext_sha256 == digest
    out = ow.work / "big.out"
    ow.objects.get(ow.ctx("operator"), again.record.object_id, out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert ow.objects.verify(ow.ctx("operator"), again.record.object_id).ok
    assert [r.id for r in ow.rows()] == [again.record.object_id]


# ----------------------------------------------------------------------------- command line


def test_cli_end_to_end(ow: ObjWorld) -> None:
    data = payload(150_000, seed=60)
    path = ow.file("reads.fastq", data)
    result = cli(ow, "object", "put", str(path), "--sample", ow.sample_a, "--kind", "fastq")
    assert result.exit_code == 0, result.output
    object_id = result.stdout.strip()
    assert re.fullmatch(r"obj-[a-z2-7]{26}", object_id)
    result = cli(ow, "object", "put", str(path), "--sample", ow.sample_a, "--kind", "fastq")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == object_id
    assert "nothing changed" in result.stderr

    out = ow.work / "reads.out"
    result = cli(ow, "object", "get", object_id, "-o", str(out), actor="clin-a")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data
    assert sha256(data) in flat(result.stdout)
    assert_cli_error(cli(ow, "object", "get", object_id, "-o", str(out)), 4, "exists", "--force")
    assert out.read_bytes() == data
    assert cli(ow, "object", "get", object_id, "-o", str(out), "--force").exit_code == 0
    assert_cli_error(
        cli(ow, "object", "get", object_id, "-o", str(ow.work / "x"), actor="clin-b"), 6
    )

    sec, pub = recipient_keys(ow.work)
    exported = ow.work / "reads.fastq.c4gh"
    result = cli(
        ow,
        "object",
        "export",
        object_id,
        "--recipient-key",
        str(pub),
        "-o",
        str(exported),
        actor="gen-a",
    )
    assert result.exit_code == 0, result.output
    decrypted = c4gh_decrypt(sec, exported)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == data

    result = cli(ow, "object", "list")
    assert result.exit_code == 0, result.output
    assert object_id in result.stdout
    assert ow.person_a not in result.output

    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 0, result.output
    assert re.search(rf"{object_id} fastq {ow.sample_a} ok\b", flat(result.stdout))
    assert "1 objects checked, 0 bad" in flat(result.stdout)
    assert cli(ow, "object", "verify", object_id).exit_code == 0

    ow.replace_body(object_id, flip_byte(ow.body(object_id), 1000))
    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 7
    assert re.search(rf"{object_id} fastq {ow.sample_a} corrupt\b", flat(result.stdout))
    assert_cli_error(
        cli(ow, "object", "get", object_id, "-o", str(ow.work / "bad.out")), 7, "corrupt"
    )
    assert not (ow.work / "bad.out").exists()

    result = cli(ow, "keys", "rotate", actor="admin")
    assert result.exit_code == 0, result.output
    assert "retired" in result.stdout
    assert_cli_error(cli(ow, "keys", "rotate", actor="operator"), 6, "keys.rotate")

    assert_cli_error(
        cli(ow, "object", "delete", object_id, "--reason", "damaged"), 6, "object.delete"
    )
    result = cli(ow, "object", "delete", object_id, "--reason", "damaged", actor="steward")
    assert result.exit_code == 0, result.output
    assert "tombstone" in result.stdout
    assert_cli_error(cli(ow, "object", "get", object_id, "-o", str(ow.work / "y")), 3, "deleted")
    result = cli(ow, "object", "verify", "--all")
    assert result.exit_code == 0, result.output
    assert "0 objects checked, 0 bad" in flat(result.stdout)


def test_cli_bad_input(ow: ObjWorld) -> None:
    path = ow.file("reads.fastq", payload(1000, seed=61))
    object_id = ow.put(payload(1000, seed=61), "reads.fastq", kind=ObjectKind.FASTQ)
    assert_cli_error(
        cli(ow, "object", "put", str(path), "--sample", ow.sample_a, "--kind", "genome"),
        2,
        "unknown object kind 'genome'",
        "fastq",
    )
    assert_cli_error(
        cli(ow, "object", "put", str(path), "--sample", "S-NOSUCH", "--kind", "bam"),
        3,
        "S-NOSUCH",
    )
    assert_cli_error(
        cli(ow, "object", "put", str(ow.work / "nope"), "--sample", ow.sample_a, "--kind", "bam"),
        2,
        "cannot read",
    )
    unknown = "obj-aaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert_cli_error(cli(ow, "object", "get", unknown, "-o", str(ow.work / "o")), 3, unknown)
    assert_cli_error(cli(ow, "object", "verify", unknown), 3, unknown)
    existing = ow.file("existing", b"keep me")
    assert_cli_error(cli(ow, "object", "get", object_id, "-o", str(existing)), 4, "exists")
    assert existing.read_bytes() == b"keep me"
    not_a_key = ow.file("key.txt", b"this is not a key\n")
    out = ow.work / "out.c4gh"
    line = assert_cli_error(
        cli(
            ow,
            "object",
            "export",
            object_id,
            "--recipient-key",
            str(not_a_key),
            "-o",
            str(out),
            actor="gen-a",
        ),
        9,
        "not a Crypt4GH public key",
        "crypt4gh-keygen",
    )
    assert "configuration_error" in line
    assert not out.exists()
    assert_cli_error(
        cli(
            ow,
            "object",
            "export",
            object_id,
            "--recipient-key",
            str(ow.work / "none.pub"),
            "-o",
            str(out),
            actor="gen-a",
        ),
        2,
        "cannot read",
    )
    assert_cli_error(cli(ow, "object", "verify", object_id, "--all"), 2, "not both")
    assert not out.exists()
    assert {p.name for p in ow.work.iterdir()} == {"reads.fastq", "existing", "key.txt"}


# ----------------------------------------------------------------------------- logs


def secret_forms(ow: ObjWorld, p: Platform) -> set[str]:
    """Key material as it could show up in a log: platform keys (all), data keys."""
    forms: set[str] = set()
    keys_dir = ow.home / "keys"
    files = [keys_dir / KeyName.CRYPT4GH_SECRET.value, *(keys_dir / "retired").glob("*.sec")]
    platform_secrets = [p.keys.read_crypt4gh_secret_file(path) for path in files]
    forms.update(path.read_text().splitlines()[1] for path in files)
    for row in ow.rows():
        for secret in platform_secrets:
            try:
                data_key = open_header(row.header, secret)
            except IntegrityError:
                continue
            forms.update({data_key.hex(), base64.b64encode(data_key).decode()})
    for secret in platform_secrets:
        raw = secret.reveal()
        forms.update({raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(), repr(raw)})
    return forms


def exercise(ow: ObjWorld, p: Platform) -> None:
    operator = p.context("operator")
    object_id = p.objects.put(
        operator,
        ow.file("log.bam", payload(200_000, 70)),
        sample_id=ow.sample_a,
        kind=ObjectKind.BAM,
    ).record.object_id
    p.objects.get(operator, object_id, ow.work / f"log-{secrets.token_hex(3)}.out")
    p.objects.read_range(operator, object_id, 1000, 100_000)
    _sec, pub = recipient_keys(ow.work)
    p.objects.export(
        p.context("gen-a"), object_id, pub.read_bytes(), ow.work / f"{secrets.token_hex(3)}.c4gh"
    )
    p.objects.verify(operator)
    p.objects.rotate_keys(p.context("admin"))
    p.objects.get(operator, object_id, ow.work / f"log-{secrets.token_hex(3)}.out")


def assert_no_secret_in(text: str, forms: set[str]) -> None:
    assert "debug capture works" in text
    for form in forms:
        assert form not in text, "key material appears in the logs"
    hex_forms = {f.lower() for f in forms}
    for run in re.findall(r"[0-9a-fA-F]{64}", text):
        assert run.lower() not in hex_forms, "a 64-hex-digit key appears in the logs"


C4GH_LOGGERS = ("crypt4gh", "crypt4gh.header", "crypt4gh.lib")


@pytest.mark.parametrize(
    ("loggers", "when"),
    [
        (("crypt4gh",), "before"),
        (("crypt4gh",), "later"),
        (("crypt4gh.header", "crypt4gh.lib"), "before"),
    ],
    ids=["crypt4gh-debug-before-start", "crypt4gh-debug-turned-on-later", "module-loggers-debug"],
)
def test_no_key_material_in_debug_logs(
    ow: ObjWorld, caplog: pytest.LogCaptureFixture, loggers: tuple[str, ...], when: str
) -> None:
    """Root and crypt4gh loggers at DEBUG: no platform key and no data key is ever logged.

    ``later``: logging reconfigured after the platform is built (a server whose log level
    is raised at run time).
    """
    previous = {name: logging.getLogger(name).level for name in C4GH_LOGGERS}

    def debug_on() -> None:
        caplog.set_level(logging.DEBUG)
        for name in loggers:
            logging.getLogger(name).setLevel(logging.DEBUG)

    try:
        if when == "before":
            debug_on()
        p = ow.reopen()
        assert p.objects.store.keyring  # the keyring is built
        if when == "later":
            debug_on()
        exercise(ow, p)
        logging.getLogger("helgenom.tests").debug("debug capture works")
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert_no_secret_in(text, secret_forms(ow, p))


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_basic_flow_with_a_postgresql_catalog(
    postgres_database_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    home = tmp_path / "instance"
    make_instance(home, "local", request, monkeypatch, database_url=postgres_database_url)
    work = tmp_path / "work"
    work.mkdir()
    with open_platform(str(home)) as p:
        assert p.catalog.engine.dialect.name == "postgresql"
        ow = ObjWorld(p, home, "local", work, *populate(p))
        data = payload(3 * MiB + 3, seed=80)
        first = ow.put(data, "pg.cram")
        assert ow.put(data, "pg.cram") == first
        assert len(ow.bodies()) == 1
        out = work / "pg.out"
        ow.objects.get(ow.ctx("operator"), first, out)
        assert out.read_bytes() == data
        assert ow.objects.read_range(ow.ctx("operator"), first, 65530, 131080) == data[65530:131080]
        assert ow.row(first).person_pseudonym == ow.person_a
        assert ow.objects.verify(ow.ctx("operator")).ok
        ow.replace_body(first, flip_byte(ow.body(first), 10))
        assert [c.status for c in ow.objects.verify(ow.ctx("operator")).checks] == ["corrupt"]
        ow.replace_body(first, flip_byte(ow.body(first), 10))
        result = ow.objects.rotate_keys(ow.ctx("admin"))
        assert result.rewrapped == 1
        ow.objects.get(ow.ctx("operator"), first, out, force=True)
        assert out.read_bytes() == data
        ow.objects.delete(ow.ctx("steward"), first, reason="test")
        assert ow.row(first).state == "deleted"
        assert ow.objects.list(ow.ctx("operator")) == []
