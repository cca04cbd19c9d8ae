"""Hunting results as a terminal table, a JSON array of objects, or CSV."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any, TextIO

import msgspec
from rich.console import Console
from rich.table import Table

from edgewatch.hunt.engine import HuntResult

FORMATS = ("table", "json", "csv")


def rows(result: HuntResult) -> Iterator[dict[str, Any]]:
    """Rows as plain values; ``dynamic`` columns parsed back into lists/objects."""
    decode = msgspec.json.decode
    json_cols = result.json_columns
    for row in result.table.to_pylist():
        for name in json_cols:
            value = row.get(name)
            if isinstance(value, str):
                with contextlib.suppress(msgspec.DecodeError):
                    row[name] = decode(value)
        yield row


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _kusto_time(value)
    if isinstance(value, (list, dict)):
        return msgspec.json.encode(value).decode()
    return str(value)


def _kusto_time(value: dt.datetime) -> str:
    """Kusto's datetime text: UTC, seven fractional digits, ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _encode_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _kusto_time(value)
    if isinstance(value, dt.timedelta):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def write_json(result: HuntResult, out: TextIO) -> None:
    encoder = msgspec.json.Encoder(enc_hook=_encode_default)
    out.write("[")
    for i, row in enumerate(rows(result)):
        out.write(",\n" if i else "\n")
        # msgspec writes datetimes itself (no "Z" on naive ones): Kusto's text instead
        for key, value in row.items():
            if isinstance(value, dt.datetime):
                row[key] = _kusto_time(value)
        out.write(encoder.encode(row).decode())
    out.write("\n]\n" if result.table.num_rows else "]\n")


def write_csv(result: HuntResult, out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(result.table.column_names)
    for row in rows(result):
        writer.writerow([_text(v) for v in row.values()])


def print_table(
    result: HuntResult,
    console: Console,
    limit: int = 200,
    columns: list[str] | None = None,
    title: str | None = None,
) -> None:
    """A terminal table; ``columns`` picks some (the demo shows a few of a wide result)."""
    names = [c for c in (columns or result.table.column_names) if c in result.table.column_names]
    table = Table(show_lines=False, header_style="bold", title=title, title_justify="left")
    for name in names:
        table.add_column(name, overflow="fold", min_width=min(len(name), 24))
    shown = 0
    for row in rows(result):
        if shown == limit:
            break
        table.add_row(*(_text(row[n]) for n in names))
        shown += 1
    console.print(table)
    more = (
        f" (first {limit} shown; use --format json or csv for all)"
        if shown < result.table.num_rows
        else ""
    )
    console.print(f"[dim]{result.table.num_rows:,} rows in {result.seconds:.3f}s{more}[/dim]")


def render(result: HuntResult, fmt: str) -> str:
    buf = io.StringIO()
    if fmt == "json":
        write_json(result, buf)
    elif fmt == "csv":
        write_csv(result, buf)
    else:
        raise ValueError(fmt)
    return buf.getvalue()
