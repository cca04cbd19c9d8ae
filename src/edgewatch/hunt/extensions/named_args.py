"""Named arguments in calls to user functions: ``_Im_Dns(starttime=ago(1d))``.

Sentinel content calls the ASIM parsers by parameter name far more often than by
position (``_Im_NetworkSession(starttime=…, dstportnumber=3389)``), and duckdb-kql
binds stored-function arguments by position only; for a scalar ``let`` function it
reads ``f(c=7, a=12)`` as ``f(7, 12)``, a wrong answer without an error. Both binders
are replaced by one that follows Kusto's rules for user-defined functions:

* positional arguments first, bound in declaration order;
* then named ones, in any order, each naming a declared parameter once;
* a positional argument after a named one is an error, as is an unknown name;
* a parameter nobody passed takes its default, and one without a default is required.

Argument expressions are lowered in the caller's scope, as duckdb-kql does for
positional ones (a caller's ``let lookback = 1d`` is visible in ``ago(lookback)``).
"""

from __future__ import annotations

from typing import Any

from duckdb_kql import lower as _lower
from duckdb_kql.errors import KqlUnsupportedError


def _split(node: Any) -> tuple[str | None, Any]:
    """``name = expr`` -> (name, expr node); a bare expression -> (None, node)."""
    node = _lower._collapse(node)
    if _lower._cls(node) in ("NamedExpression", "ArgumentExpression"):
        kids = _lower._rule_children(node)
        if len(kids) == 2 and _lower._cls(kids[0]) == "NamedExpressionNameClause":
            names = _lower._find_names(kids[0])
            name = names[0] if names else kids[0].getText().rstrip("= ")
            return name, kids[1]
    return None, node


def _refuse(function: Any, node: Any, hint: str) -> KqlUnsupportedError:
    return KqlUnsupportedError(f"function:{function.name}", span=_lower._span(node), hint=hint)


def bind_stored_arguments(node: Any, function: Any, arg_nodes: list[Any]) -> dict[str, Any]:
    """duckdb-kql's stored-function binder, extended with Kusto's named arguments."""
    state = _lower._FN_STATE.get()
    assert state is not None
    parameters = _lower._stored_parameters(function)
    return _bind(
        node,
        function,
        parameters,
        arg_nodes,
        lambda expr_node: _lower._substitute(_lower._lower_expr(expr_node), state.scalars),
    )


def _bind(
    node: Any, function: Any, parameters: list[Any], arg_nodes: list[Any], lower_value: Any
) -> dict[str, Any]:
    declared = [name for name, _ in parameters]
    binding: dict[str, Any] = {}
    named_seen = False
    position = 0
    for arg in arg_nodes:
        name, expr_node = _split(arg)
        value = lower_value(expr_node)
        if name is None:
            if named_seen:
                raise _refuse(
                    function,
                    arg,
                    f"{function.name}(): a positional argument cannot follow a named one",
                )
            if position >= len(declared):
                raise _refuse(
                    function,
                    node,
                    f"{function.name}(): function expects at most "
                    f"{len(declared)} argument(s), got {len(arg_nodes)} (Kusto: SEM0219)",
                )
            binding[declared[position]] = value
            position += 1
            continue
        named_seen = True
        if name not in declared:
            raise _refuse(
                function,
                arg,
                f"{function.name}() has no parameter {name!r}; its parameters: "
                + ", ".join(declared),
            )
        if name in binding:
            raise _refuse(function, arg, f"{function.name}(): argument {name!r} given twice")
        binding[name] = value
    for name, default in parameters:
        if name not in binding:
            if default is None:
                raise _refuse(
                    function,
                    node,
                    f"{function.name}(): missing argument {name!r}, which has no default",
                )
            binding[name] = default
    return binding


_ORIGINAL_CALL = _lower._lower_function_call


def lower_function_call(node: Any) -> Any:
    """A call of a scalar ``let`` function with named arguments, bound by name."""
    kids = _lower._rule_children(node)
    if kids:
        declared = _lower._LET_FUNCTIONS_STATE.get().get(kids[0].getText())
        if declared is not None and declared.body is not None:
            arg_nodes = kids[1:]
            if any(_split(a)[0] is not None for a in arg_nodes):
                binding = _bind(
                    node, declared, list(declared.parameters), arg_nodes, _lower._lower_expr
                )
                return _lower._substitute(declared.body, binding)
    return _ORIGINAL_CALL(node)


def install() -> None:
    """Put the binders in place (idempotent)."""
    _lower._bind_stored_arguments = bind_stored_arguments
    _lower._lower_function_call = lower_function_call


def installed() -> bool:
    return (
        _lower._bind_stored_arguments is bind_stored_arguments
        and _lower._lower_function_call is lower_function_call
    )


__all__ = ["bind_stored_arguments", "install", "installed"]
