"""The ``ContainerLogV2`` view: Azure's table, rebuilt over the store's typed tables.

Log Analytics keeps each IG event as a JSON blob (``LogMessage``) and every query picks
it apart at run time. The store keeps typed columns instead, and this view offers both:

* ``LogMessage`` — the event in IG's current JSON shape, rebuilt in SQL from the columns
  (``struct_pack`` + ``to_json``). DuckDB computes it only for queries that read it whole.
* one hidden column per JSON leaf, named by its path (``LogMessage.k8s.namespace``),
  which the KQL engine substitutes for ``LogMessage.k8s.namespace`` so a seed query runs
  on typed, columnar data (see ``hunt/rewrite.py``); the engine drops them from results.

Booleans are exposed as JSON so that ``tostring()`` gives ``true`` as it does on
``dynamic`` (a typed BOOLEAN would give Kusto's ``True``). Other leaves keep their type:
``tostring`` of a number or string agrees either way.

The view is created per connection (``TEMP``), from settings: the container names the
seed's DaemonSet used, and the time window of a hunt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from edgewatch.events import sql
from edgewatch.events.registry import GADGETS
from edgewatch.store.schema import TableSchema, all_schemas

VIEW = "ContainerLogV2"
HIDDEN_PREFIX = "LogMessage."

#: ContainerLogV2's own columns, in Azure's order (reference: azure-ingestion.md §5).
COLUMNS: tuple[str, ...] = (
    "TimeGenerated",
    "Computer",
    "ContainerId",
    "ContainerName",
    "PodName",
    "PodNamespace",
    "LogMessage",
    "LogSource",
    "LogLevel",
    "KubernetesMetadata",
    "SourceSystem",
    "Type",
)


def default_container_names() -> dict[str, str]:
    """The seed ran one DaemonSet container per gadget, named ``ig-<family>``."""
    return {g.family: f"ig-{g.family}" for g in GADGETS}


@dataclass(frozen=True)
class ContainerLogSettings:
    """What Log Analytics would have recorded about the collecting container.

    In Azure these columns describe the IG DaemonSet's container, not the workload the
    event is about (that lives in ``LogMessage.k8s``); set them to match a cluster whose
    queries filter on them.
    """

    container_names: Mapping[str, str] = field(default_factory=default_container_names)
    pod_name: str = ""
    pod_namespace: str = ""
    container_id: str = ""
    log_level: str = "INFO"
    #: ``Computer`` for events IG gave no ``k8s.node`` (outside Kubernetes it gives none)
    computer: str = ""


def settings_to_json(settings: ContainerLogSettings) -> str:
    return msgspec.json.encode(
        {
            "container_names": dict(settings.container_names),
            "pod_name": settings.pod_name,
            "pod_namespace": settings.pod_namespace,
            "container_id": settings.container_id,
            "log_level": settings.log_level,
        }
    ).decode()


def settings_from_json(text: str, computer: str = "") -> ContainerLogSettings:
    """The settings a store was written with; unknown or missing keys take defaults."""
    data = msgspec.json.decode(text) if text else {}
    names = {**default_container_names(), **(data.get("container_names") or {})}
    return ContainerLogSettings(
        container_names=names,
        pod_name=str(data.get("pod_name", "")),
        pod_namespace=str(data.get("pod_namespace", "")),
        container_id=str(data.get("container_id", "")),
        log_level=str(data.get("log_level", "INFO")),
        computer=computer,
    )


#: Keys an aggregated summary adds to IG's JSON on the stdout path (``EventCount`` …),
#: with their SQL over the store's columns; NULL (and so absent from ``LogMessage``) on
#: raw events, exactly as those keys are absent from IG's own lines.
_SUMMARY = '"event_end_ns" > 0'
SUMMARY_LEAVES: dict[str, str] = {
    "EventCount": f'CASE WHEN {_SUMMARY} THEN "event_count" END',
    "EventStartTime": f"CASE WHEN {_SUMMARY} THEN {sql.timestamp('event_start_ns')} END",
    "EventEndTime": f"CASE WHEN {_SUMMARY} THEN {sql.timestamp('event_end_ns')} END",
    "EventDistinct": 'CASE WHEN "distinct_values" <> \'\' THEN json("distinct_values") END',
}


def leaves(schema: TableSchema) -> dict[str, str]:
    """JSON path -> SQL expression, for every key IG prints for this gadget."""
    out: dict[str, str] = {}
    for column in schema.columns:
        if column.path is not None:
            out[column.path] = sql.col(column.name)
    out.update(schema.spec.render_sql)
    out["timestamp"] = sql.timestamp("time_ns")
    if "event_count" in {c.name for c in schema.columns}:
        out.update(SUMMARY_LEAVES)
    return out


def _tree(paths: Mapping[str, str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for dotted, expr in paths.items():
        node = root
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = expr
    return root


def _struct(tree: Mapping[str, Any]) -> str:
    # IG prints keys sorted; so does this, level by level.
    items = []
    for key in sorted(tree):
        value = tree[key]
        rendered = _struct(value) if isinstance(value, dict) else value
        items.append(f"{sql.col(key)} := {rendered}")
    return "struct_pack(" + ", ".join(items) + ")"


@cache
def log_message_sql(schema: TableSchema) -> str:
    paths = leaves(schema)
    base = f"to_json({_struct(_tree({k: v for k, v in paths.items() if k not in SUMMARY_LEAVES}))})"
    summary = {k: v for k, v in paths.items() if k in SUMMARY_LEAVES}
    if not summary:
        return base
    # a JSON merge patch drops the NULL keys: raw events keep IG's exact shape
    return f"json_merge_patch({base}, to_json({_struct(summary)}))"


def _hidden(schema: TableSchema) -> dict[str, str]:
    kinds = {sql.col(c.name): c.kind for c in schema.columns}
    out = {}
    for path, expr in leaves(schema).items():
        out[HIDDEN_PREFIX + path] = f"to_json({expr})" if kinds.get(expr) == "bool" else expr
    return out


def container_name(settings: ContainerLogSettings, family: str) -> str:
    return settings.container_names.get(family, f"ig-{family}")


def branch_sql(
    schema: TableSchema,
    settings: ContainerLogSettings,
    since_ns: int | None,
    paths: frozenset[str] | None = None,
    log_message: bool = True,
    absent: frozenset[str] = frozenset(),
    columns: frozenset[str] | None = None,
) -> str:
    """One gadget's rows; ``paths``/``log_message``/``columns`` narrow it to what a query reads.

    ``absent``: paths no selected gadget has, given here as NULL so the column exists.
    ``columns``: the ContainerLogV2 columns to keep (None: all).
    """
    container = container_name(settings, schema.family)
    hidden = _hidden(schema)
    if paths is not None:
        hidden = {k: v for k, v in hidden.items() if k[len(HIDDEN_PREFIX) :] in paths}
    for path in sorted(absent):
        hidden[HIDDEN_PREFIX + path] = "NULL"
    select = {
        "TimeGenerated": 'make_timestamp("time_ns" // 1000)',
        "Computer": f"coalesce(nullif(\"node\", ''), {sql.literal(settings.computer)})",
        "ContainerId": sql.literal(settings.container_id),
        "ContainerName": sql.literal(container),
        "PodName": sql.literal(settings.pod_name),
        "PodNamespace": sql.literal(settings.pod_namespace),
        "LogMessage": log_message_sql(schema) if log_message else "CAST(NULL AS JSON)",
        "LogSource": "'stdout'",
        "LogLevel": sql.literal(settings.log_level),
        "KubernetesMetadata": "CAST(NULL AS JSON)",
        "SourceSystem": "'Container'",
        "Type": f"'{VIEW}'",
    }
    if columns is not None:
        select = {k: v for k, v in select.items() if k in columns}
    select.update(hidden)
    columns = ", ".join(f"{expr} AS {sql.col(name)}" for name, expr in select.items())
    where = f' WHERE "time_ns" >= {int(since_ns)}' if since_ns is not None else ""
    return f"SELECT {columns} FROM {sql.col(schema.name)}{where}"


def view_sql(
    settings: ContainerLogSettings,
    since_ns: int | None = None,
    *,
    name: str = VIEW,
    containers: frozenset[str] | None = None,
    paths: frozenset[str] | None = None,
    log_message: bool = True,
    columns: frozenset[str] | None = None,
) -> str:
    """The view, or a narrower one: only some containers, columns, path columns."""
    schemas = [
        s
        for s in all_schemas()
        if containers is None or container_name(settings, s.family) in containers
    ]
    where_none = False
    if not schemas:  # a container name no gadget has: the right columns, no rows
        schemas, where_none = [all_schemas()[0]], True
    absent: frozenset[str] = frozenset()
    if paths is not None:
        absent = paths - {p for s in schemas for p in leaves(s)}
    branches = [
        branch_sql(
            s,
            settings,
            since_ns,
            paths,
            log_message,
            absent if i == 0 else frozenset(),
            columns,
        )
        for i, s in enumerate(schemas)
    ]
    if where_none:
        branches = [f"SELECT * FROM ({branches[0]}) WHERE false"]
    body = "\nUNION ALL BY NAME\n".join(branches)
    return f"CREATE OR REPLACE TEMP VIEW {sql.col(name)} AS\n{body}"


def view_columns(paths: frozenset[str], columns: frozenset[str] | None = None) -> list[str]:
    """The columns of a narrowed view (for duckdb-kql's schema), in the view's order."""
    kept = [c for c in COLUMNS if columns is None or c in columns]
    return [*kept, *(HIDDEN_PREFIX + p for p in sorted(paths))]


@cache
def leaf_kinds() -> dict[str, frozenset[str]]:
    """Path -> the column kinds it has across gadgets (``derived`` for SQL-built keys)."""
    kinds: dict[str, set[str]] = {}
    for schema in all_schemas():
        by_expr = {sql.col(c.name): c.kind for c in schema.columns}
        for path, expr in leaves(schema).items():
            kinds.setdefault(path, set()).add(by_expr.get(expr, "derived"))
    return {p: frozenset(k) for p, k in kinds.items()}


@cache
def hidden_paths() -> frozenset[str]:
    """Every ``LogMessage`` path some gadget has a typed column for."""
    return frozenset(p for s in all_schemas() for p in leaves(s))
