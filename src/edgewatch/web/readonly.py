"""What the dashboard may run on a store it shares with the agent writing it.

A store opened read-only lets DuckDB refuse every write. Inside the agent the dashboard
reads through the writer's own database instance, which is writable, so the guard is
ours, in three layers:

* every statement must be one SELECT (no INSERT, SET, COPY, ATTACH, CHECKPOINT …);
* a SELECT may call only table functions that read (``range``, ``unnest`` …): DuckDB
  also has table functions that act, such as ``checkpoint()``, ``enable_logging()`` or
  ``query('…')``, which runs SQL text this check never sees. Scalar functions with a
  lasting effect (``nextval``, ``setval``, ``write_log``) are refused by name;
* it runs in a read-only transaction, so DuckDB itself refuses any write to the store
  the first two layers missed.

Files and the network stay out of reach because the writer's instance was opened with
external access disabled, which cannot be turned back on while it runs.

The check parses with DuckDB's own parser (``json_serialize_sql``) on a private
in-memory connection, and remembers its verdicts: page queries and translated KQL
repeat the same text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import duckdb
import msgspec

from edgewatch.store.database import StoreError

#: table functions that only read: what page queries and KQL translations use
READING_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
    }
)
#: scalar functions whose effect outlives the query
ACTING_FUNCTIONS = frozenset({"nextval", "setval", "write_log"})
_VERDICTS_KEPT = 1024


class ReadOnlyError(StoreError):
    """A statement the dashboard will not run on a store it shares with a writer."""


_local = threading.local()
_verdicts: OrderedDict[str, str | None] = OrderedDict()
_verdicts_lock = threading.Lock()


def _parser() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection per thread: parsing touches no store."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(":memory:", config={"enable_external_access": False})
    return con


def check(sql: str) -> None:
    """Raise :class:`ReadOnlyError` unless ``sql`` is one SELECT that only reads."""
    with _verdicts_lock:
        known = sql in _verdicts
        refusal = _verdicts.get(sql)
        if known:
            _verdicts.move_to_end(sql)
    if not known:
        refusal = _judge(sql)
        with _verdicts_lock:
            _verdicts[sql] = refusal
            while len(_verdicts) > _VERDICTS_KEPT:
                _verdicts.popitem(last=False)
    if refusal is not None:
        raise ReadOnlyError(refusal)


def _judge(sql: str) -> str | None:
    """Why ``sql`` is refused, or None."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return f"cannot parse the query: {exc}"
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        return "only a single read-only query runs here"
    row = _parser().execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = msgspec.json.decode(row[0]) if row else {"error": True}
    if tree.get("error") or len(tree.get("statements", ())) != 1:
        return "only a single read-only query runs here"
    for name, is_table in _functions(tree["statements"][0]):
        if is_table and name not in READING_TABLE_FUNCTIONS:
            return f"the table function {name}() is not available here"
        if name in ACTING_FUNCTIONS:
            return f"the function {name}() is not available here"
    return None


def _functions(node: Any) -> Iterator[tuple[str, bool]]:
    """(lower-case name, called as a table function) of every function ``node`` calls."""
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            function = node.get("function") or {}
            yield str(function.get("function_name", "")).lower(), True
        elif node.get("class") == "FUNCTION" and "function_name" in node:
            yield str(node["function_name"]).lower(), False
        for value in node.values():
            yield from _functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _functions(value)
