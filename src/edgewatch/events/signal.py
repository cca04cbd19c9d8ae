"""trace_signal: signals sent (datasource ``signal``); the process fields are the sender."""

from __future__ import annotations

from typing import ClassVar

from edgewatch.events.base import Event, GadgetSpec, Path


class SignalEvent(Event, tag="signal"):
    gadget_family: ClassVar[str] = "signal"

    tpid: int = 0
    sig: str = ""
    sig_raw: int = 0
    error: str = ""
    error_raw: int = 0


SPEC = GadgetSpec(
    family="signal",
    gadget="trace_signal",
    datasource="signal",
    event=SignalEvent,
    paths={
        "tpid": Path("tpid"),
        "sig": Path("sig"),
        "sig_raw": Path("sig_raw"),
        "error": Path("error"),
        "error_raw": Path("error_raw"),
    },
    markers=("sig", "tpid"),
    byte_markers=(b'"sig":', b'"tpid":'),
    description="signals",
)
