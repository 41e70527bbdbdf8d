"""The embedded query engine: DuckDB over the Parquet files of a Delta table version.

DuckDB's ``delta`` extension is downloaded on first use, which an offline machine
cannot do. deltalake lists the Parquet files of each table version (the Delta log)
and DuckDB's own Parquet reader scans them, restoring the partition column from the
``<column>=<value>`` folder names (as a string) and pruning files and row groups by
partition value and statistics.

Why not deltalake's ``to_pyarrow_dataset()`` registered in DuckDB: the files written
by deltalake 1.6 declare their strings as ``string_view`` while the dataset declares
``string``, and pyarrow 26 then fails on any ``IN`` or ``OR`` filter on a string
column pushed down to the scan (``no kernel matching input types (string,
string_view)``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import duckdb
import pyarrow as pa

from helgenom.adapters.variants.engine import DEFAULT_BIN_SIZE, Source, TableRef, VariantEngine
from helgenom.adapters.variants.tables import VariantTables
from helgenom.core.errors import StorageUnavailableError

_RELATION = re.compile(r"\{([a-z]+)\}")
_QUERIES = itertools.count()
"""Numbers the queries of a process (``next`` on a count is atomic under the GIL)."""


class DuckDbEngine(VariantEngine):
    """:class:`~.engine.VariantEngine` on an in-process DuckDB (one cursor per query).

    Parameters
    ----------
    tables
        The tables read.
    threads
        DuckDB worker threads (default: one per core).
    memory_limit
        DuckDB memory limit such as ``"2GB"`` (default: DuckDB's, 80 % of the RAM); a
        query that needs more spills to ``temp_directory``.
    temp_directory
        Where DuckDB spills (default: DuckDB's, ``.tmp`` in the working directory).
    bin_size
        Bases per bin of the block-to-site join (see :func:`~.engine.cells_sql`).

    Raises
    ------
    StorageUnavailableError
        DuckDB cannot be started.
    """

    name = "duckdb"

    def __init__(
        self,
        tables: VariantTables,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        bin_size: int = DEFAULT_BIN_SIZE,
    ) -> None:
        super().__init__(tables, bin_size=bin_size)
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = int(threads)
        if memory_limit is not None:
            config["memory_limit"] = str(memory_limit)
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        try:
            self._db = duckdb.connect(":memory:", config=config)
            # Parquet footers are read once per file: Delta files never change
            self._db.execute("SET parquet_metadata_cache = true")
        except duckdb.Error as exc:
            raise StorageUnavailableError(f"DuckDB cannot start: {exc}") from None

    def __repr__(self) -> str:
        return f"DuckDbEngine({self.tables.root})"

    def close(self) -> None:
        """Close the DuckDB database."""
        self._db.close()

    def _execute(
        self, sql: str, params: dict[str, Any], relations: Mapping[str, Source]
    ) -> pa.Table:
        # Views live in the database's catalog, which every cursor shares: each query
        # names its own (concurrent queries of the API's threads would otherwise alter
        # one view at once, a DuckDB write-write conflict) and drops them afterwards.
        tag = f"{next(_QUERIES):x}"
        cursor = self._db.cursor()
        views: list[str] = []
        try:
            for name, source in relations.items():
                if isinstance(source, TableRef):
                    views.append(f"rel_{name}_{tag}")
                    self._view(cursor, views[-1], source)
                else:
                    cursor.register(f"rel_{name}_{tag}", source)
            text = _RELATION.sub(lambda m: f"rel_{m.group(1)}_{tag}", sql)
            result = cursor.sql(text, params=params).to_arrow_table()
        except duckdb.IOException as exc:
            raise StorageUnavailableError(f"the variant tables cannot be read: {exc}") from None
        finally:
            for view in views:
                cursor.execute(f"DROP VIEW IF EXISTS {view}")
            cursor.close()
        return result

    def _view(self, cursor: duckdb.DuckDBPyConnection, view: str, ref: TableRef) -> None:
        files = self.files_of(ref)
        schema = self.schema_of(ref.table)
        if not files:
            cursor.register(view, schema.empty_table())
            return
        partitions = self.tables.table(ref.table, ref.version).metadata().partition_columns
        columns = ", ".join(schema.names)
        if partitions:
            # the folder names hold the partition values; read them as strings
            types = ", ".join(f"'{p}': 'VARCHAR'" for p in partitions if p in schema.names)
            reader = f"read_parquet($files, hive_partitioning = true, hive_types = {{{types}}})"
        else:
            reader = "read_parquet($files, hive_partitioning = false)"
        query = f"SELECT {columns} FROM {reader}"  # noqa: S608 - schema names; files are bound
        cursor.sql(query, params={"files": files}).create_view(view)


__all__ = ["DuckDbEngine"]
