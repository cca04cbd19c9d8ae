"""The detect stage in the agent: wiring, columns, alert outputs, reload, views."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import pytest

from edgewatch.agent import build_pipeline
from edgewatch.config import ConfigError, parse_config
from edgewatch.detect.config import DetectConfig
from edgewatch.detect.outputs import AzureAlerts, MemoryAlerts, StdoutAlerts
from edgewatch.detect.stage import DetectStage, build_stage
from edgewatch.detect.state import BoundedMap, WindowCounter
from edgewatch.events.render import to_ig_json
from edgewatch.pipeline.runtime import Runtime
from edgewatch.simulate.engine import generate
from edgewatch.store.database import open_store
from edgewatch.tables import alert as alert_table
from tests.detect.helpers import exec_ev


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cap") / "sim.ndjson"
    with path.open("wb") as f:
        for ev in generate(20_000, seed=5, scenarios=["all"]):
            f.write(to_ig_json(ev) + b"\n")
    return path


def _config(tmp_path: Path, capture: Path, sinks: str, detect: str = "") -> str:
    return f"""
node: node-1
state_dir: {tmp_path / "state"}
sources:
  - {{type: file, name: input, paths: [{capture}]}}
sinks: {sinks}
dead_letter: {{enabled: false}}
detect:
  enabled: true
  alerts: {{stdout: false}}
{detect}
"""


def _run(cfg_text: str, memory: MemoryAlerts | None = None) -> DetectStage:
    from edgewatch.agent import build_sources

    cfg = parse_config(cfg_text)
    pipeline, filters = build_pipeline(cfg)
    stage = next(s for s in pipeline.stages if isinstance(s, DetectStage))
    if memory is not None:
        stage.outputs.append(memory)
    Runtime(build_sources(cfg, filters), pipeline).run()
    pipeline.close()
    return stage


def test_stage_order_is_detect_before_filter(tmp_path: Path, capture: Path) -> None:
    cfg = parse_config(_config(tmp_path, capture, "[{type: stdout}]"))
    pipeline, _ = build_pipeline(cfg)
    assert [s.name for s in pipeline.stages][:2] == ["detect", "filter"]


def test_alerts_land_in_the_store_and_are_queryable_as_the_sentinel_table(
    tmp_path: Path, capture: Path
) -> None:
    db = tmp_path / "store.duckdb"
    memory = MemoryAlerts()
    stage = _run(_config(tmp_path, capture, f"[{{type: store, path: {db}}}]"), memory)
    assert memory.alerts
    figures = stage.stats.snapshot()["stages"]
    assert sum(v for k, v in figures.items() if k.startswith("detect:alerts/")) == len(
        memory.alerts
    )
    con = open_store(db, read_only=True)
    rows = con.execute(
        f'SELECT "RuleName", "EvidenceEventIds", "TimeGenerated" FROM "{alert_table.TABLE}"'
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(a.rule for a in memory.alerts)
    assert all(r[1] for r in rows)
    # the evidence ids are the events' ids as the store knows them
    first = memory.alerts[0]
    assert rows and first.evidence_ids[0] in {i for r in rows for i in r[1]}


def test_views_and_full_events_raise_the_same_alerts(tmp_path: Path, capture: Path) -> None:
    """stdout-only pipelines decode views (only the rules' columns); alerts must not differ."""
    full, view = MemoryAlerts(), MemoryAlerts()
    _run(_config(tmp_path, capture, f"[{{type: store, path: {tmp_path / 'a.duckdb'}}}]"), full)
    out = tmp_path / "out.ndjson"
    _run(_config(tmp_path, capture, f"[{{type: file, path: {out}}}]"), view)
    key = lambda a: (a.rule, a.entity, tuple(a.evidence_ids), a.detail)  # noqa: E731
    assert sorted(map(key, view.alerts)) == sorted(map(key, full.alerts))
    assert {a.rule for a in full.alerts} >= {
        "binary_from_tmp",
        "reverse_shell_connection",
        "mining_pool_domain",
        "dns_subdomain_burst",
    }


def test_stdout_alert_lines() -> None:
    buf = io.BytesIO()
    stage = build_stage(
        DetectConfig(enabled=True, sigma_builtin=False), outputs=[StdoutAlerts(buf)]
    )
    stage.emit(stage.engine.scan([exec_ev(["/tmp/x"])], [b""]))
    (line,) = buf.getvalue().splitlines()
    assert json.loads(line)["edgewatch_alert"]["rule"] == "binary_from_tmp"


def test_azure_output_appends_alert_records_to_the_destination_buffer() -> None:
    class Buffer:
        def __init__(self) -> None:
            self.items: list[bytes] = []

        def append(self, items: list[bytes]) -> None:
            self.items.extend(items)

    class Worker:
        def __init__(self) -> None:
            self.buffer = Buffer()

    class Sink:
        def __init__(self) -> None:
            self.workers = {"sentinel": Worker()}
            self.buffers = object()

    stage = build_stage(DetectConfig(enabled=True, sigma_builtin=False), outputs=[])
    sink = Sink()
    out = AzureAlerts(sink)
    out.write(stage.engine.scan([exec_ev(["/tmp/x"])], [b""]))
    (item,) = sink.workers["sentinel"].buffer.items
    stream, _, body = item.partition(b"\n")
    assert stream == b"Custom-EdgeWatchAlert_CL"
    record = msgspec.json.decode(body)
    assert set(record) == {c for c, _ in alert_table.columns()}
    assert record["RuleName"] == "binary_from_tmp" and record["TimeGenerated"].endswith("Z")
    with pytest.raises(ValueError, match="unknown destinations"):
        AzureAlerts(Sink(), ["nope"])


def test_reload_keeps_outputs_dedup_and_dns_memory() -> None:
    old = build_stage(DetectConfig(enabled=True, sigma_builtin=False), outputs=[MemoryAlerts()])
    old.emit(old.engine.scan([exec_ev(["/tmp/x"])], [b""]))
    new = build_stage(DetectConfig(enabled=True, sigma_builtin=False), outputs=[])
    new.adopt([old])
    assert new.outputs is old.outputs
    assert new.engine.scan([exec_ev(["/tmp/x"])], [b""]) == []  # still suppressed
    assert new.engine.ctx.dns is old.engine.ctx.dns


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="egress"):
        parse_config("detect:\n  egress:\n    shop: {cidrs: [not-a-net]}\n")
    with pytest.raises(ConfigError, match="detect"):
        parse_config("detect:\n  enabled: true\n  no_such_key: 1\n")


def test_disable_unknown_rule_is_an_error() -> None:
    from edgewatch.detect.model import RuleError

    with pytest.raises(RuleError, match="unknown rules: nope"):
        build_stage(DetectConfig(enabled=True, disable=["nope"]), outputs=[])


def test_bounded_map_counts_evictions() -> None:
    m: BoundedMap[int, int] = BoundedMap("test", 3, ttl_ns=100)
    for i in range(5):
        m.put(i, i, now_ns=i)
    assert len(m) == 3 and m.evicted["full"] == 2
    assert m.get(4, now_ns=500) is None and m.evicted["expired"] == 1


def test_window_counter_keys_are_bounded() -> None:
    wc = WindowCounter("t", threshold=3, window_ns=10, max_keys=100)
    for k in range(1000):
        wc.hit(k, now_ns=k)
    assert len(wc.keys) <= 100
    assert not wc.hit("a", 0) and not wc.hit("a", 5) and wc.hit("a", 9)
    assert not wc.hit("b", 0) and not wc.hit("b", 20) and not wc.hit("b", 40)  # outside window


def test_validate_config_loads_the_rules(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgewatch.cli import app

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "name: broken\ntitle: t\ndescription: d\nseverity: low\n"
        "mitre: {tactic: Execution, technique: T1059}\ngadgets: [exec]\n"
        "condition: {no_such_column: 1}\n"
    )
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"detect:\n  enabled: true\n  sigma_builtin: false\n  rules: [{rules}]\n")
    result = CliRunner().invoke(app, ["validate-config", str(cfg)])
    assert result.exit_code == 2
    assert "rule broken" in result.output and "no_such_column" in result.output
