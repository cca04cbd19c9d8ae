"""Cheaper SQL for two KQL forms whose general translation DuckDB cannot optimize.

duckdb-kql renders them for any operand type; on the store's typed view a query often
knows more, and then an exact but much cheaper form exists:

* ``x endswith "lit"`` (and ``startswith``, ``contains``, their ``!`` and ``_cs``
  forms) becomes ``ILIKE … ESCAPE '\\'`` in duckdb-kql. DuckDB runs a LIKE that has an
  ESCAPE clause through its general matcher, measured 20x slower than the prefix,
  suffix and substring functions. When ``x`` is text (made by ``tostring()`` and the
  like, so never null) and the needle a literal, ``ends_with(lower(x), lower('lit'))``
  says the same thing.
* ``bin(TimeGenerated, 1h)`` becomes epoch arithmetic in doubles and back to a
  timestamp. ``time_bucket`` with the Unix epoch as origin is the same bucket (Kusto
  bins datetimes from the epoch) in integer microseconds, and cheaper.
"""

from __future__ import annotations

from typing import Any

from duckdb_kql import ir

from edgewatch.hunt.irmap import transform

BIN_TIME = "edgewatch_bin_time"
#: text equality (``==`` on a column known to hold text)
EQUALS = "edgewatch_op_eq"

#: KQL operator -> (DuckDB function, case-insensitive, negated)
_STRING_OPERATORS: dict[str, tuple[str, bool, bool]] = {
    "startswith": ("starts_with", True, False),
    "!startswith": ("starts_with", True, True),
    "startswith_cs": ("starts_with", False, False),
    "!startswith_cs": ("starts_with", False, True),
    "endswith": ("ends_with", True, False),
    "!endswith": ("ends_with", True, True),
    "endswith_cs": ("ends_with", False, False),
    "!endswith_cs": ("ends_with", False, True),
    "contains": ("contains", True, False),
    "!contains": ("contains", True, True),
    "contains_cs": ("contains", False, False),
    "!contains_cs": ("contains", False, True),
}
#: KQL operator -> (SQL comparison, its answer on null) for plain text equality
_EQUALITY = {"==": ("=", "FALSE"), "!=": ("<>", "TRUE")}


def _function_name(op: str) -> str:
    readable = {"==": "eq", "!=": "ne"}.get(op, op)
    return "edgewatch_op_" + readable.replace("!", "not_")


def register() -> None:
    """Teach duckdb-kql's function table the forms this module emits (once)."""
    from duckdb_kql.translate import functions as registry

    if BIN_TIME in registry.SCALAR_FUNCTIONS:
        return
    for op, (function, insensitive, negated) in _STRING_OPERATORS.items():
        x, needle = ("lower({0})", "lower({1})") if insensitive else ("{0}", "{1}")
        test = f"{function}({x}, {needle})"
        # the same null answer as duckdb-kql's form: a negated test is true on null
        template = f"coalesce(NOT {test}, TRUE)" if negated else f"coalesce({test}, FALSE)"
        name = _function_name(op)
        registry.SCALAR_FUNCTIONS[name] = registry.FunctionSpec(name, "template", template, (2,))
    for op, (comparison, on_null) in _EQUALITY.items():
        name = _function_name(op)
        template = f"coalesce(({{0}} {comparison} {{1}}), {on_null})"
        registry.SCALAR_FUNCTIONS[name] = registry.FunctionSpec(name, "template", template, (2,))
    registry.SCALAR_FUNCTIONS[BIN_TIME] = registry.FunctionSpec(
        BIN_TIME, "template", "time_bucket({1}, {0}, TIMESTAMP '1970-01-01')", (2,)
    )


def faster(
    op: ir.Operator, texts: set[str], text_functions: frozenset[str], view_time: bool
) -> Any:
    """``op`` with the forms above replaced where the operands allow it.

    ``texts`` are the columns known to hold text; ``view_time`` says ``TimeGenerated``
    is still the view's timestamp column at this operator.
    """

    def is_text(expr: Any) -> bool:
        if isinstance(expr, ir.FunctionCall):
            return expr.name in text_functions
        return isinstance(expr, ir.ColumnRef) and expr.name in texts

    def visit(node: Any) -> Any:
        if (
            isinstance(node, ir.BinaryOp)
            and (node.op in _STRING_OPERATORS or node.op in _EQUALITY)
            and isinstance(node.right, ir.Literal)
            and node.right.kind == "string"
            and is_text(node.left)
        ):
            left = transform(node.left, visit)
            return ir.FunctionCall(_function_name(node.op), (left, node.right))
        if (
            view_time
            and isinstance(node, ir.FunctionCall)
            and node.name == "bin"
            and len(node.args) == 2
            and isinstance(node.args[0], ir.ColumnRef)
            and node.args[0].name == "TimeGenerated"
            and isinstance(node.args[1], ir.Literal)
            and node.args[1].kind == "timespan"
        ):
            return ir.FunctionCall(BIN_TIME, node.args)
        return None

    return transform(op, visit)


def assigns_time(op: ir.Operator) -> bool:
    """Whether ``TimeGenerated`` may stop being the view's timestamp after ``op``."""
    if isinstance(op, (ir.Extend, ir.Project)):
        return any(t.name == "TimeGenerated" for t in op.expressions)
    return not isinstance(op, (ir.Where, ir.Sort, ir.Top, ir.Take, ir.ProjectAway))
