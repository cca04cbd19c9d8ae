"""``edgewatch deploy sentinel-content``: Sentinel hunting queries and analytics rules."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import yaml
from typer.testing import CliRunner

from edgewatch.cli import app
from edgewatch.deploy.sentinel import SENTINEL_TACTICS, export
from edgewatch.detect import sigma
from edgewatch.hunt import catalog
from edgewatch.hunt.engine import translate
from edgewatch.tables import LAYOUTS
from edgewatch.tables import alert as alert_table

HUNTING_KEYS = {
    "id",
    "name",
    "description",
    "requiredDataConnectors",
    "tactics",
    "relevantTechniques",
    "query",
    "version",
}
ANALYTICS_KEYS = HUNTING_KEYS | {
    "severity",
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "entityMappings",
    "kind",
}


def _columns_of(query: str) -> set[str]:
    """What a query's result can hold: its table's columns and the names it defines."""
    table = query.split("\n", 1)[0].strip()
    if table == alert_table.TABLE:
        cols = {c for c, _ in alert_table.columns()}
    else:
        layout = LAYOUTS["custom"]
        cols = {
            c
            for f in layout.families()
            if layout.table_for(f) == table
            for c, _ in layout.columns(f)
        }
    defined = set(re.findall(r"\b([A-Z][A-Za-z]+) = ", query))
    return cols | defined


def test_export_writes_every_hunting_query_and_the_translatable_rules(tmp_path: Path) -> None:
    loaded = sigma.load()
    done = export(tmp_path, catalog.bundled(), loaded.rules)
    assert len(done.hunting) == len(catalog.bundled())
    assert len(done.analytics) == len(loaded.rules) + 1  # + the agent-alerts rule
    for path in done.hunting:
        doc = yaml.safe_load(path.read_text())
        assert set(doc) >= HUNTING_KEYS
        uuid.UUID(doc["id"])
        assert "ContainerLogV2" in doc["query"]
        assert set(doc["tactics"]) <= set(SENTINEL_TACTICS.values())
    for path in done.analytics:
        doc = yaml.safe_load(path.read_text())
        assert set(doc) >= ANALYTICS_KEYS, path.name
        assert doc["kind"] == "Scheduled" and doc["severity"] in {
            "Informational",
            "Low",
            "Medium",
            "High",
        }
        assert doc["entityMappings"], path.name
        for entity in doc["entityMappings"]:
            for m in entity["fieldMappings"]:
                assert m["columnName"] in _columns_of(doc["query"]), (path.name, m["columnName"])
        # valid KQL (duckdb-kql parses and lowers it)
        translate(doc["query"], schema={alert_table.TABLE: [c for c, _ in alert_table.columns()]})


def test_sigma_rule_queries_the_custom_table_with_sentinel_columns(tmp_path: Path) -> None:
    loaded = sigma.load()
    export(tmp_path, [], loaded.rules)
    doc = yaml.safe_load(
        (
            tmp_path / "analytics" / "sigma_shell_process_opening_a_network_connection.yaml"
        ).read_text()
    )
    q = doc["query"]
    assert q.startswith('EdgeWatchNetwork_CL\n| where Gadget == "trace_tcp"')
    assert "DestinationIp = DstAddr" in q and "TcpType == 'connect'" in q
    assert doc["tactics"] == ["CommandAndControl"] and doc["relevantTechniques"] == ["T1095"]


def test_ids_are_stable_across_exports(tmp_path: Path) -> None:
    a = export(tmp_path / "a", catalog.bundled()[:2], [])
    b = export(tmp_path / "b", catalog.bundled()[:2], [])
    for x, y in zip(a.hunting + a.analytics, b.hunting + b.analytics, strict=True):
        assert x.read_text() == y.read_text()


def test_cli_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "sentinel-content", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "analytics" / "edgewatch_agent_alerts.yaml").exists()
    assert "OriginalFileName" in result.output  # the unmappable rule is reported
