"""Aggregation: windows by event time, counts that add up, bounded memory, timely flushes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch import simulate
from edgewatch.config import ConfigError, parse_config
from edgewatch.decode.decoder import LineDecoder
from edgewatch.events import DnsEvent, ExecEvent, SeccompEvent, TcpEvent
from edgewatch.events.render import to_ig_json
from edgewatch.pipeline.aggregate import AggregateStage
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.reduce_config import AggregateConfig
from edgewatch.pipeline.runtime import Pipeline
from edgewatch.pipeline.stats import Stats
from edgewatch.sources.base import RawBatch
from edgewatch.tables import LAYOUTS

S = 1_000_000_000
T0 = (simulate.DEFAULT_START_NS // (60 * S)) * 60 * S  # a window boundary


def tcp(t: int, dst: str = "52.1.1.1", port: int = 443, pid: int = 7, **kw: Any) -> TcpEvent:
    return TcpEvent(
        time_ns=t,
        namespace="shop",
        pod="api-1",
        container="api",
        comm="curl",
        type="connect",
        src_addr="10.244.1.7",
        src_port=40000 + pid,
        dst_addr=dst,
        dst_port=port,
        pid=pid,
        **kw,
    )


def batch(*events: Any) -> EventBatch:
    return EventBatch(list(events), [to_ig_json(e) for e in events])


def stage(stats: Stats | None = None, **cfg: Any) -> AggregateStage:
    return AggregateStage(AggregateConfig.model_validate({"enabled": True, **cfg}), stats)


def test_one_summary_per_key_and_window_with_counts_and_span() -> None:
    s = stage()
    out = s.process(
        batch(
            tcp(T0 + 1 * S),
            tcp(T0 + 5 * S, pid=8),
            tcp(T0 + 9 * S),
            tcp(T0 + 2 * S, port=80),
            tcp(T0 + 61 * S),  # next window
        )
    )
    assert out.events == []  # all held back
    summaries = s.flush(final=True)
    assert summaries is not None
    got = sorted(
        (e.dst_port, e.event_count, e.event_start_ns, e.event_end_ns, e.time_ns)
        for e in summaries.events
    )
    assert got == [
        (80, 1, T0 + 2 * S, T0 + 2 * S, T0 + 2 * S),
        (443, 1, T0 + 61 * S, T0 + 61 * S, T0 + 61 * S),
        (443, 3, T0 + 1 * S, T0 + 9 * S, T0 + 1 * S),
    ]
    three = next(e for e in summaries.events if e.event_count == 3)
    assert json.loads(three.distinct_values) == {"pid": [7, 8]}
    assert s.held_keys == 0


def test_out_of_order_events_still_give_the_true_span() -> None:
    s = stage()
    s.process(batch(tcp(T0 + 9 * S), tcp(T0 + 1 * S), tcp(T0 + 5 * S)))
    (summary,) = s.flush(final=True).events  # type: ignore[union-attr]
    assert (summary.event_start_ns, summary.event_end_ns) == (T0 + S, T0 + 9 * S)


def test_summary_lines_are_ig_json_with_the_aggregation_keys() -> None:
    s = stage()
    s.process(batch(tcp(T0, dst_name="api.example.com"), tcp(T0 + S, dst_name="api.example.com")))
    out = s.flush(final=True)
    assert out is not None
    (line,) = out.raws
    obj = json.loads(line)
    assert obj["dst"]["addr"] == "52.1.1.1" and obj["proc"]["comm"] == "curl"
    assert obj["EventCount"] == 2
    assert obj["EventStartTime"].startswith("2025-06-18T09:") and obj["EventEndTime"]
    assert obj["EventDistinct"] == {"pid": [7]}
    assert obj["dst_name"] == "api.example.com"
    # the line still decodes as a trace_tcp event
    (ev,) = LineDecoder().decode([line]).events
    assert isinstance(ev, TcpEvent) and ev.dst_port == 443


def test_distinct_values_are_bounded_and_the_rest_counted() -> None:
    s = stage(max_distinct=3)
    s.process(batch(*(tcp(T0 + i, pid=100 + i) for i in range(10))))
    (summary,) = s.flush(final=True).events  # type: ignore[union-attr]
    assert json.loads(summary.distinct_values) == {"pid": [100, 101, 102], "more": {"pid": 7}}


def test_exec_and_seccomp_pass_through_unchanged() -> None:
    s = stage()
    ex = ExecEvent(time_ns=T0, namespace="shop", pod="api-1", comm="sh")
    sc = SeccompEvent(time_ns=T0, namespace="shop", pod="api-1", syscall="SYS_UNSHARE")
    b = batch(tcp(T0), ex, tcp(T0 + 1), sc)
    out = s.process(b)
    assert out.events == [ex, sc]
    assert out.raws == [b.raws[1], b.raws[3]]
    only = batch(ex)
    assert s.process(only) is only


def test_key_cardinality_is_bounded_by_early_flushes_that_are_counted() -> None:
    stats = Stats()
    s = stage(stats, max_keys=100)
    early = 0
    for w in range(5):  # five windows of 60 distinct destinations each
        out = s.process(batch(*(tcp(T0 + w * 60 * S + i, dst=f"52.0.{w}.{i}") for i in range(60))))
        early += len(out.events)
        assert s.held_keys <= 100
    rest = s.flush(final=True)
    assert early > 0 and early + len(rest.events if rest else []) == 300
    assert stats.stages["aggregate:early_flush:max_keys/tcp"] == early
    assert stats.stages["aggregate:summaries_out/tcp"] == 300


def test_flush_tick_emits_only_windows_past_their_end() -> None:
    s = stage(lateness="5s")
    s.process(batch(tcp(T0 + S), tcp(T0 + 30 * S, dst="52.2.2.2")))
    assert s.flush() is None  # newest event 30 s into the window: nothing due
    s.process(batch(tcp(T0 + 64 * S)))  # 4 s past the first window's end
    assert s.flush() is None
    s.process(batch(tcp(T0 + 66 * S)))  # lateness passed
    due = s.flush()
    assert due is not None and len(due.events) == 2
    assert {e.event_start_ns // (60 * S) for e in due.events} == {T0 // (60 * S)}
    # a late event for the emitted window starts a new summary for it: counts stay right
    s.process(batch(tcp(T0 + 2 * S)))
    rest = s.flush(final=True)
    assert rest is not None
    assert sorted(e.event_count for e in rest.events) == [1, 2]


def test_a_quiet_stream_is_flushed_by_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgewatch.pipeline.aggregate.stage as mod

    now = [1000.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    s = stage(window="10s", lateness="1s")
    s.process(batch(tcp(T0)))
    now[0] += 5
    assert s.flush() is None
    now[0] += 6
    due = s.flush()
    assert due is not None and len(due.events) == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.sampled_from(["52.1.1.1", "52.2.2.2", "10.0.0.1"])),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 7),
    st.integers(1, 20),
)
def test_counts_always_add_up(events: list[tuple[int, str]], chunk: int, max_keys: int) -> None:
    """Whatever the order, batching and key limit: per key and window, counts are exact."""
    s = stage(max_keys=max_keys)
    evs = [tcp(T0 + t * S, dst=dst) for t, dst in events]
    out: list[TcpEvent] = []
    for i in range(0, len(evs), chunk):
        out.extend(s.process(batch(*evs[i : i + chunk])).events)  # type: ignore[arg-type]
        due = s.flush()
        if due:
            out.extend(due.events)  # type: ignore[arg-type]
    rest = s.flush(final=True)
    out.extend(rest.events if rest else [])  # type: ignore[arg-type]
    expected = Counter((e.time_ns // (60 * S), e.dst_addr) for e in evs)
    got: Counter[tuple[int, str]] = Counter()
    for e in out:
        assert e.event_start_ns // (60 * S) == e.event_end_ns // (60 * S)
        got[(e.event_start_ns // (60 * S), e.dst_addr)] += e.event_count
    assert got == expected


def test_dns_keys_hold_answers_and_the_service_port() -> None:
    s = stage()

    def resp(t: int, addrs: list[str], client_port: int) -> DnsEvent:
        return DnsEvent(
            time_ns=t, namespace="shop", pod="api-1", qr="R", name="a.example.", qtype="A",
            addresses=addrs, src_addr="10.0.0.10", src_port=53, dst_port=client_port,
        )  # fmt: skip

    s.process(batch(resp(T0, ["1.1.1.1"], 40001), resp(T0 + 1, ["1.1.1.1"], 40002)))
    s.process(batch(resp(T0 + 2, ["2.2.2.2"], 40003)))
    out = s.flush(final=True)
    assert out is not None
    assert sorted((e.addresses, e.event_count) for e in out.events) == [  # type: ignore[attr-defined]
        (["1.1.1.1"], 2),
        (["2.2.2.2"], 1),
    ]


def test_summaries_fill_the_sentinel_aggregation_columns() -> None:
    s = stage()
    s.process(batch(tcp(T0 + S), tcp(T0 + 3 * S)))
    (summary,) = s.flush(final=True).events  # type: ignore[union-attr]
    for layout in ("custom", "asim"):
        (records,) = LAYOUTS[layout].records([summary]).values()
        assert records[0]["EventCount"] == 2
        assert records[0]["EventEndTime"].startswith("2025-06-18T09:")
        assert records[0]["EventStartTime"] < records[0]["EventEndTime"]


def test_config_rejects_unknown_fields_and_gadgets() -> None:
    with pytest.raises(ConfigError, match="unknown field"):
        parse_config("reduce: {aggregate: {keys: {tcp: [namespace, nope]}}}")
    with pytest.raises(ConfigError, match="unknown gadget"):
        parse_config("reduce: {aggregate: {gadgets: [trace_nothing]}}")
    with pytest.raises(ConfigError, match="window"):
        parse_config("reduce: {aggregate: {window: 0s}}")
    cfg = parse_config("reduce: {aggregate: {gadgets: [trace_tcp], keys: {trace_tcp: [pod]}}}")
    assert cfg.reduce.aggregate.gadgets == ["tcp"]
    assert cfg.reduce.aggregate.keys_for("tcp") == ["pod"]


# -- in the pipeline -----------------------------------------------------------------------


class _Collect:
    name = "collect"
    columns: frozenset[str] | None = None

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.raws: list[bytes] = []

    def write(self, b: EventBatch) -> int:
        self.events.extend(b.events)
        self.raws.extend(b.raws)
        return 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_windows_close_on_the_pipeline_flush_and_on_close() -> None:
    stats = Stats()
    sink = _Collect()
    pipeline = Pipeline([stage(stats, lateness="1s")], [sink], stats)
    lines = [to_ig_json(tcp(T0 + i * S)) for i in range(10)]
    pipeline.handle(RawBatch(lines, "a"))
    pipeline.flush()
    assert sink.events == []
    pipeline.handle(RawBatch([to_ig_json(tcp(T0 + 70 * S))], "a"))
    pipeline.flush()
    assert [e.event_count for e in sink.events] == [10]
    pipeline.close()
    assert [e.event_count for e in sink.events] == [10, 1]
    assert stats.events_out[("collect", "tcp")] == 2


def test_agent_pipeline_stores_summaries_that_hunts_sum(tmp_path: Path) -> None:
    """Config -> agent pipeline -> store; the store's ContainerLogV2 carries EventCount."""
    from edgewatch.agent import build_pipeline
    from edgewatch.hunt import engine
    from edgewatch.store.database import open_store

    capture = tmp_path / "capture.ndjson"
    with open(capture, "wb") as fh:
        simulate.write(simulate.generate(2000, seed=3, scenarios=["all"]), fh, "current")
    db = tmp_path / "events.duckdb"
    cfg = parse_config(
        f"""
state_dir: {tmp_path}
dead_letter: {{enabled: false}}
sinks: [{{type: store, path: {db}}}]
reduce: {{enrich: {{enabled: true}}, aggregate: {{enabled: true}}}}
"""
    )
    pipeline, _ = build_pipeline(cfg)
    assert [s.name for s in pipeline.stages] == ["enrich", "filter", "aggregate"]
    lines = capture.read_bytes().splitlines()
    for i in range(0, len(lines), 500):
        pipeline.handle(RawBatch(lines[i : i + 500], "capture"))
    pipeline.close()
    con = open_store(db, read_only=True)
    try:
        engine.prepare(con)
        result = engine.execute(
            con,
            "ContainerLogV2 | extend n = coalesce(tolong(LogMessage.EventCount), 1) "
            "| summarize events = sum(n), rows = count()",
        )
        (row,) = result.table.to_pylist()
        events, rows = row["events"], row["rows"]
        message = engine.execute(
            con,
            'ContainerLogV2 | where ContainerName == "ig-tcp" and isnotnull(LogMessage.EventCount)'
            " | take 1 | project LogMessage",
        ).table.to_pylist()[0]["LogMessage"]
    finally:
        con.close()
    assert events == len(lines)
    assert rows < len(lines) / 2
    obj = json.loads(message) if isinstance(message, str) else message
    assert obj["EventCount"] >= 1 and "EventStartTime" in obj
    assert msgspec.json.decode(json.dumps(obj).encode())["k8s"]["podName"]


def test_a_reload_that_keeps_the_aggregation_keeps_its_open_windows() -> None:
    """Changing filters or rules must not split a window's summary in two."""
    sink = _Collect()
    pipeline = Pipeline([stage()], [sink])
    pipeline._run_stages(batch(tcp(T0 + 1 * S), tcp(T0 + 2 * S)), 0)
    pipeline.replace_stages([stage()])
    pipeline._run_stages(batch(tcp(T0 + 3 * S)), 0)
    assert sink.events == []  # nothing emitted early by the reload
    pipeline.flush_stages(final=True)
    assert [(e.event_count, e.event_start_ns, e.event_end_ns) for e in sink.events] == [
        (3, T0 + 1 * S, T0 + 3 * S)
    ]


def test_a_reload_that_changes_the_aggregation_emits_the_old_windows() -> None:
    sink = _Collect()
    pipeline = Pipeline([stage()], [sink])
    pipeline._run_stages(batch(tcp(T0 + 1 * S), tcp(T0 + 2 * S)), 0)
    pipeline.replace_stages([stage(window="5m")])
    assert [e.event_count for e in sink.events] == [2]  # the old windows, whole
    pipeline._run_stages(batch(tcp(T0 + 3 * S)), 0)
    pipeline.flush_stages(final=True)
    assert sorted(e.event_count for e in sink.events) == [1, 2]
