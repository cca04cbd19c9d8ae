"""Keeping the store inside its age and size limits.

DuckDB reuses the blocks a DELETE frees once a CHECKPOINT has run (measured: the file
stays at its high-water mark and new rows land in the freed blocks), so the cap is held
by deleting the oldest events before the used blocks reach it, never by shrinking the
file. Deletion starts at ``HIGH_WATER`` of the cap and goes down to ``LOW_WATER``, so it
runs rarely and in big steps; the gap is room for the next insert.

Age is measured back from the newest stored event, not from the wall clock: a backfill
of last month's files, or an edge node whose clock is off, must not empty the store.

The alerts the detections write (the ``alerts`` table, when detection stores them) age
out with the events they were raised on: they count against the same cap, and an alert
whose evidence has been deleted is no longer something a hunt on this node can follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from edgewatch.events import sql
from edgewatch.store.database import one, run
from edgewatch.store.schema import all_schemas
from edgewatch.tables.alert import STORE_TABLE as ALERTS_TABLE

HIGH_WATER = 0.75
LOW_WATER = 0.55
#: Below this a cap cannot hold even the empty tables plus one insert.
MIN_BYTES = 16 * 1024 * 1024


@dataclass
class RetentionStats:
    deleted_by_age: int = 0
    deleted_by_size: int = 0
    runs: int = 0
    last_used_bytes: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


def used_bytes(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Bytes the data occupies: used blocks plus the write-ahead log."""
    row = one(
        con,
        "SELECT block_size, used_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()",
    )
    block_size, used_blocks = (int(row[0]), int(row[1])) if row else (0, 0)
    return block_size * used_blocks + wal_bytes(path)


def wal_bytes(path: Path) -> int:
    wal = Path(str(path) + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def file_bytes(path: Path) -> int:
    """What the store takes on disk: the database file and its write-ahead log."""
    return (path.stat().st_size if path.exists() else 0) + wal_bytes(path)


def _timed_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table retention trims: the event tables, and the alerts table if any."""
    names = [schema.name for schema in all_schemas()]
    row = one(
        con,
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = ?",
        [ALERTS_TABLE],
    )
    if row and row[0]:
        names.append(ALERTS_TABLE)
    return names


def _count_and_delete(
    con: duckdb.DuckDBPyConnection, tables: list[str], cutoff_ns: int, stats: RetentionStats
) -> int:
    """Delete rows older than ``cutoff_ns``; only events count in the returned total."""
    deleted = 0
    for name in tables:
        where = f'FROM {sql.col(name)} WHERE "time_ns" < ?'
        (n,) = one(con, f"SELECT count(*) {where}", [cutoff_ns]) or (0,)
        if n:
            run(con, f"DELETE {where}", [cutoff_ns])
            stats.by_table[name] = stats.by_table.get(name, 0) + int(n)
            if name != ALERTS_TABLE:
                deleted += int(n)
    return deleted


def trigger_bytes(max_bytes: int, headroom: int) -> float:
    """Used bytes above which the oldest events go: below the cap by a next insert's room."""
    return max(min(HIGH_WATER * max_bytes, max_bytes - 2 * headroom), 0.2 * max_bytes)


def _newest(con: duckdb.DuckDBPyConnection) -> int | None:
    parts = " UNION ALL ".join(
        f'SELECT max("time_ns") AS t FROM {sql.col(s.name)}' for s in all_schemas()
    )
    row = one(con, f"SELECT max(t) FROM ({parts})")
    return None if row is None or row[0] is None else int(row[0])


def _oldest_fraction_cutoff(
    con: duckdb.DuckDBPyConnection, tables: list[str], fraction: float
) -> int | None:
    union = " UNION ALL ".join(f'SELECT "time_ns" FROM {sql.col(name)}' for name in tables)
    row = one(con, f"SELECT quantile_disc(time_ns, ?) FROM ({union})", [fraction])
    return None if row is None or row[0] is None else int(row[0])


def enforce(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    max_age_ns: int | None,
    max_bytes: int | None,
    stats: RetentionStats,
    headroom: int = 0,
) -> None:
    """Delete what is too old, then the oldest events until under the size cap.

    ``headroom`` is room kept free for the next insert round (the largest growth seen).
    """
    stats.runs += 1
    changed = False
    tables = _timed_tables(con)
    newest = _newest(con)
    if max_age_ns is not None and newest is not None:
        rows_before = sum(stats.by_table.values())
        stats.deleted_by_age += _count_and_delete(con, tables, newest - max_age_ns, stats)
        changed = sum(stats.by_table.values()) > rows_before
    if changed:
        run(con, "CHECKPOINT")
    used = used_bytes(con, path)
    if max_bytes is not None:
        high = trigger_bytes(max_bytes, headroom)
        for _ in range(8):
            if used <= high:
                break
            fraction = min(1.0, max(0.05, 1 - (high * LOW_WATER / HIGH_WATER) / used))
            cutoff = _oldest_fraction_cutoff(con, tables, fraction)
            if cutoff is None:
                break
            # "<=" so a run of equal timestamps cannot stall the loop
            rows_before = sum(stats.by_table.values())
            stats.deleted_by_size += _count_and_delete(con, tables, cutoff + 1, stats)
            run(con, "CHECKPOINT")
            used = used_bytes(con, path)
            if sum(stats.by_table.values()) == rows_before:
                break
    stats.last_used_bytes = used
