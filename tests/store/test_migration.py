"""A store written before events gained fields opens, gains them, and hunts as before."""

from __future__ import annotations

from pathlib import Path

import duckdb

from edgewatch.hunt import engine
from edgewatch.store.database import open_store
from edgewatch.store.schema import schema_for


def test_an_older_store_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    tcp = schema_for("tcp")
    kept = tcp.columns[: len(tcp.columns) // 2]
    old = duckdb.connect(str(path))
    cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in kept)
    old.execute(f'CREATE TABLE "{tcp.name}" ({cols})')
    old.execute(f'INSERT INTO "{tcp.name}" ("time_ns") VALUES (1700000000000000000)')
    old.close()

    # a hunt opens it read-only first: the store is upgraded on the way
    con = open_store(path, read_only=True)
    names = [r[0] for r in con.execute(f'DESCRIBE "{tcp.name}"').fetchall()]
    assert names[: len(kept)] == [c.name for c in kept]
    assert set(names) == {c.name for c in tcp.columns}
    engine.prepare(con)
    rows = engine.execute(con, 'ContainerLogV2 | where ContainerName == "ig-tcp" | count')
    assert rows.table.to_pylist() == [{"Count": 1}]


def test_a_second_connection_joins_a_locked_instance_in_utc(tmp_path: Path) -> None:
    """Opening a store this process already hunts on (its configuration locked) works,
    and cursors of any connection read times in UTC, whatever the machine's zone."""
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    first = open_store(path, read_only=True)
    try:
        engine.prepare(first)  # locks the instance's configuration
        second = open_store(path, read_only=True)
        try:
            cur = second.cursor()
            assert cur.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        finally:
            second.close()
    finally:
        first.close()
