"""The ASIM tables and parsers on the store, field by field against the schema facts.

Two claims are checked over a simulated cluster with every attack scenario:

* each parser's output has the schema's mandatory fields, typed as the schema says and
  filled, its recommended fields present, and every value-listed field inside its list
  (the facts are ASIM's, as ``reference/azure-ingestion.md`` §6 records them from
  ``ASimTester.csv`` and the schema documents);
* the views hold the very records the ASIM layout sends to Sentinel for the same events,
  column by column, so a hunt on the node and one in the workspace see the same values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from edgewatch import simulate
from edgewatch.events import Event
from edgewatch.hunt import engine
from edgewatch.hunt.asim import views
from edgewatch.tables.asim import AsimLayout
from tests.store.conftest import fill_store, hunting_connection

# -- ASIM schema facts -----------------------------------------------------------------

RESULTS = {"Success", "Partial", "Failure", "NA"}
SEVERITIES = {"Informational", "Low", "Medium", "High"}
USERNAME_TYPES = {"UPN", "Windows", "DN", "Simple"}
USER_ID_TYPES = {"SID", "UID", "AADID", "OktaId", "AWSId", "MD4IoTid"}
APP_TYPES = {"Process", "Service", "Resource", "URL", "SaaS application", "Other"}

#: Mandatory in every schema: name -> Kusto type.
COMMON_MANDATORY = {
    "EventCount": "int",
    "EventStartTime": "datetime",
    "EventEndTime": "datetime",
    "EventType": "string",
    "EventResult": "string",
    "EventProduct": "string",
    "EventVendor": "string",
    "EventSchema": "string",
    "EventSchemaVersion": "string",
    "Dvc": "string",
}
COMMON_RECOMMENDED = (
    "EventResultDetails",
    "DvcIpAddr",
    "DvcHostname",
    "DvcDomain",
    "_ResourceId",
    "Type",
)


class Facts:
    def __init__(
        self,
        schema: str,
        mandatory: Mapping[str, str],
        recommended: tuple[str, ...],
        values: Mapping[str, set[str]],
        typed: Mapping[str, str] = {},
        #: mandatory fields IG data can leave empty, and why (documented in docs/)
        may_be_empty: frozenset[str] = frozenset(),
    ) -> None:
        self.schema = schema
        self.mandatory = {**COMMON_MANDATORY, **mandatory}
        self.recommended = (*COMMON_RECOMMENDED, *recommended)
        self.values = {"EventResult": RESULTS, **values}
        self.typed = typed
        self.may_be_empty = may_be_empty


NETWORK = Facts(
    "NetworkSession",
    {"Src": "string", "Dst": "string", "EventSeverity": "string"},
    (
        "SrcIpAddr",
        "DstIpAddr",
        "SrcHostname",
        "DstHostname",
        "SrcDomain",
        "DstDomain",
        "ASimMatchingIpAddr",
        "ASimMatchingHostname",
    ),
    {
        "EventType": {"NetworkSession", "EndpointNetworkSession", "Flow", "L2NetworkSession"},
        "EventSubType": {"Start", "End", ""},
        "EventSeverity": SEVERITIES,
        "NetworkDirection": {"Inbound", "Outbound", "Listen", "Unknown", "Local", "External", "NA"},
        "NetworkProtocolVersion": {"IPv4", "IPv6", ""},
        "SrcAppType": APP_TYPES | {""},
        "DstAppType": APP_TYPES | {""},
        "SrcUsernameType": USERNAME_TYPES | {""},
        "DstUsernameType": USERNAME_TYPES | {""},
        "SrcUserIdType": USER_ID_TYPES | {""},
        "DstUserIdType": USER_ID_TYPES | {""},
        "EventSchema": {"NetworkSession"},
    },
    {"SrcPortNumber": "int", "DstPortNumber": "int", "NetworkDuration": "int", "SrcBytes": "long"},
    # trace_sni reports no addresses and cannot tell which end a process is (the
    # layout's documented choice), so a TLS session has a Dst (the server name) only.
    may_be_empty=frozenset({"Src"}),
)
DNS = Facts(
    "Dns",
    {"Src": "string", "DnsResponseCodeName": "string", "EventResultDetails": "string"},
    (
        "DnsQuery",
        "DnsQueryClassName",
        "Dst",
        "SrcIpAddr",
        "SrcHostname",
        "SrcDomain",
        "TransactionIdHex",
    ),
    {
        "EventType": {"Query", "Status", "Notify", "Update", "DNS Stateful Operations"},
        "EventSubType": {"request", "response"},
        "NetworkProtocol": {"TCP", "UDP"},
        "EventSchema": {"Dns"},
        "SrcUsernameType": USERNAME_TYPES | {""},
        "SrcUserIdType": USER_ID_TYPES | {""},
    },
    {
        "DnsQueryType": "int",
        "DnsResponseCode": "int",
        "DnsNetworkDuration": "int",
        "DnsFlagsRecursionDesired": "bool",
        "DnsFlagsTruncated": "bool",
        "SrcPortNumber": "int",
    },
    # A DNS packet seen on a node's interface has no process behind it to name.
)
PROCESS = Facts(
    "ProcessEvent",
    {
        "ActingProcessId": "string",
        "ActorUsername": "string",
        "TargetProcessName": "string",
        "TargetProcessId": "string",
        "TargetProcessCommandLine": "string",
        "TargetUsername": "string",
        "TimeGenerated": "datetime",
    },
    ("ActorUserId", "TargetUserId", "ParentProcessId", "TargetProcessCreationTime", "Hash"),
    {
        "EventType": {"ProcessCreated", "ProcessTerminated"},
        "ActorUsernameType": USERNAME_TYPES | {""},
        "TargetUsernameType": USERNAME_TYPES | {""},
        "ActorUserIdType": USER_ID_TYPES | {""},
        "TargetUserIdType": USER_ID_TYPES | {""},
        "EventSchema": {"ProcessEvent"},
    },
    {"TargetProcessCreationTime": "datetime"},
    # IG names a user only when the node's passwd file knows the uid; the uid is always
    # in TargetUserId/ActorUserId. A process with no parent IG saw has no acting id.
    may_be_empty=frozenset({"ActorUsername", "TargetUsername", "ActingProcessId"}),
)
WEB = Facts(
    "WebSession",
    {
        "Dst": "string",
        "EventResultDetails": "string",
        "IpAddr": "string",
        "EventSeverity": "string",
    },
    (
        "Src",
        "SrcIpAddr",
        "DstIpAddr",
        "DstHostname",
        "SrcHostname",
        "SrcDomain",
        "ASimMatchingIpAddr",
    ),
    {"EventType": {"HTTPsession"}, "EventSchema": {"WebSession"}, "EventSeverity": SEVERITIES},
    # A TLS ClientHello carries a server name and nothing of HTTP (docs/hunting-content.md).
    may_be_empty=frozenset({"EventResultDetails", "IpAddr"}),
)

PARSERS: dict[str, Facts] = {
    "_Im_NetworkSession": NETWORK,
    "_ASim_NetworkSession": NETWORK,
    "imNetworkSession": NETWORK,
    "_Im_Dns": DNS,
    "imDns": DNS,
    "_Im_ProcessEvent": PROCESS,
    "_ASim_ProcessEvent_Create": PROCESS,
    "imProcessCreate": PROCESS,
    "_Im_WebSession": WEB,
}

_ARROW_KINDS = {
    "string": (pa.types.is_string, pa.types.is_large_string),
    "int": (pa.types.is_integer,),
    "long": (pa.types.is_integer,),
    "datetime": (pa.types.is_timestamp,),
    "bool": (pa.types.is_boolean,),
}


# -- data ------------------------------------------------------------------------------

#: The node the store belongs to: the device of events IG gave no node name.
STORE_NODE = "edge-store-node"


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(simulate.generate(3000, seed=11, scenarios=("all",), node_names=True))


@pytest.fixture(scope="module")
def con(
    events: list[Event], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("asim") / "store.duckdb"
    fill_store(path, events, node=STORE_NODE).close()
    connection = hunting_connection(path)
    yield connection
    connection.close()


def _table(con: duckdb.DuckDBPyConnection, kql: str) -> pa.Table:
    return engine.execute(con, kql).table


# -- the field-by-field check ------------------------------------------------------------


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_parser_output_meets_the_schema(con: duckdb.DuckDBPyConnection, parser: str) -> None:
    facts = PARSERS[parser]
    table = _table(con, parser)
    assert table.num_rows > 0, f"{parser} returned nothing on a cluster with traffic"
    fields = {f.name: f.type for f in table.schema}
    for name, kind in {**facts.mandatory, **facts.typed}.items():
        assert name in fields, f"{parser}: mandatory or typed field {name} missing"
        assert any(check(fields[name]) for check in _ARROW_KINDS[kind]), (
            f"{parser}: {name} is {fields[name]}, the schema says {kind}"
        )
    for name in facts.mandatory:
        if name in facts.may_be_empty:
            continue
        column = table.column(name).to_pylist()
        empty = [v for v in column if v is None or v == ""]
        assert not empty, f"{parser}: mandatory {name} empty in {len(empty)} of {len(column)} rows"
    for name in facts.recommended:
        assert name in fields, f"{parser}: recommended field {name} missing"
    for name, allowed in facts.values.items():
        seen = set(table.column(name).to_pylist()) - {None}
        assert seen <= allowed, f"{parser}: {name} has {seen - allowed}, outside {allowed}"
    schema_version = set(table.column("EventSchemaVersion").to_pylist())
    assert all(v.count(".") == 2 for v in schema_version)


def test_every_schema_event_kind_is_represented(con: duckdb.DuckDBPyConnection) -> None:
    """The simulated data exercises the mappings, not only their defaults."""
    directions = set(
        _table(con, "_Im_NetworkSession | distinct NetworkDirection").column(0).to_pylist()
    )
    assert {"Inbound", "Outbound"} <= directions
    results = set(_table(con, "_Im_Dns | distinct DnsResponseCodeName").column(0).to_pylist())
    assert {"NOERROR", "NXDOMAIN"} <= results
    tls = _table(con, "_Im_NetworkSession | where NetworkApplicationProtocol == 'TLS' | count")
    assert tls.column(0)[0].as_py() > 0


# -- the views agree with the records delivered to Sentinel -------------------------------


def _normal(value: Any, kind: str) -> Any:
    """A layout record value as the view holds it (Kusto's empty string for text)."""
    if kind == "datetime":
        if value in (None, ""):
            return None
        seconds, _, fraction = value.rstrip("Z").partition(".")
        moment = dt.datetime.fromisoformat(seconds).replace(tzinfo=None)
        return moment + dt.timedelta(microseconds=int((fraction + "000000")[:6]))
    if kind == "dynamic":
        return json.dumps(value, sort_keys=True)
    if kind == "string":
        return "" if value is None else value
    return value


def _view_value(value: Any, kind: str) -> Any:
    if kind == "dynamic":
        return json.dumps(json.loads(value), sort_keys=True) if value is not None else None
    if kind == "datetime" and value is not None:
        return value.replace(tzinfo=None)
    return value


@pytest.mark.parametrize(
    ("family", "where"),
    [
        ("tcp", "NetworkApplicationProtocol != 'TLS'"),
        ("sni", "NetworkApplicationProtocol == 'TLS'"),
        ("dns", "true"),
        ("exec", "true"),
    ],
)
def test_views_hold_the_records_sentinel_receives(
    con: duckdb.DuckDBPyConnection, events: list[Event], family: str, where: str
) -> None:
    from edgewatch.tables.asim import ASIM_SCHEMAS, FAMILY_COLUMNS

    mine = [e for e in events if e.gadget_family == family]
    assert mine, f"the simulation has no {family} events"
    layout = AsimLayout()
    records = [r for rs in layout.records(mine).values() for r in rs]
    columns = [(n, k) for n, k in FAMILY_COLUMNS[family] if n != "EventOriginalUid"]
    table = views.TABLES[ASIM_SCHEMAS[family]]
    names = ", ".join(f'"{n}"' for n, _ in columns)
    rows = con.execute(f'SELECT {names} FROM "{table}" WHERE {where}').fetchall()
    for r in records:  # the store names its own node where IG named none
        for device in ("Dvc", "DvcHostname"):
            if device in r and not r[device]:
                r[device] = STORE_NODE
    expected = Counter(tuple(_normal(r[n], k) for n, k in columns) for r in records)
    got = Counter(
        tuple(_view_value(v, k) for v, (_, k) in zip(row, columns, strict=True)) for row in rows
    )
    assert sum(got.values()) == sum(expected.values())
    if got != expected:
        wrong = next(iter(expected - got))
        near = next(iter(got - expected))
        diffs = {n: (a, b) for (n, _), a, b in zip(columns, wrong, near, strict=True) if a != b}
        pytest.fail(f"{family}: a record the layout sends differs from the view's: {diffs}")


def test_view_sql_is_built_from_the_layout_tables() -> None:
    """One source of truth: the view's column list is the layout's, plus the empties."""
    from edgewatch.tables.asim import TCP_COLUMNS

    names = [n for n, _ in views.table_columns("NetworkSession")]
    assert names[: len(TCP_COLUMNS)] == [n for n, _ in TCP_COLUMNS]
    assert "DvcAction" in names and "Type" in names


def test_views_follow_the_hunt_window(events: list[Event], tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    fill_store(path, events).close()
    from edgewatch.store.database import open_store

    con = open_store(path, read_only=True)
    last = max(e.time_ns for e in events)
    engine.prepare(
        con,
        since=dt.timedelta(seconds=5),
        now=dt.datetime.fromtimestamp(last / 1e9, dt.UTC),
    )
    earliest = engine.execute(con, "ASimProcessEventLogs | summarize min(TimeGenerated)").table
    first = earliest.column(0)[0].as_py().replace(tzinfo=dt.UTC)  # naive datetimes are UTC
    assert first.timestamp() >= last / 1e9 - 5.001
    con.close()
