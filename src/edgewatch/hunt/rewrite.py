"""Pointing ``LogMessage.a.b`` at the store's typed columns, inside duckdb-kql's IR.

duckdb-kql translates ``LogMessage.k8s.namespace`` to ``json_extract(LogMessage, …)``:
right for a JSON blob, and what makes the naive port of the seed queries slow. The
``ContainerLogV2`` view carries a typed column per JSON leaf (``"LogMessage.k8s.namespace"``,
see ``store/containerlog.py``); this module swaps the path for that column between
duckdb-kql's lowering and its SQL emission.

The swap is only sound while ``LogMessage`` is still the view's column, so it runs over
the operators of a query *on ContainerLogV2* and stops at the first operator after which
that may no longer hold: one that assigns ``LogMessage``, drops the row shape
(``project``, ``summarize``, ``distinct``), or one it does not know. After that the
path is left to duckdb-kql (still correct, on the rebuilt JSON, only slower). A path
with no typed column (``LogMessage.proc``, a whole block) is left alone the same way.

Unnamed expressions keep the name Kusto gives them (``LogMessage_k8s_namespace``): the
name is derived from the original path before it is replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from duckdb_kql import ir
from duckdb_kql.translate.naming import expression_name

from edgewatch.store.containerlog import HIDDEN_PREFIX, VIEW


def rewrite(query: ir.Query, hidden: frozenset[str]) -> ir.Query:
    source = query.source
    if not (
        isinstance(source, ir.TableRef)
        and source.name == VIEW
        and source.database is None
        and source.cluster is None
    ):
        return query
    swap = _swapper(hidden)
    operators: list[ir.Operator] = []
    active = True
    for original in query.operators:
        op = original
        if active:
            op, active = _operator(original, swap)
        operators.append(op)
    return dataclasses.replace(query, operators=operators)


def _swapper(hidden: frozenset[str]) -> Callable[[Any], Any]:
    def swap(node: Any) -> Any:
        if isinstance(node, ir.PathAccess):
            path = _static_path(node)
            if path is not None and path in hidden:
                return ir.ColumnRef(HIDDEN_PREFIX + path)
        if isinstance(node, ir.Query):
            return node  # a nested query has rows of its own
        if isinstance(node, ir.NamedExpr):
            name = node.name
            if name is None:
                name = expression_name(node.expr)
            return dataclasses.replace(node, expr=swap(node.expr), name=name)
        if isinstance(node, tuple):
            return tuple(swap(item) for item in node)
        if isinstance(node, list):
            return [swap(item) for item in node]
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            changes = {}
            for f in dataclasses.fields(node):
                value = getattr(node, f.name)
                new = swap(value)
                if new is not value:
                    changes[f.name] = new
            return dataclasses.replace(node, **changes) if changes else node
        return node

    return swap


def _static_path(node: ir.PathAccess) -> str | None:
    base = node.base
    if not (isinstance(base, ir.ColumnRef) and base.name == "LogMessage"):
        return None
    names = []
    for step in node.steps:
        if step.name is None:
            return None
        names.append(step.name)
    return ".".join(names)


def _assigns_log_message(targets: tuple[ir.NamedExpr, ...]) -> bool:
    return any(t.name == "LogMessage" for t in targets)


def _operator(op: ir.Operator, swap: Callable[[Any], Any]) -> tuple[ir.Operator, bool]:
    """The rewritten operator, and whether ``LogMessage`` is still the view's after it."""
    if isinstance(op, (ir.Where, ir.Sort, ir.Top)):
        return swap(op), True
    if isinstance(op, ir.Take):
        return op, True
    if isinstance(op, ir.Extend):
        return swap(op), not _assigns_log_message(op.expressions)
    if isinstance(op, (ir.Project, ir.Summarize, ir.Distinct)):
        return swap(op), False
    if isinstance(op, ir.ProjectAway):
        return op, "LogMessage" not in op.columns
    if isinstance(op, ir.ProjectRename):
        touched = any("LogMessage" in pair for pair in op.renames)
        return op, not touched
    return op, False
