"""trace_capabilities: capability checks (datasource ``capabilities``)."""

from __future__ import annotations

from typing import ClassVar

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Path
from edgewatch.events.seccomp import EMPTY_USTACK, render_ustack


class CapabilitiesEvent(Event, tag="capabilities"):
    gadget_family: ClassVar[str] = "capabilities"

    cap: str = ""
    cap_raw: int = 0
    capable: bool = False
    audit: int = 0
    insetid: int = 0
    syscall: str = ""
    syscall_raw: int = 0
    cap_effective: str = ""
    cap_effective_raw: int = 0
    current_userns: int = 0
    target_userns: int = 0
    kstack: str = ""
    kstack_raw: int = 0


SPEC = GadgetSpec(
    family="capabilities",
    gadget="trace_capabilities",
    datasource="capabilities",
    event=CapabilitiesEvent,
    paths={
        "cap": Path("cap"),
        "cap_raw": Path("cap_raw"),
        "capable": Path("capable"),
        "audit": Path("audit"),
        "insetid": Path("insetid"),
        "syscall": Path("syscall"),
        "syscall_raw": Path("syscall_raw"),
        "cap_effective": Path("cap_effective"),
        "cap_effective_raw": Path("cap_effective_raw"),
        "current_userns": Path("current_userns"),
        "target_userns": Path("target_userns"),
        "kstack": Path("kstack"),
        "kstack_raw": Path("kstack_raw"),
    },
    markers=("cap", "capable"),
    byte_markers=(b'"cap":', b'"capable":'),
    first_key="audit",
    render_extra=render_ustack,
    render_sql={"ustack": sql.literal(dict(EMPTY_USTACK))},
    description="capability checks",
)
