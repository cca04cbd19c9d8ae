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
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir
from duckdb_kql.translate.naming import expression_name

from edgewatch.hunt import fastforms
from edgewatch.hunt.irmap import transform
from edgewatch.store.containerlog import COLUMNS, HIDDEN_PREFIX, VIEW


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
    view_time = True
    texts: set[str] = set(_VIEW_TEXT_COLUMNS)
    for original in query.operators:
        op = original
        if active:
            op = _text_aggregates(op, texts)
            op, active = _operator(op, swap)
            op = fastforms.faster(op, texts, _TEXT_RESULTS, view_time)
            view_time = view_time and not fastforms.assigns_time(original)
        operators.append(op)
    return dataclasses.replace(query, operators=_merge_extends(operators))


def _merge_extends(operators: list[ir.Operator]) -> list[ir.Operator]:
    """``extend a = … | extend b = …`` as one ``extend`` where Kusto allows the merge.

    Each operator becomes a SQL CTE, and DuckDB's binder pays per CTE and column: a
    typical hunt's three ``extend`` blocks cost more to plan than to run. Two blocks
    merge when the second neither reads nor assigns a column the first assigns (Kusto
    refuses a reference to a column assigned in the same clause) and every column is
    named (an unnamed one takes its name from its position).
    """
    out: list[ir.Operator] = []
    for op in operators:
        prev = out[-1] if out else None
        if isinstance(op, ir.Extend) and isinstance(prev, ir.Extend) and _mergeable(prev, op):
            out[-1] = dataclasses.replace(prev, expressions=prev.expressions + op.expressions)
        else:
            out.append(op)
    return out


def _mergeable(first: ir.Extend, second: ir.Extend) -> bool:
    names = [t.name for t in (*first.expressions, *second.expressions)]
    if None in names or len(set(names)) != len(names):
        return False
    assigned = {t.name for t in first.expressions}
    read = {r.name for r in collect(second.expressions, lambda n: isinstance(n, ir.ColumnRef))}
    return not (assigned & read)


# -- make_set over text --------------------------------------------------------------------
#
# duckdb-kql's make_set accepts dynamic arrays (it unions them), so it casts every value to
# JSON to ask whether it is one: measured, 9x the cost of collecting plain strings. A
# value made by tostring() is never an array, so there the plain aggregate is exact.

TEXT_MAKE_SET = "edgewatch_make_set_text"
TEXT_TOSTRING = "edgewatch_tostring_plain"
_TEXT_FUNCTIONS = frozenset({"tostring", "strcat", "tolower", "toupper"})
#: the view's own columns that are always text (store/containerlog.py builds them)
_VIEW_TEXT_COLUMNS = frozenset(COLUMNS) - {"TimeGenerated", "LogMessage", "KubernetesMetadata"}
#: the same, once the swap has replaced a ``tostring``
_TEXT_RESULTS = _TEXT_FUNCTIONS | {TEXT_TOSTRING}


def register_text_aggregates() -> None:
    from duckdb_kql.translate import functions as registry

    fastforms.register()

    if TEXT_TOSTRING not in registry.SCALAR_FUNCTIONS:
        registry.SCALAR_FUNCTIONS[TEXT_TOSTRING] = registry.FunctionSpec(
            TEXT_TOSTRING, "template", "coalesce(CAST({0} AS VARCHAR), '')", (1,)
        )
    if TEXT_MAKE_SET not in registry.AGGREGATE_FUNCTIONS:
        registry.AGGREGATE_FUNCTIONS[TEXT_MAKE_SET] = registry.AggregateSpec(
            TEXT_MAKE_SET,
            "to_json(coalesce(list(DISTINCT {0}) FILTER (WHERE {0} IS NOT NULL), []))",
            (1,),
            name_prefix="set",
        )


def _is_text_expr(expr: Any, texts: set[str]) -> bool:
    if isinstance(expr, ir.FunctionCall):
        return expr.name in _TEXT_FUNCTIONS
    return isinstance(expr, ir.ColumnRef) and expr.name in texts


def _text_aggregates(op: ir.Operator, texts: set[str]) -> ir.Operator:
    """Track columns known to hold text; use the text make_set on them."""
    if isinstance(op, (ir.Extend, ir.Project)):
        if isinstance(op, ir.Project):
            kept = {t.name for t in op.expressions if t.name is not None}
            texts.intersection_update(kept)
        for target in op.expressions:
            if target.name is None:
                continue
            if _is_text_expr(target.expr, texts):
                texts.add(target.name)
            else:
                texts.discard(target.name)
        return op
    if isinstance(op, ir.Summarize):
        aggregates = []
        for original in op.aggregates:
            target, expr = original, original.expr
            if (
                isinstance(expr, ir.FunctionCall)
                and expr.name == "make_set"
                and len(expr.args) == 1
                and _is_text_expr(expr.args[0], texts)
            ):
                name = target.name or expression_name(expr)
                target = ir.NamedExpr(dataclasses.replace(expr, name=TEXT_MAKE_SET), name)
            aggregates.append(target)
        return dataclasses.replace(op, aggregates=tuple(aggregates))
    return op


def _swapper(hidden: frozenset[str]) -> Callable[[Any], Any]:
    plain = plain_text_paths()

    def visit(node: Any) -> Any:
        if isinstance(node, ir.PathAccess):
            path = _static_path(node)
            if path is not None and path in hidden:
                return ir.ColumnRef(HIDDEN_PREFIX + path)
        if (
            isinstance(node, ir.FunctionCall)
            and node.name == "tostring"
            and len(node.args) == 1
            and isinstance(node.args[0], ir.PathAccess)
            and _static_path(node.args[0]) in plain
        ):
            # a string or integer column: its text is a cast, without duckdb-kql's
            # every-type CASE (binding that costs more than running a small hunt)
            return ir.FunctionCall(TEXT_TOSTRING, (transform(node.args[0], visit),))
        return None

    return lambda node: transform(node, visit)


def plain_text_paths() -> frozenset[str]:
    """Paths whose typed column is text or an integer in every gadget that has it.

    ``tostring`` of those is exactly a cast (Kusto prints integers as DuckDB does); a
    path that is a boolean or a list anywhere keeps duckdb-kql's general ``tostring``.
    """
    from edgewatch.store.containerlog import leaf_kinds

    return frozenset(p for p, kinds in leaf_kinds().items() if kinds <= {"str", "int"})


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


@dataclass(frozen=True)
class ViewNeeds:
    """What one query reads of ContainerLogV2, so its view can leave the rest out.

    Binding a view of ten gadget tables with a typed column per JSON leaf costs more than
    running a typical hunt; a query that names its container and a dozen paths needs one
    table and a dozen columns.
    """

    #: ContainerName values the query starts by selecting (None: any)
    containers: frozenset[str] | None
    paths: frozenset[str]
    log_message: bool
    #: ContainerLogV2's own columns the query names, when only those can reach the
    #: result (it ends in a summarize, count or explicit project); None: all of them
    columns: frozenset[str] | None = None

    @property
    def view(self) -> str:
        """The view's name: the same needs, the same view, made once per connection."""
        key = repr((sorted(self.containers or ()), self.containers is None))
        key += repr((sorted(self.paths), self.log_message, sorted(self.columns or ())))
        key += repr(self.columns is None)
        return f"{NARROW_VIEW}_{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"


#: The one query source this module narrows; other references keep the full view.
NARROW_VIEW = "ContainerLogV2__hunt"


def narrow(query: ir.Query) -> tuple[ir.Query, ViewNeeds] | None:
    """The query reading a narrowed view instead of ContainerLogV2, and what it needs.

    None when ContainerLogV2 appears anywhere but as the main source (joins, unions,
    ``let``): those keep the full view, whose columns the schema describes.
    """
    source = query.source
    if not (isinstance(source, ir.TableRef) and source.name == VIEW):
        return None
    refs = collect(query, lambda n: isinstance(n, ir.TableRef) and n.name == VIEW)
    if len(refs) != 1:
        return None
    paths = frozenset(
        r.name[len(HIDDEN_PREFIX) :]
        for r in collect(query, lambda n: isinstance(n, ir.ColumnRef))
        if r.name.startswith(HIDDEN_PREFIX)
    )
    # LogMessage is built (a struct of every column) only when read, or when the result
    # may carry every column because nothing narrows the output
    bounded = any(
        isinstance(op, (ir.Project, ir.Summarize, ir.Distinct, ir.Count)) for op in query.operators
    )
    log_message = not bounded or bool(
        collect(query, lambda n: isinstance(n, ir.ColumnRef) and n.name == "LogMessage")
    )
    columns = None
    if _closed_output(query):
        named = {r.name for r in collect(query, lambda n: isinstance(n, ir.ColumnRef))}
        # a view needs one column; the time is the cheapest to keep
        columns = frozenset(c for c in COLUMNS if c in named) or frozenset({"TimeGenerated"})
    needs = ViewNeeds(_leading_containers(query), paths, log_message, columns)
    narrowed = dataclasses.replace(query, source=dataclasses.replace(source, name=needs.view))
    return narrowed, needs


#: operators through which a column the query never names cannot reach the result
_PLAIN_OPERATORS = (ir.Where, ir.Extend, ir.Take, ir.Sort, ir.Top)
#: functions that read every column of a row without naming it
_ROW_WIDE_FUNCTIONS = frozenset({"pack_all", "column_ifexists", "columnifexists"})


def _closed_output(query: ir.Query) -> bool:
    """Whether the result's columns are all named by the query before anything else.

    True when plain operators lead to a ``summarize``, ``count`` or ``project`` with no
    wildcard or row-wide function on the way: then the view's other columns, and the
    hidden typed ones, cannot appear in the result.
    """
    for i, op in enumerate(query.operators):
        if isinstance(op, (ir.Summarize, ir.Count, ir.Project)):
            prefix = query.operators[: i + 1]
            return not collect(
                prefix,
                lambda n: (
                    isinstance(n, ir.Wildcard)
                    or (isinstance(n, ir.FunctionCall) and n.name.lower() in _ROW_WIDE_FUNCTIONS)
                ),
            )
        if not isinstance(op, _PLAIN_OPERATORS):
            return False
    return False


def _leading_containers(query: ir.Query) -> frozenset[str] | None:
    """``where ContainerName == "ig-tcp"`` (or ``in (...)``) before anything else."""
    for op in query.operators:
        if not isinstance(op, ir.Where):
            return None
        found = _container_filter(op.predicate)
        if found is not None:
            return found
    return None


def _container_filter(pred: Any) -> frozenset[str] | None:
    if (
        isinstance(pred, ir.FunctionCall)
        and pred.name == fastforms.EQUALS
        and _is_container(pred.args[0])
        and _is_text(pred.args[1])
    ):
        return frozenset([pred.args[1].value])
    if isinstance(pred, ir.BinaryOp):
        if pred.op == "==" and _is_container(pred.left) and _is_text(pred.right):
            return frozenset([pred.right.value])
        if pred.op == "==" and _is_container(pred.right) and _is_text(pred.left):
            return frozenset([pred.left.value])
        if pred.op == "and":
            return _container_filter(pred.left) or _container_filter(pred.right)
    if (
        isinstance(pred, ir.InList)
        and _is_container(pred.value)
        and not (pred.negated or pred.case_insensitive or pred.subquery is not None)
        and all(map(_is_text, pred.items))
    ):
        return frozenset(item.value for item in pred.items)
    return None


def _is_container(node: Any) -> bool:
    return isinstance(node, ir.ColumnRef) and node.name == "ContainerName"


def _is_text(node: Any) -> bool:
    return isinstance(node, ir.Literal) and isinstance(node.value, str)


def collect(node: Any, match: Callable[[Any], bool]) -> list[Any]:
    """Every IR node under ``node`` (nested queries included) that ``match`` accepts."""
    found: list[Any] = []

    def walk(n: Any) -> None:
        if match(n):
            found.append(n)
        if isinstance(n, (list, tuple)):
            for item in n:
                walk(item)
        elif dataclasses.is_dataclass(n) and not isinstance(n, type):
            for f in dataclasses.fields(n):
                walk(getattr(n, f.name))

    walk(node)
    return found
