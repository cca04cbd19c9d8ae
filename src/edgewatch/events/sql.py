"""SQL twins of the renderer's derived values, for the store's ``ContainerLogV2`` view.

The store keeps typed columns, not IG's JSON; the view rebuilds ``LogMessage`` in SQL.
Keys IG prints that edgewatch derives (``proto_raw``, ``type_raw``, formatted durations)
need the same derivation in SQL. Each gadget module states its own next to its Python
``render_extra``; a test renders every gadget both ways and compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


def col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal for a str/int/bool, or a JSON constant for anything else."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return literal(msgspec.json.encode(value).decode()) + "::JSON"


def lookup(column: str, mapping: Mapping[Any, Any], default: Any) -> str:
    """``mapping.get(column, default)`` as a CASE expression."""
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in mapping.items())
    return f"CASE {col(column)} {whens} ELSE {literal(default)} END"


def duration(column: str) -> str:
    """IG's ``formatDuration`` (see ``convert.format_duration``) over a column of ns."""
    c = col(column)
    sec = f"(({c} % 60000000000) // 1000000000)"
    frac = f"({c} % 1000000000)"
    sec_text = (
        f"CAST({sec} AS VARCHAR) || CASE WHEN {frac} = 0 THEN '' "
        f"ELSE '.' || rtrim(lpad(CAST({frac} AS VARCHAR), 9, '0'), '0') END"
    )
    return (
        f"CASE WHEN {c} < 1000 THEN CAST(greatest({c}, 0) AS VARCHAR) || 'ns' "
        f"WHEN {c} < 1000000 THEN printf('%.2fµs', {c} / 1000) "
        f"WHEN {c} < 1000000000 THEN printf('%.2fms', {c} / 1000000) "
        f"WHEN {c} >= 3600000000000 THEN CAST({c} // 3600000000000 AS VARCHAR) || 'h' || "
        f"CAST(({c} % 3600000000000) // 60000000000 AS VARCHAR) || 'm' || {sec_text} || 's' "
        f"WHEN {c} >= 60000000000 THEN CAST({c} // 60000000000 AS VARCHAR) || 'm' || "
        f"{sec_text} || 's' "
        f"ELSE {sec_text} || 's' END"
    )


def timestamp(column: str) -> str:
    """IG's ``timestamp`` text (RFC 3339, nine fractional digits, ``Z``) from epoch ns.

    ``try``: DuckDB reserves the largest 64-bit value for infinity; one such row must not
    fail every query that reads LogMessage.
    """
    return f"try(strftime(make_timestamp_ns({col(column)}), '%Y-%m-%dT%H:%M:%S.%nZ'))"
