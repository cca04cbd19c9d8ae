"""The ``EdgeWatchAlert_CL`` table: detections as Sentinel rows, and as a store table.

One layout for both places, so a query over alerts runs unchanged on the node and in
the workspace: the store keeps an ``alerts`` table with the alert's own field names and
a view named like the Sentinel table with Sentinel's column names.
"""

from __future__ import annotations

from typing import Any

from edgewatch.tables.schema import Column, StreamSpec, format_ns

TABLE = "EdgeWatchAlert_CL"
STREAM = f"Custom-{TABLE}"
#: the store's table of alerts (snake_case, one column per Alert field)
STORE_TABLE = "alerts"

#: Sentinel column <- alert field, with the column type.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("TimeGenerated", "time_ns", "datetime"),
    ("AlertId", "alert_id", "string"),
    ("RuleName", "rule", "string"),
    ("Title", "title", "string"),
    ("Severity", "severity", "string"),
    ("Tactic", "tactic", "string"),
    ("Technique", "technique", "string"),
    ("TechniqueName", "technique_name", "string"),
    ("Origin", "origin", "string"),
    ("Detail", "detail", "string"),
    ("Entity", "entity", "string"),
    ("Computer", "node", "string"),
    ("Namespace", "namespace", "string"),
    ("PodName", "pod", "string"),
    ("ContainerName", "container", "string"),
    ("ContainerId", "container_id", "string"),
    ("ContainerImage", "image", "string"),
    ("Comm", "comm", "string"),
    ("Pid", "pid", "long"),
    ("ParentComm", "pcomm", "string"),
    ("Gadget", "gadget", "string"),
    ("EvidenceEventIds", "evidence_ids", "dynamic"),
    ("EventCount", "event_count", "int"),
    ("FirstEventTime", "first_ns", "datetime"),
    ("LastEventTime", "last_ns", "datetime"),
)

STREAM_SPEC = StreamSpec(
    name=STREAM,
    table=TABLE,
    output_stream=STREAM,
    columns=tuple((name, kind) for name, _, kind in COLUMNS),  # type: ignore[misc]
    families=(),
    custom_table=True,
)


def record(alert: Any) -> dict[str, Any]:
    """The Logs Ingestion record of one alert (``detect.alert.Alert``)."""
    out: dict[str, Any] = {}
    for column, fld, kind in COLUMNS:
        value = getattr(alert, fld)
        if kind == "datetime":
            value = format_ns(value)
        elif kind == "dynamic":
            value = list(value)
        out[column] = value
    return out


_SQL_TYPES = {"datetime": "BIGINT", "string": "VARCHAR", "long": "BIGINT", "int": "BIGINT"}


def store_create_sql() -> list[str]:
    """The store's alerts table and the Sentinel-named view over it."""
    cols = ", ".join(
        f'"{fld}" {"VARCHAR[]" if kind == "dynamic" else _SQL_TYPES[kind]}'
        for _, fld, kind in COLUMNS
    )
    select = ", ".join(
        (
            f'make_timestamp("{fld}" // 1000) AS "{column}"'
            if kind == "datetime"
            else f'"{fld}" AS "{column}"'
        )
        for column, fld, kind in COLUMNS
    )
    return [
        f'CREATE TABLE IF NOT EXISTS "{STORE_TABLE}" ({cols})',
        f'CREATE OR REPLACE VIEW "{TABLE}" AS SELECT {select} FROM "{STORE_TABLE}"',
    ]


def columns() -> list[Column]:
    return [(name, kind) for name, _, kind in COLUMNS]  # type: ignore[misc]
