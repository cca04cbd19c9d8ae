"""``project-reorder``: the listed columns first, in the order given, the rest after.

Kusto's rules: a name or a wildcard (``Initiating*``) per item; a wildcard's columns keep
their order unless ``asc``/``desc`` sorts them by name; columns not listed keep their
order after the listed ones; a column is placed once, where it is first matched. The
rows are untouched.

duckdb-kql parses the operator but does not lower it. Here it becomes a
``ProjectAway`` that removes nothing (so every pass that knows ``project-away`` sees
the right columns) carrying the order, and its SQL selects the columns in that order:
from the known column list when there is one, else ``SELECT a, b, * EXCLUDE (a, b)``
for plain names.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from duckdb_kql import ir
from duckdb_kql import lower as _lower
from duckdb_kql import schema as _schema
from duckdb_kql import translate as _translate
from duckdb_kql.errors import KqlUnsupportedError


@dataclasses.dataclass(frozen=True)
class ProjectReorder(ir.ProjectAway):
    #: (name or wildcard, "asc"/"desc"/None), in the order written
    items: tuple[tuple[str, str | None], ...] = ()


def order(items: tuple[tuple[str, str | None], ...], cols: list[str]) -> list[str]:
    placed: list[str] = []
    for pattern, direction in items:
        if "*" in pattern:
            matched = [c for c in cols if fnmatch.fnmatchcase(c, pattern) and c not in placed]
            if direction is not None:
                matched.sort(reverse=direction == "desc")
            placed.extend(matched)
        elif pattern in cols and pattern not in placed:
            placed.append(pattern)
    return placed + [c for c in cols if c not in placed]


_ORIGINAL_LOWER = _lower._lower_operator
_ORIGINAL_RENDER = _translate.render_operator
_ORIGINAL_COLUMNS = _schema._operator_columns_unchecked


def _lower_operator(node: Any) -> Any:
    inner = node
    while _lower._cls(inner) in ("PipedOperator", "AfterPipeOperator"):
        rules = _lower._rule_children(inner)
        if not rules:
            return _ORIGINAL_LOWER(node)
        inner = rules[0]
    inner = _lower._collapse(inner)
    if _lower._cls(inner) != "ProjectReorderOperator":
        return _ORIGINAL_LOWER(node)
    node = inner
    items: list[tuple[str, str | None]] = []
    for kid in _lower._rule_children(node):
        if _lower._cls(kid) != "ProjectReorderExpression":
            continue
        parts = _lower._rule_children(kid)
        name = parts[0].getText() if parts else kid.getText()
        rest = [c.getText().lower() for c in (kid.children or [])[1:]]
        direction = rest[0] if rest else None
        if direction not in (None, "asc", "desc"):
            raise KqlUnsupportedError(
                "project-reorder", hint=f"ordering {direction!r} (only asc and desc)"
            )
        items.append((name.strip("[]'\""), direction))
    if not items:
        raise KqlUnsupportedError("project-reorder", hint="no columns given")
    return ProjectReorder((), tuple(items))


def _render_operator(op: ir.Operator, prev: str, cols: list[str] | None = None) -> str:
    if not isinstance(op, ProjectReorder):
        return _ORIGINAL_RENDER(op, prev, cols)
    q = _translate.quote_ident
    if cols:
        return f"SELECT {', '.join(q(c) for c in order(op.items, cols))} FROM {prev}"
    if any("*" in pattern for pattern, _ in op.items):
        raise KqlUnsupportedError(
            "project-reorder", hint="a wildcard needs the table's columns (schema)"
        )
    names = list(dict.fromkeys(pattern for pattern, _ in op.items))
    listed = ", ".join(q(n) for n in names)
    return f"SELECT {listed}, * EXCLUDE ({listed}) FROM {prev}"


def _operator_columns(op: ir.Operator, cols: list[str], schema: Any) -> list[str]:
    if isinstance(op, ProjectReorder):
        return order(op.items, cols)
    return _ORIGINAL_COLUMNS(op, cols, schema)


def install() -> None:
    _lower._lower_operator = _lower_operator
    _translate.render_operator = _render_operator
    _schema._operator_columns_unchecked = _operator_columns
