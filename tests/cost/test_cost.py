"""Billed size, prices and volume measurement for ``edgewatch cost``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from edgewatch import simulate
from edgewatch.config import parse_config
from edgewatch.cost.billing import (
    GB,
    ContainerLogRow,
    containerlog_size,
    record_size,
    value_size,
)
from edgewatch.cost.measure import (
    agent_figures,
    file_batches,
    measure_agent,
    measure_lines,
)
from edgewatch.cost.prices import PriceTable, monthly
from edgewatch.metrics import registry_for
from edgewatch.pipeline.stats import Stats

FILTERS = """
dead_letter: {enabled: false}
filters:
  exclude: {namespaces: [kube-system]}
  noise: {loopback: true, cluster_local_dns: true}
"""


def test_billed_size_is_the_stored_string_of_each_column() -> None:
    assert value_size("héllo") == 6
    assert value_size(1234) == 4
    assert value_size(True) == 4 and value_size(False) == 5
    assert value_size(None) == 0
    assert value_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    rec = {"TimeGenerated": "2025-06-18T09:00:00.0000000Z", "Type": "X_CL", "PodName": "api"}
    assert record_size(rec) == 28 + 3  # Type is never billed


def test_containerlog_rows_add_the_collecting_container_columns() -> None:
    row = ContainerLogRow(computer="n1", container_id="c" * 64, kubernetes_metadata="")
    overhead = row.overhead
    assert overhead == len(row.time_generated) + 2 + 64 + len("ig-tcp") + len("ig-abcde") + len(
        "gadget"
    ) + len("stdout") + len("INFO") + len("Container") + len(row.tenant_id)
    assert containerlog_size(1000, 2, row) == 1000 + 2 * overhead


def test_monthly_prices_per_plan() -> None:
    table = PriceTable(
        analytics_per_gb=2.0, basic_per_gb=0.5, auxiliary_per_gb=0.05, sentinel_per_gb=1.0,
        free_gb_per_month=5, days_per_month=30,
    )  # fmt: skip
    got = monthly(table, 1.0)  # 30 GB a month
    assert got == pytest.approx(
        {"analytics": 50.0, "basic": 15.0, "auxiliary": 1.5, "analytics+sentinel": 80.0}
    )
    assert monthly(table, 0.1)["analytics"] == 0.0  # inside the free allowance


def test_prices_are_overridable_in_the_config() -> None:
    cfg = parse_config("reduce: {prices: {analytics_per_gb: 2.76, currency: EUR}}")
    assert cfg.reduce.prices.analytics_per_gb == 2.76
    assert cfg.reduce.prices.basic_per_gb == PriceTable().basic_per_gb


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cost") / "capture.ndjson"
    with open(path, "wb") as fh:
        simulate.write(simulate.generate(10_000, seed=9, scenarios=["all"]), fh, "current")
    return path


def test_replay_measures_raw_filtered_and_aggregated(capture: Path) -> None:
    lines = capture.read_bytes().splitlines()
    v = measure_lines(file_batches(capture, batch_lines=1000), parse_config(FILTERS), "x")
    assert v.events == len(lines)
    overhead = ContainerLogRow().overhead
    assert v.raw_bytes == sum(map(len, lines)) + len(lines) * overhead
    assert 0 < v.kept < v.events and v.raw_bytes > v.filtered_bytes
    assert v.records is not None and v.records < v.kept / 3
    assert v.aggregated_bytes is not None and v.aggregated_bytes < v.filtered_bytes / 3
    times = [json.loads(line)["timestamp_raw"] for line in lines]
    assert v.span_s == pytest.approx((max(times) - min(times)) / 1e9)
    assert v.per_day(v.raw_bytes) == pytest.approx(v.raw_bytes * 86400 / v.span_s / GB)


def test_without_filters_filtering_saves_nothing(capture: Path) -> None:
    v = measure_lines(file_batches(capture), parse_config("dead_letter: {enabled: false}"), "x")
    assert v.kept == v.events and v.filtered_bytes == v.raw_bytes


def _stats_after(lines: list[bytes], aggregate: bool) -> Stats:
    from edgewatch.agent import build_pipeline
    from edgewatch.cost.measure import CountingSink
    from edgewatch.sources.base import RawBatch

    text = FILTERS + ("reduce: {aggregate: {enabled: true}}\n" if aggregate else "")
    pipeline, _ = build_pipeline(parse_config(text), sinks=[CountingSink()])
    for i in range(0, len(lines), 1000):
        pipeline.handle(RawBatch(lines[i : i + 1000], "x"))
    pipeline.close()
    return pipeline.stats


@pytest.mark.parametrize("via", ["status.json", "metrics"])
def test_agent_rates_from_two_readings(capture: Path, tmp_path: Path, via: str) -> None:
    lines = capture.read_bytes().splitlines()
    half = len(lines) // 2

    def reading(stats: Stats) -> dict[str, object]:
        if via == "metrics":
            from edgewatch.cost.measure import _from_metrics

            return _from_metrics(generate_latest(registry_for(stats)).decode())
        path = tmp_path / "status.json"
        path.write_text(json.dumps({"written_at": 1.0, "stats": stats.snapshot()}))
        return agent_figures(str(path))

    first = reading(_stats_after(lines[:half], aggregate=True))
    second_stats = _stats_after(lines, aggregate=True)
    second = reading(second_stats)
    v = measure_agent(first, second, 10.0, "agent")
    assert v.events == len(lines) - half
    assert v.span_s == 10.0
    assert v.aggregated_bytes is not None and v.aggregated_bytes < v.filtered_bytes < v.raw_bytes
    assert not v.notes
    # without aggregation the agent cannot say what it would save: estimated and noted
    plain = reading(_stats_after(lines, aggregate=False))
    zero = {"lines_in": 0, "bytes_in": 0, "events_in": 0, "dropped": 0, "stages": {}}
    v2 = measure_agent(zero, plain, 10.0, "agent")
    assert v2.aggregated_bytes is None and v2.records is None
    assert v2.filtered_bytes < v2.raw_bytes and "estimated" in v2.notes[0]


def test_store_replay(tmp_path: Path, capture: Path) -> None:
    from edgewatch.cost.measure import store_batches
    from edgewatch.pipeline.runtime import Pipeline
    from edgewatch.sinks.store import StoreSink
    from edgewatch.sources.base import RawBatch
    from edgewatch.store.writer import StoreSettings

    db = tmp_path / "s.duckdb"
    lines = capture.read_bytes().splitlines()[:3000]
    pipeline = Pipeline([], [StoreSink(StoreSettings(path=db))])
    pipeline.handle(RawBatch(lines, "x"))
    pipeline.close()
    batches, standing = store_batches(db, batch_lines=500)
    v = measure_lines(batches, parse_config(FILTERS), str(db))
    assert standing == v.events == 3000
    direct = measure_lines([lines], parse_config(FILTERS), "file")
    assert (v.kept, v.records) == (direct.kept, direct.records)
    # the store rebuilds IG's JSON: billed sizes agree within a small margin
    assert v.raw_bytes == pytest.approx(direct.raw_bytes, rel=0.02)


def test_unreadable_agent_source_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        agent_figures(str(tmp_path / "missing.json"))
