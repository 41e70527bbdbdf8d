"""The scale-out query engine: Apache Spark over the same Delta tables.

No Delta Lake jar is needed (none can be fetched offline): a table version is read as
the list of its Parquet files (:meth:`~.tables.VariantTables.files`, from the Delta
log by deltalake) with ``basePath`` set to the table folder, so Spark restores the
partition column from the ``<column>=<value>`` folder names. An explicit schema is
given, so contig names such as ``1`` stay strings.

The session is built on first use from a master URL (``local[2]`` by default) with
the UI off, few shuffle partitions and quiet logs, bound to the loopback address; or
an existing session is passed in (then :meth:`SparkEngine.close` leaves it running).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from helgenom.adapters.variants.engine import DEFAULT_BIN_SIZE, Source, TableRef, VariantEngine
from helgenom.adapters.variants.tables import VariantTables
from helgenom.core.errors import ConfigurationError, StorageUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


@contextmanager
def _quiet() -> Iterator[None]:
    # PySpark warns on each Arrow conversion that pandas 3 is not fully supported;
    # the conversions used here do not go through pandas.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def spark_type(arrow_type: pa.DataType) -> DataType:
    """The Spark SQL type of a pyarrow type used by the variant tables.

    Raises
    ------
    ConfigurationError
        A type the tables do not use.
    """
    from pyspark.sql import types as t

    mapping: list[tuple[Any, DataType]] = [
        (pa.types.is_string, t.StringType()),
        (pa.types.is_large_string, t.StringType()),
        (pa.types.is_int64, t.LongType()),
        (pa.types.is_int32, t.IntegerType()),
        (pa.types.is_int8, t.ByteType()),
        (pa.types.is_boolean, t.BooleanType()),
        (pa.types.is_float64, t.DoubleType()),
    ]
    for test, result in mapping:
        if test(arrow_type):
            return result
    raise ConfigurationError(f"no Spark type for {arrow_type}")


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema of a pyarrow schema (nullability kept)."""
    from pyspark.sql import types as t

    return t.StructType(
        [t.StructField(f.name, spark_type(f.type), nullable=f.nullable) for f in schema]
    )


def build_session(
    master: str = "local[2]",
    *,
    shuffle_partitions: int = 4,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """A Spark session for the variant engine: UI off, quiet logs, loopback, few partitions.

    Sets ``SPARK_LOCAL_IP=127.0.0.1`` unless already set. Log output is limited to
    errors (a log4j2 configuration file in a temporary folder, removed at exit).

    Raises
    ------
    ConfigurationError
        PySpark is not installed, or Java cannot be started.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "the Spark engine needs PySpark: install helgenom[spark]"
        ) from None
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    logdir = Path(tempfile.mkdtemp(prefix="helgenom-spark-"))
    atexit.register(shutil.rmtree, logdir, True)
    log_config = logdir / "log4j2.properties"
    log_config.write_text(_LOG4J2, encoding="utf-8")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(int(shuffle_partitions)),
        "spark.default.parallelism": str(int(shuffle_partitions)),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log_config.as_uri()}",
        **dict(config or {}),
    }
    builder = SparkSession.builder.master(master).appName("helgenom-variants")
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with _quiet():
            session = builder.getOrCreate()
    except Exception as exc:  # Java missing or failing: py4j and pyspark raise plain errors
        raise ConfigurationError(f"Spark cannot start ({master}): {exc}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine(VariantEngine):
    """:class:`~.engine.VariantEngine` on Apache Spark (PySpark, no Delta jars).

    Parameters
    ----------
    tables
        The tables read (their files must be reachable from the Spark executors).
    master
        Spark master URL used when the session is built (``local[2]``,
        ``spark://host:7077``).
    session
        An existing session to use instead of building one.
    shuffle_partitions
        ``spark.sql.shuffle.partitions`` of a built session.
    config
        Further Spark settings of a built session.
    bin_size
        Bases per bin of the block-to-site join (see :func:`~.engine.cells_sql`).
    """

    name = "spark"
    series_sql = (
        "explode(sequence(CAST(FLOOR(b.block_start / $bin) AS BIGINT), "
        "CAST(FLOOR(b.block_end / $bin) AS BIGINT)))"
    )

    def __init__(
        self,
        tables: VariantTables,
        *,
        master: str = "local[2]",
        session: SparkSession | None = None,
        shuffle_partitions: int = 4,
        config: Mapping[str, str] | None = None,
        bin_size: int = DEFAULT_BIN_SIZE,
    ) -> None:
        super().__init__(tables, bin_size=bin_size)
        self.master = master
        """The master URL of a built session."""
        self._session = session
        self._owns = session is None
        self._shuffle = int(shuffle_partitions)
        self._config = dict(config or {})
        self._lock = threading.Lock()
        self._frames: dict[TableRef, DataFrame] = {}

    def __repr__(self) -> str:
        return f"SparkEngine({self.tables.root}, master={self.master!r})"

    @property
    def session(self) -> SparkSession:
        """The Spark session, built on first use.

        Raises
        ------
        ConfigurationError
            PySpark is not installed or Java cannot be started.
        """
        with self._lock:
            if self._session is None:
                self._session = self._build()
            return self._session

    def _build(self) -> SparkSession:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            # One session per process: use the running one and leave it running on close.
            self._owns = False
            return active
        return build_session(self.master, shuffle_partitions=self._shuffle, config=self._config)

    def close(self) -> None:
        """Stop the session if this engine built it."""
        with self._lock:
            session, self._session = self._session, None
            self._frames.clear()
        if session is not None and self._owns:
            session.stop()

    def _frame(self, ref: TableRef) -> DataFrame:
        with self._lock:
            cached = self._frames.get(ref)
        if cached is not None:
            return cached
        schema = spark_schema(self.schema_of(ref.table))
        uris = self.files_of(ref)
        session = self.session
        if not uris:
            frame = session.createDataFrame([], schema)
        else:
            base = _spark_uri(self.tables.uri(ref.table))
            frame = (
                session.read.option("basePath", base)
                .schema(schema)
                .parquet(*[_spark_uri(u) for u in uris])
                .select(*schema.names)
            )
        with self._lock:
            if len(self._frames) > 64:
                self._frames.clear()
            self._frames[ref] = frame
        return frame

    def _execute(
        self, sql: str, params: dict[str, Any], relations: Mapping[str, Source]
    ) -> pa.Table:
        session = self.session
        with _quiet():
            frames: dict[str, DataFrame] = {}
            for name, source in relations.items():
                if isinstance(source, TableRef):
                    frames[name] = self._frame(source)
                else:
                    frames[name] = session.createDataFrame(
                        source, schema=spark_schema(source.schema)
                    )
            text = _PARAM.sub(lambda m: f":{m.group(1)}", sql)
            try:
                result = session.sql(text, args=params, **frames).toArrow()
            except Exception as exc:
                if "FileNotFound" in str(exc) or "Path does not exist" in str(exc):
                    raise StorageUnavailableError(
                        f"the variant tables cannot be read: {str(exc)[:300]}"
                    ) from None
                raise
        table: pa.Table = result
        return table


def _spark_uri(uri: str) -> str:
    if uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://") :]
    return uri


__all__ = ["SparkEngine", "build_session", "spark_schema", "spark_type"]
