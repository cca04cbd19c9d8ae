"""``edgewatch hunt --check``: which of a team's hunting queries run on this store, and why
the others do not.

Reads ``.kql``/``.csl`` files (the whole file is one query), Sentinel hunting-query and
analytics-rule ``.yaml`` files (their ``query:`` field) and Markdown files with a fenced
``kusto``/``kql`` block (the layout of Defender's published hunting queries). Each query
is translated and run on the store, and gets one verdict:

* ``runs`` — it ran; the row count is reported (zero rows is still "runs": the content
  works, the store just holds nothing it looks for);
* ``parse error`` — the text is not KQL this engine can parse (published content has
  typos too: a quote that does not close);
* ``unknown table`` — it reads a table the node does not have (``SecurityEvent``,
  ``DeviceFileEvents``);
* ``unknown function`` — it calls a function that is neither a Kusto built-in mapped
  here nor one of the ASIM parsers (an old parser name);
* ``missing watchlist`` — it reads a Sentinel watchlist (``_GetWatchlist('alias')``)
  the watchlist directory does not hold, or no directory was given (``--watchlists``);
* ``unsupported function`` / ``unsupported operator`` — valid Kusto this engine does not
  translate yet (``make-series``, ``series_decompose_anomalies``);
* ``unknown column`` — a column the table does not have on this node;
* ``case collision`` — the query needs two columns whose names differ only in case,
  which Kusto keeps apart and DuckDB cannot;
* ``error`` — anything else, with the message; ``timeout`` when it ran out of time.

The ``reason`` names the construct, so a folder's blockers can be counted and ranked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml
from duckdb_kql import KqlSchemaError, KqlSyntaxError, KqlUnsupportedError

from edgewatch.hunt import engine
from edgewatch.hunt.extensions.watchlist import TABLE_PREFIX
from edgewatch.hunt.watchlists import WatchlistError

#: File suffixes read as one query each.
KQL_SUFFIXES = frozenset({".kql", ".csl"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
MARKDOWN_SUFFIXES = frozenset({".md"})

RUNS = "runs"


class CheckInputError(ValueError):
    """A path that holds no query this command can read."""


@dataclass(frozen=True)
class Query:
    path: str
    name: str
    kql: str


@dataclass(frozen=True)
class Verdict:
    path: str
    name: str
    status: str
    #: the construct or message behind a status other than ``runs``
    reason: str = ""
    rows: int | None = None
    seconds: float | None = None

    @property
    def runs(self) -> bool:
        return self.status == RUNS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_FENCE = re.compile(r"```[ \t]*(?:kusto|kql)[^\n]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def read_queries(path: Path) -> list[Query]:
    """The queries in a file, or in every readable file under a folder (sorted)."""
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in KQL_SUFFIXES | YAML_SUFFIXES | MARKDOWN_SUFFIXES
        )
        queries = [q for f in files for q in _read_file(f, path)]
        return queries
    if not path.exists():
        raise CheckInputError(f"{path}: no such file or folder")
    queries = _read_file(path, path.parent)
    if not queries:
        raise CheckInputError(
            f"{path}: no query found (expected a .kql/.csl file, a YAML file with a "
            "'query:' field, or Markdown with a ```kusto block)"
        )
    return queries


def _read_file(file: Path, root: Path) -> list[Query]:
    suffix = file.suffix.lower()
    rel = str(file.relative_to(root)) if file != root else file.name
    text = file.read_text(encoding="utf-8", errors="replace")
    if suffix in KQL_SUFFIXES:
        return [Query(rel, file.stem, text)] if text.strip() else []
    if suffix in YAML_SUFFIXES:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            return [Query(rel, file.stem, "")]  # reported as a parse error of the file
        if not isinstance(doc, dict) or not isinstance(doc.get("query"), str):
            return []
        return [Query(rel, str(doc.get("name") or file.stem), doc["query"])]
    if suffix in MARKDOWN_SUFFIXES:
        blocks = [b for b in _FENCE.findall(text) if b.strip()]
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")
        name = title or file.stem
        if len(blocks) == 1:
            return [Query(rel, name, blocks[0])]
        return [Query(f"{rel}#{i}", f"{name} ({i})", b) for i, b in enumerate(blocks, 1)]
    return []


def check(
    con: duckdb.DuckDBPyConnection,
    queries: Iterable[Query],
    *,
    timeout_s: float = engine.DEFAULT_TIMEOUT_S,
    now: dt.datetime | None = None,
) -> Iterator[Verdict]:
    """A verdict per query, run on a connection ``engine.prepare`` made ready.

    ``now`` is what ``now()``/``ago()`` mean (the clock when None): replaying content
    over a store recorded earlier.
    """
    for query in queries:
        yield check_one(con, query, timeout_s=timeout_s, now=now)


def check_one(
    con: duckdb.DuckDBPyConnection,
    query: Query,
    *,
    timeout_s: float = engine.DEFAULT_TIMEOUT_S,
    now: dt.datetime | None = None,
) -> Verdict:
    if not query.kql.strip():
        return Verdict(query.path, query.name, "parse error", "the file is not valid YAML")
    try:
        result = engine.execute(con, query.kql, timeout_s=timeout_s, now=now)
    except engine.HuntError as exc:
        status, reason = classify(exc)
        if status in ("unknown table", "error"):
            missing = unknown_tables(con, query.kql)
            if missing:
                status, reason = "unknown table", missing[0]
        return Verdict(query.path, query.name, status, reason)
    return Verdict(
        query.path, query.name, RUNS, rows=result.table.num_rows, seconds=round(result.seconds, 3)
    )


_TABLE_MISSING = re.compile(r"Table with name ([^ ]+) does not exist", re.IGNORECASE)
_COLUMN_MISSING = re.compile(
    r'(?:Referenced column "?([^" ]+)"? not found|Column "([^"]+)" referenced that exists in the '
    r"SELECT clause)",
    re.IGNORECASE,
)
_FUNCTION_MISSING = re.compile(
    r"(?:Scalar|Table|Aggregate) Function with name ([^ ]+) does not exist", re.IGNORECASE
)
_CASE = re.compile(r"columns '([^']+)' and '([^']+)' differ only in case")
_SCHEMA_TABLE = re.compile(r"schema error for '([^']+)' \(unknown table")
_OPERATOR = re.compile(r"^([A-Z][A-Za-z]*?)(?:Operator)?(?:Part)?$")


def _operator_name(construct: str) -> str:
    """``MakeSeriesOperator`` -> ``make-series``, as Kusto spells it."""
    construct = construct.split(":", 1)[-1]
    if "ExternalData" in construct:
        return "externaldata (a hunt reads only the store)"
    match = _OPERATOR.match(construct)
    name = match.group(1) if match else construct
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def unknown_tables(con: duckdb.DuckDBPyConnection, kql: str) -> list[str]:
    """Tables the query reads that neither the store nor the query itself defines.

    duckdb-kql names the binding a missing table was found in (a ``let``, a function's
    expansion); this names the table.
    """
    from duckdb_kql import ir
    from duckdb_kql.clusters import effective_clusters
    from duckdb_kql.entity_groups import effective_entity_groups
    from duckdb_kql.errors import KqlError

    from edgewatch.hunt import extensions

    try:
        query = extensions.lower(
            kql, effective_entity_groups(None), None, None, effective_clusters(None)
        )
    except KqlError:
        return []
    bound: set[str] = set()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, ir.Query):
            bound.update(name for name, _ in node.lets)
        if isinstance(node, ir.TableRef) and node.database is None and node.cluster is None:
            refs.append(node.name)
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                walk(getattr(node, name))

    walk(query)
    known = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    known |= {name for (name,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    missing: list[str] = []
    for name in refs:
        if name.startswith(TABLE_PREFIX):
            continue  # a watchlist: its own errors say what is wrong with it
        if name not in bound and name not in known and name not in missing:
            missing.append(name)
    return missing


def classify(exc: engine.HuntError) -> tuple[str, str]:
    """(status, reason) for a query that did not run."""
    cause = exc.__cause__
    message = str(exc)
    if isinstance(cause, WatchlistError):
        if cause.missing:
            return "missing watchlist", cause.alias
        return "error", message.splitlines()[0]
    if isinstance(cause, KqlSyntaxError):
        last = message.splitlines()[-1] if message else "syntax"
        return "parse error", " ".join(last.replace("\\n", " ").split())
    if isinstance(cause, KqlUnsupportedError):
        construct = cause.construct
        hint = cause.hint or ""
        if construct.startswith(("function:", "aggregate:")):
            name = construct.split(":", 1)[1]
            if "no stored function by that name" in hint or "is not a" in hint:
                return "unknown function", name
            if "in its body" in hint or "argument" in hint:
                return "error", f"{name}(): {hint}"
            return "unsupported function", name
        if construct.startswith("invoke:"):
            return "unsupported operator", "invoke"
        if construct.startswith("table:") or ("table" in construct.lower() and "unknown" in hint):
            return "unknown table", construct.split(":", 1)[-1]
        return "unsupported operator", _operator_name(construct)
    if isinstance(cause, KqlSchemaError):
        table = _SCHEMA_TABLE.search(str(cause))
        if table:
            return "unknown table", table.group(1)
        case = _CASE.search(str(cause))
        if case:
            return "case collision", f"{case.group(1)} / {case.group(2)}"
    if "time limit" in message:
        return "timeout", message
    table = _TABLE_MISSING.search(message)
    if table:
        return "unknown table", table.group(1).strip('"').removeprefix("temp.")
    column = _COLUMN_MISSING.search(message)
    if column:
        return "unknown column", column.group(1) or column.group(2)
    function = _FUNCTION_MISSING.search(message)
    if function:
        return "unsupported function", function.group(1)
    return "error", message.splitlines()[0] if message else type(cause).__name__


@dataclass(frozen=True)
class Summary:
    total: int
    runs: int
    #: (status, reason) -> how many queries it stops, most first
    blockers: list[tuple[str, str, int]]

    @property
    def share(self) -> float:
        return self.runs / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "runs": self.runs,
            "share": round(self.share, 4),
            "blockers": [{"status": s, "reason": r, "queries": n} for s, r, n in self.blockers],
        }


def summarize(verdicts: Iterable[Verdict]) -> Summary:
    verdicts = list(verdicts)
    counts = Counter((v.status, v.reason) for v in verdicts if not v.runs)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Summary(
        len(verdicts),
        sum(v.runs for v in verdicts),
        [(status, reason, n) for (status, reason), n in ranked],
    )
