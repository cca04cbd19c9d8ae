"""Network: which pod talks to which destination, named by the DNS answers pods got.

Edges are outbound connects (``type = 'connect'``) grouped by pod and destination.
A destination's name is the DNS name whose answer carried that address in the same
window (the most frequent one, when several did). Public / private is decided by the
agent's own classifier (``edgewatch.net``) on the few rows returned, not in SQL.
"""

from __future__ import annotations

from edgewatch.net import classify
from edgewatch.web.models import Edge, Network, Options
from edgewatch.web.queries.base import Ctx

EDGE_LIMIT = 80
OPTION_LIMIT = 2000


def network(ctx: Ctx, limit: int = EDGE_LIMIT) -> Network:
    if not ctx.has("tcp"):
        return Network(window=ctx.window(), edges=[], truncated=False, public_destinations=0)
    names = ""
    if ctx.has("dns"):
        names = f"""
        , answers AS (
            SELECT unnest(addresses) AS ip, name
            FROM {ctx.table("dns")}
            WHERE time_ns BETWEEN $start AND $end AND qr = 'R' AND num_answers > 0
        ), names AS (
            SELECT ip, mode(rtrim(name, '.')) AS name FROM answers
            WHERE ip IN (SELECT dst_addr FROM edges) GROUP BY ip
        )"""
    rows = ctx.rows(
        f"""WITH edges AS (
                SELECT namespace, pod, dst_addr, dst_port, count(*) AS n,
                       count(*) FILTER (WHERE error <> '') AS failed
                FROM {ctx.table("tcp")}
                WHERE {ctx.scope.where()} AND type = 'connect'
                GROUP BY ALL ORDER BY n DESC, namespace, pod, dst_addr, dst_port
                LIMIT {limit + 1}
            ){names}
            SELECT e.namespace, e.pod, e.dst_addr, e.dst_port, e.n, e.failed,
                   {"names.name" if names else "NULL"}
            FROM edges AS e {"LEFT JOIN names ON names.ip = e.dst_addr" if names else ""}
            ORDER BY e.n DESC, e.namespace, e.pod, e.dst_addr, e.dst_port"""
    )
    edges = [
        Edge(
            namespace=ns,
            pod=pod,
            destination=dst,
            port=port,
            name=name,
            address_class=classify(dst),
            connections=n,
            failed=failed,
        )
        for ns, pod, dst, port, n, failed, name in rows[:limit]
    ]
    public = len({e.destination for e in edges if e.address_class == "public"})
    return Network(
        window=ctx.window(), edges=edges, truncated=len(rows) > limit, public_destinations=public
    )


def options(ctx: Ctx) -> Options:
    """Namespaces and pods with events in the window (any gadget)."""
    parts = [
        f"SELECT DISTINCT namespace, pod FROM {ctx.table(f)} WHERE time_ns BETWEEN $start AND $end"
        for f in ctx.families()
    ]
    pairs: list[tuple[str, str]] = []
    if parts:
        pairs = [
            (r[0], r[1])
            for r in ctx.rows(
                f"SELECT DISTINCT namespace, pod FROM ({' UNION ALL '.join(parts)}) "
                f"WHERE namespace <> '' ORDER BY 1, 2 LIMIT {OPTION_LIMIT}"
            )
        ]
    return Options(
        window=ctx.window(),
        namespaces=sorted({ns for ns, _ in pairs}),
        pods=[[ns, pod] for ns, pod in pairs],
    )
