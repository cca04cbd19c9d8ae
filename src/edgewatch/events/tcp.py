"""trace_tcp: TCP connect, accept and close, one event each (datasource ``tracetcp``).

For ``connect`` and ``close`` ``src`` is the local end and ``dst`` the remote one; for
``accept`` ``src`` is the local listening address and ``dst`` the remote peer. Only
connects carry an errno (``ECONNREFUSED``); ``fd`` is -1 on close, ``accept_fd`` -1
except on accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Layout, Path
from edgewatch.events.convert import PROTO_NUMBERS, proto_name

TYPE_RAW = {"connect": 0, "accept": 1, "close": 2}


class TcpEvent(Event, tag="tcp"):
    gadget_family: ClassVar[str] = "tcp"

    netns_id: int = 0
    src_addr: str = ""
    src_port: int = 0
    dst_addr: str = ""
    dst_port: int = 0
    ip_version: int = 0
    proto: str = ""
    type: str = ""
    error: str = ""
    error_raw: int = 0
    fd: int = 0
    accept_fd: int = 0
    #: Filled by the enrichment stage (empty otherwise): the name a DNS answer the pod
    #: received gave for ``dst_addr``; what kind of address it is (public, private,
    #: cluster, loopback …); and whether it is public with no DNS answer explaining it.
    dst_name: str = ""
    dst_class: str = ""
    dst_unresolved: bool = False


def _render_extra(event: Event, layout: Layout) -> Mapping[str, Any]:
    assert isinstance(event, TcpEvent)
    proto_raw = PROTO_NUMBERS.get(event.proto, 0)
    # before v0.34 IG printed the protocol as a number; a name it has no number for stays a name
    flat_proto = PROTO_NUMBERS.get(event.proto, event.proto)
    if layout is Layout.FLAT:
        # v0.31-v0.33 printed the protocol as a number and had no type-independent errno.
        return {
            "src.proto": flat_proto,
            "dst.proto": flat_proto,
            "dst.version": event.ip_version,
            "type_raw": TYPE_RAW.get(event.type, 0),
        }
    return {
        "src.proto_raw": proto_raw,
        "dst.proto": event.proto,
        "dst.proto_raw": proto_raw,
        "dst.version": event.ip_version,
        "type_raw": TYPE_RAW.get(event.type, 0),
    }


SPEC = GadgetSpec(
    family="tcp",
    gadget="trace_tcp",
    datasource="tracetcp",
    event=TcpEvent,
    paths={
        "netns_id": Path("netns_id"),
        "src_addr": Path("src.addr"),
        "src_port": Path("src.port"),
        "dst_addr": Path("dst.addr"),
        "dst_port": Path("dst.port"),
        "ip_version": Path("src.version"),
        "proto": Path("src.proto", flat_decode=int | str, flat_convert=proto_name),
        "type": Path("type"),
        "error": Path("error"),
        "error_raw": Path("error_raw"),
        "fd": Path("fd"),
        "accept_fd": Path("accept_fd"),
    },
    markers=("type", "dst"),
    byte_markers=(b'"type":"', b'"dst":{'),
    first_key="accept_fd",
    render_extra=_render_extra,
    render_sql={
        "src.proto_raw": sql.lookup("proto", PROTO_NUMBERS, 0),
        "dst.proto": sql.col("proto"),
        "dst.proto_raw": sql.lookup("proto", PROTO_NUMBERS, 0),
        "dst.version": sql.col("ip_version"),
        "type_raw": sql.lookup("type", TYPE_RAW, 0),
    },
    description="TCP connect/accept/close",
)
