"""The ARM template that prepares a Log Analytics workspace for edgewatch.

One deployment creates everything the agent's Azure destination needs and nothing it
does not: the data collection endpoint (DCE), the custom tables of the chosen layout
(the ASim* tables already exist in a Sentinel workspace), the data collection rule (DCR)
with one input stream per table, and the "Monitoring Metrics Publisher" role for the
agent's identity on that DCR. Its outputs are the values the agent config asks for: the
ingestion endpoint, the DCR immutable id and the stream per gadget.

The tables go into the workspace's own resource group and subscription (taken from the
workspace resource id) through a nested deployment, so the template can be deployed
next to the workspace or anywhere else. The DCR depends on that deployment because
Azure rejects a DCR whose output table does not exist yet.

Limits checked here rather than by a failed deployment: a DCR holds at most ten streams
and ten data flows, and a transformation at most 15,360 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from edgewatch.tables.alert import STREAM_SPEC as ALERT_STREAM
from edgewatch.tables.registry import make_layout
from edgewatch.tables.schema import StreamSpec, TableLayout

TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
DCR_API_VERSION = "2023-03-11"
DCE_API_VERSION = "2023-03-11"
TABLES_API_VERSION = "2022-10-01"
DEPLOYMENTS_API_VERSION = "2022-09-01"
ROLE_ASSIGNMENT_API_VERSION = "2022-04-01"
#: Built-in role "Monitoring Metrics Publisher": what the Logs Ingestion API requires.
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

MAX_STREAMS = 10
MAX_DATA_FLOWS = 10
MAX_TRANSFORM_CHARS = 15_360
TABLE_PLANS = ("Analytics", "Basic")
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group", "ForeignGroup", "Device")

_DESTINATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")

_WORKSPACE_ID = "parameters('workspaceResourceId')"
_WORKSPACE_SUBSCRIPTION = f"split({_WORKSPACE_ID}, '/')[2]"
_WORKSPACE_GROUP = f"split({_WORKSPACE_ID}, '/')[4]"
_DCE_ID = (
    "resourceId('Microsoft.Insights/dataCollectionEndpoints', "
    "parameters('dataCollectionEndpointName'))"
)
_DCR_ID = (
    "resourceId('Microsoft.Insights/dataCollectionRules', parameters('dataCollectionRuleName'))"
)
_TABLES_DEPLOYMENT = "format('{0}-tables', parameters('dataCollectionRuleName'))"


def arm_template(
    layout: TableLayout | str,
    destination_name: str = "edgewatch",
    *,
    families: Sequence[str] | None = None,
    table_names: Mapping[str, str] | None = None,
    retention_days: int | None = None,
    total_retention_days: int | None = None,
    plan: str = "Analytics",
    data_collection_endpoint: bool = True,
    alerts: bool = False,
) -> dict[str, Any]:
    """An ARM template (as a JSON-ready dict) for one edgewatch Azure destination.

    ``layout`` is a layout or its name (``custom``, ``asim``); ``table_names`` renames
    custom tables (only with a layout name). ``families`` limits the streams to the
    gadgets that will be delivered (default: every gadget the layout routes).
    ``destination_name`` names the DCR's Log Analytics destination and is the default
    prefix of the DCE and DCR names. ``retention_days``/``total_retention_days`` set the
    custom tables' interactive and total retention (default: the workspace's).
    ``data_collection_endpoint=False`` leaves the DCE out; the agent then posts to the
    DCR's own ingestion endpoint (a "Direct" DCR has one). ``alerts`` adds the
    ``EdgeWatchAlert_CL`` table and stream the agent's detections are sent to.
    """
    if isinstance(layout, str):
        layout = make_layout(layout, table_names=table_names)
    elif table_names is not None:
        raise ValueError("table_names can only be given with a layout name")
    if not _DESTINATION.match(destination_name):
        raise ValueError(
            f"destination name {destination_name!r}: 1-32 letters, digits or hyphens, "
            "starting with a letter or digit"
        )
    if plan not in TABLE_PLANS:
        raise ValueError(f"table plan {plan!r}: choose from {', '.join(TABLE_PLANS)}")
    _check_retention("retention_days", retention_days, 4, 730)
    _check_retention("total_retention_days", total_retention_days, 4, 4383)

    wanted = tuple(families) if families is not None else layout.families()
    streams = layout.streams(wanted)
    if not streams:
        raise ValueError("no gadget families to deliver")
    if alerts:  # detections land in EdgeWatchAlert_CL (see tables/alert.py)
        streams = [*streams, ALERT_STREAM]
    if len(streams) > MAX_STREAMS:
        raise ValueError(f"{len(streams)} streams; a DCR holds at most {MAX_STREAMS}")
    for spec in streams:
        if len(spec.transform_kql) > MAX_TRANSFORM_CHARS:
            raise ValueError(f"the transformation of {spec.name} is too long")

    parameters = _parameters(destination_name, retention_days, total_retention_days, plan)
    resources: list[dict[str, Any]] = []
    dcr_depends: list[str] = []
    if data_collection_endpoint:
        resources.append(_dce())
        dcr_depends.append(f"[{_DCE_ID}]")
    tables = [s for s in streams if s.custom_table]
    if tables:
        resources.append(_tables_deployment(tables))
        dcr_depends.append(
            f"[resourceId({_WORKSPACE_SUBSCRIPTION}, {_WORKSPACE_GROUP}, "
            f"'Microsoft.Resources/deployments', {_TABLES_DEPLOYMENT})]"
        )
    resources.append(_dcr(streams, destination_name, data_collection_endpoint, dcr_depends))
    resources.append(_role_assignment())

    routed = [f for f in wanted if any(f in s.families for s in streams)]
    outputs: dict[str, Any] = {
        "dataCollectionRuleImmutableId": {
            "type": "string",
            "value": f"[reference({_DCR_ID}, '{DCR_API_VERSION}').immutableId]",
        },
        "dataCollectionRuleEndpoint": {
            "type": "string",
            "value": f"[reference({_DCR_ID}, '{DCR_API_VERSION}').endpoints.logsIngestion]",
        },
        "streams": {"type": "object", "value": {f: layout.stream_for(f) for f in routed}},
        "tables": {"type": "object", "value": {f: layout.table_for(f) for f in routed}},
        "layout": {"type": "string", "value": layout.name},
    }
    if data_collection_endpoint:
        outputs["dataCollectionEndpoint"] = {
            "type": "string",
            "value": f"[reference({_DCE_ID}, '{DCE_API_VERSION}').logsIngestion.endpoint]",
        }
    return {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": parameters,
        "variables": {"monitoringMetricsPublisher": MONITORING_METRICS_PUBLISHER},
        "resources": resources,
        "outputs": outputs,
    }


def _check_retention(name: str, days: int | None, low: int, high: int) -> None:
    if days is not None and not low <= days <= high:
        raise ValueError(f"{name} must be between {low} and {high} days, not {days}")


def _parameters(
    prefix: str, retention_days: int | None, total_retention_days: int | None, plan: str
) -> dict[str, Any]:
    return {
        "workspaceResourceId": {
            "type": "string",
            "metadata": {"description": "Resource id of the Log Analytics workspace."},
        },
        "location": {
            "type": "string",
            "defaultValue": "[resourceGroup().location]",
            "metadata": {"description": "Region of the DCE and DCR; must be the workspace's."},
        },
        "principalId": {
            "type": "string",
            "metadata": {"description": "Object id of the identity the agent signs in with."},
        },
        "principalType": {
            "type": "string",
            "defaultValue": "ServicePrincipal",
            "allowedValues": list(PRINCIPAL_TYPES),
        },
        "dataCollectionEndpointName": {"type": "string", "defaultValue": f"{prefix}-dce"},
        "dataCollectionRuleName": {"type": "string", "defaultValue": f"{prefix}-dcr"},
        "tablePlan": {"type": "string", "defaultValue": plan, "allowedValues": list(TABLE_PLANS)},
        "retentionInDays": {
            "type": "int",
            "defaultValue": -1 if retention_days is None else retention_days,
            "metadata": {"description": "Interactive retention; -1 keeps the workspace default."},
        },
        "totalRetentionInDays": {
            "type": "int",
            "defaultValue": -1 if total_retention_days is None else total_retention_days,
            "metadata": {"description": "Total retention; -1 keeps the table default."},
        },
    }


def _dce() -> dict[str, Any]:
    return {
        "type": "Microsoft.Insights/dataCollectionEndpoints",
        "apiVersion": DCE_API_VERSION,
        "name": "[parameters('dataCollectionEndpointName')]",
        "location": "[parameters('location')]",
        "properties": {"networkAcls": {"publicNetworkAccess": "Enabled"}},
    }


def _table(spec: StreamSpec) -> dict[str, Any]:
    return {
        "type": "Microsoft.OperationalInsights/workspaces/tables",
        "apiVersion": TABLES_API_VERSION,
        "name": f"[format('{{0}}/{{1}}', parameters('workspaceName'), '{spec.table}')]",
        "properties": {
            "schema": {
                "name": spec.table,
                "columns": [{"name": n, "type": t} for n, t in spec.columns],
            },
            "plan": "[parameters('plan')]",
            "retentionInDays": "[parameters('retentionInDays')]",
            "totalRetentionInDays": "[parameters('totalRetentionInDays')]",
        },
    }


def _tables_deployment(tables: Sequence[StreamSpec]) -> dict[str, Any]:
    """Custom tables, deployed into the workspace's subscription and resource group."""
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": DEPLOYMENTS_API_VERSION,
        "name": f"[{_TABLES_DEPLOYMENT}]",
        "subscriptionId": f"[{_WORKSPACE_SUBSCRIPTION}]",
        "resourceGroup": f"[{_WORKSPACE_GROUP}]",
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "parameters": {
                "workspaceName": {"value": f"[last(split({_WORKSPACE_ID}, '/'))]"},
                "plan": {"value": "[parameters('tablePlan')]"},
                "retentionInDays": {"value": "[parameters('retentionInDays')]"},
                "totalRetentionInDays": {"value": "[parameters('totalRetentionInDays')]"},
            },
            "template": {
                "$schema": TEMPLATE_SCHEMA,
                "contentVersion": "1.0.0.0",
                "parameters": {
                    "workspaceName": {"type": "string"},
                    "plan": {"type": "string"},
                    "retentionInDays": {"type": "int"},
                    "totalRetentionInDays": {"type": "int"},
                },
                "resources": [_table(spec) for spec in tables],
            },
        },
    }


def _dcr(
    streams: Sequence[StreamSpec],
    destination: str,
    with_dce: bool,
    depends_on: list[str],
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if with_dce:
        properties["dataCollectionEndpointId"] = f"[{_DCE_ID}]"
    properties["streamDeclarations"] = {
        spec.name: {"columns": [{"name": n, "type": t} for n, t in spec.columns]}
        for spec in streams
    }
    properties["destinations"] = {
        "logAnalytics": [{"workspaceResourceId": f"[{_WORKSPACE_ID}]", "name": destination}]
    }
    properties["dataFlows"] = [
        {
            "streams": [spec.name],
            "destinations": [destination],
            "transformKql": spec.transform_kql,
            "outputStream": spec.output_stream,
        }
        for spec in streams
    ]
    return {
        "type": "Microsoft.Insights/dataCollectionRules",
        "apiVersion": DCR_API_VERSION,
        "name": "[parameters('dataCollectionRuleName')]",
        "location": "[parameters('location')]",
        # "Direct" gives the DCR its own logs ingestion endpoint, usable without the DCE.
        "kind": "Direct",
        "dependsOn": depends_on,
        "properties": properties,
    }


def _role_assignment() -> dict[str, Any]:
    return {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": ROLE_ASSIGNMENT_API_VERSION,
        # an extension resource of the DCR: the role holds on this rule only
        "scope": "[format('Microsoft.Insights/dataCollectionRules/{0}', "
        "parameters('dataCollectionRuleName'))]",
        "name": (
            f"[guid({_DCR_ID}, parameters('principalId'), variables('monitoringMetricsPublisher'))]"
        ),
        "dependsOn": [f"[{_DCR_ID}]"],
        "properties": {
            "roleDefinitionId": (
                "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                "variables('monitoringMetricsPublisher'))]"
            ),
            "principalId": "[parameters('principalId')]",
            "principalType": "[parameters('principalType')]",
        },
    }
