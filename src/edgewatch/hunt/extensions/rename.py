"""Small IR fixes after lowering, each for a spelling real content uses.

* ``percentiles(x, p)`` with one percentage is ``percentile(x, p)``, and Kusto names
  its column the same way (``percentile_x_p``). Several percentages make several
  columns, which one aggregate here cannot; those stay unsupported.
* The ASIM parsers add alias columns (``Hostname``, ``User``, ``Process`` …). Kusto
  keeps ``Hostname`` and a query's own ``HostName`` apart; DuckDB cannot, and
  duckdb-kql rightly refuses the pair. An alias the query never reads but shadows with
  a name differing only in case is dropped from the parser's output, so the query's
  own column is the only one of that name. The same holds for a table column the
  query never reads (AdFind content computes its own ``ActingProcessFileName`` beside
  the schema's ``ActingProcessFilename``): the result then lacks the unread schema
  column, where Kusto would show both. A column the query reads is kept, and the
  collision is reported.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from duckdb_kql import ir

from edgewatch.hunt.asim.parsers import ALIASES, PARSERS

_EXPANSION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\(\)#\d+$")


def _walk(node: Any, visit: Any) -> None:
    visit(node)
    if isinstance(node, (list, tuple)):
        for item in node:
            _walk(item, visit)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            _walk(getattr(node, f.name), visit)


def _map(node: Any, change: Any) -> Any:
    node = change(node)
    if isinstance(node, tuple):
        return tuple(_map(n, change) for n in node)
    if isinstance(node, list):
        return [_map(n, change) for n in node]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        updates = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            new = _map(value, change)
            if new is not value:
                updates[f.name] = new
        return dataclasses.replace(node, **updates) if updates else node
    return node


def percentiles(query: ir.Query) -> ir.Query:
    def change(node: Any) -> Any:
        if isinstance(node, ir.FunctionCall) and node.name == "percentiles" and len(node.args) == 2:
            return dataclasses.replace(node, name="percentile")
        return node

    return _map(query, change)


def drop_shadowed_aliases(query: ir.Query) -> ir.Query:
    expansions = [
        (name, value)
        for name, value in query.lets
        if isinstance(value, ir.Query)
        and (m := _EXPANSION.match(name)) is not None
        and m.group("name") in PARSERS
    ]
    if not expansions:
        return query
    expansion_names = {name for name, _ in expansions}
    assigned: set[str] = set()
    read: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, ir.NamedExpr) and node.name:
            assigned.add(node.name)
        elif isinstance(node, ir.ColumnRef):
            read.add(node.name)
        elif isinstance(node, ir.ProjectRename):
            assigned.update(new for new, _ in node.renames)

    outside = [
        *query.operators,
        query.source,
        *(value for name, value in query.lets if name not in expansion_names),
    ]
    _walk(outside, visit)
    folded = {a.casefold(): a for a in assigned}

    def shadowed(column: str) -> bool:
        mine = folded.get(column.casefold())
        return mine is not None and mine != column and column not in read

    drop_aliases = {alias for alias in ALIASES if shadowed(alias)}
    drop_columns = tuple(sorted(c for c in _view_columns() if shadowed(c)))
    if not drop_aliases and not drop_columns:
        return query

    def change(node: Any) -> Any:
        if isinstance(node, ir.Extend):
            kept = tuple(e for e in node.expressions if e.name not in drop_aliases)
            if len(kept) != len(node.expressions):
                return dataclasses.replace(node, expressions=kept)
        return node

    def fix(value: ir.Query) -> ir.Query:
        value = _map(value, change)
        if drop_columns:
            value = dataclasses.replace(
                value, operators=[*value.operators, ir.ProjectAway(drop_columns)]
            )
        return value

    lets = [(name, fix(value) if name in expansion_names else value) for name, value in query.lets]
    return dataclasses.replace(query, lets=lets)


def _view_columns() -> frozenset[str]:
    from edgewatch.hunt.asim.views import TABLES, table_columns

    return frozenset(name for schema in TABLES for name, _ in table_columns(schema))
