"""The ASIM layout, field by field, against Microsoft's published schema facts.

The facts below are copied from the Azure Monitor table reference (column names and
types of the ASim* tables) and the ASIM schema documents (allowed values, mandatory
fields, schema versions), so these tests check the mapping against the documents rather
than against itself.
"""

from __future__ import annotations

import msgspec
import pytest

from edgewatch.events import GADGETS
from edgewatch.tables import LAYOUTS, event_id, make_layout
from edgewatch.tables.asim import ASIM_SCHEMAS, PARSER_SUPPLIED, AsimLayout
from edgewatch.tables.schema import format_ns
from tests.tables.helpers import AggregatedTcp, by_family, conforms, every_event, from_fixtures

LAYOUT = LAYOUTS["asim"]
assert isinstance(LAYOUT, AsimLayout)

# -- Azure Monitor table reference: the columns used here, with the table's types -------
_COMMON = {
    "TimeGenerated": "datetime",
    "EventCount": "int",
    "EventStartTime": "datetime",
    "EventEndTime": "datetime",
    "EventType": "string",
    "EventSubType": "string",
    "EventResult": "string",
    "EventResultDetails": "string",
    "EventOriginalType": "string",
    "EventOriginalUid": "string",
    "EventSeverity": "string",
    "EventProduct": "string",
    "EventVendor": "string",
    "EventSchemaVersion": "string",
    "DvcHostname": "string",
    "DvcOs": "string",
    "AdditionalFields": "dynamic",
}
_USER = {
    f"{side}{n}": "string"
    for side in ("Src", "Dst")
    for n in ("Username", "UsernameType", "UserId", "UserIdType")
}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "ASimNetworkSessionLogs": {
        **_COMMON,
        **_USER,
        "Dvc": "string",
        "EventOriginalResultDetails": "string",
        "NetworkDirection": "string",
        "NetworkProtocol": "string",
        "NetworkProtocolVersion": "string",
        "NetworkApplicationProtocol": "string",
        "SrcIpAddr": "string",
        "SrcPortNumber": "int",
        "SrcHostname": "string",
        "DstIpAddr": "string",
        "DstPortNumber": "int",
        "DstHostname": "string",
        "DstFQDN": "string",
        "DstDomain": "string",
        "DstDomainType": "string",
        "SrcAppName": "string",
        "SrcAppId": "string",
        "SrcAppType": "string",
        "DstAppName": "string",
        "DstAppId": "string",
        "DstAppType": "string",
    },
    "ASimDnsActivityLogs": {
        **_COMMON,
        **{k: v for k, v in _USER.items() if k.startswith("Src")},
        "Dvc": "string",
        "SrcIpAddr": "string",
        "SrcPortNumber": "int",
        "SrcHostname": "string",
        "DstIpAddr": "string",
        "DstPortNumber": "int",
        "DstHostname": "string",
        "NetworkProtocol": "string",
        "NetworkProtocolVersion": "string",
        "DnsQuery": "string",
        "DnsQueryType": "int",
        "DnsQueryTypeName": "string",
        "DnsResponseCode": "int",
        "DnsResponseName": "string",
        "DnsNetworkDuration": "int",
        "DnsFlagsRecursionDesired": "boolean",
        "DnsFlagsRecursionAvailable": "boolean",
        "DnsFlagsTruncated": "boolean",
        "TransactionIdHex": "string",
        "SrcProcessName": "string",
        "SrcProcessId": "string",
    },
    "ASimProcessEventLogs": {
        **_COMMON,
        "EventOriginalResultDetails": "string",
        "TargetProcessName": "string",
        "TargetProcessFilename": "string",
        "TargetProcessId": "string",
        "TargetProcessCommandLine": "string",
        "TargetProcessCurrentDirectory": "string",
        "TargetProcessCreationTime": "datetime",
        "TargetUsername": "string",
        "TargetUsernameType": "string",
        "TargetUserId": "string",
        "TargetUserIdType": "string",
        "ActingProcessName": "string",
        "ActingProcessFilename": "string",
        "ActingProcessId": "string",
        "ActorUsername": "string",
        "ActorUsernameType": "string",
        "ActorUserId": "string",
        "ActorUserIdType": "string",
        "ActorSessionId": "string",
    },
}
# The ASimDnsActivityLogs table has no EventOriginalResultDetails; ASimProcessEventLogs
# has no Dvc.
assert "EventOriginalResultDetails" not in TABLE_COLUMNS["ASimDnsActivityLogs"]
assert "Dvc" not in TABLE_COLUMNS["ASimProcessEventLogs"]

# -- ASIM schema documents --------------------------------------------------------------
SCHEMA_VERSION = {"NetworkSession": "0.2.7", "Dns": "0.1.7", "ProcessEvent": "0.1.4"}
EVENT_RESULTS = {"Success", "Partial", "Failure", "NA"}
SEVERITIES = {"Informational", "Low", "Medium", "High"}
EVENT_TYPES = {
    "NetworkSession": {
        "EndpointNetworkSession",
        "NetworkSession",
        "L2NetworkSession",
        "IDS",
        "Flow",
    },
    "Dns": {"Query", "Status", "Notify", "Update", "DNS Stateful Operations"},
    "ProcessEvent": {"ProcessCreated", "ProcessTerminated"},
}
SUBTYPES = {"NetworkSession": {"Start", "End", ""}, "Dns": {"request", "response"}}
ENDPOINT_DIRECTIONS = {"Inbound", "Outbound", "Local", "Listen", "NA"}
NETWORK_RESULT_DETAILS = {
    "Failover",
    "Invalid TCP",
    "Invalid Tunnel",
    "Maximum Retry",
    "Reset",
    "Routing issue",
    "Simulation",
    "Terminated",
    "Timeout",
    "Transient error",
    "Unknown",
    "NA",
}
IANA_RCODES = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN"}
USERNAME_TYPES = {"UPN", "Windows", "DN", "Simple"}
USER_ID_TYPES = {"SID", "UID", "AADID", "OktaId", "AWSId", "PUID", "SalesforceId"}
APP_TYPES = {"Process", "Service", "Resource", "URL", "SaaS application", "CloudService", "Other"}
MANDATORY = {
    "NetworkSession": ["Src", "Dst"],
    "Dns": ["Src", "DnsQuery", "DnsResponseCodeName", "EventResultDetails"],
    "ProcessEvent": [
        "ActingProcessId",
        "ActorUsername",
        "TargetProcessName",
        "TargetProcessId",
        "TargetProcessCommandLine",
        "TargetUsername",
        "TimeGenerated",
    ],
}
COMMON_MANDATORY = [
    "EventCount",
    "EventStartTime",
    "EventEndTime",
    "EventType",
    "EventResult",
    "EventProduct",
    "EventVendor",
    "EventSchema",
    "EventSchemaVersion",
    "Dvc",
]


def coalesce(record: dict, *names: str) -> str:
    for n in names:
        if record.get(n):
            return record[n]
    return ""


def as_parsed(record: dict, schema: str) -> dict:
    """The record as the ``_ASim_<schema>_Native`` parser returns it (the parts used here)."""
    row = dict(record)
    row["EventSchema"] = PARSER_SUPPLIED[schema]["EventSchema"]
    if schema in ("NetworkSession", "Dns"):
        row["Src"] = coalesce(row, "SrcFQDN", "SrcHostname", "SrcIpAddr", "SrcDvcId")
        row["Dst"] = coalesce(row, "DstFQDN", "DstHostname", "DstIpAddr", "DstDvcId")
    if schema == "Dns":
        row["DnsResponseCodeName"] = row["EventResultDetails"]
    if "Dvc" not in row or not row["Dvc"]:
        row["Dvc"] = coalesce(row, "DvcFQDN", "DvcHostname", "DvcIpAddr", "DvcId")
    return row


@pytest.fixture(scope="module")
def groups() -> dict[str, list]:
    return by_family(every_event())


def converted(family: str, events: list) -> list[dict]:
    out = LAYOUT.records(events)
    assert list(out) == [LAYOUT.stream_for(family)]
    return next(iter(out.values()))


@pytest.mark.parametrize("family", sorted(ASIM_SCHEMAS))
def test_columns_exist_in_the_asim_table_with_its_types(family: str) -> None:
    table = LAYOUT.table_for(family)
    reference = TABLE_COLUMNS[table]
    for name, typ in LAYOUT.columns(family):
        assert name in reference, f"{table} has no column {name}"
        assert reference[name] == typ, (name, typ, reference[name])


@pytest.mark.parametrize("family", sorted(ASIM_SCHEMAS))
def test_records_carry_exactly_the_declared_columns(groups: dict, family: str) -> None:
    columns = dict(LAYOUT.columns(family))
    records = converted(family, groups[family])
    assert len(records) == len(groups[family])
    for record in records:
        assert list(record) == list(columns)
        for name, value in record.items():
            assert conforms(value, columns[name]), (family, name, value)


@pytest.mark.parametrize("family", sorted(ASIM_SCHEMAS))
def test_mandatory_fields_are_filled_after_parsing(groups: dict, family: str) -> None:
    schema = ASIM_SCHEMAS[family]
    events = groups[family]
    for ev, record in zip(events, converted(family, events), strict=True):
        row = as_parsed(record, schema)
        for name in COMMON_MANDATORY + MANDATORY[schema]:
            if (family, name) == ("sni", "Src"):
                continue  # trace_sni reports neither addresses nor direction
            assert row[name] not in ("", None), (family, name, row)
        assert row["EventCount"] == 1
        assert row["EventSchema"] == schema
        assert row["EventSchemaVersion"] == SCHEMA_VERSION[schema]
        assert row["EventType"] in EVENT_TYPES[schema]
        assert row["EventResult"] in EVENT_RESULTS
        assert row["EventSeverity"] in SEVERITIES
        assert row["EventProduct"] == "Inspektor Gadget"
        assert row["EventVendor"] == "Inspektor Gadget"
        assert row["DvcHostname"] == ev.node
        assert row["DvcOs"] == "Linux"
        assert row["EventStartTime"] == row["EventEndTime"] == row["TimeGenerated"]
        assert row["EventOriginalUid"] == event_id(ev, row["AdditionalFields"]["Gadget"])
        if schema in SUBTYPES:
            assert row["EventSubType"] in SUBTYPES[schema]


@pytest.mark.parametrize("family", sorted(ASIM_SCHEMAS))
def test_conditional_fields_come_in_pairs(groups: dict, family: str) -> None:
    for record in converted(family, groups[family]):
        for prefix in ("Src", "Dst", "Target", "Actor"):
            if record.get(f"{prefix}Username"):
                assert record[f"{prefix}UsernameType"] in USERNAME_TYPES
            if record.get(f"{prefix}UserId"):
                assert record[f"{prefix}UserIdType"] in USER_ID_TYPES
            if record.get(f"{prefix}AppName"):
                assert record[f"{prefix}AppType"] in APP_TYPES
        if record.get("DstDomain"):
            assert record["DstDomainType"] == "FQDN"
        if record.get("SrcHostname") and family != "sni":
            assert record["SrcIpAddr"]


def test_network_sessions_follow_the_schema(groups: dict) -> None:
    for record in converted("tcp", groups["tcp"]):
        assert record["EventType"] == "EndpointNetworkSession"
        assert record["NetworkDirection"] in ENDPOINT_DIRECTIONS
        assert record["NetworkProtocol"] == "TCP"
        assert record["NetworkProtocolVersion"] in {"IPv4", "IPv6"}
        assert record["EventResultDetails"] in NETWORK_RESULT_DETAILS | {""}
        assert (record["EventResult"] == "Failure") == bool(record["EventOriginalResultDetails"])


def test_tcp_connect_accept_close_refused_and_loopback() -> None:
    connect, accept, close, refused, host = converted("tcp", by_family(from_fixtures())["tcp"])
    assert connect["NetworkDirection"] == "Outbound"
    assert connect["EventSubType"] == "Start"
    assert connect["EventResult"] == "Success"
    assert (connect["SrcIpAddr"], connect["SrcPortNumber"]) == ("10.244.1.37", 48212)
    assert (connect["DstIpAddr"], connect["DstPortNumber"]) == ("10.0.184.20", 80)
    assert connect["SrcHostname"] == "api-5c8f9d7b4-q7lmn"
    assert (connect["SrcAppName"], connect["SrcAppId"], connect["SrcAppType"]) == (
        "curl",
        "31502",
        "Process",
    )
    assert (connect["SrcUsername"], connect["SrcUserId"]) == ("uid:1000", "1000")
    assert connect["AdditionalFields"]["Namespace"] == "shop"
    assert connect["AdditionalFields"]["PodName"] == "api-5c8f9d7b4-q7lmn"

    # accept: IG's src is the local listener, ASIM's Src the remote client
    assert accept["NetworkDirection"] == "Inbound"
    assert (accept["SrcIpAddr"], accept["SrcPortNumber"]) == ("10.244.1.37", 48212)
    assert (accept["DstIpAddr"], accept["DstPortNumber"]) == ("10.244.1.22", 80)
    assert accept["DstHostname"] == "web-7d9f8c6b5-x2x9q"
    assert accept["DstAppName"] == "nginx"
    assert accept["SrcAppName"] == ""

    assert close["EventSubType"] == "End"
    assert close["NetworkDirection"] == "NA"

    assert refused["EventResult"] == "Failure"
    assert refused["EventResultDetails"] == "Reset"
    assert refused["EventOriginalResultDetails"] == "ECONNREFUSED"

    assert host["NetworkDirection"] == "Local"
    assert host["NetworkProtocolVersion"] == "IPv6"
    assert host["SrcHostname"] == "edge-node-07"  # a host process: the node is the end
    assert "PodName" not in host["AdditionalFields"]


def test_dns_queries_and_responses() -> None:
    query, answer, nxdomain, https = converted("dns", by_family(from_fixtures())["dns"])
    assert query["EventType"] == "Query"
    assert (query["EventSubType"], query["EventResult"], query["EventResultDetails"]) == (
        "request",
        "NA",
        "NA",
    )
    assert query["DnsQuery"] == "db.shop.svc.cluster.local"  # no trailing dot in ASIM
    assert (query["DnsQueryType"], query["DnsQueryTypeName"]) == (1, "A")
    assert query["DnsResponseCode"] is None
    assert (query["SrcIpAddr"], query["DstIpAddr"], query["DstPortNumber"]) == (
        "10.244.1.37",
        "10.0.0.10",
        53,
    )
    assert (query["SrcProcessName"], query["SrcProcessId"]) == ("python3", "31777")
    assert query["TransactionIdHex"] == "5c1e"
    assert query["DnsFlagsRecursionDesired"] is True

    # a response travels server -> client; ASIM's Src is still the client
    assert (answer["EventSubType"], answer["EventResult"]) == ("response", "Success")
    assert answer["EventResultDetails"] == "NOERROR"
    assert answer["DnsResponseCode"] == 0
    assert answer["DnsResponseName"] == "10.0.77.5"
    assert (answer["SrcIpAddr"], answer["SrcPortNumber"]) == ("10.244.1.37", 41877)
    assert (answer["DstIpAddr"], answer["DstPortNumber"]) == ("10.0.0.10", 53)
    assert answer["DnsNetworkDuration"] == 0  # 0.8 ms, in whole milliseconds
    assert answer["SrcHostname"] == "api-5c8f9d7b4-q7lmn"

    assert (nxdomain["EventResult"], nxdomain["EventResultDetails"]) == ("Failure", "NXDOMAIN")
    assert nxdomain["DnsResponseCode"] == 3
    assert nxdomain["DnsNetworkDuration"] == 3
    assert nxdomain["DnsQueryTypeName"] == "AAAA"
    assert as_parsed(nxdomain, "Dns")["DnsResponseCodeName"] == "NXDOMAIN"

    assert https["DnsQueryTypeName"] == "HTTPS"  # IG prints "65"
    assert https["SrcHostname"] == "coredns-6d4b75cb6d-hwt7m"


def test_dns_results_match_their_response_codes(groups: dict) -> None:
    for record in converted("dns", groups["dns"]):
        if record["EventSubType"] == "request":
            assert (record["EventResult"], record["EventResultDetails"]) == ("NA", "NA")
        else:
            assert record["EventResultDetails"] in IANA_RCODES
            ok = record["EventResultDetails"] == "NOERROR"
            assert record["EventResult"] == ("Success" if ok else "Failure")
        assert not record["DnsQuery"].endswith(".") or record["DnsQuery"] == "."


def test_dns_served_by_the_workload_puts_it_on_the_server_side() -> None:
    query = by_family(from_fixtures())["dns"][0]
    served = type(query)(
        **{
            **{f: getattr(query, f) for f in query.__struct_fields__},
            "pkt_type": "HOST",
        }
    )
    (record,) = converted("dns", [served])
    assert record["SrcHostname"] == ""
    assert record["DstHostname"] == "api-5c8f9d7b4-q7lmn"
    assert record["SrcProcessName"] == ""


def test_sni_is_a_tls_session_to_the_server_name() -> None:
    first, _, anonymous = converted("sni", by_family(from_fixtures())["sni"])
    assert first["EventType"] == "EndpointNetworkSession"
    assert first["NetworkApplicationProtocol"] == "TLS"
    assert (first["NetworkProtocol"], first["NetworkProtocolVersion"]) == ("TCP", "IPv4")
    assert first["NetworkDirection"] == "NA"
    assert first["DstHostname"] == first["DstFQDN"] == "api.github.com"
    assert (first["DstDomain"], first["DstDomainType"]) == ("github.com", "FQDN")
    assert first["AdditionalFields"]["ProcessName"] == "python3"
    assert as_parsed(first, "NetworkSession")["Dst"] == "api.github.com"
    assert "ProcessId" not in anonymous["AdditionalFields"]


def test_process_creation() -> None:
    shell, wget, sleep, failed = converted("exec", by_family(from_fixtures())["exec"])
    assert shell["EventType"] == "ProcessCreated"
    assert shell["TargetProcessName"] == "sh"  # no --paths: the comm
    assert (
        shell["TargetProcessCommandLine"]
        == "/bin/sh -c wget -qO- https://inspektor-gadget.io | head"
    )
    assert (shell["TargetProcessId"], shell["ActingProcessId"]) == ("24090", "24080")
    assert shell["ActingProcessName"] == "containerd-shim"
    assert (shell["TargetUsername"], shell["TargetUserId"]) == ("root", "0")
    assert shell["ActorUsername"] == "root"  # no audit login user: the process's user
    assert shell["ActorSessionId"] == ""
    assert shell["TargetProcessCreationTime"] == shell["TimeGenerated"]

    assert wget["ActingProcessId"] == shell["TargetProcessId"]
    assert sleep["TargetProcessName"] == "/usr/bin/sleep"
    assert sleep["TargetProcessFilename"] == "sleep"
    assert sleep["TargetProcessCurrentDirectory"] == "/tmp"
    assert (sleep["ActingProcessName"], sleep["ActingProcessFilename"]) == ("/usr/bin/sh2", "sh2")
    assert sleep["AdditionalFields"]["ParentExepath"] == "/usr/bin/sh2"

    assert (failed["EventResult"], failed["EventResultDetails"]) == ("Failure", "ENOEXEC")
    assert failed["EventOriginalResultDetails"] == "8"


def test_streams_and_tables() -> None:
    assert LAYOUT.table_for("tcp") == LAYOUT.table_for("sni") == "ASimNetworkSessionLogs"
    assert LAYOUT.table_for("dns") == "ASimDnsActivityLogs"
    assert LAYOUT.table_for("exec") == "ASimProcessEventLogs"
    for family in ASIM_SCHEMAS:
        table = LAYOUT.table_for(family)
        assert LAYOUT.output_stream_for(family) == f"Microsoft-{table}"
        assert LAYOUT.stream_for(family).startswith("Custom-")
    # no ASIM schema fits these: they keep their custom tables
    for family in ("seccomp", "open", "bind", "signal", "capabilities", "oomkill"):
        assert LAYOUT.schema_for(family) is None
        assert LAYOUT.table_for(family).endswith("_CL")
        assert LAYOUT.output_stream_for(family) == LAYOUT.stream_for(family)
    assert LAYOUT.table_for("seccomp") == "EdgeWatchSeccomp_CL"
    # the process table holds only the process gadgets that are not ASIM here
    (process,) = [s for s in LAYOUT.streams() if s.table == "EdgeWatchProcess_CL"]
    assert set(process.families) == {"signal", "capabilities", "oomkill"}
    assert len(LAYOUT.streams()) <= 10
    network = [s for s in LAYOUT.streams() if s.table == "ASimNetworkSessionLogs"]
    assert [s.families for s in network] == [("tcp", "sni")]
    assert not network[0].custom_table


def test_other_gadgets_get_custom_records(groups: dict) -> None:
    events = [e for f in ("seccomp", "open", "oomkill") for e in groups[f]]
    out = LAYOUT.records(events)
    assert set(out) == {LAYOUT.stream_for(f) for f in ("seccomp", "open", "oomkill")}
    custom = LAYOUTS["custom"]
    assert out == custom.records(events)


def test_every_gadget_in_one_batch(groups: dict) -> None:
    events = list(every_event())
    out = LAYOUT.records(events)
    assert sum(map(len, out.values())) == len(events)
    assert set(out) <= {s.name for s in LAYOUT.streams()}
    assert {g.family for g in GADGETS} == set(LAYOUT.families())


def test_configured_layout() -> None:
    layout = make_layout("asim", table_names={"seccomp": "Seccomp_CL", "tcp": "Ignored_CL"})
    assert layout.table_for("seccomp") == "Seccomp_CL"
    assert layout.table_for("tcp") == "ASimNetworkSessionLogs"
    only = make_layout("asim", families=["tcp", "seccomp"])
    assert {s.name for s in only.streams()} == {
        "Custom-EdgeWatchASimNetworkSessionLogs",
        "Custom-EdgeWatchSeccomp_CL",
    }


def test_aggregated_events_keep_their_count_and_span() -> None:
    ev = AggregatedTcp(
        time_ns=1_750_000_000_000_000_000,
        node="edge-node-01",
        type="connect",
        event_count=12,
        event_start_ns=1_750_000_000_000_000_000,
        event_end_ns=1_750_000_300_000_000_000,
    )
    (record,) = converted("tcp", [ev])
    assert record["EventCount"] == 12
    assert record["EventStartTime"] == format_ns(ev.event_start_ns)
    assert record["EventEndTime"] == format_ns(ev.event_end_ns)
    assert record["EventOriginalUid"] == event_id(ev, "trace_tcp")


def test_events_without_a_node_still_convert() -> None:
    """Plain ig leaves k8s.node empty; the parser then falls back to vendor/product."""
    events = [msgspec.structs.replace(e, node="") for e in from_fixtures()]
    for family in ASIM_SCHEMAS:
        columns = dict(LAYOUT.columns(family))
        for record in converted(family, [e for e in events if e.gadget_family == family]):
            assert record["DvcHostname"] == ""
            assert all(conforms(v, columns[k]) for k, v in record.items())
