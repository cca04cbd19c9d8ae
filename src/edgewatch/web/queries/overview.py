"""Overview: events per gadget over time and by namespace, failing destinations."""

from __future__ import annotations

from collections import defaultdict

from edgewatch.web.models import GadgetCount, Overview, Series, Table
from edgewatch.web.queries.base import MAIN_FAMILIES, Ctx, make_table
from edgewatch.web.status import AgentStatus
from edgewatch.web.window import iso

TOP_NAMESPACES = 15
FAILED_LIMIT = 15


def overview(ctx: Ctx, agent: AgentStatus) -> Overview:
    families = ctx.families()
    where = ctx.scope.where()
    step = ctx.scope.bucket_ns()
    totals: dict[str, int] = dict.fromkeys(f for f in MAIN_FAMILIES if f in families)
    by_ns: dict[str, dict[str, int]] = defaultdict(dict)
    series: dict[str, dict[int, int]] = defaultdict(dict)
    if families:
        counts = " UNION ALL ".join(
            f"SELECT '{f}' AS gadget, namespace, count(*) AS n FROM {ctx.table(f)} "
            f"WHERE {where} GROUP BY namespace"
            for f in families
        )
        for gadget, namespace, n in ctx.rows(counts):
            totals[gadget] = (totals.get(gadget) or 0) + n
            by_ns[namespace][gadget] = n
        buckets = " UNION ALL ".join(
            f"SELECT '{f}' AS gadget, (time_ns - $start) // $step AS b, count(*) AS n "
            f"FROM {ctx.table(f)} WHERE {where} GROUP BY b"
            for f in families
        )
        for gadget, b, n in ctx.rows(buckets, {"step": step}):
            series[gadget][b] = n
    start = ctx.scope.start_ns
    nbuckets = (ctx.scope.end_ns - start) // step + 1
    x = [iso(start + i * step) or "" for i in range(nbuckets)]
    over_time = [
        Series(name=g, x=x, y=[series[g].get(i, 0) for i in range(nbuckets)])
        for g in totals
        if totals.get(g)
    ]
    ranked = sorted(by_ns.items(), key=lambda kv: -sum(kv[1].values()))
    shown = [g for g in totals if totals.get(g)]
    ns_rows = [
        [ns or "(host)", *[counts.get(g, 0) for g in shown], sum(counts.values())]
        for ns, counts in ranked[: TOP_NAMESPACES + 1]
    ]
    return Overview(
        window=ctx.window(),
        totals=[GadgetCount(gadget=g, events=n or 0) for g, n in totals.items()],
        over_time=over_time,
        bucket_s=step / 1e9,
        by_namespace=make_table(["namespace", *shown, "total"], ns_rows, TOP_NAMESPACES),
        failed_connects=_failed_connects(ctx),
        agent=agent,
    )


def _failed_connects(ctx: Ctx) -> Table:
    """Destination health as the pods see it: connects that failed, by destination."""
    columns = ["destination", "port", "error", "failures", "pods", "last_seen"]
    if not ctx.has("tcp"):
        return Table(columns=columns, rows=[])
    rows = ctx.rows(
        f"""SELECT dst_addr, dst_port, error, count(*) AS n, count(DISTINCT pod),
                   max(time_ns)
            FROM {ctx.table("tcp")}
            WHERE {ctx.scope.where()} AND type = 'connect' AND error <> ''
            GROUP BY ALL ORDER BY n DESC, dst_addr LIMIT {FAILED_LIMIT + 1}"""
    )
    rows = [[*r[:5], iso(r[5])] for r in rows]
    return make_table(columns, rows, FAILED_LIMIT)
