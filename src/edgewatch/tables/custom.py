"""The custom-table layout: one ``*_CL`` table per kind of activity, typed columns.

Columns come from the event structs, so a new gadget needs nothing here beyond, maybe, a
table name (an unlisted family gets ``EdgeWatch<Family>_CL``). Field ``src_addr``
becomes column ``SrcAddr``; the container envelope follows the names Sentinel users know
from ``ContainerLogV2`` (``Computer``, ``PodName``, ``ContainerName``…). Every record also
carries ``TimeGenerated`` (the event's own time), ``Gadget`` (IG's name for the gadget),
the ASIM aggregation trio ``EventCount``/``EventStartTime``/``EventEndTime`` (1 and the
event time unless an aggregating stage says otherwise) and ``EventId``
(:func:`edgewatch.tables.schema.event_id`).

Gadgets that describe the same activity share a table (``tcp`` and ``bind`` are both
network activity); the table and its DCR stream carry the union of their columns and
each record only the columns of its own gadget, which the DCR stores as empty in the
others. Sharing keeps the DCR under its limit of ten streams with every gadget enabled.

Conversion is generated code, compiled once per event type: per event it copies a
prepared dict that already holds the container's columns (built once per container and
batch), stores the event's own values and hashes them for the id. Copying a prepared
dict is more than twice as fast as building a dict of forty-odd keys from scratch.

The delivery path never needs the dicts: it wants each record's JSON, once, to keep in
the disk buffer and later join into request bodies. ``encoded`` therefore has a second
generated function per event type that fills a msgspec ``Struct`` whose fields are the
columns (the container's values come as a prepared tuple) and encodes the whole batch in
one C call. Same keys, same order, same values as ``records`` (a test holds them to
that); cheaper than building the dicts and encoding them, and it leaves the delivery
thread nothing to decode or re-encode.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Any

import msgspec

from edgewatch.events.base import Event
from edgewatch.events.registry import BY_FAMILY, GADGETS, UnknownGadgetError, lookup
from edgewatch.tables.schema import (
    AGGREGATE_FIELDS,
    CONTEXT_FIELDS,
    CONTEXT_KEY_FIELDS,
    INT64_MAX,
    UINT64_WRAP,
    WRAP_UINT64,
    Column,
    ColumnType,
    StreamSpec,
    check_column_name,
    check_table_names,
    column_type,
    format_ns,
    format_ns_or_none,
    group_by_type,
    id_fields,
    id_seed,
    merge_columns,
    pascal_case,
    second_prefix,
)

#: Default table per gadget family. ``open`` is file activity (EdgeWatchFile_CL) so a
#: future file gadget (fsnotify, …) joins it; ``oomkill``, ``signal`` and
#: ``capabilities`` describe what processes do, as ``exec`` does.
DEFAULT_TABLES: Mapping[str, str] = {
    "tcp": "EdgeWatchNetwork_CL",
    "bind": "EdgeWatchNetwork_CL",
    "dns": "EdgeWatchDns_CL",
    "sni": "EdgeWatchTls_CL",
    "exec": "EdgeWatchProcess_CL",
    "signal": "EdgeWatchProcess_CL",
    "capabilities": "EdgeWatchProcess_CL",
    "oomkill": "EdgeWatchProcess_CL",
    "seccomp": "EdgeWatchSeccomp_CL",
    "open": "EdgeWatchFile_CL",
}

#: Envelope fields named as Sentinel's container tables name them, not as IG does.
COLUMN_NAMES: Mapping[str, str] = {
    "node": "Computer",
    "pod": "PodName",
    "container": "ContainerName",
    "runtime_container": "RuntimeContainerName",
    "image": "ContainerImage",
    "image_digest": "ContainerImageDigest",
    "runtime": "ContainerRuntime",
}

#: Integer fields that hold an epoch time in nanoseconds and are worth a datetime column.
#: Only context fields: they are formatted once per container, not per event.
DATETIME_FIELDS: frozenset[str] = frozenset({"container_started_at"})

#: Columns every record has besides its event's fields.
STANDARD_COLUMNS: tuple[Column, ...] = (
    ("TimeGenerated", "datetime"),
    ("Gadget", "string"),
    ("EventCount", "int"),
    ("EventStartTime", "datetime"),
    ("EventEndTime", "datetime"),
    ("EventId", "string"),
)
_STANDARD_NAMES = frozenset(n.lower() for n, _ in STANDARD_COLUMNS)

Converter = Callable[[list[Event]], list[dict[str, Any]]]
Encoder = Callable[[list[Event]], list[bytes]]


def default_table(family: str) -> str:
    return DEFAULT_TABLES.get(family) or f"EdgeWatch{pascal_case(family)}_CL"


def gadget_name(family: str) -> str:
    """IG's name for a family (``trace_tcp``), or the family itself if IG has none."""
    spec = lookup(family)
    return spec.gadget if spec is not None else family


def column_name(family: str, field: str) -> str:
    """The column of an event field; a name Log Analytics reserves gets the family in front."""
    name = COLUMN_NAMES.get(field) or pascal_case(field)
    try:
        check_column_name(name)
    except ValueError:
        name = pascal_case(family) + name
    if name.lower() in _STANDARD_NAMES:
        name = pascal_case(family) + name
    check_column_name(name)
    return name


@dataclass(frozen=True)
class RecordShape:
    """How one event type becomes records: its columns and its compiled converter."""

    event_type: type[Event]
    family: str
    gadget: str
    columns: tuple[Column, ...]
    convert: Converter
    source: str
    #: the records' JSON, one bytes per event (see ``encoded``)
    encode: Encoder
    encode_source: str


@cache
def record_shape(event_type: type[Event]) -> RecordShape:
    """Compile (once per event type) the converter from events to custom-table records."""
    family = event_type.gadget_family
    if not family:
        raise UnknownGadgetError(f"{event_type.__name__} has no gadget family")
    gadget = gadget_name(family)
    fields = msgspec.structs.fields(event_type)
    names = [f.name for f in fields]
    for n in names:
        if not n.isidentifier() or keyword.iskeyword(n):
            raise ValueError(f"{event_type.__name__}.{n} is not a plain identifier")
    missing = [c for c in CONTEXT_FIELDS if c not in names]
    if missing:
        raise TypeError(f"{event_type.__name__} lacks the envelope fields {missing}")
    if not DATETIME_FIELDS.issubset(CONTEXT_FIELDS):
        raise TypeError("datetime fields are formatted per container: they must be context")

    # One column per field, in declaration order; the time and aggregation fields feed
    # the standard columns instead.
    field_columns: list[tuple[str, str, ColumnType]] = []
    for f in fields:
        if f.name == "time_ns" or f.name in AGGREGATE_FIELDS:
            continue
        typ = "datetime" if f.name in DATETIME_FIELDS else column_type(f.type)
        field_columns.append((f.name, column_name(family, f.name), typ))
    columns: tuple[Column, ...] = (
        STANDARD_COLUMNS[0],
        *((col, typ) for _, col, typ in field_columns),
        *STANDARD_COLUMNS[1:],
    )
    seen = [c for c, _ in columns]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{event_type.__name__} maps two fields to one column: {seen}")

    template_keys = [c for c, _ in columns]
    context_columns = [
        (field, col, typ) for field, col, typ in field_columns if field in CONTEXT_FIELDS
    ]

    def template(event: Event) -> dict[str, Any]:
        """The record with this event's container columns filled in, the rest empty."""
        base = dict.fromkeys(template_keys)
        for field, col, typ in context_columns:
            value = getattr(event, field)
            base[col] = format_ns_or_none(value) if typ == "datetime" else value
        base["Gadget"] = gadget
        base["EventCount"] = 1
        return base

    source = _converter_source(event_type, gadget, field_columns)

    def seed(event: Event) -> Any:
        return id_seed(gadget, event.node, event.container_id)

    namespace: dict[str, Any] = {
        "_context_key": attrgetter(*CONTEXT_KEY_FIELDS),
        "_template": template,
        "_seed": seed,
        "_second_prefix": second_prefix,
        "_format_ns": format_ns,
        "_encode": msgspec.json.Encoder().encode,
        "_INT64_MAX": INT64_MAX,
        "_UINT64_WRAP": UINT64_WRAP,
    }
    exec(compile(source, f"<edgewatch.tables.custom {event_type.__name__}>", "exec"), namespace)

    # The encoding path: one Struct field per column, in column order, so msgspec writes
    # the same object the dict would encode to.
    # gc=False: records hold only scalars, strings and lists of them, never cycles, and
    # untracked objects keep the cyclic collector from running over every batch.
    record_type = msgspec.defstruct(
        f"{event_type.__name__}Record", [(c, Any) for c, _ in columns], module=__name__, gc=False
    )

    def context_values(event: Event) -> tuple[Any, ...]:
        base = template(event)
        return tuple(base[col] for _, col, _ in context_columns)

    encode_source, getters = _encoder_source(event_type, field_columns)
    enc_namespace: dict[str, Any] = {
        **namespace,
        **getters,
        "_Record": record_type,
        "_context_values": context_values,
        "_encode_lines": msgspec.json.Encoder().encode_lines,
        "_GADGET": gadget,
    }
    exec(
        compile(encode_source, f"<edgewatch.tables.custom {event_type.__name__} encode>", "exec"),
        enc_namespace,
    )
    return RecordShape(
        event_type,
        family,
        gadget,
        columns,
        namespace["convert"],
        source,
        enc_namespace["encode"],
        encode_source,
    )


#: Per event: the record's time columns from ``time_ns``. The "YYYY-MM-DDTHH:MM:SS."
#: prefix is formatted once per second of events; within the second only the 100 ns
#: ticks are, on a small int (epoch nanoseconds are big ints, slow to divide), as
#: ``str(ticks + 10**7)[1:]``: the same seven zero-padded digits as ``:07d``, cheaper.
#: The start of both generated loops: per-container values made once, the second's
#: text prefix kept between events (see TIME_LINES).
_LOOP_HEAD = (
    "    out = []",
    "    append = out.append",
    "    templates = {}",
    "    known = templates.get",
    "    second_start = -2000000000",
    "    prefix = ''",
    "    for e in events:",
    "        key = _context_key(e)",
    "        known_container = known(key)",
    "        if known_container is None:",
)

TIME_LINES = (
    "        ns = e.time_ns",
    "        off = ns - second_start",
    "        if off < 0 or off >= 1000000000:",
    "            second = ns // 1000000000",
    "            second_start = second * 1000000000",
    "            off = ns - second_start",
    "            prefix = _second_prefix(second)",
    "        t = prefix + str(off // 100 + 10000000)[1:] + 'Z'",
)


def _converter_source(
    event_type: type[Event],
    gadget: str,
    field_columns: Sequence[tuple[str, str, ColumnType]],
) -> str:
    """Python source of the converter for one event type (identifiers checked by the caller)."""
    column_of = {field: col for field, col, _ in field_columns}
    fields = set(event_type.__struct_fields__)
    lines = [
        "def convert(events):",
        *_LOOP_HEAD,
        "            known_container = templates[key] = (_template(e), _seed(e))",
        "        base, seed = known_container",
        "        r = base.copy()",
        *TIME_LINES,
        "        r['TimeGenerated'] = t",
    ]
    if "event_count" in fields:
        lines.append("        r['EventCount'] = e.event_count")
    for field, col in (("event_start_ns", "EventStartTime"), ("event_end_ns", "EventEndTime")):
        if field in fields:
            lines.append(f"        r[{col!r}] = _format_ns(e.{field}) if e.{field} > 0 else t")
        else:
            lines.append(f"        r[{col!r}] = t")
    ids = id_fields(event_type)
    local: dict[str, str] = {}
    for field in event_type.__struct_fields__:
        if field == "time_ns" or field in CONTEXT_FIELDS:
            continue
        if field not in column_of and field not in ids:
            continue
        var = local[field] = f"v{len(local)}"
        lines.append(f"        {var} = e.{field}")
        col = column_of.get(field)
        if col is None:
            continue
        if field in WRAP_UINT64:
            lines.append(
                f"        r[{col!r}] = {var} if {var} <= _INT64_MAX else {var} - _UINT64_WRAP"
            )
        else:
            lines.append(f"        r[{col!r}] = {var}")
    lines += [
        "        h = seed.copy()",
        f"        h.update(_encode((ns, ({', '.join(local[f] for f in ids)},))))",
        "        r['EventId'] = h.hexdigest()",
        "        append(r)",
        "    return out",
    ]
    return "\n".join(lines) + "\n"


def _encoder_source(
    event_type: type[Event],
    field_columns: Sequence[tuple[str, str, ColumnType]],
) -> tuple[str, dict[str, Any]]:
    """Python source of the encoder for one event type, and the names it needs.

    The converter's values, passed positionally to the record Struct (whose fields are
    the columns in order); runs of plain fields are read with one ``attrgetter`` call
    each, in C, instead of one attribute load per field.
    """
    fields = set(event_type.__struct_fields__)
    ids = id_fields(event_type)
    names: dict[str, Any] = {"_ids": _getter(ids)}
    args = ["t"]
    run: list[str] = []

    def end_run() -> None:
        if run:
            name = f"_run{len(names)}"
            names[name] = _getter(run)
            args.append(f"*{name}(e)")
            run.clear()

    # the container's values come as one tuple, in field order: unpacked in one go when
    # the fields are declared together (they are in every event type), else one by one
    together = _context_contiguous(field_columns)
    context_at = 0
    for field, _, _ in field_columns:
        if field in CONTEXT_FIELDS:
            end_run()
            if not together:
                args.append(f"context[{context_at}]")
            elif not context_at:
                args.append("*context")
            context_at += 1
            continue
        if field in WRAP_UINT64:
            end_run()
            args.append(f"_wrap(e.{field})")
            names["_wrap"] = _wrap_uint64
            continue
        run.append(field)
    end_run()
    args += ["_GADGET", "e.event_count" if "event_count" in fields else "1"]
    for field in ("event_start_ns", "event_end_ns"):
        args.append(f"(_format_ns(e.{field}) if e.{field} > 0 else t)" if field in fields else "t")
    args.append("h.hexdigest()")
    lines = [
        "def encode(events):",
        *_LOOP_HEAD,
        "            known_container = templates[key] = (_context_values(e), _seed(e))",
        "        context, seed = known_container",
        *TIME_LINES,
        "        h = seed.copy()",
        "        h.update(_encode((ns, _ids(e))))",
        f"        append(_Record({', '.join(args)}))",
        "    if not out:",
        "        return []",
        "    lines = _encode_lines(out).split(b'\\n')",
        "    lines.pop()",
        "    return lines",
    ]
    return "\n".join(lines) + "\n", names


def _getter(fields: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """``attrgetter`` that returns a tuple even for one field."""
    if len(fields) == 1:
        one = attrgetter(fields[0])
        return lambda e: (one(e),)
    return attrgetter(*fields)


def _wrap_uint64(value: int) -> int:
    return value if value <= INT64_MAX else value - UINT64_WRAP


def _context_contiguous(field_columns: Sequence[tuple[str, str, ColumnType]]) -> bool:
    """Whether the container's columns form one run (the encoder passes them as one)."""
    flags = [f in CONTEXT_FIELDS for f, _, _ in field_columns]
    first = flags.index(True) if True in flags else 0
    return all(flags[first : first + sum(flags)])


def routed_families(families: Iterable[str] | None) -> tuple[str, ...]:
    """The families a layout routes: all gadgets by default; an unknown one is an error."""
    routed = tuple(families) if families is not None else tuple(g.family for g in GADGETS)
    unknown = [f for f in routed if f not in BY_FAMILY]
    if unknown:
        raise UnknownGadgetError(f"unknown gadget families: {', '.join(unknown)}")
    return routed


class CustomLayout:
    """Custom ``*_CL`` tables, one per kind of activity (see the module docstring).

    ``table_names`` overrides the table of single families; ``families`` limits what the
    layout routes (the tables' schemas are the union over those families only), which is
    how the ASIM layout reuses it for the gadgets ASIM has no schema for.
    """

    name = "custom"

    def __init__(
        self,
        table_names: Mapping[str, str] | None = None,
        families: Iterable[str] | None = None,
    ) -> None:
        routed = routed_families(families)
        overrides = dict(table_names or {})
        check_table_names(overrides)
        self._families = routed
        self._tables = {f: overrides.get(f) or default_table(f) for f in routed}
        # Fail now, not at the first event, when two gadgets sharing a table disagree on
        # a column's type.
        self._streams = self._build_streams(routed)

    # -- routing ------------------------------------------------------------------------

    def families(self) -> tuple[str, ...]:
        return self._families

    def table_for(self, family: str) -> str:
        table = self._tables.get(family)
        if table is None:
            raise UnknownGadgetError(f"gadget family {family!r} is not routed by this layout")
        return table

    def stream_for(self, family: str) -> str:
        return f"Custom-{self.table_for(family)}"

    def output_stream_for(self, family: str) -> str:
        return f"Custom-{self.table_for(family)}"

    def columns(self, family: str) -> list[Column]:
        self.table_for(family)
        return list(record_shape(BY_FAMILY[family].event).columns)

    def streams(self, families: Sequence[str] | None = None) -> list[StreamSpec]:
        if families is None:
            return list(self._streams.values())
        wanted = {self.stream_for(f) for f in families}
        return [s for s in self._streams.values() if s.name in wanted]

    def _build_streams(self, families: Sequence[str]) -> dict[str, StreamSpec]:
        by_table: dict[str, list[str]] = {}
        for family in families:
            by_table.setdefault(self._tables[family], []).append(family)
        streams: dict[str, StreamSpec] = {}
        for table, members in by_table.items():
            columns = merge_columns([self.columns(f) for f in members])
            name = f"Custom-{table}"
            streams[name] = StreamSpec(
                name=name,
                table=table,
                output_stream=name,
                columns=tuple(columns),
                families=tuple(members),
                custom_table=True,
            )
        return streams

    # -- conversion ---------------------------------------------------------------------

    def records(self, events: list[Event]) -> dict[str, list[dict[str, Any]]]:
        return self._per_stream(events, attrgetter("convert"))

    def encoded(self, events: list[Event]) -> dict[str, list[bytes]]:
        """As ``records``, each record already encoded as compact JSON."""
        return self._per_stream(events, attrgetter("encode"))

    def _per_stream(
        self, events: list[Event], how: Callable[[RecordShape], Callable[[list[Event]], list[Any]]]
    ) -> dict[str, list[Any]]:
        """Each event type's group made into records by ``how(shape)``, per stream."""
        out: dict[str, list[Any]] = {}
        for event_type, group in group_by_type(events):
            shape = record_shape(event_type)
            stream = self.stream_for(shape.family)
            made = how(shape)(group)
            bucket = out.get(stream)
            if bucket is None:
                out[stream] = made
            else:
                bucket.extend(made)
        return out
