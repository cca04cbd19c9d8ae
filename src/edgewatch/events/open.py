"""trace_open: file opens (datasource ``open``).

``fd`` is 0 on error; ``fpath`` is empty unless IG runs with ``--paths``.
"""

from __future__ import annotations

from typing import ClassVar

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Path
from edgewatch.events.seccomp import EMPTY_USTACK, render_ustack


class OpenEvent(Event, tag="open"):
    gadget_family: ClassVar[str] = "open"

    fname: str = ""
    fpath: str = ""
    fd: int = 0
    error: str = ""
    error_raw: int = 0
    flags: str = ""
    flags_raw: int = 0
    mode: str = ""
    mode_raw: int = 0


SPEC = GadgetSpec(
    family="open",
    gadget="trace_open",
    datasource="open",
    event=OpenEvent,
    paths={
        "fname": Path("fname"),
        "fpath": Path("fpath"),
        "fd": Path("fd"),
        "error": Path("error"),
        "error_raw": Path("error_raw"),
        "flags": Path("flags"),
        "flags_raw": Path("flags_raw"),
        "mode": Path("mode"),
        "mode_raw": Path("mode_raw"),
    },
    markers=("fname",),
    byte_markers=(b'"fname":',),
    render_extra=render_ustack,
    render_sql={"ustack": sql.literal(dict(EMPTY_USTACK))},
    description="file opens",
)
