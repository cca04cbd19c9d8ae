"""The robust decoder: parsed JSON dict -> event, tolerating any value of any type.

It is the authority behind the fast typed path. Lines land here when the fast path
refuses them — an odd layout, a value of an unexpected type, a key IG renamed — and
still become events wherever the meaning is clear. It is slower (a dict per line), so
the fast path handles everything IG normally prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import msgspec

from edgewatch.events.base import Event, GadgetSpec, Layout
from edgewatch.events.convert import parse_timestamp

_MISSING = object()


def _lookup(obj: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return _MISSING
        cur = cur.get(part, _MISSING)
        if cur is _MISSING:
            return _MISSING
    return cur


def coerce_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0) if text.lower().startswith(("0x", "0o", "0b")) else int(text)
        except ValueError:
            return 0
    return 0


def coerce_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return False


def coerce_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [coerce_str(v) for v in value]
    return []


def _coercer(column_type: Any) -> Callable[[Any], Any]:
    origin = getattr(column_type, "__origin__", None)
    if origin is list or column_type is list:
        return coerce_list
    return {int: coerce_int, str: coerce_str, bool: coerce_bool}[column_type]


@lru_cache(maxsize=64)
def _recipe(
    spec: GadgetSpec, layout: Layout
) -> tuple[tuple[str, str | None, Callable[[Any], Any], Callable[[Any], Any] | None], ...]:
    paths = spec.column_paths()
    out = []
    for f in msgspec.structs.fields(spec.event):
        p = paths.get(f.name)
        dotted = p.path(layout) if p is not None else None
        conv = p.converter(layout) if p is not None else None
        out.append((f.name, dotted, _coercer(f.type), conv))
    return tuple(out)


def event_from_dict(spec: GadgetSpec, layout: Layout, obj: Mapping[str, Any]) -> Event:
    """Build ``spec``'s event from a parsed IG object, coercing every value."""
    values: dict[str, Any] = {}
    for name, dotted, coerce, conv in _recipe(spec, layout):
        if dotted is None:
            continue
        raw = _lookup(obj, dotted)
        if raw is _MISSING or raw is None:
            continue
        values[name] = coerce(conv(raw) if conv is not None else raw)
    event = spec.event(**values)
    if not event.time_ns:
        event.time_ns = parse_timestamp(obj.get("timestamp"))
    if spec.finish is not None:
        spec.finish(event)
    return event
