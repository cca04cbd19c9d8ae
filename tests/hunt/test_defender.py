"""Defender XDR's DeviceNetworkEvents and DeviceProcessEvents over the store.

A few hand-made events of one pod, where what Defender would record is obvious: a
process started by a shell resolves a name and connects to the answer; a connection
fails; a server accepts one; a TLS ClientHello; a host process with no node name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from edgewatch.events import DnsEvent, Event, ExecEvent, SniEvent, TcpEvent
from edgewatch.hunt import defender, engine
from tests.store.conftest import fill_store, hunting_connection

S = 1_000_000_000
T0 = 1_750_000_000 * S
NODE = "edge-node-07"
MNTNS = 4026532999

CTX: dict[str, Any] = {
    "node": NODE,
    "namespace": "shop",
    "pod": "api-5c8f9d7b4-q7lmn",
    "container": "api",
    "container_id": "c0ffee",
    "image": "registry.example/shop/api:2.4.1",
    "mntns_id": MNTNS,
    "uid": 1000,
    "user": "app",
}
#: the TCP events' process: python3 under sh, from the pod's address
PYTHON_TCP: dict[str, Any] = {
    **CTX,
    "pid": 101,
    "tid": 101,
    "ppid": 100,
    "comm": "python3",
    "pcomm": "sh",
    "src_addr": "10.244.1.37",
    "ip_version": 4,
    "proto": "TCP",
}


def _exec(
    t: int, pid: int, ppid: int, args: list[str], exepath: str, parent: str, pcomm: str
) -> ExecEvent:
    return ExecEvent(
        time_ns=t,
        **CTX,
        pid=pid,
        tid=pid,
        ppid=ppid,
        comm=exepath.rsplit("/", 1)[-1][:15],
        pcomm=pcomm,
        args=args,
        cmdline=" ".join(args),
        exepath=exepath,
        parent_exepath=parent,
        cwd="/app",
        loginuid=4294967295,
        sessionid=4294967295,
    )


@pytest.fixture(scope="module")
def events() -> list[Event]:
    shell = _exec(
        T0,
        100,
        1,
        ["/bin/sh", "-c", "python3 fetch.py"],
        "/bin/sh",
        "/usr/bin/containerd-shim",
        "containerd-shim",
    )
    python = _exec(
        T0 + S,
        101,
        100,
        ["python3", "fetch.py", "--url", "https://files.example.org/x"],
        "/usr/bin/python3.12",
        "/bin/sh",
        "sh",
    )
    query = DnsEvent(
        time_ns=T0 + 2 * S,
        **CTX,
        pid=101,
        tid=101,
        ppid=100,
        comm="python3",
        pcomm="sh",
        src_addr="10.244.1.37",
        src_port=40001,
        dst_addr="10.96.0.10",
        dst_port=53,
        ip_version=4,
        proto="UDP",
        qr="Q",
        qtype="A",
        qtype_raw=1,
        name="files.example.org.",
        pkt_type="OUTGOING",
    )
    answer = DnsEvent(
        time_ns=T0 + 2 * S + 5_000_000,
        **CTX,
        pid=101,
        tid=101,
        ppid=100,
        comm="python3",
        pcomm="sh",
        src_addr="10.96.0.10",
        src_port=53,
        dst_addr="10.244.1.37",
        dst_port=40001,
        ip_version=4,
        proto="UDP",
        qr="R",
        qtype="A",
        qtype_raw=1,
        name="files.example.org.",
        rcode="Success",
        rcode_raw=0,
        num_answers=1,
        addresses=["203.0.113.7"],
        pkt_type="HOST",
    )
    connect = TcpEvent(
        time_ns=T0 + 3 * S,
        **PYTHON_TCP,
        src_port=51000,
        dst_addr="203.0.113.7",
        dst_port=443,
        type="connect",
    )
    refused = TcpEvent(
        time_ns=T0 + 4 * S,
        **PYTHON_TCP,
        src_port=51001,
        dst_addr="198.51.100.9",
        dst_port=8443,
        type="connect",
        error="ECONNREFUSED",
        error_raw=111,
    )
    accept = TcpEvent(
        time_ns=T0 + 5 * S,
        **PYTHON_TCP,
        src_port=8080,
        dst_addr="10.244.2.5",
        dst_port=39000,
        type="accept",
    )
    close = TcpEvent(
        time_ns=T0 + 6 * S,
        **PYTHON_TCP,
        src_port=51000,
        dst_addr="203.0.113.7",
        dst_port=443,
        type="close",
    )
    hello = SniEvent(
        time_ns=T0 + 3 * S + 1000, **CTX, pid=101, tid=101, comm="python3", name="files.example.org"
    )
    host = ExecEvent(
        time_ns=T0 + 7 * S,
        pid=900,
        ppid=1,
        comm="logrotate",
        pcomm="systemd",
        args=["logrotate"],
        cmdline="logrotate /etc/logrotate.conf",
        exepath="/usr/sbin/logrotate",
        loginuid=4294967295,
        sessionid=4294967295,
    )
    failed = ExecEvent(
        time_ns=T0 + 8 * S,
        **CTX,
        pid=102,
        ppid=100,
        comm="nope",
        pcomm="sh",
        args=["nope"],
        cmdline="nope",
        error="ENOENT",
        error_raw=2,
        loginuid=4294967295,
        sessionid=4294967295,
    )
    return [shell, python, query, answer, connect, refused, accept, close, hello, host, failed]


@pytest.fixture(scope="module")
def con(
    events: list[Event], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("defender") / "store.duckdb"
    fill_store(path, events, node="the-store-node").close()
    connection = hunting_connection(path)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, kql: str) -> list[dict[str, Any]]:
    return engine.execute(con, kql).table.to_pylist()


def test_network_actions_follow_defender(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "DeviceNetworkEvents | sort by Timestamp asc "
        "| project ActionType, RemoteIP, RemotePort, LocalIP, LocalPort, Protocol",
    )
    assert [r["ActionType"] for r in got] == [
        "DnsConnectionInspected",
        "ConnectionSuccess",
        "SslConnectionInspected",
        "ConnectionFailed",
        "InboundConnectionAccepted",
    ]  # the close has no Defender action
    success = got[1]
    assert (
        success["RemoteIP"],
        success["RemotePort"],
        success["LocalIP"],
        success["LocalPort"],
    ) == ("203.0.113.7", 443, "10.244.1.37", 51000)
    assert success["Protocol"] == "Tcp" and got[0]["Protocol"] == "Udp"
    inbound = got[4]
    assert (inbound["RemoteIP"], inbound["LocalPort"]) == ("10.244.2.5", 8080)


def test_remote_url_comes_from_the_dns_answer_or_the_server_name(
    con: duckdb.DuckDBPyConnection,
) -> None:
    got = {
        r["ActionType"]: r["RemoteUrl"]
        for r in rows(con, "DeviceNetworkEvents | project ActionType, RemoteUrl")
    }
    assert got["ConnectionSuccess"] == "files.example.org"  # 203.0.113.7 was its answer
    assert got["SslConnectionInspected"] == "files.example.org"
    assert got["ConnectionFailed"] == ""  # no answer named 198.51.100.9


def test_initiating_process_is_described_from_its_exec(con: duckdb.DuckDBPyConnection) -> None:
    (r,) = rows(con, "DeviceNetworkEvents | where ActionType == 'ConnectionSuccess'")
    assert r["InitiatingProcessFileName"] == "python3.12"
    assert r["InitiatingProcessFolderPath"] == "/usr/bin/python3.12"
    assert r["InitiatingProcessCommandLine"] == "python3 fetch.py --url https://files.example.org/x"
    assert r["InitiatingProcessId"] == 101 and r["InitiatingProcessParentId"] == 100
    assert r["InitiatingProcessParentFileName"] == "sh"
    assert r["InitiatingProcessAccountName"] == "app"
    assert r["RemoteIPType"] == "Public" and r["LocalIPType"] == "Private"
    assert r["DeviceName"] == NODE
    extra = json.loads(r["AdditionalFields"])
    assert extra["PodName"] == CTX["pod"] and extra["Namespace"] == "shop"


def test_dns_query_details_are_in_additional_fields(con: duckdb.DuckDBPyConnection) -> None:
    (r,) = rows(
        con,
        "DeviceNetworkEvents | where ActionType == 'DnsConnectionInspected' "
        "| extend q = tostring(AdditionalFields.query)",
    )
    assert r["q"] == "files.example.org"
    assert json.loads(r["AdditionalFields"])["query_type"] == "A"


def test_process_events(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "DeviceProcessEvents | sort by Timestamp asc")
    assert [r["FileName"] for r in got] == [
        "sh",
        "python3.12",
        "logrotate",
    ]  # the failed exec is no process
    python = got[1]
    assert python["FolderPath"] == "/usr/bin/python3.12"
    assert python["ProcessCommandLine"] == "python3 fetch.py --url https://files.example.org/x"
    assert python["InitiatingProcessFileName"] == "sh"
    assert python["InitiatingProcessCommandLine"] == "/bin/sh -c python3 fetch.py"
    assert python["InitiatingProcessParentFileName"] == "containerd-shim"
    assert python["InitiatingProcessCreationTime"] == dt.datetime.fromtimestamp(
        T0 / S, dt.UTC
    ).replace(tzinfo=python["InitiatingProcessCreationTime"].tzinfo)
    assert python["AccountName"] == "app" and python["ActionType"] == "ProcessCreated"
    assert got[2]["DeviceName"] == "the-store-node"  # IG gave the host process no node


def test_columns_ig_cannot_know_are_present_and_empty(con: duckdb.DuckDBPyConnection) -> None:
    for table in (defender.NETWORK, defender.PROCESS):
        got = rows(con, f"{table} | take 1")[0]
        for column in defender.UNKNOWN_TEXT[table]:
            assert got[column] == "", (table, column)
        for column, _ in defender.UNKNOWN_OTHER[table]:
            assert got[column] is None, (table, column)


def test_legacy_names_still_answer(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "NetworkCommunicationEvents | where RemoteUrl has 'example' "
        "| project EventTime, ComputerName, MachineId, Timestamp",
    )
    assert got and all(r["EventTime"] == r["Timestamp"] and r["ComputerName"] == NODE for r in got)
    assert rows(con, "ProcessCreationEvents | where FileName == 'sh' | project FileName")


def test_published_defender_query_finds_the_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Microsoft's "Connection to Rare DNS Hosts" query, unchanged, over these events."""
    path = Path(__file__).parent / "corpus" / "defender" / "Connection to Rare DNS Hosts.kql"
    got = rows(con, path.read_text())
    assert {r["RemoteDomain"] for r in got} == {"files.example.org"}
    assert {r["SecondLevelDomain"] for r in got} == {"example.org"}
