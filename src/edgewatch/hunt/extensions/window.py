"""``serialize`` with ``next()``, ``prev()`` and ``row_number()``, as SQL window functions.

Kusto evaluates these over a *serialized* row set: the order the rows have after a
``sort``/``top`` (or the source's order, for ``serialize`` straight on a table). SQL
has no row order between query steps, so each call is rewritten into a window
function that states that order again: ``next(x, 1)`` after ``sort by a asc, b desc``
becomes ``lead(x, 1) OVER (ORDER BY a ASC NULLS FIRST, b DESC NULLS LAST)`` — the same
keys, directions and null placement the ``sort`` used. Rows that tie on every key have
no defined order in Kusto either.

The order is the last ``sort``/``top`` before the call, while nothing in between
changes the rows' identity (``where``, ``extend``, ``project*`` keeping the keys,
``take``); after a ``summarize``, ``join``, ``union`` or ``distinct`` Kusto's own order
is gone too, and the calls use the row set's order as DuckDB reads it (``OVER ()``).

``row_number(start)`` is supported; ``row_number(start, restart)`` (numbering that
restarts when a condition holds) is not, and says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from duckdb_kql import ir
from duckdb_kql.errors import KqlUnsupportedError

WINDOW = "ew_window"
_OWNER = "edgewatch.hunt.extensions.window"
_CALLS = frozenset({"next", "prev", "row_number"})

_KEEPS_ORDER = (ir.Where, ir.Extend, ir.Take)


def _keys_survive(op: ir.Operator, keys: tuple[ir.SortKey, ...]) -> bool:
    names = {k.expr.name for k in keys if isinstance(k.expr, ir.ColumnRef)}
    if len(names) != len(keys):
        return False
    if isinstance(op, ir.Project):
        kept = {t.name or getattr(t.expr, "name", None) for t in op.expressions}
        return names <= kept and all(
            isinstance(t.expr, ir.ColumnRef) and t.expr.name == (t.name or t.expr.name)
            for t in op.expressions
            if (t.name or getattr(t.expr, "name", None)) in names
        )
    if isinstance(op, ir.ProjectAway):
        return not names & set(op.columns)
    if isinstance(op, ir.Extend):
        return not names & {t.name for t in op.expressions}
    return isinstance(op, _KEEPS_ORDER)


def _spec(keys: tuple[ir.SortKey, ...] | None) -> str:
    if not keys:
        return ""
    return ",".join(
        ("A" if k.ascending else "D")
        + ("" if k.nulls_first is None else ("F" if k.nulls_first else "L"))
        for k in keys
    )


def _call(node: ir.FunctionCall, keys: tuple[ir.SortKey, ...] | None) -> ir.FunctionCall:
    args = list(node.args)
    if node.name == "row_number":
        if len(args) > 1:
            raise KqlUnsupportedError(
                "function:row_number", hint="row_number(start, restart) is not supported"
            )
        start = args[0] if args else ir.Literal(1, "long")
        values: list[Any] = [start]
    else:
        if not args or len(args) > 3:
            raise KqlUnsupportedError(
                f"function:{node.name}", hint=f"{node.name}(column, [offset, [default]])"
            )
        offset = args[1] if len(args) > 1 else ir.Literal(1, "long")
        default = args[2] if len(args) > 2 else ir.Literal(None, "null")
        values = [args[0], offset, default]
    head = ir.Literal(f"{node.name}|{len(values)}|{_spec(keys)}", "string")
    key_exprs = [k.expr for k in keys or ()]
    return ir.FunctionCall(WINDOW, (head, *values, *key_exprs))


def _replace_calls(node: Any, keys: tuple[ir.SortKey, ...] | None) -> Any:
    if isinstance(node, ir.Query):
        return rewrite(node)
    if isinstance(node, ir.FunctionCall) and node.name in _CALLS:
        inner = dataclasses.replace(node, args=tuple(_replace_calls(a, keys) for a in node.args))
        return _call(inner, keys)
    if isinstance(node, tuple):
        return tuple(_replace_calls(n, keys) for n in node)
    if isinstance(node, list):
        return [_replace_calls(n, keys) for n in node]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            new = _replace_calls(value, keys)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(node, **changes) if changes else node
    return node


def _mentions(node: Any) -> bool:
    if isinstance(node, ir.FunctionCall) and node.name in _CALLS:
        return True
    if isinstance(node, (list, tuple)):
        return any(_mentions(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(_mentions(getattr(node, f.name)) for f in dataclasses.fields(node))
    return False


def rewrite(query: ir.Query) -> ir.Query:
    """The query with every ``next``/``prev``/``row_number`` as an ordered window call."""
    if not _mentions(query):
        return query
    keys: tuple[ir.SortKey, ...] | None = None
    operators = []
    for op in query.operators:
        if isinstance(op, (ir.Sort, ir.Top)):
            operators.append(_replace_calls(op, keys))
            keys = op.keys
            continue
        keys_after = None if keys is not None and not _keys_survive(op, keys) else keys
        operators.append(_replace_calls(op, keys))
        keys = keys_after
    lets = [(name, _replace_calls(value, None)) for name, value in query.lets]
    source = _replace_calls(query.source, None)
    return dataclasses.replace(query, source=source, operators=operators, lets=lets)


def _render(args: list[str]) -> str:
    head = args[0].strip("'").replace("''", "'")
    name, count_text, spec = head.split("|")
    count = int(count_text)
    values = args[1 : 1 + count]
    keys = args[1 + count :]
    order = ""
    if spec:
        parts = []
        for key, flags in zip(keys, spec.split(","), strict=True):
            ascending = flags[0] == "A"
            nulls_first = ascending if len(flags) == 1 else flags[1] == "F"
            parts.append(
                f"{key} {'ASC' if ascending else 'DESC'} "
                f"{'NULLS FIRST' if nulls_first else 'NULLS LAST'}"
            )
        order = "ORDER BY " + ", ".join(parts)
    over = f"OVER ({order})"
    if name == "row_number":
        return f"(row_number() {over} + ({values[0]}) - 1)"
    function = "lead" if name == "next" else "lag"
    return f"{function}({values[0]}, CAST({values[1]} AS BIGINT), {values[2]}) {over}"


_registered: list[Any] = []


def register() -> None:
    from duckdb_kql.translate import functions as registry

    current = registry.SCALAR_FUNCTIONS.get(WINDOW)
    if current is not None and current in _registered:
        return

    @dataclasses.dataclass(frozen=True)
    class WindowSpec(registry.FunctionSpec):  # type: ignore[misc, name-defined]
        def render(self, args: list[str]) -> str:
            return _render(args)

    row = WindowSpec(name=WINDOW, kind="template", template="", note=f"{_OWNER}")
    registry.SCALAR_FUNCTIONS[WINDOW] = row
    _registered.append(row)
