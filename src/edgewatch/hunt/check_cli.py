"""The ``hunt --check`` report: a table for people, JSON for pipelines.

Kept apart from ``cli_store.py`` so the command module only parses options.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.hunt.check import CheckInputError, Summary, Verdict, check, read_queries, summarize

if TYPE_CHECKING:
    from edgewatch.hunt.watchlists import WatchlistSettings

#: exit status when the report was made (whatever share runs)
OK = 0
#: nothing to check, or no store to check it on
BAD_INPUT = 2


def run_check(
    path: Path,
    db: Path,
    fmt: str,
    since: dt.timedelta | None,
    timeout_s: float,
    watchlists: WatchlistSettings | None = None,
) -> int:
    """Check every query under ``path`` against the store at ``db``; print the report.

    ``watchlists``: where ``_GetWatchlist`` reads (None: such queries are reported as
    ``missing watchlist``).
    """
    from edgewatch.hunt import engine
    from edgewatch.store.database import StoreError, open_store

    try:
        queries = read_queries(path)
    except CheckInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    if not queries:
        print(f"error: {path}: no .kql, .csl, .yaml or .md query found", file=sys.stderr)
        return BAD_INPUT
    try:
        con = open_store(db, read_only=True)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        engine.prepare(con, since=since, watchlists=watchlists)
        verdicts = list(check(con, queries, timeout_s=timeout_s))
    finally:
        con.close()
    summary = summarize(verdicts)
    if fmt == "json":
        sys.stdout.write(render_json(verdicts, summary) + "\n")
    elif fmt == "csv":
        sys.stdout.write(render_csv(verdicts))
    else:
        sys.stdout.write(render_table(verdicts, summary))
    return OK


def render_json(verdicts: list[Verdict], summary: Summary) -> str:
    return json.dumps(
        {"summary": summary.to_json(), "queries": [v.to_json() for v in verdicts]}, indent=2
    )


def render_csv(verdicts: list[Verdict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["path", "name", "status", "rows", "reason"])
    for v in verdicts:
        writer.writerow([v.path, v.name, v.status, "" if v.rows is None else v.rows, v.reason])
    return out.getvalue()


def render_table(verdicts: list[Verdict], summary: Summary) -> str:
    status_w = max([len("STATUS"), *(len(v.status) for v in verdicts)])
    rows_w = max([len("ROWS"), *(len(str(v.rows)) for v in verdicts if v.rows is not None)])
    path_w = min(max([len("QUERY"), *(len(v.path) for v in verdicts)]), 80)
    lines = [f"{'STATUS':<{status_w}}  {'ROWS':>{rows_w}}  {'QUERY':<{path_w}}  WHY NOT"]
    for v in verdicts:
        rows = "" if v.rows is None else str(v.rows)
        lines.append(f"{v.status:<{status_w}}  {rows:>{rows_w}}  {v.path:<{path_w}}  {v.reason}")
    lines.append("")
    lines.append(
        f"{summary.runs} of {summary.total} queries run on this store ({summary.share:.0%})"
    )
    if summary.blockers:
        lines.append("What stops the others, most queries first:")
        for status, reason, n in summary.blockers:
            lines.append(f"  {n:>3}  {status}: {reason}")
    return "\n".join(lines) + "\n"
