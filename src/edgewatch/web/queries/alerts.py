"""Alerts: the store's alert table when detections wrote one, shown as it is.

Detections write alerts into the store as events of their own. The page does not
assume their columns beyond a time column: it lists the newest alerts in the window
with every column (evidence included), so it keeps working as the alert record grows.
"""

from __future__ import annotations

from edgewatch.events import sql as sqlname
from edgewatch.web.models import Alerts, Table
from edgewatch.web.queries.base import Ctx, make_table
from edgewatch.web.window import iso

#: Where detections may keep alerts, in the order looked for.
CANDIDATES = ("events_alert", "events_alerts", "alerts", "edgewatch_alerts")
TIME_COLUMNS = ("time_ns", "TimeGenerated", "time", "timestamp", "created_at")
LIMIT = 500


def alerts_table(tables: frozenset[str]) -> str | None:
    return next((c for c in CANDIDATES if c in tables), None)


def alerts(ctx: Ctx) -> Alerts:
    name = alerts_table(ctx.access.tables())
    if name is None:
        return Alerts(
            window=ctx.window(),
            present=False,
            table=None,
            alerts=Table(columns=[], rows=[]),
            note="no alerts in this store: detections have not written any here",
        )
    info = ctx.rows(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $table "
        "ORDER BY column_index",
        {"table": name},
    )
    types = {c: str(t) for c, t in info}
    columns = list(types)
    time_col = next((c for c in TIME_COLUMNS if c in types), None)
    where, order = "TRUE", ""
    if time_col == "time_ns" and types[time_col] in ("BIGINT", "HUGEINT", "UBIGINT"):
        where = "time_ns BETWEEN $start AND $end"
    if time_col:
        order = f"ORDER BY {sqlname.col(time_col)} DESC"
    for key, col in (("ns", "namespace"), ("pod", "pod")):
        value = ctx.scope.namespace if key == "ns" else ctx.scope.pod
        if value and col in types:
            where += f" AND {col} = ${key}"
    select = ", ".join(
        f"CAST({sqlname.col(c)} AS VARCHAR)" if not _plain(types[c]) else sqlname.col(c)
        for c in columns
    )
    sql = f"SELECT {select} FROM {sqlname.col(name)} WHERE {where} {order} LIMIT {LIMIT + 1}"
    params = {"start": ctx.scope.start_ns, "end": ctx.scope.end_ns}
    if "$ns" in sql:
        params["ns"] = ctx.scope.namespace
    if "$pod" in sql:
        params["pod"] = ctx.scope.pod
    if "$start" not in sql:
        params = {k: v for k, v in params.items() if k not in ("start", "end")}
    rows = ctx.access.query(sql, params, cur=ctx.cur)
    if time_col == "time_ns":
        at = columns.index("time_ns")
        rows = [(*r[:at], iso(r[at]), *r[at + 1 :]) for r in rows]
    return Alerts(
        window=ctx.window(),
        present=True,
        table=name,
        alerts=make_table(columns, rows, LIMIT),
        note="" if rows else "no alerts in this window",
    )


def _plain(sql_type: str) -> bool:
    return sql_type in (
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "DOUBLE",
        "FLOAT",
        "BOOLEAN",
        "VARCHAR",
    )
