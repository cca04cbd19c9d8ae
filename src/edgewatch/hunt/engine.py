"""Running a KQL hunting query against the store: translate, guard, execute, explain errors.

Translation is duckdb-kql's, with one step of ours between its lowering and its SQL
emission (``rewrite.py``). Execution is guarded three ways, so a query cannot change
the store or reach outside it:

* the SQL must be exactly one SELECT (KQL's management commands are refused before
  translation; anything else duckdb-kql might emit is refused after);
* the connection has external access disabled and its configuration locked
  (``store/database.py``): no ``read_csv``, ``COPY``, ``ATTACH`` or extension loading;
* a time limit interrupts the query from a timer thread.

Sentinel watchlists (``_GetWatchlist('alias')``) are CSV files read by Python
(``watchlists.py``) and handed to the connection as temp tables before translation;
the engine itself still reads no file.

Errors come back as :class:`HuntError` naming the place in the KQL text, never a SQL
trace the user did not write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import pyarrow as pa
from duckdb_kql import KqlError, KqlSyntaxError, KqlUnsupportedError, ir
from duckdb_kql.clusters import effective_clusters
from duckdb_kql.control import strip_leading_comments
from duckdb_kql.engine import schema as read_schema
from duckdb_kql.entity_groups import effective_entity_groups
from duckdb_kql.lower import qualify
from duckdb_kql.stored_functions import effective_functions
from duckdb_kql.translate import CLOCK_SLOT, clock
from duckdb_kql.translate import to_sql as emit

from edgewatch.hunt import extensions, functions
from edgewatch.hunt.extensions.watchlist import readable
from edgewatch.hunt.inline import inline_ctes
from edgewatch.hunt.rewrite import (
    NARROW_VIEW,
    ViewNeeds,
    collect,
    narrow,
    register_text_aggregates,
    rewrite,
)
from edgewatch.hunt.watchlists import WatchlistError, WatchlistSettings
from edgewatch.hunt.watchlists import install as install_watchlists
from edgewatch.hunt.watchlists import load as load_watchlists
from edgewatch.store.containerlog import (
    HIDDEN_PREFIX,
    ContainerLogSettings,
    hidden_paths,
    settings_from_json,
    settings_to_json,
    view_columns,
    view_sql,
)
from edgewatch.store.database import get_meta, lock_configuration, run

DEFAULT_TIMEOUT_S = 60.0
#: duckdb-kql renders ``range`` as one in-memory list, which no DuckDB memory limit
#: bounds: ``range x from 1 to 3000000000 step 1`` asks for 24 GB at once.
MAX_RANGE_ROWS = 10_000_000
#: DuckDB's own cap for what it does track (hash tables, sorts) on a hunting connection
DEFAULT_MEMORY_LIMIT = "2GB"


class HuntError(Exception):
    """A query that cannot run; the message is for the person who wrote it."""


@dataclass(frozen=True)
class HuntResult:
    table: pa.Table
    #: columns holding JSON text (Kusto ``dynamic``): written as JSON values, not strings
    json_columns: frozenset[str]
    seconds: float


@dataclass(frozen=True)
class Translated:
    kql: str
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: what the query reads of ContainerLogV2, for a view made to measure (see rewrite)
    needs: ViewNeeds | None = None


#: translations kept, so a query run again (a dashboard refreshing) skips translation
TRANSLATION_CACHE_SIZE = 256
_translations: OrderedDict[tuple[Any, ...], tuple[Translated, bool]] = OrderedDict()
_translations_lock = threading.Lock()


def translate(kql: str, *, now: dt.datetime | None = None, schema: Any = None) -> Translated:
    """KQL text to the SQL the store runs (typed columns where the view has them).

    ``schema`` (table -> columns) is what duckdb-kql needs for ``join`` and ``union``.
    The SQL does not depend on ``now`` once it is pinned (the clock is a parameter), so
    a translation is reused for the same text and schema and only the clock is new.
    """
    key = (kql, now is None, _schema_key(schema))
    with _translations_lock:
        hit = _translations.get(key)
        if hit is not None:
            _translations.move_to_end(key)
    if hit is not None:
        translated, query_pins_clock = hit
        if now is None or query_pins_clock or not translated.parameters:
            return translated
        return replace(translated, parameters={CLOCK_SLOT: now})
    translated = _translate(kql, now=now, schema=schema)
    # ``set query_now = …`` in the text pins the clock itself; then it is kept
    query_pins_clock = bool(translated.parameters) and translated.parameters[CLOCK_SLOT] != now
    with _translations_lock:
        _translations[key] = (translated, query_pins_clock)
        while len(_translations) > TRANSLATION_CACHE_SIZE:
            _translations.popitem(last=False)
    return translated


def _schema_key(schema: Any) -> Any:
    if not schema:
        return None
    return tuple(sorted((name, tuple(columns)) for name, columns in schema.items()))


def _translate(kql: str, *, now: dt.datetime | None, schema: Any) -> Translated:
    functions.register()
    register_text_aggregates()
    extensions.register()
    if strip_leading_comments(kql).lstrip().startswith("."):
        raise HuntError(
            "only queries run here: management commands (.set, .show, .drop …) are refused"
        )
    try:
        with clock(now) as active:
            query = qualify(
                extensions.lower(
                    kql,
                    effective_entity_groups(None),
                    effective_functions(None),
                    None,
                    effective_clusters(None),
                ),
                None,
                effective_clusters(None),
            )
            if query.parameters:
                raise HuntError("declare query_parameters is not supported in hunting queries")
            _check_ranges(query)
            query = rewrite(query, hidden_paths())
            needs = None
            narrowed = narrow(query)
            if narrowed is not None:
                query, needs = narrowed
                schema = {**(schema or {}), needs.view: view_columns(needs.paths, needs.columns)}
            sql = str(emit(query, schema))
            params = {CLOCK_SLOT: active.moment} if active.used else {}
    except KqlError as exc:
        raise HuntError(readable(_kql_message(exc, kql), kql)) from exc
    with contextlib.suppress(duckdb.Error):  # if DuckDB cannot print it back: the chain
        sql = inline_ctes(sql)
    if needs is not None and needs.columns is not None:
        outer = sql  # the query names every column of its result
    else:
        hidden = HIDDEN_PREFIX.replace("'", "''")
        # The view's typed path columns are for the engine, not for the result.
        outer = f"SELECT COLUMNS(lambda c: NOT starts_with(c, '{hidden}')) FROM (\n{sql}\n) AS hunt"
    _only_select(outer)
    return Translated(kql, outer, params, needs)


def _check_ranges(query: Any) -> None:
    """Refuse a ``range`` whose literal bounds ask for more rows than memory allows."""
    for node in collect(query, lambda n: isinstance(n, ir.RangeSource)):
        bounds = [getattr(e, "value", None) for e in (node.start, node.stop, node.step)]
        if all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds):
            start, stop, step = bounds
            rows = (stop - start) / step + 1 if step else float("inf")
            if rows > MAX_RANGE_ROWS:
                raise HuntError(
                    f"range of {rows:,.0f} rows is over the limit of {MAX_RANGE_ROWS:,} "
                    "(a range is built in memory at once)"
                )


def prepare(
    con: duckdb.DuckDBPyConnection,
    settings: ContainerLogSettings | None = None,
    since: dt.timedelta | None = None,
    now: dt.datetime | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    shared_instance: bool = False,
    watchlists: WatchlistSettings | None = None,
) -> None:
    """Make a connection ready to hunt: IP functions, the view, settings locked.

    The memory limit and the lock are settings of the whole database instance. With
    ``shared_instance`` (a cursor of a writer's connection, in the writer's process)
    both are left alone: they would bind the writer too. ``watchlists``: where
    ``_GetWatchlist`` finds its CSV files (None: a query calling it is refused).
    """
    computer = get_meta(con, "node")
    if settings is None:
        settings = settings_from_json(get_meta(con, "container_log"), computer)
    elif not settings.computer:
        settings = replace(settings, computer=computer)
    since_ns = None
    if since is not None:
        moment = now or dt.datetime.now(dt.UTC)
        since_ns = int((moment - since).timestamp() * 1_000_000_000)
    functions.install(con)
    if not shared_instance:
        run(con, f"SET memory_limit = '{memory_limit}'")
    run(con, view_sql(settings, since_ns))
    extensions.install(con, since_ns, settings.computer)  # ASIM and Defender views
    # what each query's own narrowed view is built from (see ``execute``)
    run(con, f"SET VARIABLE {_SETTINGS_VAR} = ?", [settings_to_json(settings)])
    run(con, f"SET VARIABLE {_COMPUTER_VAR} = ?", [settings.computer])
    run(con, f"SET VARIABLE {_SINCE_VAR} = ?", [since_ns])
    install_watchlists(con, watchlists)
    if not shared_instance:
        lock_configuration(con)


def execute(
    con: duckdb.DuckDBPyConnection,
    kql: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    now: dt.datetime | None = None,
) -> HuntResult:
    """Translate and run a query on a prepared connection; the whole result, as Arrow."""
    return run_translated(con, translate_for(con, kql, now=now), timeout_s=timeout_s)


def translate_for(
    con: duckdb.DuckDBPyConnection, kql: str, *, now: dt.datetime | None = None
) -> Translated:
    """``translate`` with the connection's tables, as ``join`` and ``union`` need.

    The watchlists the query reads are loaded (or refreshed) first, so their columns
    are among those tables.
    """
    try:
        load_watchlists(con, kql)
    except WatchlistError as exc:
        raise HuntError(str(exc)) from exc
    except KqlError as exc:  # a call whose alias is not a literal
        raise HuntError(_kql_message(exc, kql)) from exc
    return translate(kql, now=now, schema=_join_schema(con))


def run_translated(
    con: duckdb.DuckDBPyConnection,
    translated: Translated,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> HuntResult:
    """Run an already translated query: its view made to measure, then the SELECT.

    The view is made the first time a connection runs a query with those needs and
    kept, so a query run again (a dashboard refreshing) binds straight away.
    """
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        started = time.perf_counter()
        try:
            relation = con.sql(translated.sql, params=translated.parameters or None)
        except duckdb.CatalogException as exc:
            needs = translated.needs
            if needs is None or needs.view not in str(exc):
                raise
            _make_view(con, needs)
            relation = con.sql(translated.sql, params=translated.parameters or None)
        json_columns = frozenset(
            name
            for name, kind in zip(relation.columns, relation.types, strict=True)
            if str(kind) == "JSON"
        )
        table = relation.to_arrow_table()
        return HuntResult(table, json_columns, time.perf_counter() - started)
    except duckdb.InterruptException as exc:
        raise HuntError(f"the query ran longer than its time limit of {timeout_s:g} s") from exc
    except duckdb.Error as exc:
        raise HuntError(readable(_runtime_message(exc, translated.kql), translated.kql)) from exc
    finally:
        timer.cancel()


_SETTINGS_VAR = "edgewatch_container_log"
_COMPUTER_VAR = "edgewatch_computer"
_SINCE_VAR = "edgewatch_since_ns"


#: narrowed views one connection keeps before it drops them all and starts again
MAX_VIEWS = 64


def _make_view(con: duckdb.DuckDBPyConnection, needs: ViewNeeds) -> None:
    kept = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE temporary AND starts_with(view_name, ?)",
        [NARROW_VIEW + "_"],
    ).fetchall()
    if len(kept) >= MAX_VIEWS:
        for (name,) in kept:
            run(con, f'DROP VIEW IF EXISTS temp."{name}"')
    run(con, _narrow_view_sql(con, needs))


def _narrow_view_sql(con: duckdb.DuckDBPyConnection, needs: ViewNeeds) -> str:
    row = con.execute(
        f"SELECT getvariable('{_SETTINGS_VAR}'), getvariable('{_COMPUTER_VAR}'), "
        f"getvariable('{_SINCE_VAR}')"
    ).fetchall()[0]
    if row[0] is None:
        raise HuntError("the connection was not prepared for hunting (engine.prepare)")
    settings = settings_from_json(row[0], row[1] or "")
    return view_sql(
        settings,
        None if row[2] is None else int(row[2]),
        name=needs.view,
        containers=needs.containers,
        paths=needs.paths,
        log_message=needs.log_message,
        columns=needs.columns,
    )


def _join_schema(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Table -> columns for duckdb-kql's join/union, with the temp view by its bare name.

    A query says ``ContainerLogV2``, not ``temp.ContainerLogV2``. The view's typed path
    columns stay listed: with a schema, duckdb-kql names every column it carries forward.
    """
    schema = dict(read_schema(con))
    for name, columns in list(schema.items()):
        if name.startswith("temp."):
            schema.setdefault(name[len("temp.") :], columns)
    return schema


def _only_select(sql: str) -> None:
    """Checked once, on the SQL translation made; parsing it again per run costs ms."""
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise HuntError("a hunting query must be a single read-only query")


# -- messages -----------------------------------------------------------------------------


def _position(kql: str, line: int, column: int) -> str:
    lines = kql.splitlines() or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    caret = " " * max(column, 0) + "^"
    return f"line {line}, column {column + 1}:\n  {text}\n  {caret}"


def _kql_message(exc: KqlError, kql: str) -> str:
    if isinstance(exc, KqlSyntaxError) and exc.diagnostics:
        first = exc.diagnostics[0]
        return f"KQL syntax error at {_position(kql, first.span.line, first.span.column)}\n" + (
            first.message
        )
    if isinstance(exc, KqlUnsupportedError):
        where = ""
        if exc.span is not None:
            where = " at " + _position(kql, exc.span.line, exc.span.column)
        hint = f" ({exc.hint})" if exc.hint else ""
        return f"not supported here: {exc.construct}{hint}{where}"
    return f"KQL error: {exc}"


_QUOTED = re.compile(r'"([^"]+)"')


def _runtime_message(exc: duckdb.Error, kql: str) -> str:
    """DuckDB's message without its SQL excerpt, pointed at the KQL that caused it."""
    message = str(exc).split("\nLINE ", 1)[0].strip()
    message = re.sub(r"^[A-Za-z ]+ Error: ", "", message)
    # DuckDB suggests similar names; the view's typed path columns are not the user's.
    message = re.sub(r'(?<=, )?"' + re.escape(HIDDEN_PREFIX) + r'[^"]*"(, )?', "", message).rstrip(
        ", "
    )
    for quoted in _QUOTED.findall(message):
        at = _find_identifier(kql, quoted.removeprefix(HIDDEN_PREFIX))
        if at is not None:
            return f"{message}\nat {_position(kql, *at)}"
    return message


def _find_identifier(kql: str, name: str) -> tuple[int, int] | None:
    pattern = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?!\w)")
    for number, text in enumerate(kql.splitlines(), start=1):
        match = pattern.search(text)
        if match:
            return number, match.start()
    return None
