"""The normalized event envelope shared by every gadget family.

IG prints the same context blocks (``k8s``, ``runtime``, ``proc``) on every event.
edgewatch flattens them into columns once, so filters, the store, the Sentinel tables
and the detections all see one set of names. *Where* each column comes from in IG's
JSON is data (:class:`Path`), declared next to the event type. The decoders, the
renderer that writes IG's shapes back (simulator, ``ContainerLogV2`` view) and the
table definitions are all generated from those declarations, so supporting a new IG
layout means adding a path, not another branch in the hot loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import msgspec


class Layout(StrEnum):
    """The generations of IG's JSON that carry the same information differently."""

    #: ``proc.{comm,pid,tid,creds,parent}`` nested blocks: IG v0.35.0 (2024-11) and later.
    CURRENT = "current"
    #: ``comm``/``pid``/``tid``/``uid``/``gid`` at the top level: image gadgets v0.31-v0.34.
    FLAT = "flat"


@dataclass(frozen=True, slots=True)
class Path:
    """Where a normalized column lives in IG's JSON, per layout.

    ``current``/``flat`` are dotted key paths (``proc.creds.uid``). ``None`` means the
    layout does not carry the value and the column keeps its default. ``decode`` is the
    JSON type IG writes when it differs from the column type (IG prints ``args`` as one
    string, we keep a list); ``convert`` turns that JSON value into the column value.
    """

    current: str | None
    flat: str | None = "="  # "=" means: the same path as ``current``
    decode: Any = None
    convert: Callable[[Any], Any] | None = None
    flat_decode: Any = None
    flat_convert: Callable[[Any], Any] | None = None
    #: a lean converter for the typed decoders, whose input already has the ``decode``
    #: type; ``convert`` stays the forgiving one the generic decoder uses
    typed_convert: Callable[[Any], Any] | None = None

    def path(self, layout: Layout) -> str | None:
        if layout is Layout.CURRENT:
            return self.current
        return self.current if self.flat == "=" else self.flat

    def decode_type(self, layout: Layout, column_type: Any) -> Any:
        if layout is Layout.FLAT and self.flat_decode is not None:
            return self.flat_decode
        return self.decode if self.decode is not None else column_type

    def converter(self, layout: Layout, typed: bool = False) -> Callable[[Any], Any] | None:
        if layout is Layout.FLAT and self.flat_convert is not None:
            return self.flat_convert
        if typed and self.typed_convert is not None:
            return self.typed_convert
        return self.convert


class Event(msgspec.Struct, tag_field="gadget", gc=False, repr_omit_defaults=True):
    """Fields every gadget family shares. Subclasses add the gadget's own columns.

    Empty Kubernetes or runtime context (a host process, a plain container) is ``""``
    or ``0``, never missing. ``time_ns`` is the event's own wall-clock time in
    nanoseconds since the epoch, UTC.
    """

    time_ns: int = 0
    node: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    pod_labels: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    host_network: bool = False
    container_id: str = ""
    runtime_container: str = ""
    image: str = ""
    image_digest: str = ""
    runtime: str = ""
    container_pid: int = 0
    container_started_at: int = 0
    pid: int = 0
    tid: int = 0
    comm: str = ""
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    ppid: int = 0
    ptid: int = 0
    pcomm: str = ""
    mntns_id: int = 0
    #: How many events this one stands for, and the time span they cover (ASIM's
    #: EventCount/EventStartTime/EventEndTime). A raw event stands for itself (1, 0, 0);
    #: the aggregation stage emits summaries with a count and a span, so a query that
    #: sums ``event_count`` gives the same answer on raw and on aggregated data.
    event_count: int = 1
    event_start_ns: int = 0
    event_end_ns: int = 0
    #: On a summary: the distinct values of fields left out of its key (bounded), as
    #: compact JSON ``{"pid": [..], ...}``; empty on a raw event.
    distinct_values: str = ""

    #: The family name (``tcp``); a class attribute so it can be read off the type, which
    #: is how batches are counted per gadget without touching each event.
    gadget_family: ClassVar[str] = ""


#: Where the shared columns come from. Gadgets override single entries (trace_oomkill
#: reports the triggering process under ``fprocess`` instead of ``proc``).
COMMON_PATHS: Mapping[str, Path] = {
    "time_ns": Path("timestamp_raw"),
    "node": Path("k8s.node"),
    "namespace": Path("k8s.namespace"),
    "pod": Path("k8s.podName"),
    "container": Path("k8s.containerName"),
    "pod_labels": Path("k8s.podLabels"),
    "owner_kind": Path("k8s.owner.kind"),
    "owner_name": Path("k8s.owner.name"),
    "host_network": Path("k8s.hostnetwork"),
    "container_id": Path("runtime.containerId"),
    "runtime_container": Path("runtime.containerName"),
    "image": Path("runtime.containerImageName"),
    "image_digest": Path("runtime.containerImageDigest"),
    "runtime": Path("runtime.runtimeName"),
    "container_pid": Path("runtime.containerPid"),
    "container_started_at": Path("runtime.containerStartedAt"),
    "pid": Path("proc.pid", "pid"),
    "tid": Path("proc.tid", "tid"),
    "comm": Path("proc.comm", "comm"),
    "uid": Path("proc.creds.uid", "uid"),
    "gid": Path("proc.creds.gid", "gid"),
    "user": Path("proc.creds.user", "user"),
    "group": Path("proc.creds.group", "group"),
    "ppid": Path("proc.parent.pid", "ppid"),
    "ptid": Path("proc.parent.tid", None),
    "pcomm": Path("proc.parent.comm", "pcomm"),
    "mntns_id": Path("proc.mntns_id", "mntns_id"),
}


@dataclass(frozen=True, eq=False)
class GadgetSpec:
    """Everything edgewatch knows about one IG gadget, as data.

    ``family`` is the short name used everywhere inside edgewatch (``tcp``); ``gadget``
    is IG's name (``trace_tcp``); ``datasource`` is the datasource the gadget emits on,
    which the logs operator writes into its envelope.

    ``markers`` are top-level keys whose presence identifies the gadget (all must be
    present); ``byte_markers`` the same as raw-JSON substrings, checked before any
    parsing; ``first_key`` the key IG sorts first in the current layout, a cheaper hint.
    ``render_extra`` adds the keys IG prints that edgewatch derives rather than keeps
    (``type_raw``, formatted durations, empty ``ustack`` blocks); ``finish`` fills the
    columns edgewatch derives from others after decoding (``cmdline`` from ``args``).
    """

    family: str
    gadget: str
    datasource: str
    event: type[Event]
    paths: Mapping[str, Path]
    markers: tuple[str, ...]
    byte_markers: tuple[bytes, ...]
    first_key: str | None = None
    process_block: str = "proc"
    render_extra: Callable[[Event, Layout], Mapping[str, Any]] | None = None
    #: ``render_extra`` for the current layout as SQL over the store's columns (dotted
    #: path -> expression; see ``events/sql.py``), so the store can rebuild ``LogMessage``.
    render_sql: Mapping[str, str] = field(default_factory=dict)
    finish: Callable[[Event], None] | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()
    columns_doc: Mapping[str, str] = field(default_factory=dict)

    def column_paths(self) -> dict[str, Path]:
        """Every column of the event type mapped to its source paths, in field order."""
        merged = {**COMMON_PATHS, **self.paths}
        out: dict[str, Path] = {}
        for name in self.event.__struct_fields__:
            if name in merged:
                out[name] = merged[name]
        return out


def event_columns(event_type: type[Event]) -> dict[str, Any]:
    """Column name -> Python type, in declaration order (base columns first)."""
    hints = msgspec.structs.fields(event_type)
    return {f.name: f.type for f in hints}
