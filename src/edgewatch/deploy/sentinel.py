"""Microsoft Sentinel content from what edgewatch ships: hunting queries and analytics rules.

Two kinds of YAML, in the schema the Azure-Sentinel repository uses for its ``Hunting
Queries/`` and ``Detections/`` folders (and that Sentinel's repositories feature and
content-packaging tools read):

* every bundled hunting query (``hunt/queries/*.kql``) as a **hunting query**: it is
  KQL over ``ContainerLogV2``, so it runs unchanged in the workspace;
* every rule that translates to KQL as a **scheduled analytics rule template** with
  entity mappings: each Sigma rule (its Kusto translation, over the custom table of its
  gadget with Sigma's field names defined the same way as on the node), and one rule
  that turns the agent's own alerts (``EdgeWatchAlert_CL``) into incidents — the
  stateful rules only the agent can evaluate reach Sentinel that way.

Ids are UUIDv5 of the content's name, so exporting again updates rather than duplicates.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgewatch.events.base import event_columns
from edgewatch.events.registry import BY_FAMILY
from edgewatch.hunt.catalog import HuntQuery
from edgewatch.tables.alert import TABLE as ALERT_TABLE

NAMESPACE = uuid.UUID("6d1f7a52-4c1e-4f37-9a53-2d0c8f1e9b10")
VERSION = "1.0.0"

#: ATT&CK tactic names as Sentinel spells them.
SENTINEL_TACTICS: Mapping[str, str] = {
    "Initial Access": "InitialAccess",
    "Execution": "Execution",
    "Persistence": "Persistence",
    "Privilege Escalation": "PrivilegeEscalation",
    "Defense Evasion": "DefenseEvasion",
    "Credential Access": "CredentialAccess",
    "Discovery": "Discovery",
    "Lateral Movement": "LateralMovement",
    "Collection": "Collection",
    "Command and Control": "CommandAndControl",
    "Exfiltration": "Exfiltration",
    "Impact": "Impact",
    "Resource Development": "ResourceDevelopment",
    "Reconnaissance": "Reconnaissance",
}

#: Technique -> tactic for the hunting queries, whose headers name techniques only.
TECHNIQUE_TACTICS: Mapping[str, str] = {
    "T1059": "Execution",
    "T1204": "Execution",
    "T1106": "Execution",
    "T1071": "CommandAndControl",
    "T1095": "CommandAndControl",
    "T1571": "CommandAndControl",
    "T1572": "CommandAndControl",
    "T1573": "CommandAndControl",
    "T1568": "CommandAndControl",
    "T1090": "CommandAndControl",
    "T1105": "CommandAndControl",
    "T1048": "Exfiltration",
    "T1041": "Exfiltration",
    "T1496": "Impact",
    "T1611": "PrivilegeEscalation",
    "T1548": "PrivilegeEscalation",
    "T1068": "PrivilegeEscalation",
    "T1552": "CredentialAccess",
    "T1528": "CredentialAccess",
    "T1613": "Discovery",
    "T1046": "Discovery",
    "T1082": "Discovery",
    "T1049": "Discovery",
    "T1190": "InitialAccess",
    "T1133": "InitialAccess",
    "T1543": "Persistence",
    "T1053": "Persistence",
    "T1070": "DefenseEvasion",
    "T1222": "DefenseEvasion",
    "T1140": "DefenseEvasion",
}

_SEVERITY = {
    "informational": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "High",
}


def content_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{name}"))


def _tactics_of(techniques: Iterable[str]) -> list[str]:
    out = []
    for t in techniques:
        tactic = TECHNIQUE_TACTICS.get(t.split(".", 1)[0])
        if tactic and tactic not in out:
            out.append(tactic)
    return out


class _Literal(str):
    """A string YAML writes as a ``|`` block (queries keep their line breaks)."""


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def dump(doc: Mapping[str, Any]) -> str:
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _block(text: str) -> _Literal:
    return _Literal(text.rstrip() + "\n")


# -- hunting queries ------------------------------------------------------------------


def hunting_query(q: HuntQuery) -> dict[str, Any]:
    techniques = [t.id for t in q.mitre]
    return {
        "id": content_id("hunting", q.name),
        "name": q.title,
        "description": _block(q.finds),
        "requiredDataConnectors": [],
        "tactics": _tactics_of(techniques),
        "relevantTechniques": techniques,
        "query": _block(q.text),
        "version": VERSION,
        "metadata": {"source": {"kind": "Community"}, "author": {"name": "edgewatch"}},
    }


# -- analytics rules ------------------------------------------------------------------


def sentinel_columns(family: str) -> dict[str, str]:
    """Store column -> the custom table's column (``src_addr`` -> ``SrcAddr``)."""
    from edgewatch.tables.custom import column_name

    return {c: column_name(family, c) for c in event_columns(BY_FAMILY[family].event)}


def sigma_kql(rule: Any) -> str:
    """A Sigma rule's KQL over its gadget's custom table in the workspace."""
    from edgewatch.detect.sigma import kql_prelude
    from edgewatch.tables.custom import default_table

    family = rule.family
    table = f'{default_table(family)}\n| where Gadget == "{BY_FAMILY[family].gadget}"'
    prelude = kql_prelude(family, table, columns=sentinel_columns(family))
    return f"{prelude}\n| where {rule.where}"


#: Entity mappings per family: Sentinel entity -> (identifier, column) pairs.
_ENTITIES: Mapping[str, list[dict[str, Any]]] = {
    "exec": [
        {
            "entityType": "Host",
            "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}],
        },
        {
            "entityType": "Process",
            "fieldMappings": [
                {"identifier": "CommandLine", "columnName": "CommandLine"},
                {"identifier": "ProcessId", "columnName": "ProcessId"},
            ],
        },
    ],
    "tcp": [
        {
            "entityType": "Host",
            "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}],
        },
        {
            "entityType": "IP",
            "fieldMappings": [{"identifier": "Address", "columnName": "DestinationIp"}],
        },
    ],
    "dns": [
        {
            "entityType": "Host",
            "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}],
        },
        {
            "entityType": "DNS",
            "fieldMappings": [{"identifier": "DomainName", "columnName": "QueryName"}],
        },
    ],
}


def _tactic(name: str) -> list[str]:
    t = SENTINEL_TACTICS.get(name)
    return [t] if t else []


def analytics_rule(
    name: str,
    title: str,
    description: str,
    severity: str,
    tactic: str,
    technique: str,
    query: str,
    entities: list[dict[str, Any]],
    frequency: str = "1h",
) -> dict[str, Any]:
    return {
        "id": content_id("analytics", name),
        "name": title,
        "description": _block(description),
        "severity": _SEVERITY.get(severity, "Medium"),
        "requiredDataConnectors": [],
        "queryFrequency": frequency,
        "queryPeriod": frequency,
        "triggerOperator": "gt",
        "triggerThreshold": 0,
        "tactics": _tactic(tactic),
        "relevantTechniques": [technique] if technique else [],
        "query": _block(query),
        "entityMappings": entities,
        "eventGroupingSettings": {"aggregationKind": "AlertPerResult"},
        "version": VERSION,
        "kind": "Scheduled",
    }


def sigma_analytics_rule(rule: Any) -> dict[str, Any]:
    spec = rule.spec
    return analytics_rule(
        spec.name,
        spec.title,
        spec.description,
        spec.severity,
        spec.mitre.tactic,
        spec.mitre.technique,
        sigma_kql(rule),
        list(_ENTITIES.get(rule.family, [])),
    )


AGENT_ALERTS_QUERY = f"""{ALERT_TABLE}
| where Severity in ("high", "critical")
| summarize arg_max(TimeGenerated, *) by AlertId
| project TimeGenerated, RuleName, Title, Severity, Tactic, Technique, Detail, Entity,
    Computer, Namespace, PodName, ContainerName, ContainerImage, Comm, Pid,
    EvidenceEventIds, EventCount"""


def agent_alerts_rule() -> dict[str, Any]:
    """Incidents from the detections the agent raises itself (stateful rules, intel)."""
    doc = analytics_rule(
        "edgewatch_agent_alerts",
        "edgewatch: high-severity detection on an edge node",
        "The edgewatch agent raised a high or critical alert (rule, evidence event ids and "
        "the affected pod are in the result). Covers the rules only the agent can evaluate "
        "in the stream: DNS-to-connection correlation, egress policies, thresholds, "
        "first-seen baselines and threat intelligence.",
        "high",
        "Execution",
        "",
        AGENT_ALERTS_QUERY,
        [
            {
                "entityType": "Host",
                "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}],
            },
            {
                "entityType": "Process",
                "fieldMappings": [{"identifier": "ProcessId", "columnName": "Pid"}],
            },
        ],
        frequency="15m",
    )
    doc["tactics"] = [
        "Execution",
        "CommandAndControl",
        "Exfiltration",
        "Impact",
        "PrivilegeEscalation",
        "Discovery",
    ]
    doc["customDetails"] = {
        "Namespace": "Namespace",
        "PodName": "PodName",
        "Detail": "Detail",
        "EvidenceIds": "EvidenceEventIds",
    }
    return doc


@dataclass(frozen=True)
class Exported:
    hunting: list[Path]
    analytics: list[Path]


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".yaml"


def export(out_dir: Path, queries: Iterable[HuntQuery], sigma_rules: Iterable[Any]) -> Exported:
    """Write ``hunting/*.yaml`` and ``analytics/*.yaml`` under ``out_dir``."""
    hunting_dir = out_dir / "hunting"
    analytics_dir = out_dir / "analytics"
    hunting_dir.mkdir(parents=True, exist_ok=True)
    analytics_dir.mkdir(parents=True, exist_ok=True)
    hunting, analytics = [], []
    for q in queries:
        path = hunting_dir / _file_name(q.name)
        path.write_text(dump(hunting_query(q)), encoding="utf-8")
        hunting.append(path)
    path = analytics_dir / _file_name("edgewatch_agent_alerts")
    path.write_text(dump(agent_alerts_rule()), encoding="utf-8")
    analytics.append(path)
    for rule in sigma_rules:
        path = analytics_dir / _file_name(rule.spec.name)
        path.write_text(dump(sigma_analytics_rule(rule)), encoding="utf-8")
        analytics.append(path)
    return Exported(hunting, analytics)
