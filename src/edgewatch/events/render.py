"""Normalized events back into IG's JSON shapes.

The same column paths that drive decoding drive rendering, so the two cannot drift:
``decode(render(event)) == event`` is a tested property. Uses: the simulator writes
every format IG has printed, and the store shows ``LogMessage`` in IG's current shape
whatever shape the event arrived in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

from edgewatch.events.base import Event, GadgetSpec, Layout
from edgewatch.events.convert import format_timestamp
from edgewatch.events.registry import BY_FAMILY

_encoder = msgspec.json.Encoder(order="sorted")


@lru_cache(maxsize=64)
def _columns(spec: GadgetSpec, layout: Layout) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for name, path in spec.column_paths().items():
        dotted = path.path(layout)
        if dotted is not None:
            out.append((name, tuple(dotted.split("."))))
    return tuple(out)


def _set(obj: dict[str, Any], parts: tuple[str, ...] | list[str], value: Any) -> None:
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def to_ig(event: Event, layout: Layout = Layout.CURRENT) -> dict[str, Any]:
    """The IG JSON object (as a dict) that this event would have been printed as."""
    spec = BY_FAMILY[event.gadget_family]
    obj: dict[str, Any] = {}
    for name, parts in _columns(spec, layout):
        value = getattr(event, name)
        if isinstance(value, list):
            value = list(value)
        _set(obj, parts, value)
    if layout is Layout.CURRENT and spec.process_block == "proc":
        # IG always prints the whole block, even when the socket enricher found nobody.
        obj.setdefault("proc", {}).setdefault("parent", {})
    if spec.render_extra is not None:
        for dotted, value in spec.render_extra(event, layout).items():
            _set(obj, dotted.split("."), value)
    obj["timestamp"] = format_timestamp(event.time_ns)
    return obj


def to_ig_json(event: Event, layout: Layout = Layout.CURRENT) -> bytes:
    """One IG JSON line (without newline), keys sorted as IG sorts them."""
    return _encoder.encode(to_ig(event, layout))
