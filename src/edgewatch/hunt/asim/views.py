"""The ASIM tables over the store: ``ASimNetworkSessionLogs``, ``ASimDnsActivityLogs``,
``ASimProcessEventLogs``, as DuckDB views of the typed event tables.

They are the same records the ASIM layout (``tables/asim.py``) sends to Sentinel, built
in SQL instead of Python: the same event-type, direction, result and name mappings,
read from that module's tables (error names, DNS codes and types, schema versions,
vendor), so a query sees the same values on the node as in the workspace. A test runs
both on the same events and compares every column.

Beside the columns the layout fills, each view carries the table's other common columns
as Kusto's empty values (``""`` for text, null otherwise): in Sentinel they exist and are
empty for this source, and parsers and content name them (``DvcAction``,
``NetworkDuration``, ``TargetProcessSHA256`` …). What the layout cannot fill, the view
cannot either; ``docs/hunting-content.md`` lists it.

Three columns differ on purpose: ``DvcHostname``/``Dvc`` of an event IG gave no node
name (a host process) are the store's own node, as ``Computer`` is in ContainerLogV2;
``TimeGenerated`` (and the times equal to it) keep the
store's microseconds where the layout writes 100 ns text, and ``EventOriginalUid``
is empty (the layout's id is a keyed hash computed at delivery).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from edgewatch.events import sql
from edgewatch.tables import asim
from edgewatch.tables.custom import gadget_name
from edgewatch.tables.schema import USER_ID_TYPE, USERNAME_TYPE, merge_columns

#: Kusto type -> the DuckDB type a column of it has in the views.
SQL_TYPES: Mapping[str, str] = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "datetime": "TIMESTAMP",
    "boolean": "BOOLEAN",
    "bool": "BOOLEAN",
    "dynamic": "JSON",
    "real": "DOUBLE",
}

#: Columns of the Sentinel tables that the layout never fills for IG data, present empty.
EMPTY_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "NetworkSession": (
        ("_ResourceId", "string"),
        ("DvcAction", "string"),
        ("DvcOriginalAction", "string"),
        ("DvcIpAddr", "string"),
        ("DvcFQDN", "string"),
        ("DvcId", "string"),
        ("DvcDomain", "string"),
        ("DvcInterface", "string"),
        ("DvcInboundInterface", "string"),
        ("DvcOutboundInterface", "string"),
        ("SrcFQDN", "string"),
        ("SrcDomain", "string"),
        ("SrcDvcId", "string"),
        ("SrcMacAddr", "string"),
        ("SrcZone", "string"),
        ("SrcGeoCountry", "string"),
        ("DstDvcId", "string"),
        ("DstMacAddr", "string"),
        ("DstZone", "string"),
        ("DstGeoCountry", "string"),
        ("NetworkSessionId", "string"),
        ("NetworkRuleName", "string"),
        ("NetworkRuleNumber", "int"),
        ("NetworkDuration", "int"),
        ("NetworkIcmpType", "string"),
        ("NetworkIcmpCode", "int"),
        ("SrcBytes", "long"),
        ("DstBytes", "long"),
        ("NetworkBytes", "long"),
        ("SrcPackets", "long"),
        ("DstPackets", "long"),
        ("NetworkPackets", "long"),
        ("SrcNatIpAddr", "string"),
        ("SrcNatPortNumber", "int"),
        ("DstNatIpAddr", "string"),
        ("DstNatPortNumber", "int"),
        ("ThreatName", "string"),
        ("ThreatCategory", "string"),
        ("ThreatRiskLevel", "int"),
        ("ThreatIpAddr", "string"),
        ("ThreatField", "string"),
    ),
    "Dns": (
        ("_ResourceId", "string"),
        ("DvcIpAddr", "string"),
        ("DvcFQDN", "string"),
        ("DvcId", "string"),
        ("DvcDomain", "string"),
        ("DvcAction", "string"),
        ("SrcFQDN", "string"),
        ("SrcDomain", "string"),
        ("SrcDvcId", "string"),
        ("DstFQDN", "string"),
        ("DstDomain", "string"),
        ("DstDvcId", "string"),
        ("DnsQueryClass", "int"),
        ("DnsQueryClassName", "string"),
        ("DnsSessionId", "string"),
        ("DnsFlags", "string"),
        ("DnsFlagsAuthoritative", "boolean"),
        ("DnsFlagsAuthenticated", "boolean"),
        ("DnsFlagsCheckingDisabled", "boolean"),
        ("DnsFlagsZ", "boolean"),
        ("SrcProcessGuid", "string"),
        ("UrlCategory", "string"),
        ("ThreatCategory", "string"),
        ("ThreatName", "string"),
        ("ThreatIpAddr", "string"),
        ("ThreatField", "string"),
        ("RuleName", "string"),
    ),
    "ProcessEvent": (
        ("_ResourceId", "string"),
        ("DvcIpAddr", "string"),
        ("DvcFQDN", "string"),
        ("DvcId", "string"),
        ("DvcDomain", "string"),
        ("DvcAction", "string"),
        ("ActingProcessCommandLine", "string"),
        ("ActingProcessCreationTime", "datetime"),
        ("ActingProcessGuid", "string"),
        ("ActingProcessSHA256", "string"),
        ("ParentProcessName", "string"),
        ("ParentProcessId", "string"),
        ("ParentProcessGuid", "string"),
        ("ParentProcessCommandLine", "string"),
        ("TargetProcessGuid", "string"),
        ("TargetProcessMD5", "string"),
        ("TargetProcessSHA1", "string"),
        ("TargetProcessSHA256", "string"),
        ("TargetProcessSHA512", "string"),
        ("TargetProcessIMPHASH", "string"),
        ("TargetProcessIntegrityLevel", "string"),
        ("TargetProcessTokenElevation", "string"),
        ("TargetProcessFileDescription", "string"),
        ("TargetProcessFileCompany", "string"),
        ("TargetProcessFileProduct", "string"),
        ("TargetProcessFileVersion", "string"),
        ("TargetProcessIsHidden", "boolean"),
        ("TargetUserSessionId", "string"),
        ("HashType", "string"),
        ("RuleName", "string"),
        ("RuleNumber", "int"),
    ),
}

#: View name per ASIM schema (the Sentinel table names).
TABLES: Mapping[str, str] = asim.ASIM_TABLES


def _lit(value: str) -> str:
    return sql.literal(value)


def _local_host() -> str:
    """The workload's end of a connection: the pod, or the node it shares (as the layout)."""
    return (
        'CASE WHEN "pod" <> \'\' AND NOT coalesce("host_network", false) THEN "pod" ELSE "node" END'
    )


def _map_case(column: str, mapping: Mapping[object, str], default: str) -> str:
    whens = " ".join(
        f"WHEN {column} = {sql.literal(k) if isinstance(k, str) else int(k)} THEN {_lit(v)}"  # type: ignore[arg-type]
        for k, v in mapping.items()
    )
    return f"CASE {whens} ELSE {default} END"


def _additional(family: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """``AdditionalFields``: the Kubernetes context and ``extra`` (key, SQL), empties left out."""
    entries = [("Gadget", _lit(gadget_name(family)))]
    entries += [
        ("Namespace", '"namespace"'),
        ("PodName", '"pod"'),
        ("ContainerName", '"container"'),
        ("ContainerId", '"container_id"'),
        ("ContainerImage", '"image"'),
        ("PodLabels", '"pod_labels"'),
        ("OwnerKind", '"owner_kind"'),
        ("OwnerName", '"owner_name"'),
        ("HostNetwork", '"host_network"'),
        *extra,
    ]
    items = ", ".join(f"struct_pack(k := {_lit(k)}, v := to_json({v}))" for k, v in entries)
    return (
        f"CAST(to_json(map_from_entries(list_filter([{items}], "
        "lambda ew_e: ew_e.v IS NOT NULL AND ew_e.v NOT IN ('\"\"', 'false', 'null', '0')))) "
        "AS JSON)"
    )


def _user(side: str, user: str, uid: str) -> dict[str, str]:
    return {
        f"{side}Username": f"coalesce({user}, '')",
        f"{side}UsernameType": (
            f"CASE WHEN coalesce({user}, '') <> '' THEN {_lit(USERNAME_TYPE)} ELSE '' END"
        ),
        f"{side}UserId": f"CAST({uid} AS VARCHAR)",
        f"{side}UserIdType": _lit(USER_ID_TYPE),
    }


def _device(computer: str) -> str:
    """The node: IG's ``k8s.node``, else the node the store belongs to (as ``Computer``)."""
    return f"coalesce(nullif(\"node\", ''), {_lit(computer)})"


def _common(family: str, event_type: str, computer: str = "") -> dict[str, str]:
    schema = asim.ASIM_SCHEMAS[family]
    return {
        "TimeGenerated": 'make_timestamp("time_ns" // 1000)',
        "EventCount": "1",
        "EventStartTime": 'make_timestamp("time_ns" // 1000)',
        "EventEndTime": 'make_timestamp("time_ns" // 1000)',
        "EventType": _lit(event_type),
        "EventSeverity": _lit(asim.SEVERITY),
        "EventProduct": _lit(asim.EVENT_PRODUCT),
        "EventVendor": _lit(asim.EVENT_VENDOR),
        "EventSchemaVersion": _lit(asim.SCHEMA_VERSIONS[schema]),
        "DvcHostname": _device(computer),
        "DvcOs": _lit(asim.DVC_OS),
        "Dvc": _device(computer),
        "AdditionalFields": _additional(family),
    }


def tcp_columns(computer: str = "") -> dict[str, str]:
    accept = "\"type\" = 'accept'"
    local = "(starts_with(\"dst_addr\", '127.') OR \"dst_addr\" = '::1')"
    out = _common("tcp", "EndpointNetworkSession", computer)
    failed = "coalesce(\"error\", '') <> ''"

    def side(field_accept: str, field_other: str) -> str:
        return f"CASE WHEN {accept} THEN {field_accept} ELSE {field_other} END"

    def local_side(accept_side: bool, expr: str, empty: str = "''") -> str:
        # the workload's end is Dst for an accept, Src otherwise
        return f"CASE WHEN ({accept}) = {str(accept_side).lower()} THEN {expr} ELSE {empty} END"

    out.update(
        {
            "EventOriginalType": '"type"',
            "EventResult": f"CASE WHEN {failed} THEN 'Failure' ELSE 'Success' END",
            "EventResultDetails": f"CASE WHEN {failed} THEN "
            + _map_case('"error"', asim.CONNECT_ERRORS, "'Unknown'")
            + " ELSE '' END",
            "EventOriginalResultDetails": "coalesce(\"error\", '')",
            "NetworkProtocol": '"proto"',
            "NetworkProtocolVersion": _map_case('"ip_version"', asim.IP_VERSIONS, "''"),
            "EventSubType": "CASE WHEN \"type\" = 'close' THEN 'End' ELSE 'Start' END",
            "NetworkDirection": f"CASE WHEN {accept} THEN 'Inbound' WHEN \"type\" = 'close' "
            f"THEN 'NA' WHEN {local} THEN 'Local' ELSE 'Outbound' END",
            "SrcIpAddr": side('"dst_addr"', '"src_addr"'),
            "SrcPortNumber": side('"dst_port"', '"src_port"'),
            "DstIpAddr": side('"src_addr"', '"dst_addr"'),
            "DstPortNumber": side('"src_port"', '"dst_port"'),
            "SrcHostname": local_side(False, _local_host()),
            "DstHostname": local_side(True, _local_host()),
        }
    )
    for name, accept_side in (("Src", False), ("Dst", True)):
        out[f"{name}AppName"] = local_side(accept_side, '"comm"')
        out[f"{name}AppId"] = local_side(accept_side, 'CAST("pid" AS VARCHAR)')
        out[f"{name}AppType"] = local_side(accept_side, "'Process'")
        for col, expr in _user(name, '"user"', '"uid"').items():
            out[col] = local_side(accept_side, expr)
    return out


def sni_columns(computer: str = "") -> dict[str, str]:
    out = _common("sni", "EndpointNetworkSession", computer)
    domain = (
        "CASE WHEN strpos(\"name\", '.') > 0 "
        "THEN substr(\"name\", strpos(\"name\", '.') + 1) ELSE '' END"
    )
    out.update(
        {
            "EventSubType": "'Start'",
            "EventResult": "'Success'",
            "NetworkDirection": "'NA'",
            "NetworkProtocol": "'TCP'",
            "NetworkProtocolVersion": "'IPv4'",
            "NetworkApplicationProtocol": "'TLS'",
            "DstHostname": '"name"',
            "DstFQDN": '"name"',
            "DstDomain": domain,
            "DstDomainType": f"CASE WHEN ({domain}) <> '' THEN 'FQDN' ELSE '' END",
            "AdditionalFields": _additional(
                "sni",
                (
                    ("ProcessId", 'CASE WHEN "pid" <> 0 THEN "pid" END'),
                    ("ProcessName", 'CASE WHEN "pid" <> 0 THEN "comm" END'),
                    ("Username", 'CASE WHEN "pid" <> 0 THEN "user" END'),
                ),
            ),
        }
    )
    return out


def dns_columns(computer: str = "") -> dict[str, str]:
    query = "\"qr\" <> 'R'"
    out = _common("dns", "Query", computer)
    local_client = (
        f"(CASE WHEN \"pkt_type\" = 'OUTGOING' THEN {query} "
        f"WHEN \"pkt_type\" = 'HOST' THEN NOT ({query}) ELSE true END)"
    )
    has_process = f'{local_client} AND "pid" <> 0'
    out.update(
        {
            "EventOriginalType": '"qr"',
            "EventSubType": f"CASE WHEN {query} THEN 'request' ELSE 'response' END",
            "EventResult": f"CASE WHEN {query} THEN 'NA' WHEN \"rcode_raw\" = 0 THEN 'Success' "
            "ELSE 'Failure' END",
            "EventResultDetails": f"CASE WHEN {query} THEN 'NA' ELSE "
            + _map_case('"rcode_raw"', asim.RCODE_NAMES, 'CAST("rcode_raw" AS VARCHAR)')
            + " END",
            "DnsResponseCode": f'CASE WHEN {query} THEN NULL ELSE "rcode_raw" END',
            "DnsResponseName": f"CASE WHEN {query} THEN '' ELSE "
            "array_to_string(coalesce(\"addresses\", []), ',') END",
            "DnsNetworkDuration": f'CASE WHEN {query} OR coalesce("latency_ns", 0) = 0 THEN NULL '
            'ELSE "latency_ns" // 1000000 END',
            "SrcIpAddr": f'CASE WHEN {query} THEN "src_addr" ELSE "dst_addr" END',
            "SrcPortNumber": f'CASE WHEN {query} THEN "src_port" ELSE "dst_port" END',
            "DstIpAddr": f'CASE WHEN {query} THEN "dst_addr" ELSE "src_addr" END',
            "DstPortNumber": f'CASE WHEN {query} THEN "dst_port" ELSE "src_port" END',
            "SrcHostname": f"CASE WHEN {local_client} THEN {_local_host()} ELSE '' END",
            "DstHostname": f"CASE WHEN {local_client} THEN "
            f'(CASE WHEN {query} THEN "dst_addr" ELSE "src_addr" END) ELSE {_local_host()} END',
            "SrcProcessName": f"CASE WHEN {has_process} THEN coalesce(nullif(\"exepath\", ''), "
            "\"comm\") ELSE '' END",
            "SrcProcessId": f"CASE WHEN {has_process} THEN CAST(\"pid\" AS VARCHAR) ELSE '' END",
            "DnsQuery": 'CASE WHEN length("name") > 1 AND ends_with("name", \'.\') '
            'THEN left("name", length("name") - 1) ELSE "name" END',
            "DnsQueryType": '"qtype_raw"',
            "DnsQueryTypeName": _map_case(
                '"qtype_raw"', asim.QTYPE_NAMES, "'TYPE' || CAST(\"qtype_raw\" AS VARCHAR)"
            ),
            "DnsFlagsRecursionDesired": '"rd"',
            "DnsFlagsRecursionAvailable": '"ra"',
            "DnsFlagsTruncated": '"tc"',
            "TransactionIdHex": '"dns_id"',
            "NetworkProtocol": '"proto"',
            "NetworkProtocolVersion": _map_case('"ip_version"', asim.IP_VERSIONS, "''"),
        }
    )
    for col, expr in _user("Src", '"user"', '"uid"').items():
        out[col] = f"CASE WHEN {has_process} THEN {expr} ELSE '' END"
    return out


def exec_columns(computer: str = "") -> dict[str, str]:
    failed = "coalesce(\"error\", '') <> ''"
    out = _common("exec", "ProcessCreated", computer)
    login_set = f'"loginuid" <> {asim.LOGIN_UNSET}'
    actor = f'CASE WHEN {login_set} THEN "loginuser" ELSE "user" END'
    actor_id = f'CASE WHEN {login_set} THEN "loginuid" ELSE "uid" END'
    parent_name = 'coalesce(nullif("parent_exepath", \'\'), "pcomm")'
    basename = "regexp_extract({0}, '[^/]*$')"
    out.update(
        {
            "EventResult": f"CASE WHEN {failed} THEN 'Failure' ELSE 'Success' END",
            "EventResultDetails": "coalesce(\"error\", '')",
            "EventOriginalResultDetails": f'CASE WHEN {failed} THEN CAST("error_raw" AS VARCHAR) '
            "ELSE '' END",
            "TargetProcessName": 'coalesce(nullif("exepath", \'\'), "comm")',
            "TargetProcessFilename": "coalesce(nullif("
            + basename.format('"exepath"')
            + ", ''), \"comm\")",
            "TargetProcessId": 'CAST("pid" AS VARCHAR)',
            "TargetProcessCommandLine": '"cmdline"',
            "TargetProcessCurrentDirectory": '"cwd"',
            "TargetProcessCreationTime": 'make_timestamp("time_ns" // 1000)',
            "ActingProcessName": f"CASE WHEN \"ppid\" <> 0 THEN {parent_name} ELSE '' END",
            "ActingProcessFilename": 'CASE WHEN "ppid" <> 0 THEN coalesce(nullif('
            + basename.format('"parent_exepath"')
            + ", ''), \"pcomm\") ELSE '' END",
            "ActingProcessId": 'CASE WHEN "ppid" <> 0 THEN CAST("ppid" AS VARCHAR) ELSE \'\' END',
            "ActorUsername": f"coalesce({actor}, '')",
            "ActorUsernameType": f"CASE WHEN coalesce({actor}, '') <> '' THEN "
            f"{_lit(USERNAME_TYPE)} ELSE '' END",
            "ActorUserId": f"CAST({actor_id} AS VARCHAR)",
            "ActorUserIdType": _lit(USER_ID_TYPE),
            "ActorSessionId": f'CASE WHEN "sessionid" <> {asim.LOGIN_UNSET} THEN '
            "CAST(\"sessionid\" AS VARCHAR) ELSE '' END",
            "AdditionalFields": _additional(
                "exec",
                (
                    ("UpperLayer", '"upper_layer"'),
                    ("Tty", '"tty"'),
                    ("ParentExepath", 'CASE WHEN "ppid" <> 0 THEN "parent_exepath" END'),
                ),
            ),
        }
    )
    out.update(_user("Target", '"user"', '"uid"'))
    return out


_FAMILY_SQL = {
    "tcp": tcp_columns,
    "sni": sni_columns,
    "dns": dns_columns,
    "exec": exec_columns,
}


@cache
def table_columns(schema: str) -> tuple[tuple[str, str], ...]:
    """(name, Kusto type) of a view: the layout's columns, ``Type``, then the empty ones."""
    families = [f for f, s in asim.ASIM_SCHEMAS.items() if s == schema]
    merged = merge_columns([asim.FAMILY_COLUMNS[f] for f in families])
    names = {n for n, _ in merged}
    extra = [c for c in EMPTY_COLUMNS[schema] if c[0] not in names]
    return (*merged, ("Type", "string"), *extra)


def _empty(kind: str) -> str:
    return "''" if kind == "string" else f"CAST(NULL AS {SQL_TYPES[kind]})"


def view_sql(schema: str, since_ns: int | None = None, computer: str = "") -> str:
    """``CREATE TEMP VIEW`` for one ASIM table over the store's tables."""
    name = TABLES[schema]
    branches = []
    for family, family_schema in asim.ASIM_SCHEMAS.items():
        if family_schema != schema:
            continue
        exprs = _FAMILY_SQL[family](computer)
        exprs["Type"] = _lit(name)
        select = ", ".join(
            f"CAST({exprs[col]} AS {SQL_TYPES[kind]}) AS {sql.col(col)}"
            if col in exprs
            else f"{_empty(kind)} AS {sql.col(col)}"
            for col, kind in table_columns(schema)
        )
        where = f' WHERE "time_ns" >= {int(since_ns)}' if since_ns is not None else ""
        branches.append(f"SELECT {select} FROM {sql.col('events_' + family)}{where}")
    body = "\nUNION ALL\n".join(branches)
    return f"CREATE OR REPLACE TEMP VIEW {sql.col(name)} AS\n{body}"


def all_view_sql(since_ns: int | None = None, computer: str = "") -> list[str]:
    return [view_sql(schema, since_ns, computer) for schema in TABLES]
