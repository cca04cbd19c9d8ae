"""TLS: the server names (SNI) each pod connected to, and when each pair was first seen.

"First seen" is over the whole store, not only the window: a name a pod has used for
months is not new because the window is short. Pairs first seen inside the window
are counted apart — they are the ones worth a look.
"""

from __future__ import annotations

from edgewatch.web.models import Table, Tls
from edgewatch.web.queries.base import Ctx, make_table, time_cells

LIMIT = 200


def tls(ctx: Ctx) -> Tls:
    columns = ["namespace", "pod", "sni", "connections", "first_seen", "last_seen", "new"]
    if not ctx.has("sni"):
        return Tls(window=ctx.window(), sni=Table(columns=columns, rows=[]), new_in_window=0)
    t = ctx.table("sni")
    rows = ctx.rows(
        f"""WITH pairs AS (
                SELECT namespace, pod, name, count(*) AS n, max(time_ns) AS last
                FROM {t} WHERE {ctx.scope.where()} AND name <> ''
                GROUP BY ALL
            ), first AS (
                SELECT s.namespace, s.pod, s.name, min(s.time_ns) AS first
                FROM {t} AS s SEMI JOIN pairs USING (namespace, pod, name)
                WHERE s.time_ns <= $end
                GROUP BY ALL
            )
            SELECT p.namespace, p.pod, p.name, p.n, f.first, p.last, f.first >= $start AS new,
                   count(*) FILTER (WHERE f.first >= $start) OVER () AS new_count
            FROM pairs AS p JOIN first AS f USING (namespace, pod, name)
            ORDER BY f.first DESC, p.namespace, p.pod, p.name LIMIT {LIMIT + 1}"""
    )
    new_count = rows[0][7] if rows else 0
    return Tls(
        window=ctx.window(),
        sni=make_table(columns, time_cells([r[:7] for r in rows], 4, 5), LIMIT),
        new_in_window=new_count,
    )
