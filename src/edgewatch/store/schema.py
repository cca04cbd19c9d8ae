"""The store's tables, derived from the event types: a new gadget needs no edit here.

One table per gadget family (``events_tcp`` …), one typed column per event field. The
columns that describe *where* an event happened (pod, namespace, image …) are the same
for every event of a container, so the writer builds them once per container and lets
Arrow repeat them (``take``) instead of reading them off each event; see ``columns.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from edgewatch.decode.plan import CONTEXT_COLUMNS as DECODER_CONTEXT
from edgewatch.events.base import COMMON_PATHS, GadgetSpec, Layout, event_columns
from edgewatch.events.registry import BY_FAMILY, GADGETS

Kind = Literal["int", "str", "bool", "float", "list"]

_KIND_OF: dict[Any, Kind] = {int: "int", str: "str", bool: "bool", float: "float"}
_SQL_TYPE: dict[Kind, str] = {
    "int": "BIGINT",
    "str": "VARCHAR",
    "bool": "BOOLEAN",
    "float": "DOUBLE",
    "list": "VARCHAR[]",
}

#: Columns constant per container, but for the id itself, which is read per event as the
#: key: taken once per container, not once per event (the decoder's notion, reused).
CONTEXT_COLUMNS: tuple[str, ...] = tuple(c for c in DECODER_CONTEXT if c != "container_id")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    #: Where IG's current JSON layout prints it (``k8s.namespace``); None if derived.
    path: str | None

    @property
    def sql_type(self) -> str:
        return _SQL_TYPE[self.kind]


@dataclass(frozen=True, slots=True)
class TableSchema:
    family: str
    spec: GadgetSpec
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return table_name(self.family)

    @property
    def event_columns(self) -> tuple[Column, ...]:
        """The columns read off each event (everything but the container context)."""
        return tuple(c for c in self.columns if c.name not in CONTEXT_COLUMNS)

    @property
    def context_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.name in CONTEXT_COLUMNS)

    def create_sql(self) -> str:
        cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in self.columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" ({cols})'


def table_name(family: str) -> str:
    return f"events_{family}"


def _kind(annotation: Any) -> Kind:
    if annotation in _KIND_OF:
        return _KIND_OF[annotation]
    if getattr(annotation, "__origin__", None) is list:
        return "list"
    raise TypeError(f"no store type for {annotation!r}")


@cache
def schema_for(family: str) -> TableSchema:
    spec = BY_FAMILY[family]
    paths = {**COMMON_PATHS, **spec.paths}
    columns = []
    for name, annotation in event_columns(spec.event).items():
        path = paths.get(name)
        columns.append(Column(name, _kind(annotation), path.path(Layout.CURRENT) if path else None))
    return TableSchema(family, spec, tuple(columns))


def all_schemas() -> tuple[TableSchema, ...]:
    return tuple(schema_for(g.family) for g in GADGETS)
