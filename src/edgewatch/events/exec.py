"""trace_exec: process executions (datasource ``exec``).

On success ``comm`` is the new program's name; on a failed exec (only printed with
``--ignore-failed=false``) it is the caller's. IG joins argv with U+00A0 since v0.45
(a space before); ``args`` is the list, ``cmdline`` the space-joined string hunting
queries match on. Paths (``exepath``, ``file``, ``cwd``) are empty unless ``--paths``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from edgewatch.events import sql
from edgewatch.events.base import Event, GadgetSpec, Layout, Path
from edgewatch.events.convert import ARGS_SEPARATOR, split_args, split_nbsp_or_space


class ExecEvent(Event, tag="exec"):
    gadget_family: ClassVar[str] = "exec"

    args: list[str] = msgspec.field(default_factory=list)
    cmdline: str = ""
    error: str = ""
    error_raw: int = 0
    loginuid: int = 0
    loginuser: str = ""
    sessionid: int = 0
    cwd: str = ""
    exepath: str = ""
    file: str = ""
    parent_exepath: str = ""
    dev_major: int = 0
    dev_minor: int = 0
    inode: int = 0
    ctime: int = 0
    fctime: int = 0
    pctime: int = 0
    upper_layer: bool = False
    fupper_layer: bool = False
    pupper_layer: bool = False
    from_rootfs: bool = False
    file_from_rootfs: bool = False
    tty: int = 0
    tty_major: int = 0
    tty_minor: int = 0


def _render_extra(event: Event, layout: Layout) -> Mapping[str, Any]:
    assert isinstance(event, ExecEvent)
    sep = " " if layout is Layout.FLAT else ARGS_SEPARATOR
    return {"args": sep.join(event.args)}


def _finish(event: Event) -> None:
    assert isinstance(event, ExecEvent)
    event.cmdline = " ".join(event.args)


SPEC = GadgetSpec(
    family="exec",
    gadget="trace_exec",
    datasource="exec",
    event=ExecEvent,
    paths={
        "args": Path("args", decode=str, convert=split_args, typed_convert=split_nbsp_or_space),
        # cmdline is derived from args after decoding (see decode.plan).
        "error": Path("error"),
        "error_raw": Path("error_raw"),
        "loginuid": Path("loginuid"),
        "loginuser": Path("loginuser"),
        "sessionid": Path("sessionid"),
        "cwd": Path("cwd"),
        "exepath": Path("exepath"),
        "file": Path("file"),
        "parent_exepath": Path("parent_exepath"),
        "dev_major": Path("dev_major"),
        "dev_minor": Path("dev_minor"),
        "inode": Path("inode"),
        "ctime": Path("ctime"),
        "fctime": Path("fctime"),
        "pctime": Path("pctime"),
        "upper_layer": Path("upper_layer"),
        "fupper_layer": Path("fupper_layer"),
        "pupper_layer": Path("pupper_layer"),
        "from_rootfs": Path("from_rootfs"),
        "file_from_rootfs": Path("file_from_rootfs"),
        "tty": Path("tty"),
        "tty_major": Path("tty_major"),
        "tty_minor": Path("tty_minor"),
    },
    markers=("args",),
    byte_markers=(b'"args":',),
    first_key="args",
    render_extra=_render_extra,
    render_sql={"args": f"array_to_string({sql.col('args')}, {sql.literal(ARGS_SEPARATOR)})"},
    finish=_finish,
    description="process executions",
)
