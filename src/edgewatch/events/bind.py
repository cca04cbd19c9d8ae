"""trace_bind: socket binds (datasource ``bind``); the bound endpoint is IG's ``addr`` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Layout, Path
from edgewatch.events.convert import PROTO_NUMBERS, proto_name


class BindEvent(Event, tag="bind"):
    gadget_family: ClassVar[str] = "bind"

    addr: str = ""
    port: int = 0
    proto: str = ""
    ip_version: int = 0
    error: str = ""
    error_raw: int = 0
    opts: str = ""
    opts_raw: int = 0
    bound_dev_if: int = 0


def _render_extra(event: Event, layout: Layout) -> Mapping[str, Any]:
    assert isinstance(event, BindEvent)
    proto_raw = PROTO_NUMBERS.get(event.proto, 0)
    # before v0.34 IG printed the protocol as a number; a name it has no number for stays a name
    flat_proto = PROTO_NUMBERS.get(event.proto, event.proto)
    if layout is Layout.FLAT:
        return {"addr.proto": flat_proto}
    return {"addr.proto_raw": proto_raw}


SPEC = GadgetSpec(
    family="bind",
    gadget="trace_bind",
    datasource="bind",
    event=BindEvent,
    paths={
        "addr": Path("addr.addr"),
        "port": Path("addr.port"),
        "proto": Path("addr.proto", flat_decode=int | str, flat_convert=proto_name),
        "ip_version": Path("addr.version"),
        "error": Path("error"),
        "error_raw": Path("error_raw"),
        "opts": Path("opts"),
        "opts_raw": Path("opts_raw"),
        "bound_dev_if": Path("bound_dev_if"),
    },
    markers=("opts", "addr"),
    byte_markers=(b'"opts":', b'"addr":{'),
    first_key="addr",
    render_extra=_render_extra,
    render_sql={"addr.proto_raw": sql.lookup("proto", PROTO_NUMBERS, 0)},
    description="socket binds",
)
