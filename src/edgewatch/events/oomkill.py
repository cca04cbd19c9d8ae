"""trace_oomkill: OOM kills (datasource ``oomkill``).

The Kubernetes context is the *killed* task's container; the process columns describe
the task that *triggered* the kill (IG's ``fprocess`` block since v0.37, ``f*`` keys
before), and ``tpid``/``tcomm`` the victim. ``pages`` is the size of the memory
domain, not the victim's RSS.
"""

from __future__ import annotations

from typing import ClassVar

from edgewatch.events.base import Event, GadgetSpec, Path


class OomkillEvent(Event, tag="oomkill"):
    gadget_family: ClassVar[str] = "oomkill"

    tpid: int = 0
    tcomm: str = ""
    tmntns_id: int = 0
    pages: int = 0


SPEC = GadgetSpec(
    family="oomkill",
    gadget="trace_oomkill",
    datasource="oomkill",
    event=OomkillEvent,
    paths={
        "pid": Path("fprocess.pid", "fpid"),
        "tid": Path("fprocess.tid", None),
        "comm": Path("fprocess.comm", "fcomm"),
        "uid": Path("fprocess.creds.uid", "fuid"),
        "gid": Path("fprocess.creds.gid", "fgid"),
        "user": Path("fprocess.creds.user", None),
        "group": Path("fprocess.creds.group", None),
        "ppid": Path("fprocess.parent.pid", None),
        "ptid": Path("fprocess.parent.tid", None),
        "pcomm": Path("fprocess.parent.comm", None),
        "mntns_id": Path("fprocess.mntns_id", None),
        "tpid": Path("tpid"),
        "tcomm": Path("tcomm"),
        "tmntns_id": Path("tmntns_id", "mntns_id"),
        "pages": Path("pages"),
    },
    markers=("tcomm", "pages"),
    byte_markers=(b'"tcomm":', b'"pages":'),
    first_key="fprocess",
    process_block="fprocess",
    description="OOM kills",
)
