"""trace_dns: DNS queries and responses seen on ports 53 and 5353 (datasource ``dns``).

``proc`` comes from the socket enricher and may be empty. ``name`` keeps IG's trailing
dot. ``addresses`` (the A/AAAA answers) is a comma-separated string in IG's JSON and a
list here. ``latency_ns`` is the raw nanosecond latency (IG's ``latency_ns_raw``; the
flat layout printed the number under ``latency_ns``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Layout, Path
from edgewatch.events.convert import (
    PROTO_NUMBERS,
    format_duration,
    proto_name,
    split_addresses,
    split_comma,
)


class DnsEvent(Event, tag="dns"):
    gadget_family: ClassVar[str] = "dns"

    netns_id: int = 0
    src_addr: str = ""
    src_port: int = 0
    dst_addr: str = ""
    dst_port: int = 0
    ip_version: int = 0
    proto: str = ""
    nameserver: str = ""
    dns_id: str = ""
    qr: str = ""
    qtype: str = ""
    qtype_raw: int = 0
    name: str = ""
    rcode: str = ""
    rcode_raw: int = 0
    num_answers: int = 0
    addresses: list[str] = msgspec.field(default_factory=list)
    tc: bool = False
    ra: bool = False
    rd: bool = False
    pkt_type: str = ""
    pkt_type_raw: int = 0
    latency_ns: int = 0
    cwd: str = ""
    exepath: str = ""


def _render_extra(event: Event, layout: Layout) -> Mapping[str, Any]:
    assert isinstance(event, DnsEvent)
    proto_raw = PROTO_NUMBERS.get(event.proto, 0)
    # before v0.34 IG printed the protocol as a number; a name it has no number for stays a name
    flat_proto = PROTO_NUMBERS.get(event.proto, event.proto)
    common = {
        "qr_raw": event.qr == "R",
        "addresses": ",".join(event.addresses),
        "dst.version": event.ip_version,
    }
    if layout is Layout.FLAT:
        return {
            **common,
            "src.proto": flat_proto,
            "dst.proto": flat_proto,
            "latency_ns": event.latency_ns,
        }
    return {
        **common,
        "src.proto_raw": proto_raw,
        "dst.proto": event.proto,
        "dst.proto_raw": proto_raw,
        "nameserver.version": event.ip_version,
        "latency_ns": format_duration(event.latency_ns),
    }


SPEC = GadgetSpec(
    family="dns",
    gadget="trace_dns",
    datasource="dns",
    event=DnsEvent,
    paths={
        "netns_id": Path("netns_id"),
        "src_addr": Path("src.addr"),
        "src_port": Path("src.port"),
        "dst_addr": Path("dst.addr"),
        "dst_port": Path("dst.port"),
        "ip_version": Path("src.version"),
        "proto": Path("src.proto", flat_decode=int | str, flat_convert=proto_name),
        "nameserver": Path("nameserver.addr", None),
        "dns_id": Path("id"),
        "qr": Path("qr"),
        "qtype": Path("qtype"),
        "qtype_raw": Path("qtype_raw"),
        "name": Path("name"),
        "rcode": Path("rcode"),
        "rcode_raw": Path("rcode_raw"),
        "num_answers": Path("num_answers"),
        "addresses": Path(
            "addresses", decode=str, convert=split_addresses, typed_convert=split_comma
        ),
        "tc": Path("tc"),
        "ra": Path("ra"),
        "rd": Path("rd"),
        "pkt_type": Path("pkt_type"),
        "pkt_type_raw": Path("pkt_type_raw"),
        "latency_ns": Path("latency_ns_raw", "latency_ns"),
        "cwd": Path("cwd"),
        "exepath": Path("exepath"),
    },
    markers=("qr",),
    byte_markers=(b'"qr":',),
    first_key="addresses",
    render_extra=_render_extra,
    render_sql={
        "qr_raw": "to_json(\"qr\" = 'R')",  # JSON, so tostring() gives true as IG's does
        "addresses": "array_to_string(\"addresses\", ',')",
        "dst.version": sql.col("ip_version"),
        "src.proto_raw": sql.lookup("proto", PROTO_NUMBERS, 0),
        "dst.proto": sql.col("proto"),
        "dst.proto_raw": sql.lookup("proto", PROTO_NUMBERS, 0),
        "nameserver.version": sql.col("ip_version"),
        "latency_ns": sql.duration("latency_ns"),
    },
    description="DNS queries and responses",
)
