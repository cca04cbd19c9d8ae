"""How an event becomes its aggregation key: generated readers over the key fields.

A key is a tuple of field values. Plain scalar fields are read with one C-level
``attrgetter``; lists (DNS ``addresses``) become tuples so they can be hashed; and a few
*virtual* fields derive what IG reports on whichever side the gadget puts it:

* ``service_port`` (tcp): the port of the service end — ``dst_port`` of a ``connect``,
  ``src_port`` (the listening port) of an ``accept``, and for a ``close`` the lower of the
  two (a client's ephemeral port is above the service's). Keying on both raw ports would
  make every connection its own key, since one of them is ephemeral.
* ``service_port`` (dns): the server's port — ``src_port`` of a response, ``dst_port``
  of a query.

The generated source is built from field names checked against the event type, never
from input data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from edgewatch.events.registry import BY_FAMILY

#: Virtual fields as expressions over real ones (``{name}`` reads field ``name``).
VIRTUAL: dict[str, dict[str, str]] = {
    "tcp": {
        "service_port": (
            "({dst_port} if {type} == 'connect' else {src_port} if {type} == 'accept' "
            "else min({src_port}, {dst_port}))"
        ),
    },
    "dns": {"service_port": "({src_port} if {qr} == 'R' else {dst_port})"},
}
#: The real fields each virtual field reads.
VIRTUAL_INPUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "tcp": {"service_port": ("type", "src_port", "dst_port")},
    "dns": {"service_port": ("qr", "src_port", "dst_port")},
}


def virtual_fields(family: str) -> frozenset[str]:
    return frozenset(VIRTUAL.get(family, {}))


def real_fields(family: str, fields: Sequence[str]) -> set[str]:
    """The event fields a key over ``fields`` reads (virtual fields by their inputs)."""
    out: set[str] = set()
    inputs = VIRTUAL_INPUTS.get(family, {})
    for f in fields:
        out.update(inputs.get(f, (f,)))
    return out


def _field_types(family: str) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(BY_FAMILY[family].event)}


def _is_list(typ: Any) -> bool:
    return getattr(typ, "__origin__", None) is list


def key_reader(event_type: type[Any], fields: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """``event -> tuple`` of the key fields, as fast as the fields allow.

    ``event_type`` is an event class or a decoded view class; a view's columns are read
    through their attribute paths in the decoded struct (``ew_paths``), skipping the
    property layer, as the filter does.
    """
    family: str = event_type.gadget_family
    types = _field_types(family)
    virtual = VIRTUAL.get(family, {})
    unknown = [f for f in fields if f not in types and f not in virtual]
    if unknown:
        raise ValueError(f"{family}: unknown key field(s) {', '.join(unknown)}")
    paths: dict[str, str] = getattr(event_type, "ew_paths", {})
    plain = all(f in types and not _is_list(types[f]) for f in fields)
    if plain and len(fields) > 1:
        return attrgetter(*(paths.get(f, f) for f in fields))
    refs = {f: "e." + paths.get(f, f) for f in types}
    parts = []
    for f in fields:
        if f in virtual:
            parts.append(virtual[f].format(**refs))
        elif _is_list(types[f]):
            parts.append(f"tuple({refs[f]})")
        else:
            parts.append(refs[f])
    source = "def key(e):\n    return (" + ", ".join(parts) + ",)\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<edgewatch aggregate key {family}>", "exec"), namespace)
    fn: Callable[[Any], tuple[Any, ...]] = namespace["key"]
    return fn


def value_reader(event_type: type[Any], field: str) -> Callable[[Any], Any]:
    """``event -> value`` of one distinct-value field, hashable (lists become tuples)."""
    family: str = event_type.gadget_family
    types = _field_types(family)
    if field not in types:
        raise ValueError(f"{family}: unknown field {field!r}")
    get = attrgetter(getattr(event_type, "ew_paths", {}).get(field, field))
    if _is_list(types[field]):
        return lambda e: tuple(get(e))
    return get
