"""What every page query needs: the store, a cursor, the scope, and table building."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from edgewatch.events import sql as sqlname
from edgewatch.web.models import Cell, Table, Window
from edgewatch.web.store import StoreAccess
from edgewatch.web.window import Scope, iso

#: Families the overview always lists, in this order (others follow when they have rows).
MAIN_FAMILIES = ("tcp", "dns", "sni", "exec", "seccomp")


@dataclass
class Ctx:
    """One request's view of the store."""

    access: StoreAccess
    cur: duckdb.DuckDBPyConnection
    scope: Scope

    def rows(self, sql: str, extra: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.access.query(sql, {**self.scope.params(), **(extra or {})}, cur=self.cur)

    def has(self, family: str) -> bool:
        return f"events_{family}" in self.access.tables()

    def table(self, family: str) -> str:
        return sqlname.col(f"events_{family}")

    def families(self) -> list[str]:
        return [family for family, _ in self.access.event_tables()]

    def window(self) -> Window:
        s = self.scope
        return Window(
            since=s.since,
            start=iso(s.start_ns),
            end=iso(s.end_ns),
            start_ns=s.start_ns,
            end_ns=s.end_ns,
            namespace=s.namespace,
            pod=s.pod,
        )


def cell(value: Any) -> Cell:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def make_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int) -> Table:
    """A Table of at most ``limit`` rows; the query fetched ``limit + 1`` to know if more."""
    return Table(
        columns=list(columns),
        rows=[[cell(v) for v in row] for row in rows[:limit]],
        truncated=len(rows) > limit,
    )


def time_cells(rows: Sequence[Sequence[Any]], *positions: int) -> list[list[Any]]:
    """Rows with the nanosecond columns at ``positions`` turned into ISO text."""
    out = []
    for row in rows:
        values = list(row)
        for p in positions:
            values[p] = iso(values[p])
        out.append(values)
    return out


def newest_oldest(access: StoreAccess, cur: duckdb.DuckDBPyConnection) -> tuple[Any, Any]:
    """The newest and oldest event times across every event table (None if empty)."""
    parts = [
        f"SELECT max(time_ns) AS hi, min(time_ns) AS lo FROM {sqlname.col(table)}"
        for _, table in access.event_tables()
    ]
    if not parts:
        return None, None
    row = access.query(f"SELECT max(hi), min(lo) FROM ({' UNION ALL '.join(parts)})", cur=cur)
    return row[0][0], row[0][1]
