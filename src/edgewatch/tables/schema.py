"""What both Sentinel table layouts share: column types, names, timestamps, the event id.

A layout turns normalized events into the JSON records a data collection rule (DCR)
accepts. Everything here is about making those records exactly what the stream
declaration promises (Log Analytics rejects or silently nulls what does not fit) and
cheap enough to build for every delivered event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any, Literal, Protocol, get_args, get_origin

import msgspec

from edgewatch.events.base import COMMON_PATHS, Event

#: The column types a DCR stream declaration and a custom table schema both accept.
ColumnType = Literal["string", "int", "long", "real", "boolean", "datetime", "dynamic"]
COLUMN_TYPES: frozenset[str] = frozenset(get_args(ColumnType))
Column = tuple[str, ColumnType]

#: Log Analytics refuses these as custom column names (compared case-insensitively, so a
#: column can never shadow them in a query either).
RESERVED_COLUMNS: frozenset[str] = frozenset(
    n.lower()
    for n in ("_ResourceId", "id", "_SubscriptionId", "TenantId", "Type", "UniqueId", "Title")
)
#: Custom column names: a letter first, then up to 44 letters, digits or underscores.
MAX_COLUMN_NAME = 45

#: The container an event came from, as IG's ``k8s`` and ``runtime`` blocks describe it.
#: These values are the same for every event of a container, so converters build them
#: into a per-container record template once instead of copying them per event.
CONTEXT_FIELDS: tuple[str, ...] = tuple(
    name
    for name, path in COMMON_PATHS.items()
    if path.current is not None and path.current.split(".", 1)[0] in ("k8s", "runtime")
)

#: The context fields that tell containers (and their changing metadata) apart. A
#: container id fixes namespace, pod, container name, image and runtime; host processes
#: share the empty id across nodes, and a pod's labels and owner can be filled in or
#: change while it runs. Keying templates on these five instead of all fifteen context
#: fields makes the per-event lookup several times cheaper.
CONTEXT_KEY_FIELDS: tuple[str, ...] = (
    "container_id",
    "node",
    "pod_labels",
    "owner_kind",
    "owner_name",
)

#: Fields an aggregating stage may add to an event type; a layout maps them onto the ASIM
#: aggregation columns instead of giving them columns of their own.
AGGREGATE_FIELDS: tuple[str, ...] = ("event_count", "event_start_ns", "event_end_ns")

#: IG prints some unsigned 64-bit values that do not fit a Kusto ``long`` (trace_capabilities
#: reports an unknown syscall as 2**64-1). They are sent as the signed value with the same
#: bits, which is also what the kernel meant (-1).
WRAP_UINT64: frozenset[str] = frozenset({"syscall_raw"})
INT64_MAX = 2**63 - 1
UINT64_WRAP = 2**64

#: ASIM's types for a user name without a domain (IG's ``root``, or ``uid:1000`` when the
#: host has no name for the uid) and for a numeric Linux user id.
USERNAME_TYPE = "Simple"
USER_ID_TYPE = "UID"


def column_type(py_type: Any) -> ColumnType:
    """The Log Analytics type of an event field, from its Python annotation."""
    if py_type is bool:
        return "boolean"
    if py_type is int:
        return "long"
    if py_type is float:
        return "real"
    if py_type is str:
        return "string"
    if get_origin(py_type) in (list, tuple, dict) or py_type in (list, tuple, dict):
        return "dynamic"
    raise TypeError(f"no Log Analytics column type for {py_type!r}; add one to column_type()")


def pascal_case(name: str) -> str:
    """``src_addr`` -> ``SrcAddr``: the naming convention of Sentinel's own tables."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def check_column_name(name: str) -> None:
    """Raise if Log Analytics would refuse ``name`` as a custom column."""
    if not name or not name[0].isascii() or not name[0].isalpha():
        raise ValueError(f"column {name!r} must start with a letter")
    if len(name) > MAX_COLUMN_NAME:
        raise ValueError(f"column {name!r} is longer than {MAX_COLUMN_NAME} characters")
    if not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        raise ValueError(f"column {name!r} may only hold letters, digits and underscores")
    if name.lower() in RESERVED_COLUMNS:
        raise ValueError(f"column {name!r} is reserved by Log Analytics")


def merge_columns(groups: Sequence[Sequence[Column]]) -> list[Column]:
    """The union of several record shapes, in first-seen order; one name, one type."""
    merged: dict[str, ColumnType] = {}
    for group in groups:
        for name, typ in group:
            seen = merged.setdefault(name, typ)
            if seen != typ:
                raise ValueError(
                    f"column {name!r} is {seen} in one record shape and {typ} in another"
                )
    return list(merged.items())


# -- timestamps ------------------------------------------------------------------------


def second_prefix(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.`` in UTC; converters cache it while the second stays the same."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))


def format_ns(ns: int) -> str:
    """Epoch nanoseconds as the ISO 8601 text a ``datetime`` column accepts.

    Seven fractional digits: Kusto keeps datetimes in 100 ns ticks, so more digits would
    be thrown away and fewer would lose precision IG has.
    """
    seconds, frac = divmod(ns, 1_000_000_000)
    return f"{second_prefix(seconds)}{frac // 100:07d}Z"


def format_ns_or_none(ns: int) -> str | None:
    """As :func:`format_ns`, with IG's "unknown" (0) as null rather than 1970."""
    return format_ns(ns) if ns > 0 else None


# -- the event id ----------------------------------------------------------------------

_id_encoder = msgspec.json.Encoder()


def id_fields(event_type: type[Event]) -> tuple[str, ...]:
    """The fields an event id hashes besides the gadget, time, node and container id.

    The thread id and every field the gadget itself declares: what happened, and where.
    The container context follows from node and container id, and the process fields
    (pid, comm, credentials, parent) from the thread at that time, so hashing them too
    would only cost time on the hot path.
    """
    base = set(Event.__struct_fields__)
    own = tuple(f for f in event_type.__struct_fields__ if f not in base)
    return ("tid", *own)


def id_seed(gadget: str, node: str, container_id: str) -> Any:
    """The event-id hash, already fed the part every event of one container shares."""
    return blake2b(_id_encoder.encode((gadget, node, container_id)), digest_size=16)


def event_id(event: Event, gadget: str) -> str:
    """The stable id of an event: equal content, equal id, in any process, on any node.

    BLAKE2b with a 16-byte digest, as 32 lowercase hex digits, over two compact JSON
    arrays as msgspec encodes them, back to back: ``[gadget, node, container_id]`` and
    ``[time_ns, [<id_fields in declaration order>]]`` (list values stay JSON arrays). The
    first is the same for every event of a container, so converters hash it once per
    container and copy that state per event. A record delivered twice (delivery is
    at-least-once) carries the same id, so ``T | summarize arg_max(TimeGenerated, *) by
    EventId`` keeps one row per event. This function is the reference the converters'
    inlined computation is tested against.
    """
    digest = id_seed(gadget, event.node, event.container_id)
    own = tuple(getattr(event, f) for f in id_fields(type(event)))
    digest.update(_id_encoder.encode((event.time_ns, own)))
    return str(digest.hexdigest())


# -- batches ---------------------------------------------------------------------------


def group_by_type(events: list[Event]) -> list[tuple[type[Event], list[Event]]]:
    """Split a batch by event type, keeping order within each type.

    A batch from one gadget (the usual case) costs one pass over the type pointers in C.
    """
    if not events:
        return []
    types = list(map(type, events))
    first = types[0]
    if types.count(first) == len(types):
        return [(first, events)]
    groups: dict[type[Event], list[Event]] = {}
    for t, ev in zip(types, events, strict=True):
        bucket = groups.get(t)
        if bucket is None:
            groups[t] = [ev]
        else:
            bucket.append(ev)
    return list(groups.items())


# -- the layout contract ---------------------------------------------------------------


@dataclass(frozen=True)
class StreamSpec:
    """One input stream of the DCR and where it lands.

    ``name`` is what the agent posts to (``Custom-…``); ``output_stream`` the DCR's
    ``outputStream`` (``Custom-<table>`` for a custom table, ``Microsoft-<table>`` for a
    built-in one); ``custom_table`` says whether a deployment has to create ``table``.
    """

    name: str
    table: str
    output_stream: str
    columns: tuple[Column, ...]
    families: tuple[str, ...]
    custom_table: bool
    transform_kql: str = "source"


class TableLayout(Protocol):
    """How events become Sentinel rows: which table, which stream, which columns."""

    name: str

    def families(self) -> tuple[str, ...]:
        """The gadget families this layout routes."""
        ...

    def table_for(self, family: str) -> str: ...

    def stream_for(self, family: str) -> str:
        """The DCR input stream the agent posts this family's records to."""
        ...

    def output_stream_for(self, family: str) -> str: ...

    def columns(self, family: str) -> list[Column]:
        """Exactly the keys (and their types) of every record of this family."""
        ...

    def streams(self, families: Sequence[str] | None = None) -> list[StreamSpec]:
        """The DCR streams the families need, each with the union of its families' columns."""
        ...

    def records(self, events: list[Event]) -> dict[str, list[dict[str, Any]]]:
        """Records per input stream, ready for ``LogsIngestionClient.upload``."""
        ...

    def encoded(self, events: list[Event]) -> dict[str, list[bytes]]:
        """The same records as compact JSON, one ``bytes`` each: what the delivery path
        keeps in its disk buffer and joins into request bodies without re-encoding."""
        ...


_lines_encoder = msgspec.json.Encoder()


def encode_records(records: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[bytes]]:
    """Each stream's records as compact JSON, one ``bytes`` per record.

    One ``encode_lines`` call per stream; msgspec never writes a raw newline inside a
    JSON value, so the lines are exactly the per-record encodings.
    """
    out: dict[str, list[bytes]] = {}
    for stream, recs in records.items():
        lines = _lines_encoder.encode_lines(recs).split(b"\n")
        lines.pop()  # what follows the final newline
        out[stream] = lines
    return out


#: Log Analytics table names: a letter first, letters, digits and underscores after.
MAX_TABLE_NAME = 63


def check_table_names(table_names: Mapping[str, str]) -> None:
    """Raise unless every name is a valid custom (``_CL``) table name."""
    for family, table in table_names.items():
        if not table.endswith("_CL"):
            raise ValueError(f"custom table for {family!r} must end with _CL: {table!r}")
        if not table[0].isascii() or not table[0].isalpha() or len(table) > MAX_TABLE_NAME:
            raise ValueError(f"custom table name for {family!r} is not valid: {table!r}")
        if not all(c.isascii() and (c.isalnum() or c == "_") for c in table):
            raise ValueError(f"custom table name for {family!r} is not valid: {table!r}")
