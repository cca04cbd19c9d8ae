"""Seccomp: which syscalls the profiles logged, killed or refused, and for whom."""

from __future__ import annotations

from edgewatch.web.models import Seccomp, Table
from edgewatch.web.queries.base import Ctx, make_table, time_cells

TOP = 25
DETAIL_LIMIT = 200


def seccomp(ctx: Ctx) -> Seccomp:
    if not ctx.has("seccomp"):
        empty = Table(columns=[], rows=[])
        return Seccomp(window=ctx.window(), by_syscall=empty, detail=empty)
    t, where = ctx.table("seccomp"), ctx.scope.where()
    by_syscall = ctx.rows(
        f"""SELECT syscall, code, count(*) AS n, count(DISTINCT pod) AS pods
            FROM {t} WHERE {where} GROUP BY ALL ORDER BY n DESC, syscall LIMIT {TOP + 1}"""
    )
    detail = ctx.rows(
        f"""SELECT namespace, pod, container, comm, syscall, code, count(*) AS n,
                   min(time_ns), max(time_ns)
            FROM {t} WHERE {where}
            GROUP BY ALL ORDER BY n DESC, namespace, pod, syscall LIMIT {DETAIL_LIMIT + 1}"""
    )
    return Seccomp(
        window=ctx.window(),
        by_syscall=make_table(["syscall", "code", "events", "pods"], by_syscall, TOP),
        detail=make_table(
            [
                "namespace",
                "pod",
                "container",
                "comm",
                "syscall",
                "code",
                "events",
                "first_seen",
                "last_seen",
            ],
            time_cells(detail, 7, 8),
            DETAIL_LIMIT,
        ),
    )
