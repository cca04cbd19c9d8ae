"""Opening the store: one DuckDB file, locked down the same way for every reader.

External access (files, network, extension downloads) is off for every connection the
store opens — the writer inserts from Arrow tables registered in memory, which needs
none of it, and a hunting query must not be able to read ``/etc/shadow`` through
``read_csv``. ``lock_configuration`` then stops a query from switching it back on.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from edgewatch.store.schema import all_schemas

LOCKED_DOWN: dict[str, object] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


#: Facts about the store itself (the node it belongs to).
META = "edgewatch_meta"


class StoreError(Exception):
    """The store cannot be opened or used; the message says why and what to do."""


class StoreBusyError(StoreError):
    """Another process (a running agent) holds the store's write lock."""


def open_store(
    path: str | Path,
    *,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only and not path.exists():
        raise StoreError(
            f"no store at {path}: fill one with 'edgewatch ingest FILE --db {path}' "
            "or an agent with a store sink"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = dict(LOCKED_DOWN)
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            pid = re.search(r"PID (\d+)", text)
            who = f" (process {pid.group(1)})" if pid else ""
            raise StoreBusyError(
                f"the store {path} is in use by a writer{who}; query the running agent "
                "instead, or stop it first"
            ) from exc
        raise StoreError(f"cannot open the store {path}: {text}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    _utc(con)
    if not read_only:
        run(con, f"CREATE TABLE IF NOT EXISTS {META} (key VARCHAR PRIMARY KEY, value VARCHAR)")
        for schema in all_schemas():
            run(con, schema.create_sql())
        _add_new_columns(con)
    elif _missing_columns(con):
        # written by an older edgewatch: upgrade it once (a running agent, holding the
        # write lock, has done so already when it opened the store)
        con.close()
        open_store(path, threads=threads, memory_limit=memory_limit).close()
        return open_store(path, read_only=True, threads=threads, memory_limit=memory_limit)
    return con


def _utc(con: duckdb.DuckDBPyConnection) -> None:
    """Times in UTC for this connection and the cursors made from it.

    A second connection to a file this process has open joins the same database
    instance; if a hunting connection has locked that instance's configuration, the
    setting is already there to check rather than to set."""
    try:
        run(con, "SET GLOBAL TimeZone='UTC'")
    except duckdb.InvalidInputException:
        row = one(con, "SELECT current_setting('TimeZone')")
        if row is None or row[0] != "UTC":
            raise


def _missing_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, column, type) that events have gained since the store was written."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'"
    ).fetchall():
        have.setdefault(table, set()).add(column)
    return [
        (schema.name, column.name, column.sql_type)
        for schema in all_schemas()
        if schema.name in have
        for column in schema.columns
        if column.name not in have[schema.name]
    ]


def _add_new_columns(con: duckdb.DuckDBPyConnection) -> None:
    """A store written by an older edgewatch gains the columns events have since gained.

    New columns are NULL in old rows, which the views read as the field's default.
    """
    for table, column, sql_type in _missing_columns(con):
        run(con, f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type}')


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    run(con, f"INSERT OR REPLACE INTO {META} VALUES (?, ?)", [key, value])


def get_meta(con: duckdb.DuckDBPyConnection, key: str, default: str = "") -> str:
    """A fact about the store (its node); the default for a store that predates it."""
    exists = one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [META])
    if not exists or not exists[0]:
        return default
    row = one(con, f"SELECT value FROM {META} WHERE key = ?", [key])
    return default if row is None else str(row[0])


def run(con: duckdb.DuckDBPyConnection, statement: str, params: list[object] | None = None) -> None:
    """Execute a statement whose result nobody reads.

    DuckDB 2.0 refuses new work on a connection while a result is pending, and a DML
    statement has one (its row count); this consumes it.
    """
    con.execute(statement, params).fetchall()


def one(
    con: duckdb.DuckDBPyConnection, statement: str, params: list[object] | None = None
) -> tuple[object, ...] | None:
    """The first row of a query, with the rest of its result consumed (see ``run``)."""
    rows = con.execute(statement, params).fetchall()
    return rows[0] if rows else None


def lock_configuration(con: duckdb.DuckDBPyConnection) -> None:
    """After this no statement can change settings (e.g. re-enable file access)."""
    run(con, "SET lock_configuration = true")
