"""What the engine adds to duckdb-kql so published hunting content runs on the store.

Three hooks for the engine: :func:`register` before translating (functions, named
arguments, window functions, ``project-reorder``, the ``has_any`` fold), :func:`lower`
in place of duckdb-kql's (the ASIM parsers as stored functions, the text fixes of
``source.py``, ``_GetWatchlist`` calls as the tables of ``watchlist.py``, the IR passes
of ``rename.py`` and ``window.py``), and :func:`install`
on each hunting connection (macros, the ASIM and Defender views). Everything else lives
in the modules of this package, so the engine's own logic stays where it is.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


def register() -> None:
    from edgewatch.hunt.extensions import functions, hasany, named_args, reorder, window

    functions.register()
    named_args.install()
    window.register()
    hasany.install()
    reorder.install()


def lower(kql: str, entity_groups: Any, functions: Any, database: Any, clusters: Any) -> Any:
    """duckdb-kql's ``lower``, with the ASIM parsers, the text fixes of ``source.py`` and
    the window rewrite of ``window.py``; same arguments, same result type."""
    from duckdb_kql import lower as kql_lower
    from duckdb_kql.stored_functions import parse_functions

    from edgewatch.hunt.extensions import rename, source, watchlist, window

    base = dict(stored_functions(kql)[None])
    for database_name, defined in (functions or {}).items():
        if database_name is None:
            base.update(defined)
    merged_base = {**(functions or {}), None: base}

    def attempt(text: str, definitions: list[str]) -> Any:
        registry = merged_base
        if definitions:
            lifted = parse_functions(definitions)[None]
            registry = {**merged_base, None: {**base, **lifted}}
        return kql_lower.lower(text, entity_groups, registry, database, clusters)

    text = watchlist.rewrite(source.fix_top_nested(source.fix_serialize(kql)))
    query = source.lift_tabular_functions(text, attempt) if "let" in text else attempt(text, [])
    return window.rewrite(rename.drop_shadowed_aliases(rename.percentiles(query)))


def stored_functions(kql: str | None = None) -> Any:
    """The ASIM parsers a query names (all of them for None), parsed for duckdb-kql.

    Parsing a definition with duckdb-kql's ANTLR parser costs a tenth of a second or
    more, so each distinct body is parsed once per process, and only when a query calls
    one of its names: a query on ContainerLogV2 pays nothing.
    """
    from edgewatch.hunt.asim.parsers import PARSERS

    names = list(PARSERS) if kql is None else [n for n in _NAME.findall(kql) if n in PARSERS]
    return {None: {name: _parsed(name) for name in dict.fromkeys(names)}}


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@cache
def _parsed_body(params: str, body: str) -> Any:
    from duckdb_kql.stored_functions import parse_functions

    return parse_functions([f"function ew_asim_parser({params}) {{{body}}}"])[None][
        "ew_asim_parser"
    ]


def _parsed(name: str) -> Any:
    from edgewatch.hunt.asim.parsers import PARSERS

    params, body = PARSERS[name]
    parsed = _parsed_body(params, body)
    return dataclasses.replace(
        parsed, name=name, command=parsed.command.replace("ew_asim_parser", name, 1)
    )


def install(
    con: duckdb.DuckDBPyConnection, since_ns: int | None = None, computer: str = ""
) -> None:
    """Macros, then the ASIM and Defender views (they call no macro, but parsers do).

    ``computer``: the store's node, the device of events IG gave no node name.
    """
    from edgewatch.hunt import defender
    from edgewatch.hunt.asim import views
    from edgewatch.hunt.extensions import functions
    from edgewatch.store.database import run

    functions.install(con)
    for statement in (
        *views.all_view_sql(since_ns, computer),
        *defender.all_view_sql(since_ns, computer),
    ):
        run(con, statement)
