"""One way to rewrite duckdb-kql's IR: replace the nodes a visitor chooses, keep the rest.

Two rules every rewrite here must keep, so they live in one place: a nested query has
rows of its own (its columns are not the outer query's), and an unnamed column keeps the
name Kusto derives from what was written, even when what was written is replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from duckdb_kql import ir
from duckdb_kql.translate.naming import expression_name

Visitor = Callable[[Any], Any]


def transform(node: Any, visit: Visitor) -> Any:
    """``node`` with every subtree ``visit`` answers (not None) for replaced by that answer.

    Unchanged subtrees are returned as the same objects, so callers can tell what moved.
    """
    new = visit(node)
    if new is not None:
        return new
    if isinstance(node, ir.Query):
        return node
    if isinstance(node, ir.NamedExpr):
        expr = transform(node.expr, visit)
        if expr is node.expr:
            return node
        name = node.name if node.name is not None else expression_name(node.expr)
        return dataclasses.replace(node, expr=expr, name=name)
    if isinstance(node, (tuple, list)):
        items = [transform(item, visit) for item in node]
        if all(a is b for a, b in zip(items, node, strict=True)):
            return node
        return tuple(items) if isinstance(node, tuple) else items
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            new = transform(value, visit)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(node, **changes) if changes else node
    return node
