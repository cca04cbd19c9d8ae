"""audit_seccomp: seccomp verdicts the kernel audits (datasource ``seccomp``).

``code`` is the action (``SECCOMP_RET_KILL_PROCESS``, ``SECCOMP_RET_LOG`` …); 0 prints
as ``SECCOMP_RET_KILL_THREAD``. Which actions arrive at all depends on the kernel's
seccomp audit logging (kill actions and ``LOG`` by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Layout, Path

EMPTY_USTACK: Mapping[str, Any] = {
    "addresses": "",
    "base_addr_hash": 0,
    "boot_timestamp": 0,
    "buildid": "",
    "inode": 0,
    "major": 0,
    "minor": 0,
    "mtime_nsec": 0,
    "mtime_sec": 0,
    "otel_correlation_id": 0,
    "pid_level0": 0,
    "pid_level1": 0,
    "pidns_level0": 0,
    "pidns_level1": 0,
    "stack_id": 0,
    "symbols": "",
    "tgid_level0": 0,
}


class SeccompEvent(Event, tag="seccomp"):
    gadget_family: ClassVar[str] = "seccomp"

    syscall: str = ""
    syscall_raw: int = 0
    code: str = ""
    code_raw: int = 0


def render_ustack(event: Event, layout: Layout) -> Mapping[str, Any]:
    """IG always prints a ``ustack`` block (all zero unless ``--collect-ustack``)."""
    return {"ustack": dict(EMPTY_USTACK)} if layout is Layout.CURRENT else {}


SPEC = GadgetSpec(
    family="seccomp",
    gadget="audit_seccomp",
    datasource="seccomp",
    event=SeccompEvent,
    paths={
        "syscall": Path("syscall"),
        "syscall_raw": Path("syscall_raw"),
        "code": Path("code"),
        "code_raw": Path("code_raw"),
    },
    markers=("syscall", "code"),
    byte_markers=(b'"syscall":', b'"code":'),
    first_key="code",
    render_extra=render_ustack,
    render_sql={"ustack": sql.literal(dict(EMPTY_USTACK))},
    description="seccomp verdicts",
)
