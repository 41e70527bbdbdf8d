"""Delta Lake storage of the national genome database: ``variants``, ``calls``, ``ref_blocks``.

:class:`VariantTables` keeps the three tables of :mod:`helgenom.adapters.variants.schema`
as Delta Lake tables under one folder (a local path, or an object-store URI such as
``s3://bucket/prefix`` with ``storage_options`` passed through to deltalake)::

    <root>/variants/    partitioned by variant_contig, one row per site ever seen
    <root>/calls/       partitioned by call_contig, appended per ingest
    <root>/ref_blocks/  partitioned by block_contig, appended per ingest

A Delta commit covers one table, so one ingest is three commits. :meth:`VariantTables.append`
returns the three versions after its writes as a :class:`Snapshot`; the services layer
records that snapshot in its catalog, and every reader reads at a recorded snapshot
(Delta time travel). Rows written after the last recorded snapshot (an interrupted
ingest) are therefore never seen; :meth:`VariantTables.discard_after` removes them.

Writers must be serialised by the caller (one ingest or deletion at a time); readers
need no coordination. Nothing here checks access or consent: the services layer does.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from helgenom.adapters.variants.schema import CALLS, FORMAT_VERSION, REF_BLOCKS, TABLES, VARIANTS
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

SNAPSHOT_FORMAT_VERSION: Final = 1
"""Version of :meth:`Snapshot.asdict`."""

TABLE_NAMES: Final = ("variants", "calls", "ref_blocks")
"""The stored tables, in write order."""

CONTIG_COLUMN: Final = {
    "variants": "variant_contig",
    "calls": "call_contig",
    "ref_blocks": "block_contig",
}
"""The contig column of each table (its partition column when partitioned)."""

POSITION_COLUMN: Final = {
    "variants": "variant_pos",
    "calls": "call_pos",
    "ref_blocks": "block_start",
}
"""The position column each table's files are sorted by (after the contig)."""

ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""Sample and ingest ids: letters, digits, ``.``, ``_``, ``:``, ``-``; at most 128."""

CONTIG_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]{0,63}$")
"""Contig names: ``chr1``, ``X``, ``chrUn_KI270302v1``, ``MT``."""

_CACHE_SIZE = 48


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The versions of the three tables that together form one consistent state.

    Readers always read at a snapshot; rows written after it are invisible.
    """

    variants: int
    """Delta version of the ``variants`` table."""
    calls: int
    """Delta version of the ``calls`` table."""
    ref_blocks: int
    """Delta version of the ``ref_blocks`` table."""

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(
                    f"snapshot version of {name} must be a non-negative integer, not {value!r}"
                )

    def version(self, table: str) -> int:
        """The version of ``table`` (``variants``, ``calls`` or ``ref_blocks``).

        Raises
        ------
        InvalidInputError
            ``table`` is not one of the three tables.
        """
        if table not in TABLE_NAMES:
            raise InvalidInputError(f"unknown table {table!r}: use one of {', '.join(TABLE_NAMES)}")
        value: int = getattr(self, table)
        return value

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``format_version`` (what the catalog stores)."""
        return {
            "format_version": SNAPSHOT_FORMAT_VERSION,
            "variants": self.variants,
            "calls": self.calls,
            "ref_blocks": self.ref_blocks,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        """Inverse of :meth:`asdict`.

        Raises
        ------
        FormatError
            Another ``format_version``, or a malformed document.
        """
        version = data.get("format_version")
        if version != SNAPSHOT_FORMAT_VERSION:
            raise FormatError(
                f"variant snapshot has format_version {version!r}; this helgenom reads "
                f"version {SNAPSHOT_FORMAT_VERSION}"
            )
        try:
            values = {name: data[name] for name in TABLE_NAMES}
        except KeyError as exc:
            raise FormatError(f"variant snapshot is malformed: missing {exc}") from None
        if not all(type(v) is int for v in values.values()):
            raise FormatError("variant snapshot is malformed: versions must be integers")
        try:
            return cls(**values)
        except InvalidInputError as exc:
            raise FormatError(f"variant snapshot is malformed: {exc}") from None


def check_ids(values: Iterable[str], what: str) -> list[str]:
    """Validate sample or ingest ids against :data:`ID_PATTERN`; returns them deduplicated.

    Raises
    ------
    InvalidInputError
        An id is not a string of the allowed characters.
    """
    out: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            raise InvalidInputError(
                f"{what} {value!r} is not valid: use letters, digits, '.', '_', ':' or '-' "
                "(at most 128, starting with a letter or digit)"
            )
        out[value] = None
    return list(out)


def check_contig(contig: str) -> str:
    """Validate a contig name against :data:`CONTIG_PATTERN`.

    Raises
    ------
    InvalidInputError
        The name has characters other than letters, digits, ``.`` and ``_``.
    """
    if not isinstance(contig, str) or not CONTIG_PATTERN.match(contig):
        raise InvalidInputError(
            f"contig {contig!r} is not valid: use a name such as chr1, X or chrUn_KI270302v1"
        )
    return contig


def conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in order and cast to its types.

    Raises
    ------
    InvalidInputError
        A column is missing, cannot be cast, or a non-nullable column has nulls.
    """
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise InvalidInputError(f"{what} lacks column(s) {', '.join(missing)}")
    columns = []
    for field in schema:
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            raise InvalidInputError(f"{what} has nulls in non-nullable column {field.name}")
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(
                f"{what} column {field.name} is not {field.type}: {exc}"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def _description(name: str) -> str:
    return json.dumps({"helgenom_table": name, "format_version": FORMAT_VERSION}, sort_keys=True)


class VariantTables:
    """The three Delta tables of the genome database under one root folder.

    Parameters
    ----------
    root
        Local folder or object-store URI (``s3://bucket/prefix``) holding the tables.
    storage_options
        Passed to deltalake (credentials and endpoint of an object store).

    Raises
    ------
    NotFoundError
        A table does not exist under ``root`` (use :meth:`create`).
    IntegrityError
        A table was written by another table layout version.
    StorageUnavailableError
        The folder or object store cannot be read.
    """

    def __init__(
        self, root: str | Path, *, storage_options: Mapping[str, str] | None = None
    ) -> None:
        self.root = _root_uri(root)
        """Where the tables are (never contains a secret: credentials go in storage_options)."""
        self._options = dict(storage_options or {})
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], DeltaTable] = {}
        self._datasets: dict[tuple[str, int, int | None], pds.Dataset] = {}
        for name in TABLE_NAMES:
            check_layout(self.table(name), name)

    def __repr__(self) -> str:
        return f"VariantTables({self.root})"

    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        storage_options: Mapping[str, str] | None = None,
        partition_by_contig: bool = True,
    ) -> VariantTables:
        """Create the three empty tables (version 0 each) and open them.

        Parameters
        ----------
        root
            Local folder or object-store URI; created if missing.
        storage_options
            Passed to deltalake.
        partition_by_contig
            Partition every table by its contig column (region queries then read only
            the files of one contig).

        Raises
        ------
        ConflictError
            A table already exists under ``root``.
        StorageUnavailableError
            The folder or object store cannot be written.
        """
        root_uri = _root_uri(root)
        if "://" not in root_uri:
            Path(root_uri).mkdir(parents=True, exist_ok=True)
        options = dict(storage_options or {})
        for name in TABLE_NAMES:
            uri = f"{root_uri}/{name}"
            create_table(
                uri,
                name,
                TABLES[name],
                [CONTIG_COLUMN[name]] if partition_by_contig else None,
                options,
            )
        return cls(root_uri, storage_options=options)

    # -- reading -------------------------------------------------------------------

    @property
    def storage_options(self) -> dict[str, str]:
        """The deltalake storage options (a copy)."""
        return dict(self._options)

    def uri(self, name: str) -> str:
        """URI of the table (or derived table, such as ``counts``) called ``name``.

        Raises
        ------
        InvalidInputError
            ``name`` is not a plain lower-case name.
        """
        if not re.fullmatch(r"[a-z][a-z_]{0,31}", name):
            raise InvalidInputError(f"table name {name!r} is not valid")
        return f"{self.root}/{name}"

    def table(self, name: str, version: int | None = None) -> DeltaTable:
        """The Delta table ``name`` at ``version`` (latest when None); cached per version.

        Raises
        ------
        NotFoundError
            No such table or version.
        StorageUnavailableError
            The store cannot be read.
        """
        if version is not None:
            with self._lock:
                cached = self._cache.get((name, version))
            if cached is not None:
                return cached
        table = open_table(self.uri(name), self._options, version)
        if version is not None:
            with self._lock:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[(name, version)] = table
        return table

    def current(self) -> Snapshot:
        """The latest versions of the three tables.

        Raises
        ------
        StorageUnavailableError
            The store cannot be read.
        """
        return Snapshot(**{name: self.table(name).version() for name in TABLE_NAMES})

    def files(self, snapshot: Snapshot, *, since: Snapshot | None = None) -> dict[str, list[str]]:
        """The Parquet file URIs of each table at ``snapshot``.

        Parameters
        ----------
        snapshot
            The state to list.
        since
            Only files that were not part of this earlier snapshot (the rows appended
            after it, plus any file rewritten since).

        Raises
        ------
        NotFoundError
            A version of the snapshot does not exist.
        """
        out: dict[str, list[str]] = {}
        for name in TABLE_NAMES:
            uris = sorted(self.table(name, snapshot.version(name)).file_uris())
            if since is not None:
                old = set(self.table(name, since.version(name)).file_uris())
                uris = [u for u in uris if u not in old]
            out[name] = uris
        return out

    def dataset(self, name: str, version: int, *, since: int | None = None) -> pds.Dataset:
        """A pyarrow dataset of table ``name`` at ``version``, for whole-column reads.

        With ``since``, only the files added after version ``since`` (see :meth:`files`).
        Do not push string ``IN`` filters into it: the files declare ``string_view``
        columns and pyarrow 26 has no kernel to compare them with a ``string`` filter.

        Raises
        ------
        NotFoundError
            No such table or version.
        """
        key = (name, version, since)
        with self._lock:
            cached = self._datasets.get(key)
        if cached is not None:
            return cached
        schema = TABLES.get(name)
        table = self.table(name, version)
        try:
            full = table.to_pyarrow_dataset(schema=schema) if schema else table.to_pyarrow_dataset()
        except (DeltaError, OSError) as exc:
            raise StorageUnavailableError(f"table {name} cannot be read: {exc}") from None
        result: pds.Dataset = full
        if since is not None:
            old = {_relative(u, self.uri(name)) for u in self.table(name, since).file_uris()}
            fragments = [f for f in full.get_fragments() if _relative(f.path, "") not in old]
            result = pds.FileSystemDataset(
                fragments, full.schema, full.format, filesystem=full.filesystem
            )
        with self._lock:
            if len(self._datasets) >= _CACHE_SIZE:
                self._datasets.pop(next(iter(self._datasets)))
            self._datasets[key] = result
        return result

    def read(self, name: str, version: int) -> pa.Table:
        """All rows of table ``name`` at ``version``, in its schema (small tables only).

        Raises
        ------
        NotFoundError
            No such table or version.
        """
        data = self.dataset(name, version).to_table()
        schema = TABLES.get(name)
        return conform(data, schema, name) if schema else data

    # -- writing -------------------------------------------------------------------

    def append(self, variants: pa.Table, calls: pa.Table, ref_blocks: pa.Table) -> Snapshot:
        """Add the rows of one or many samples' ingests; returns the snapshot after it.

        ``variants`` rows are inserted only when their ``variant_id`` is new (a Delta
        merge: one row per site ever); ``calls`` and ``ref_blocks`` are appended. Each
        table's rows are sorted by contig and position before writing.

        Raises
        ------
        InvalidInputError
            A table does not follow its schema, an id is malformed, or a call refers to
            a variant that is not in ``variants``.
        ConflictError
            Another writer committed at the same time.
        StorageUnavailableError
            The store cannot be written.
        """
        variants = conform(variants, VARIANTS, "variants")
        calls = conform(calls, CALLS, "calls")
        ref_blocks = conform(ref_blocks, REF_BLOCKS, "ref_blocks")
        for table, what in ((variants, "variants"), (calls, "calls"), (ref_blocks, "ref_blocks")):
            check_ids(pc.unique(table.column("ingest_id")).to_pylist(), f"{what} ingest_id")
            contig = CONTIG_COLUMN[what]
            for value in pc.unique(table.column(contig)).to_pylist():
                check_contig(value)
        for table, what in ((calls, "calls"), (ref_blocks, "ref_blocks")):
            check_ids(pc.unique(table.column("sample_id")).to_pylist(), f"{what} sample_id")
        known = pc.unique(variants.column("variant_id"))
        unknown = pc.filter(
            pc.unique(calls.column("variant_id")),
            pc.invert(pc.is_in(pc.unique(calls.column("variant_id")), value_set=known)),
        )
        if len(unknown):
            raise InvalidInputError(
                f"{len(unknown)} call variant_id(s) are not in the variants batch, e.g. "
                f"{unknown[0].as_py()!r}: pass the variant row of every call"
            )
        bad_blocks = pc.sum(
            pc.less(ref_blocks.column("block_end"), ref_blocks.column("block_start"))
        ).as_py()
        if bad_blocks:
            raise InvalidInputError(f"{bad_blocks} ref block(s) end before they start")
        variants = _first_per_id(variants)
        versions: dict[str, int] = {}
        if len(variants):
            target = self.table("variants")
            try:
                (
                    target.merge(
                        _sorted(variants, "variants"),
                        "t.variant_id = s.variant_id",
                        source_alias="s",
                        target_alias="t",
                    )
                    .when_not_matched_insert_all()
                    .execute()
                )
            except CommitFailedError as exc:
                raise ConflictError(f"variants were changed by another writer: {exc}") from None
            except (DeltaError, OSError) as exc:
                raise StorageUnavailableError(f"variants cannot be written: {exc}") from None
        for name, rows in (("calls", calls), ("ref_blocks", ref_blocks)):
            if len(rows):
                self._write(name, _sorted(rows, name))
        for name in TABLE_NAMES:
            versions[name] = self.table(name).version()
        return Snapshot(**versions)

    def _write(self, name: str, rows: pa.Table) -> None:
        try:
            write_deltalake(
                self.uri(name), rows, mode="append", storage_options=self._options or None
            )
        except CommitFailedError as exc:
            raise ConflictError(f"{name} was changed by another writer: {exc}") from None
        except (DeltaError, OSError) as exc:
            raise StorageUnavailableError(f"{name} cannot be written: {exc}") from None

    def delete_samples(self, sample_ids: Sequence[str]) -> Snapshot:
        """Delete every call and ref block of the samples (withdrawal); returns the snapshot.

        Variants that no call refers to any longer are deleted too, so a withdrawn
        person leaves no site behind. Older snapshots still read the rows (time
        travel) until the files are vacuumed.

        Raises
        ------
        InvalidInputError
            A sample id is malformed.
        ConflictError
            Another writer committed at the same time.
        """
        ids = check_ids(sample_ids, "sample id")
        return self._delete("sample_id", ids)

    def remove_ingests(self, ingest_ids: Sequence[str]) -> Snapshot:
        """Delete every row written by the ingests; returns the snapshot after it.

        Variants first seen by those ingests are deleted only when no remaining call
        refers to them.

        Raises
        ------
        InvalidInputError
            An ingest id is malformed.
        ConflictError
            Another writer committed at the same time.
        """
        ids = check_ids(ingest_ids, "ingest id")
        return self._delete("ingest_id", ids)

    def discard_after(self, snapshot: Snapshot) -> Snapshot:
        """Make the latest state equal to ``snapshot`` again (clean an interrupted ingest).

        Each table whose latest version is past the snapshot is restored to the
        snapshot's version by a new commit, so rows written after the last snapshot the
        catalog recorded are gone; the returned snapshot has the same content as
        ``snapshot``. Call it with the last recorded snapshot, before the next ingest.

        Raises
        ------
        NotFoundError
            A version of the snapshot does not exist.
        ConflictError
            Another writer committed at the same time.
        """
        versions: dict[str, int] = {}
        for name in TABLE_NAMES:
            wanted = snapshot.version(name)
            table = self.table(name)
            latest = table.version()
            if latest < wanted:
                raise NotFoundError(f"{name} has no version {wanted} (latest is {latest})")
            if latest > wanted:
                try:
                    table.restore(wanted)
                except CommitFailedError as exc:
                    raise ConflictError(f"{name} was changed by another writer: {exc}") from None
                except (DeltaError, OSError) as exc:
                    raise StorageUnavailableError(f"{name} cannot be restored: {exc}") from None
            versions[name] = self.table(name).version()
        return Snapshot(**versions)

    def _delete(self, column: str, ids: list[str]) -> Snapshot:
        if not ids:
            return self.current()
        keys = pa.table({column: pa.array(ids, pa.string())})
        before = self.current()
        # (pyarrow 26 cannot push an IN filter on a string column down to these files:
        # the needed columns are read and filtered in memory.)
        calls = self.dataset("calls", before.calls).to_table(columns=[column, "variant_id"])
        hit = pc.is_in(calls.column(column), value_set=keys.column(column))
        candidates: set[str] = set(pc.unique(calls.column("variant_id").filter(hit)).to_pylist())
        if column == "ingest_id":
            variants = self.dataset("variants", before.variants).to_table(
                columns=["variant_id", "ingest_id"]
            )
            first_seen = pc.is_in(variants.column("ingest_id"), value_set=keys.column(column))
            candidates.update(variants.column("variant_id").filter(first_seen).to_pylist())
        for name in ("calls", "ref_blocks"):
            self._merge_delete(name, keys, column)
        if candidates:
            remaining = self.dataset("calls", self.table("calls").version()).to_table(
                columns=["variant_id"]
            )
            still = set(
                pc.unique(
                    remaining.column("variant_id").filter(
                        pc.is_in(
                            remaining.column("variant_id"), value_set=pa.array(sorted(candidates))
                        )
                    )
                ).to_pylist()
            )
            orphans = sorted(candidates - still)
            if orphans:
                self._merge_delete(
                    "variants",
                    pa.table({"variant_id": pa.array(orphans, pa.string())}),
                    "variant_id",
                )
        return self.current()

    def _merge_delete(self, name: str, keys: pa.Table, column: str) -> None:
        # A merge against a table of keys: the ids never become part of a SQL string.
        target = self.table(name)
        predicate = {
            "sample_id": "t.sample_id = s.sample_id",
            "ingest_id": "t.ingest_id = s.ingest_id",
            "variant_id": "t.variant_id = s.variant_id",
        }[column]
        try:
            target.merge(
                keys, predicate, source_alias="s", target_alias="t"
            ).when_matched_delete().execute()
        except CommitFailedError as exc:
            raise ConflictError(f"{name} was changed by another writer: {exc}") from None
        except (DeltaError, OSError) as exc:
            raise StorageUnavailableError(f"{name} cannot be written: {exc}") from None


# -- helpers shared with the engines and counts ------------------------------------


def create_table(
    uri: str,
    name: str,
    schema: pa.Schema,
    partition_by: list[str] | None,
    storage_options: Mapping[str, str],
) -> DeltaTable:
    """Create an empty Delta table whose description records ``name`` and the format version.

    Raises
    ------
    ConflictError
        The table exists.
    StorageUnavailableError
        The store cannot be written.
    """
    try:
        return DeltaTable.create(
            uri,
            schema,
            mode="error",
            partition_by=partition_by,
            name=f"helgenom_{name}",
            description=_description(name),
            storage_options=dict(storage_options) or None,
        )
    except (DeltaError, OSError) as exc:
        if "exist" in str(exc).lower():
            raise ConflictError(f"table {name} already exists at {uri}") from None
        raise StorageUnavailableError(f"table {name} cannot be created at {uri}: {exc}") from None


def open_table(uri: str, storage_options: Mapping[str, str], version: int | None) -> DeltaTable:
    """Open the Delta table at ``uri`` (at ``version`` when given).

    Raises
    ------
    NotFoundError
        No table at ``uri`` or no such version.
    StorageUnavailableError
        The store cannot be read.
    """
    try:
        return DeltaTable(uri, version=version, storage_options=dict(storage_options) or None)
    except TableNotFoundError:
        raise NotFoundError(f"no variant table at {uri}: create the tables first") from None
    except DeltaError as exc:
        if version is not None:
            raise NotFoundError(f"table {uri} has no version {version}") from None
        raise StorageUnavailableError(f"table {uri} cannot be read: {exc}") from None
    except OSError as exc:
        raise StorageUnavailableError(f"table {uri} cannot be read: {exc}") from None


def check_layout(table: DeltaTable, name: str) -> None:
    """Check that ``table`` was created by helgenom as ``name`` at the current format version.

    Raises
    ------
    IntegrityError
        Another table, or another layout version.
    """
    try:
        meta = json.loads(table.metadata().description or "")
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("helgenom_table") != name:
        raise IntegrityError(f"{table.table_uri} is not a helgenom {name} table")
    if meta.get("format_version") != FORMAT_VERSION:
        raise IntegrityError(
            f"{name} has format_version {meta.get('format_version')!r}; this helgenom reads "
            f"version {FORMAT_VERSION}"
        )


def _root_uri(root: str | Path) -> str:
    text = str(root)
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).resolve())


def _relative(path: str, base: str) -> str:
    text = path.removeprefix("file://")
    if base and text.startswith(base.removeprefix("file://") + "/"):
        return text[len(base.removeprefix("file://")) + 1 :]
    return text


def _first_per_id(variants: pa.Table) -> pa.Table:
    if not len(variants):
        return variants
    indices = pa.array(range(len(variants)), pa.int64())
    first = (
        variants.append_column("_row", indices)
        .group_by("variant_id", use_threads=False)
        .aggregate([("_row", "min")])
        .column("_row_min")
    )
    return variants.take(pc.take(first, pc.sort_indices(first)))  # first rows, input order


def _sorted(rows: pa.Table, name: str) -> pa.Table:
    keys = [(CONTIG_COLUMN[name], "ascending"), (POSITION_COLUMN[name], "ascending")]
    if "sample_id" in rows.column_names:
        keys.append(("sample_id", "ascending"))
    return rows.sort_by(keys)


__all__ = [
    "CONTIG_COLUMN",
    "ID_PATTERN",
    "SNAPSHOT_FORMAT_VERSION",
    "TABLE_NAMES",
    "Snapshot",
    "VariantTables",
    "check_contig",
    "check_ids",
    "conform",
]
