"""Shared fixtures: one instance per test, on SQLite and on PostgreSQL.

PostgreSQL tests create a fresh database per test on the server named by
``HELGENOM_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and drop it afterwards. Without a reachable server they are skipped, unless
``HELGENOM_REQUIRE_POSTGRES=1`` (as in CI), where they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helgenom.core.models import Role, SampleOrigin, Sex
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform
from objectstore_s3 import S3Server, s3_server_or_skip

POSTGRES_ADMIN_URL = os.environ.get(
    "HELGENOM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("HELGENOM_REQUIRE_POSTGRES") == "1"
SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


def _pg_admin_engine() -> sa.Engine:
    url = POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


_pg_available: bool | None = None


def postgres_available() -> bool:
    global _pg_available
    if _pg_available is None:
        try:
            engine = _pg_admin_engine()
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _pg_available = True
        except sa.exc.OperationalError:
            _pg_available = False
    return _pg_available


def require_postgres() -> None:
    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"HELGENOM_REQUIRE_POSTGRES=1 but {POSTGRES_ADMIN_URL} is unreachable")
        pytest.skip(f"needs PostgreSQL at {POSTGRES_ADMIN_URL} (set HELGENOM_TEST_POSTGRES_URL)")


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped after the test."""
    require_postgres()
    name = f"helgenom_test_{secrets.token_hex(6)}"
    engine = _pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs the test once per catalog backend."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for the embedded SQLite default, else a fresh PostgreSQL database URL."""
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def instance_home(tmp_path: Path, database_url: str | None) -> Path:
    """A freshly initialised production instance."""
    home = tmp_path / "instance"
    init_instance(home, database_url=database_url)
    return home


@pytest.fixture
def platform(instance_home: Path) -> Iterator[Platform]:
    """The open platform of ``instance_home``."""
    p = open_platform(str(instance_home))
    try:
        yield p
    finally:
        p.close()


def make_cpr(index: int, sex: Sex = Sex.FEMALE) -> str:
    """A valid synthetic CPR number, different for every index (born 1950-1989)."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(index * 7919) % (365 * 40))
    serial = (index * 37) % 4000
    serial = serial - serial % 2 + (1 if sex is Sex.MALE else 0)
    return f"{birth:%d%m%y}-{serial:04d}"


@dataclass
class World:
    """A populated instance: two departments, one principal per role, patients."""

    platform: Platform
    patient_a: str
    """CPR of a patient with a requisition from department DEP-A."""
    patient_b: str
    """CPR of a patient with a requisition from department DEP-B."""
    citizen_cpr: str
    """CPR of the citizen principal ``citizen`` (also a patient of DEP-A)."""
    opted_out: str
    """CPR of a patient of DEP-A who opted out of research."""
    project: str = "PROJ-1"


@pytest.fixture
def world(platform: Platform) -> World:
    """Departments DEP-A and DEP-B; users per role; patients; an approved project."""
    return build_world(platform)


def build_world(p: Platform) -> World:
    """Populate ``p`` as the ``world`` fixture does (also for module-scoped worlds)."""
    admin = p.context()
    p.directory.add_org(admin, "DEP-A", "Department A")
    p.directory.add_org(admin, "DEP-B", "Department B")
    for name, role, org in [
        ("clin-a", Role.CLINICIAN, "DEP-A"),
        ("gen-a", Role.GENETICIST, "DEP-A"),
        ("clin-b", Role.CLINICIAN, "DEP-B"),
        ("gen-b", Role.GENETICIST, "DEP-B"),
        ("operator", Role.OPERATOR, "platform"),
        ("researcher", Role.RESEARCHER, "platform"),
        ("outsider", Role.RESEARCHER, "platform"),
        ("steward", Role.STEWARD, "platform"),
        ("auditor", Role.AUDITOR, "platform"),
    ]:
        p.directory.add_user(admin, name, role, org)
    patient_a, patient_b = make_cpr(1), make_cpr(2, Sex.MALE)
    citizen_cpr, opted_out = make_cpr(3), make_cpr(4, Sex.MALE)
    p.directory.add_user(admin, "citizen", Role.CITIZEN, None, cpr=citizen_cpr)
    p.directory.add_user(admin, "citizen2", Role.CITIZEN, None, cpr=make_cpr(5))
    for cpr, clinician in [
        (patient_a, "clin-a"),
        (patient_b, "clin-b"),
        (citizen_cpr, "clin-a"),
        (opted_out, "clin-a"),
    ]:
        ctx = p.context(clinician)
        req = p.requisitions.create(ctx, cpr, indication="R59")
        p.samples.register(ctx, cpr, origin=SampleOrigin.CLINICAL, requisition=req)
    from helgenom.core.consent import ResearchChoice

    p.consent.set(p.context("clin-a"), opted_out, research=ResearchChoice.OPT_OUT)
    p.research.apply(p.context("researcher"), "PROJ-1", "A research project")
    p.research.decide(
        p.context("steward"),
        "PROJ-1",
        approve=True,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )
    return World(p, patient_a, patient_b, citizen_cpr, opted_out)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One ``rclone serve s3`` on loopback per test session (per xdist worker)."""
    with s3_server_or_skip(tmp_path_factory.mktemp("s3-server")) as server:
        yield server


# -- Spark ---------------------------------------------------------------------------------

REQUIRE_SPARK = os.environ.get("HELGENOM_REQUIRE_SPARK") == "1"
"""CI sets it: a missing PySpark or Java then fails the spark tests instead of skipping them."""


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "needs PySpark (pip install 'helgenom[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        return "needs Java 17+ on PATH or in JAVA_HOME"
    return None


def require_spark() -> None:
    """Skip (or, with HELGENOM_REQUIRE_SPARK=1, fail) when Spark cannot run."""
    reason = spark_missing()
    if reason is not None:
        if REQUIRE_SPARK:
            pytest.fail(f"HELGENOM_REQUIRE_SPARK=1 but Spark cannot run: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local[2] Spark session for the test session (per worker), stopped at the end."""
    require_spark()
    from helgenom.adapters.variants.spark_engine import build_session

    # tiny data: one shuffle partition and no adaptive re-planning keep each query ~1 s
    session = build_session(
        "local[2]", shuffle_partitions=1, config={"spark.sql.adaptive.enabled": "false"}
    )
    yield session
    session.stop()
