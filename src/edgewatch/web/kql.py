"""The KQL endpoint's work: run a query the way ``edgewatch hunt`` does, as JSON.

Same engine, same guards (one read-only SELECT, locked-down connection, time and
memory limits; inside the agent, the shared store's checks instead of the lock and the
memory limit). Errors keep the engine's message and add the KQL position it names
as numbers, so the page can put the cursor on it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from edgewatch.hunt import catalog, engine, output
from edgewatch.web.models import HuntQueryInfo, KqlResult
from edgewatch.web.readonly import ReadOnlyError

_POSITION = re.compile(r"line (\d+), column (\d+)")


def bundled() -> list[HuntQueryInfo]:
    return [
        HuntQueryInfo(
            name=q.name,
            title=q.title,
            finds=q.finds,
            mitre=[str(t) for t in q.mitre],
            gadgets=list(q.gadgets),
            text=q.text,
        )
        for q in catalog.bundled()
    ]


def position(message: str) -> tuple[int | None, int | None]:
    """The 1-based (line, column) an engine error message points at, if any."""
    match = _POSITION.search(message)
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2))


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return output._kusto_time(value)
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, int) and abs(value) > 2**53:
        return str(value)  # beyond what a browser's number keeps exactly
    return value


def run(
    con: Any,
    kql: str,
    timeout_s: float,
    max_rows: int,
    check: Callable[[str], None] | None = None,
) -> KqlResult:
    """Run on a prepared hunting connection; raises ``engine.HuntError``.

    ``check`` sees the SQL translation before it runs and refuses it with
    ``readonly.ReadOnlyError`` (the dashboard inside the agent: see ``readonly.py``).
    """
    translated = engine.translate_for(con, kql)
    if check is not None:
        try:
            check(translated.sql)
        except ReadOnlyError as exc:
            raise engine.HuntError(f"this query cannot run here: {exc}") from None
    result = engine.run_translated(con, translated, timeout_s=timeout_s)
    table = result.table
    shown = table.slice(0, max_rows)
    rows = [
        [_json_value(row[name]) for name in table.column_names]
        for row in output.rows(engine.HuntResult(shown, result.json_columns, result.seconds))
    ]
    types = [
        "dynamic" if name in result.json_columns else str(field.type)
        for name, field in zip(table.column_names, table.schema, strict=True)
    ]
    return KqlResult(
        columns=list(table.column_names),
        types=types,
        rows=rows,
        row_count=table.num_rows,
        truncated=table.num_rows > max_rows,
        seconds=round(result.seconds, 4),
    )
