"""The catalog database: engine from a URL, migrations, health checks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from helgenom.core.errors import ConfigurationError, StorageUnavailableError

MIGRATIONS_PATH = Path(__file__).parent / "migrations"
REVISION_TABLES: tuple[tuple[str, str], ...] = (
    ("0001", "instance_meta"),
    ("0002", "objects"),
    ("0003", "sample_events"),
    ("0004", "pipeline_runs"),
    ("0005", "variant_commits"),
    ("0006", "cases"),
    ("0007", "htsget_objects"),
    ("0008", "objects.tag_sha256"),
)
"""A table (or ``table.column``) each revision creates, oldest first: how to recognise an
unstamped catalog."""


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def normalise_url(url: str) -> str:
    """Map plain ``postgresql://`` to the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at the start, so concurrent writers queue
    # instead of failing when they upgrade a read lock.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Catalog:
    """A catalog database reachable through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Catalog({redact_url(self.engine.url.render_as_string(hide_password=True))})"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction; commits on success, rolls back on error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StorageUnavailableError(
                f"catalog database {self.url_for_display} is unavailable: {_first_line(exc.orig)}"
            ) from exc

    @property
    def url_for_display(self) -> str:
        """The URL without its password."""
        return self.engine.url.render_as_string(hide_password=True)

    def _alembic_config(self, conn: Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_PATH))
        cfg.attributes["connection"] = conn
        return cfg

    def upgrade(self) -> None:
        """Apply all migrations."""
        with self.begin() as conn:
            cfg = self._alembic_config(conn)
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None:
                # The revision record (alembic_version) may have been lost while the tables
                # exist: record the newest revision whose tables are all there, so upgrading
                # does not try to create them again.
                inspector = sa.inspect(conn)
                found = None
                for revision, made in REVISION_TABLES:
                    table, _, column = made.partition(".")
                    if not inspector.has_table(table) or (
                        column and column not in {c["name"] for c in inspector.get_columns(table)}
                    ):
                        break
                    found = revision
                if found is not None:
                    command.stamp(cfg, found)
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise ConfigurationError(
                    f"the catalog {self.url_for_display} is at schema revision {current!r}, "
                    f"which this helgenom does not know ({_first_line(exc)}): it was made by a "
                    "newer helgenom or is not a helgenom catalog; upgrade helgenom or restore "
                    "the catalog from backup"
                ) from None

    def has_instance_data(self) -> bool:
        """Whether the database already holds a helgenom instance (its ``instance_meta`` rows)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("instance_meta"):
                return False
            count = conn.execute(sa.text("SELECT COUNT(*) FROM instance_meta")).scalar_one()
            return int(count) > 0

    def restrict_file_permissions(self) -> None:
        """Make an embedded SQLite catalog file readable by its owner only (mode 0600)."""
        if self.backend != "sqlite" or not self.engine.url.database:
            return
        path = Path(self.engine.url.database)
        for candidate in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            if candidate.exists():
                os.chmod(candidate, 0o600)

    def current_revision(self) -> str | None:
        """The revision the database is at, or None when never migrated."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision shipped with this helgenom."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_PATH))
        return ScriptDirectory.from_config(cfg).get_current_head()

    def ping(self) -> None:
        """Raise StorageUnavailableError unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except OperationalError as exc:
            raise StorageUnavailableError(
                f"catalog database {self.url_for_display} is unreachable: {_first_line(exc.orig)}; "
                "check that the server runs and the database URL is right"
            ) from exc

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def create_catalog(url: str) -> Catalog:
    """Build a :class:`Catalog` from a database URL (``sqlite:///`` or ``postgresql://``)."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            if sa.make_url(url).database in (None, "", ":memory:"):
                raise ConfigurationError(
                    f"database URL {url} is an in-memory SQLite database, which forgets the "
                    "catalog on exit: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
                )
            engine = sa.create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        elif url.startswith("postgresql"):
            engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        else:
            raise ConfigurationError(
                f"unsupported database URL {redact_url(url)}: use sqlite:///PATH or "
                "postgresql://USER@HOST:PORT/DB"
            )
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigurationError(
            f"invalid database URL {redact_url(url)}: {exc}; use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB"
        ) from exc
    return Catalog(engine)
