"""``ContainerLogV2`` as Container Insights stores it: one row per IG JSON line.

The store exposes ``ContainerLogV2`` as a view over typed tables; this is the plain
layout the KQL was written for (and what Sentinel holds), with ``LogMessage`` a JSON
column. Running the bundled queries here checks what they mean independently of how the
store lays data out, and gives the benchmarks a baseline to compare the store against.

As in Log Analytics, ``Computer`` is the node the line came from (``k8s.node`` when IG
filled it, else ``computer``), ``ContainerName`` the IG container of the gadget
(``ig-tcp`` …), and ``ContainerId``/``PodName``/``PodNamespace`` belong to the IG
DaemonSet pod that printed the line, not to the traced workload: queries must read the
workload from ``LogMessage.k8s``. ``TimeGenerated`` is the event's own time
(``timestamp_raw``), truncated to DuckDB's microseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from edgewatch.events import Event, resolve
from edgewatch.events.render import to_ig_json

TABLE = "ContainerLogV2"
DEFAULT_COMPUTER = "aks-edge-000000"
IG_NAMESPACE = "gadget"

COLUMNS_SQL = """
    TimeGenerated TIMESTAMP,
    Computer VARCHAR,
    ContainerId VARCHAR,
    ContainerName VARCHAR,
    PodName VARCHAR,
    PodNamespace VARCHAR,
    LogMessage JSON,
    LogSource VARCHAR,
    LogLevel VARCHAR
"""

_decoder = msgspec.json.Decoder()


def container_name(gadget: str) -> str:
    """``trace_tcp``, ``tcp`` or ``ig-tcp`` -> ``ig-tcp``, the seed DaemonSet's container."""
    family = resolve(gadget.removeprefix("ig-")).family
    return f"ig-{family}"


def by_gadget(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Group normalized events the way IG's one-container-per-gadget layout splits them."""
    out: dict[str, list[Event]] = {}
    for event in events:
        out.setdefault(event.gadget_family, []).append(event)
    return out


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory database whose session time zone is UTC, as KQL's datetimes require."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _line_fields(item: Event | bytes | str) -> tuple[str, int, str]:
    """(JSON text, event time in ns, k8s.node) of one event or IG line."""
    if isinstance(item, Event):
        return to_ig_json(item).decode(), item.time_ns, item.node
    text = item.decode() if isinstance(item, bytes) else item
    obj: dict[str, Any] = _decoder.decode(text)
    k8s = obj.get("k8s")
    node = k8s.get("node", "") if isinstance(k8s, dict) else ""
    return text, int(obj["timestamp_raw"]), node or ""


def naive_containerlog(
    con: duckdb.DuckDBPyConnection,
    events_by_gadget: Mapping[str, Iterable[Event | bytes | str]],
    *,
    computer: str = DEFAULT_COMPUTER,
    table: str = TABLE,
) -> int:
    """Create ``table`` if needed and append one row per event; returns the rows added.

    ``events_by_gadget`` maps a gadget (any spelling :func:`edgewatch.events.resolve`
    accepts, or the container name) to normalized events or IG JSON lines. Events are
    rendered in IG's current JSON shape, which is what ``LogMessage`` holds.
    """
    times: list[int] = []
    computers: list[str] = []
    container_ids: list[str] = []
    containers: list[str] = []
    pods: list[str] = []
    messages: list[str] = []
    for gadget, items in events_by_gadget.items():
        name = container_name(gadget)
        for item in items:
            message, time_ns, node = _line_fields(item)
            host = node or computer
            times.append(time_ns)
            computers.append(host)
            container_ids.append(_digest(host, name, length=64))
            containers.append(name)
            pods.append(f"ig-{_digest(host, length=5)}")
            messages.append(message)
    con.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({COLUMNS_SQL})')
    if not messages:
        return 0
    rows = pa.table(
        {
            "time_ns": pa.array(times, pa.int64()),
            "computer": computers,
            "container_id": container_ids,
            "container": containers,
            "pod": pods,
            "message": messages,
        }
    )
    con.register("naive_rows", rows)
    try:
        con.execute(
            f"""
            INSERT INTO "{table}"
            SELECT make_timestamp(time_ns // 1000), computer, container_id, container, pod,
                   '{IG_NAMESPACE}', CAST(message AS JSON), 'stdout', 'UNKNOWN'
            FROM naive_rows
            ORDER BY time_ns
            """
        )
    finally:
        con.unregister("naive_rows")
    return len(messages)
