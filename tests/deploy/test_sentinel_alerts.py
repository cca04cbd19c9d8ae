"""Alerts reach Sentinel: the agent delivers EdgeWatchAlert_CL rows to a Logs Ingestion API.

The real delivery path (disk buffer, delivery thread, azure-monitor-ingestion client, TLS)
against the local stand-in, with the DCR declaring the alert stream exactly as
``deploy azure --alerts`` does; the stand-in rejects records with undeclared columns.
"""

from __future__ import annotations

from pathlib import Path

from edgewatch import simulate
from edgewatch.agent import build_pipeline, build_sources
from edgewatch.config import parse_config
from edgewatch.deploy.azure import arm_template
from edgewatch.detect.outputs import MemoryAlerts
from edgewatch.detect.stage import DetectStage
from edgewatch.pipeline.runtime import Runtime
from edgewatch.tables import LAYOUTS
from edgewatch.tables import alert as alert_table
from tests.fake_azure import FakeAzure, random_dcr_id
from tests.sinks.azure.conftest import (  # noqa: F401 - fixtures
    FAST_RETRY,
    MI_CLIENT_ID,
    ca,
    ca_bundle,
    fake,
    fake_session,
)


def test_template_declares_the_alert_stream_and_table() -> None:
    template = arm_template("custom", alerts=True)
    dcr = next(r for r in template["resources"] if r["type"].endswith("dataCollectionRules"))
    decl = dcr["properties"]["streamDeclarations"][alert_table.STREAM]
    assert [c["name"] for c in decl["columns"]] == [c for c, _ in alert_table.columns()]
    assert alert_table.STREAM not in str(arm_template("custom"))  # only when asked


def test_agent_delivers_alerts_to_sentinel(
    fake: FakeAzure,  # noqa: F811
    ca_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    dcr = random_dcr_id()
    streams: dict[str, list[str] | None] = {
        s.name: [c for c, _ in s.columns] for s in LAYOUTS["custom"].streams()
    }
    streams[alert_table.STREAM] = [c for c, _ in alert_table.columns()]
    fake.add_dcr(dcr, streams)
    fake.grant(MI_CLIENT_ID, dcr)
    capture = tmp_path / "sim.ndjson"
    with capture.open("wb") as fh:
        simulate.write(simulate.generate(8_000, seed=5, scenarios=["all"]), fh, "current")
    cfg = parse_config(
        f"""
node: edge-1
state_dir: {tmp_path / "state"}
sources: [{{type: file, paths: [{capture}]}}]
sinks: []
dead_letter: {{enabled: false}}
destinations:
  - name: sentinel
    type: azure_logs_ingestion
    endpoint: {fake.endpoint}
    dcr_immutable_id: {dcr}
    credential: {{type: managed_identity}}
    ca_bundle: {ca_bundle}
    retry: {FAST_RETRY}
detect:
  enabled: true
  sigma_builtin: false
  alerts: {{stdout: false}}
"""
    )
    pipeline, filters = build_pipeline(cfg, drain=True)
    stage = next(s for s in pipeline.stages if isinstance(s, DetectStage))
    memory = MemoryAlerts()
    stage.outputs.append(memory)
    Runtime(build_sources(cfg, filters), pipeline).run()
    pipeline.close()
    rows = fake.rows(dcr, alert_table.STREAM)
    assert memory.alerts
    assert sorted(r["AlertId"] for r in rows) == sorted(a.alert_id for a in memory.alerts)
    by_id = {a.alert_id: a for a in memory.alerts}
    for row in rows:
        alert = by_id[row["AlertId"]]
        assert row["RuleName"] == alert.rule and row["EvidenceEventIds"] == alert.evidence_ids
    # the evidence ids are the EventIds of event rows delivered alongside
    event_ids = {
        r["EventId"] for s in streams if s != alert_table.STREAM for r in fake.rows(dcr, s)
    }
    assert all(i in event_ids for a in memory.alerts for i in a.evidence_ids)
