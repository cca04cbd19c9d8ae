"""DNS: the names pods ask for, the lookups that fail, and names that look like tunnels.

Counted on queries (``qr = 'Q'``) and responses (``qr = 'R'``) from the pods
themselves; CoreDNS asking upstream would count every name twice. Failed lookups
leave out the resolver's search-path expansions (``name.svc.cluster.local.`` …),
which fail by design, unless ``search_path`` is asked for.

Suspicious names: a label of 40+ characters (DNS allows 63; host names rarely come
close) or a registered domain queried under 20+ distinct names — how data smuggled out
through DNS looks. Only names longer than 40 characters are examined by regex.
"""

from __future__ import annotations

from edgewatch.web.models import Dns, Table
from edgewatch.web.queries.base import Ctx, make_table, time_cells

TOP = 25
LONG_LABEL = 40
MANY_NAMES = 20
_POD_SIDE = "comm <> 'coredns'"
_SEARCH_PATH = "name LIKE '%.cluster.local.'"


def dns(ctx: Ctx, search_path: bool = False) -> Dns:
    empty = Table(columns=[], rows=[])
    if not ctx.has("dns"):
        return Dns(
            window=ctx.window(),
            top_names=empty,
            failed=empty,
            suspicious=empty,
            queries=0,
            failures=0,
        )
    t, where = ctx.table("dns"), ctx.scope.where()
    top = ctx.rows(
        f"""SELECT name, count(*) AS n, count(DISTINCT pod) AS pods, max(time_ns)
            FROM {t} WHERE {where} AND qr = 'Q' AND {_POD_SIDE}
            GROUP BY name ORDER BY n DESC, name LIMIT {TOP + 1}"""
    )
    skip = "" if search_path else f"AND NOT {_SEARCH_PATH}"
    failed = ctx.rows(
        f"""SELECT name, rcode, count(*) AS n, count(DISTINCT pod) AS pods,
                   array_to_string(list_slice(list(DISTINCT namespace || '/' || pod)
                       FILTER (WHERE pod <> ''), 1, 5), ', '),
                   max(time_ns)
            FROM {t}
            WHERE {where} AND qr = 'R' AND rcode NOT IN ('Success', 'NoError', '')
                  AND {_POD_SIDE} {skip}
            GROUP BY name, rcode ORDER BY n DESC, name LIMIT {TOP + 1}"""
    )
    totals = ctx.rows(
        f"""SELECT count(*) FILTER (WHERE qr = 'Q'),
                   count(*) FILTER (WHERE qr = 'R' AND rcode NOT IN ('Success', 'NoError', '')
                                    {skip})
            FROM {t} WHERE {where} AND {_POD_SIDE}"""
    )[0]
    suspicious = ctx.rows(
        f"""WITH long AS (
                SELECT name, namespace, pod, time_ns,
                       regexp_extract(name, '([^.]+\\.[^.]+)\\.?$', 1) AS domain,
                       list_max(list_transform(string_split(name, '.'), lambda x: length(x)))
                           AS label
                FROM {t}
                WHERE {where} AND qr = 'Q' AND {_POD_SIDE} AND length(name) > 40
                      AND NOT {_SEARCH_PATH}
            )
            SELECT domain, count(DISTINCT name) AS names, max(label) AS longest_label,
                   count(*) AS queries,
                   array_to_string(list_slice(list(DISTINCT namespace || '/' || pod), 1, 5),
                       ', ') AS pods,
                   any_value(name) AS sample, max(time_ns)
            FROM long GROUP BY domain
            HAVING max(label) >= {LONG_LABEL} OR count(DISTINCT name) >= {MANY_NAMES}
            ORDER BY names DESC, domain LIMIT {TOP + 1}"""
    )
    return Dns(
        window=ctx.window(),
        top_names=make_table(["name", "queries", "pods", "last_seen"], time_cells(top, 3), TOP),
        failed=make_table(
            ["name", "rcode", "responses", "pod_count", "pods", "last_seen"],
            time_cells(failed, 5),
            TOP,
        ),
        suspicious=make_table(
            ["domain", "distinct_names", "longest_label", "queries", "pods", "sample", "last_seen"],
            time_cells(suspicious, 6),
            TOP,
        ),
        queries=totals[0] or 0,
        failures=totals[1] or 0,
    )
