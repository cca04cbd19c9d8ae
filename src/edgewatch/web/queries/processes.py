"""Processes: what ran in each container, with shells picked out.

A shell in a container is how most hands-on-keyboard intrusions look (and how most
debugging does): it is shown, not judged. Shells are matched on the executable's
base name, so ``/bin/sh`` and ``busybox sh`` (comm ``sh``) both count.
"""

from __future__ import annotations

from edgewatch.web.models import Processes, Table
from edgewatch.web.queries.base import Ctx, make_table, time_cells

SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox")
CONTAINER_LIMIT = 100
SHELL_LIMIT = 100
_SHELL_SQL = "comm IN (" + ", ".join(f"'{s}'" for s in SHELLS) + ")"


def processes(ctx: Ctx) -> Processes:
    if not ctx.has("exec"):
        empty = Table(columns=[], rows=[])
        return Processes(window=ctx.window(), containers=empty, shells=empty, shell_execs=0)
    t, where = ctx.table("exec"), ctx.scope.where()
    containers = ctx.rows(
        f"""SELECT namespace, pod, container, image, count(*) AS execs,
                   count(DISTINCT comm) AS programs,
                   count(*) FILTER (WHERE {_SHELL_SQL}) AS shells,
                   string_agg(DISTINCT comm, ', ' ORDER BY comm) AS comms,
                   max(time_ns)
            FROM {t} WHERE {where}
            GROUP BY ALL ORDER BY shells DESC, execs DESC, namespace, pod, container
            LIMIT {CONTAINER_LIMIT + 1}"""
    )
    shells = ctx.rows(
        f"""SELECT time_ns, namespace, pod, container, comm, pcomm,
                   coalesce(nullif(cmdline, ''), array_to_string(args, ' ')) AS cmdline, uid
            FROM {t} WHERE {where} AND {_SHELL_SQL}
            ORDER BY time_ns DESC LIMIT {SHELL_LIMIT + 1}"""
    )
    (count,) = ctx.rows(f"SELECT count(*) FROM {t} WHERE {where} AND {_SHELL_SQL}")[0]
    return Processes(
        window=ctx.window(),
        containers=make_table(
            [
                "namespace",
                "pod",
                "container",
                "image",
                "execs",
                "programs",
                "shells",
                "commands",
                "last_seen",
            ],
            time_cells(containers, 8),
            CONTAINER_LIMIT,
        ),
        shells=make_table(
            ["time", "namespace", "pod", "container", "comm", "parent", "cmdline", "uid"],
            time_cells(shells, 0),
            SHELL_LIMIT,
        ),
        shell_execs=count,
    )
