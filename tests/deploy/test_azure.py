"""The ARM template: the structure Azure Monitor documents, and agreement with records()."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest

from edgewatch.deploy.azure import (
    MAX_STREAMS,
    MONITORING_METRICS_PUBLISHER,
    arm_template,
)
from edgewatch.events import GADGETS
from edgewatch.tables import COLUMN_TYPES, LAYOUTS, make_layout
from tests.tables.helpers import conforms, every_event

LAYOUT_NAMES = sorted(LAYOUTS)
DCR = "Microsoft.Insights/dataCollectionRules"
DCE = "Microsoft.Insights/dataCollectionEndpoints"
TABLE = "Microsoft.OperationalInsights/workspaces/tables"
DEPLOYMENT = "Microsoft.Resources/deployments"
ROLE = "Microsoft.Authorization/roleAssignments"
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"] == kind]


def the(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = resources(template, kind)
    return found


def tables(template: dict[str, Any]) -> list[dict[str, Any]]:
    nested = resources(template, DEPLOYMENT)
    if not nested:
        return []
    (deployment,) = nested
    return [r for r in deployment["properties"]["template"]["resources"] if r["type"] == TABLE]


@pytest.fixture(scope="module", params=LAYOUT_NAMES)
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return arm_template(request.param, "edgewatch")


def test_template_is_json_with_the_documented_top_level(template: dict[str, Any]) -> None:
    assert json.loads(json.dumps(template)) == template
    assert template["$schema"].endswith("/deploymentTemplate.json#")
    assert template["contentVersion"] == "1.0.0.0"
    params = template["parameters"]
    for name in ("workspaceResourceId", "location", "principalId"):
        assert params[name]["type"] == "string"
    for res in template["resources"]:
        assert API_VERSION.match(res["apiVersion"]), res["type"]
        assert res["name"]
    for nested in resources(template, DEPLOYMENT):
        for res in nested["properties"]["template"]["resources"]:
            assert API_VERSION.match(res["apiVersion"])


def test_expressions_reference_declared_parameters(template: dict[str, Any]) -> None:
    def check(node: Any, params: dict[str, Any], variables: dict[str, Any]) -> None:
        if isinstance(node, dict):
            inner = node.get("template") if "expressionEvaluationOptions" in node else None
            for value in node.values():
                if value is inner:
                    check(value, value["parameters"], {})
                else:
                    check(value, params, variables)
        elif isinstance(node, list):
            for value in node:
                check(value, params, variables)
        elif isinstance(node, str) and node.startswith("["):
            assert node.endswith("]") and node.count("(") == node.count(")"), node
            for name in re.findall(r"parameters\('([^']+)'\)", node):
                assert name in params, name
            for name in re.findall(r"variables\('([^']+)'\)", node):
                assert name in variables, name

    check(template["resources"], template["parameters"], template["variables"])
    check(template["outputs"], template["parameters"], template["variables"])


def test_data_collection_rule(template: dict[str, Any]) -> None:
    dcr = the(template, DCR)
    assert dcr["kind"] == "Direct"
    assert dcr["location"] == "[parameters('location')]"
    props = dcr["properties"]
    assert "dataCollectionEndpoints" in props["dataCollectionEndpointId"]
    (destination,) = props["destinations"]["logAnalytics"]
    assert destination == {
        "workspaceResourceId": "[parameters('workspaceResourceId')]",
        "name": "edgewatch",
    }
    declared = props["streamDeclarations"]
    assert 0 < len(declared) <= MAX_STREAMS
    for name, declaration in declared.items():
        assert name.startswith("Custom-")
        names = [c["name"] for c in declaration["columns"]]
        assert len(names) == len(set(names))
        for column in declaration["columns"]:
            assert set(column) == {"name", "type"}
            assert column["type"] in COLUMN_TYPES
    flows = props["dataFlows"]
    assert len(flows) <= 10
    used = [s for flow in flows for s in flow["streams"]]
    assert sorted(used) == sorted(declared)  # every flow's stream declared, every stream used
    created = {t["properties"]["schema"]["name"] for t in tables(template)}
    for flow in flows:
        assert flow["destinations"] == ["edgewatch"]
        assert flow["transformKql"].strip() and len(flow["transformKql"]) <= 15_360
        out = flow["outputStream"]
        if out.startswith("Custom-"):
            assert out.endswith("_CL")
            assert out.removeprefix("Custom-") in created
        else:
            assert re.fullmatch(r"Microsoft-ASim\w+Logs", out)


def test_custom_tables(template: dict[str, Any]) -> None:
    dcr = the(template, DCR)["properties"]
    declared = dcr["streamDeclarations"]
    flows = {f["outputStream"]: f for f in dcr["dataFlows"]}
    for table in tables(template):
        schema = table["properties"]["schema"]
        assert schema["name"].endswith("_CL")
        assert table["name"].endswith(f"'{schema['name']}')]")
        assert {"name": "TimeGenerated", "type": "datetime"} in schema["columns"]
        for column in schema["columns"]:
            assert column["type"] in COLUMN_TYPES
        # transformKql "source" passes the stream through: its columns are the table's
        flow = flows[f"Custom-{schema['name']}"]
        assert flow["transformKql"] == "source"
        (stream,) = flow["streams"]
        assert declared[stream]["columns"] == schema["columns"]
        assert table["properties"]["plan"] == "[parameters('plan')]"


def test_tables_are_created_in_the_workspace_before_the_rule(template: dict[str, Any]) -> None:
    dcr = the(template, DCR)
    deployments = resources(template, DEPLOYMENT)
    if not deployments:
        return
    (deployment,) = deployments
    assert deployment["subscriptionId"] == "[split(parameters('workspaceResourceId'), '/')[2]]"
    assert deployment["resourceGroup"] == "[split(parameters('workspaceResourceId'), '/')[4]]"
    assert deployment["properties"]["expressionEvaluationOptions"] == {"scope": "inner"}
    assert any("Microsoft.Resources/deployments" in d for d in dcr["dependsOn"])
    assert any("dataCollectionEndpoints" in d for d in dcr["dependsOn"])


def test_role_assignment_on_the_rule(template: dict[str, Any]) -> None:
    role = the(template, ROLE)
    assert template["variables"]["monitoringMetricsPublisher"] == MONITORING_METRICS_PUBLISHER
    assert MONITORING_METRICS_PUBLISHER == "3913510d-42f4-4e42-8a64-420c390055eb"
    assert "dataCollectionRules" in role["scope"]
    assert role["name"].startswith("[guid(")
    props = role["properties"]
    assert "roleDefinitions" in props["roleDefinitionId"]
    assert "monitoringMetricsPublisher" in props["roleDefinitionId"]
    assert props["principalId"] == "[parameters('principalId')]"
    assert any("dataCollectionRules" in d for d in role["dependsOn"])


def test_outputs_are_what_the_agent_config_needs(template: dict[str, Any]) -> None:
    outputs = template["outputs"]
    assert "logsIngestion.endpoint" in outputs["dataCollectionEndpoint"]["value"]
    assert ".immutableId" in outputs["dataCollectionRuleImmutableId"]["value"]
    assert "endpoints.logsIngestion" in outputs["dataCollectionRuleEndpoint"]["value"]
    streams = outputs["streams"]["value"]
    layout = LAYOUTS[outputs["layout"]["value"]]
    assert streams == {g.family: layout.stream_for(g.family) for g in GADGETS}
    assert set(streams.values()) == set(the(template, DCR)["properties"]["streamDeclarations"])


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_every_record_fits_its_declared_stream(name: str) -> None:
    """The template and records() agree: what the agent posts, the DCR declares."""
    template = arm_template(name)
    declared = {
        stream: {c["name"]: c["type"] for c in decl["columns"]}
        for stream, decl in the(template, DCR)["properties"]["streamDeclarations"].items()
    }
    out = LAYOUTS[name].records(list(every_event()))
    assert set(out) == set(declared)
    for stream, records in out.items():
        columns = declared[stream]
        for record in records:
            assert set(record) <= set(columns)
            for key, value in record.items():
                assert conforms(value, columns[key]), (stream, key, value)


def test_asim_layout_creates_only_the_fallback_tables() -> None:
    template = arm_template("asim")
    created = {t["properties"]["schema"]["name"] for t in tables(template)}
    assert created == {
        "EdgeWatchNetwork_CL",
        "EdgeWatchFile_CL",
        "EdgeWatchProcess_CL",
        "EdgeWatchSeccomp_CL",
    }
    outputs = {f["outputStream"] for f in the(template, DCR)["properties"]["dataFlows"]}
    assert {
        "Microsoft-ASimNetworkSessionLogs",
        "Microsoft-ASimDnsActivityLogs",
        "Microsoft-ASimProcessEventLogs",
    } <= outputs


def test_options() -> None:
    only = arm_template("asim", "sentinel-eu", families=["tcp", "dns"], retention_days=90)
    assert not resources(only, DEPLOYMENT)  # ASIM tables already exist
    assert set(only["outputs"]["streams"]["value"]) == {"tcp", "dns"}
    assert only["parameters"]["dataCollectionRuleName"]["defaultValue"] == "sentinel-eu-dcr"
    assert only["parameters"]["retentionInDays"]["defaultValue"] == 90

    renamed = arm_template("custom", table_names={"sni": "Tls_CL"}, total_retention_days=365)
    assert "Tls_CL" in {t["properties"]["schema"]["name"] for t in tables(renamed)}
    assert renamed["parameters"]["totalRetentionInDays"]["defaultValue"] == 365
    assert renamed["parameters"]["retentionInDays"]["defaultValue"] == -1

    direct = arm_template(make_layout("custom"), data_collection_endpoint=False)
    assert not resources(direct, DCE)
    assert "dataCollectionEndpointId" not in the(direct, DCR)["properties"]
    assert "dataCollectionEndpoint" not in direct["outputs"]
    assert the(direct, DCR)["kind"] == "Direct"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="destination"):
        arm_template("custom", "no spaces")
    with pytest.raises(ValueError, match="plan"):
        arm_template("custom", plan="Auxiliary")
    with pytest.raises(ValueError, match="retention_days"):
        arm_template("custom", retention_days=2)
    with pytest.raises(ValueError, match="table_names"):
        arm_template(LAYOUTS["custom"], table_names={"tcp": "X_CL"})
    with pytest.raises(ValueError, match="no gadget"):
        arm_template("custom", families=[])


class TooManyStreams:
    """A layout whose gadgets would need more streams than one DCR can hold."""

    name = "custom"

    def __init__(self) -> None:
        self.inner = LAYOUTS["custom"]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def streams(self, families: Any = None) -> list[Any]:
        base = self.inner.streams()[0]
        return [replace(base, name=f"Custom-T{i}_CL", table=f"T{i}_CL") for i in range(11)]


def test_stream_limit() -> None:
    with pytest.raises(ValueError, match="at most 10"):
        arm_template(TooManyStreams())  # type: ignore[arg-type]
