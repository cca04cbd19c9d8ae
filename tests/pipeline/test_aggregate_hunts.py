"""Nothing is lost for hunting: the seed queries answer the same on aggregated data.

A simulated cluster (every attack scenario, the seed's five gadgets, an hour boundary in
the middle) is hunted twice, the way Sentinel would hold it:

* raw: every IG line as a ``ContainerLogV2`` row, hunted with the four seed queries;
* aggregated: the same lines through enrichment and aggregation (60 s windows), the
  summaries printed as the stdout sink prints them, hunted with the bundled
  ``*_aggregated`` versions, which sum ``EventCount`` where the seeds count rows.

Where a seed lists one row per event (DNS responses, TLS server names), its rows are
counted per the aggregated query's columns first; the counts must be equal, group for
group. The TCP and seccomp seeds already summarize: their rows must be equal outright.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from typing import Any

import duckdb
import duckdb_kql
import pytest

from edgewatch import simulate
from edgewatch.cost.measure import CountingSink
from edgewatch.decode.classify import sniff
from edgewatch.hunt import catalog
from edgewatch.hunt import functions as ip_functions
from edgewatch.pipeline.aggregate import AggregateStage
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.enrich import EnrichStage
from edgewatch.pipeline.reduce_config import ReduceConfig
from edgewatch.pipeline.runtime import Pipeline
from edgewatch.pipeline.stats import Stats
from edgewatch.sources.base import RawBatch
from tests.hunt.naive import connect, naive_containerlog

#: 09:59:00 UTC: the capture crosses an hour, so hourly bins are tested at their edge.
START_NS = simulate.DEFAULT_START_NS + 59 * 60 * 1_000_000_000
EVENTS = 20_000


class _Keep(CountingSink):
    def __init__(self, columns: frozenset[str] | None) -> None:
        super().__init__("keep")
        self.columns = columns
        self.lines: list[bytes] = []

    def write(self, batch: EventBatch) -> int:
        self.lines.extend(batch.raws)
        return super().write(batch)


def _by_gadget(lines: list[bytes]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for line in lines:
        spec = sniff(line)
        assert spec is not None, line[:200]
        out.setdefault(spec.family, []).append(line)
    return out


def _load(lines: list[bytes]) -> duckdb.DuckDBPyConnection:
    con = connect()
    naive_containerlog(con, _by_gadget(lines))
    ip_functions.install(con)
    return con


def _run(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    ip_functions.register()
    sql = duckdb_kql.to_sql(catalog.get(name).text)
    rel = con.sql(str(sql), params=sql.parameters) if sql.parameters else con.sql(str(sql))
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def _hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module", params=["views", "events"])
def hunted(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``views``: a forwarding pipeline decodes only what the stages read; ``events``: a
    sink wants whole events (store, Sentinel), so enrichment writes into them."""
    events = simulate.generate(EVENTS, seed=5, scenarios=["all"], start_ns=START_NS)
    buf = io.BytesIO()
    simulate.write(events, buf, "current")
    raw_lines = buf.getvalue().splitlines()
    cfg = ReduceConfig.model_validate({"enrich": {"enabled": True}, "aggregate": {"enabled": True}})
    stats = Stats()
    sink = _Keep(frozenset() if request.param == "views" else None)
    enrich = EnrichStage(cfg.enrich, stats)
    pipeline = Pipeline([enrich, AggregateStage(cfg.aggregate, stats, enrich)], [sink], stats)
    for i in range(0, len(raw_lines), 1000):
        pipeline.handle(RawBatch(raw_lines[i : i + 1000], "capture"))
        if i % 10_000 == 0:
            pipeline.flush()  # the runtime's tick: some windows close mid-stream
    pipeline.close()
    return {
        "raw": _load(raw_lines),
        "aggregated": _load(sink.lines),
        "raw_lines": len(raw_lines),
        "records": sink.records,
        "stats": stats,
    }


def test_aggregation_sends_far_fewer_records(hunted: dict[str, Any]) -> None:
    assert hunted["records"] * 3 < hunted["raw_lines"]
    figures = hunted["stats"].stages
    absorbed = sum(v for k, v in figures.items() if k.startswith("aggregate:events_in/"))
    passed = figures["aggregate:passthrough_events"]
    assert absorbed + passed == hunted["raw_lines"]  # every event summarized or passed on


def test_public_outbound_tcp_same_rows_and_counts(hunted: dict[str, Any]) -> None:
    def rows(con: duckdb.DuckDBPyConnection, name: str) -> Counter[tuple[Any, ...]]:
        out: Counter[tuple[Any, ...]] = Counter()
        for r in _run(con, name):
            r["set_log_dstIp"] = tuple(sorted(json.loads(r["set_log_dstIp"])))
            out[tuple(sorted(r.items()))] += 1
        return out

    original = rows(hunted["raw"], "public_outbound_tcp")
    assert original and any(dict(k)["count_"] > 1 for k in original)
    assert rows(hunted["aggregated"], "public_outbound_tcp_aggregated") == original
    # the aggregated version also reads raw data correctly
    assert rows(hunted["raw"], "public_outbound_tcp_aggregated") == original


def test_seccomp_syscalls_same_rows_and_counts(hunted: dict[str, Any]) -> None:
    def rows(con: duckdb.DuckDBPyConnection, name: str) -> Counter[tuple[Any, ...]]:
        return Counter(tuple(sorted(r.items())) for r in _run(con, name))

    original = rows(hunted["raw"], "seccomp_syscalls")
    assert original
    assert rows(hunted["aggregated"], "seccomp_syscalls_aggregated") == original


def _grouped(rows: list[dict[str, Any]], columns: list[str]) -> Counter[tuple[Any, ...]]:
    """Per-event rows counted per the aggregated query's columns (times by hour)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for r in rows:
        key = []
        for c in columns:
            v = r[c]
            if c == "TimeGenerated":
                v = _hour(v)
            elif c == "log_raddr":
                v = v if isinstance(v, str) and not v.startswith('"') else json.loads(v)
            key.append(v)
        out[tuple(key)] += 1
    return out


def _summed(rows: list[dict[str, Any]], columns: list[str]) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for r in rows:
        out[tuple(r[c] for c in columns)] += r["EventCount"]
    return out


@pytest.mark.parametrize(
    ("seed", "aggregated"),
    [("dns_responses", "dns_responses_aggregated"), ("tls_sni", "tls_sni_aggregated")],
)
def test_per_event_seeds_same_counts(hunted: dict[str, Any], seed: str, aggregated: str) -> None:
    summaries = _run(hunted["aggregated"], aggregated)
    assert summaries
    columns = [c for c in summaries[0] if c != "EventCount"]
    original = _run(hunted["raw"], seed)
    expected = _grouped(original, columns)
    got = _summed(summaries, columns)
    assert got == expected
    assert sum(got.values()) == len(original)
    # fewer rows to read, same answer
    assert len(summaries) < len(original)
    assert _summed(_run(hunted["raw"], aggregated), columns) == expected


def test_the_capture_crosses_an_hour(hunted: dict[str, Any]) -> None:
    hours = {r["TimeGenerated"] for r in _run(hunted["aggregated"], "tls_sni_aggregated")}
    assert len(hours) == 2
