"""The ASIM parsers' standard filtering parameters, by name and by position.

Each filter's answer is worked out in Python from the unfiltered view's rows, so a
filter that silently ignored its parameter, or matched the wrong column, fails here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from edgewatch import simulate
from edgewatch.hunt import engine
from tests.store.conftest import fill_store, hunting_connection


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    events = list(simulate.generate(2500, seed=5, scenarios=("all",), node_names=True))
    path = tmp_path_factory.mktemp("parsers") / "store.duckdb"
    fill_store(path, events).close()
    connection = hunting_connection(path)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, kql: str) -> list[dict[str, Any]]:
    return engine.execute(con, kql).table.to_pylist()


def count(con: duckdb.DuckDBPyConnection, kql: str) -> int:
    return engine.execute(con, f"{kql} | count").table.column(0)[0].as_py()


@pytest.fixture(scope="module")
def sessions(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows(con, "ASimNetworkSessionLogs")


@pytest.fixture(scope="module")
def dns(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows(con, "ASimDnsActivityLogs")


@pytest.fixture(scope="module")
def processes(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return rows(con, "ASimProcessEventLogs")


def _terms(text: str) -> list[str]:
    import re

    return [t.lower() for t in re.split(r"[^0-9A-Za-z]+", text) if t]


def _has(text: str, term: str) -> bool:
    """Kusto's ``has`` for a one-word term: a whole term, case-insensitive."""
    return term.lower() in _terms(text)


# -- NetworkSession -----------------------------------------------------------------------


def test_network_port_by_name_and_position(
    con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]
) -> None:
    port = 443
    expected = sum(1 for r in sessions if r["DstPortNumber"] == port)
    assert expected > 0
    assert count(con, f"_Im_NetworkSession(dstportnumber={port})") == expected
    positional = "datetime(null), datetime(null), dynamic([]), dynamic([]), dynamic([]), 443"
    assert count(con, f"_Im_NetworkSession({positional})") == expected
    assert count(con, f"imNetworkSession(datetime(null), dstportnumber={port})") == expected


def test_network_time_window(
    con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]
) -> None:
    times = sorted(r["TimeGenerated"] for r in sessions)
    start, end = times[len(times) // 4], times[len(times) // 2]
    expected = sum(1 for t in times if start <= t <= end)
    kql = (
        f"_Im_NetworkSession(starttime=datetime({start.isoformat()}), "
        f"endtime=datetime({end.isoformat()}))"
    )
    assert count(con, kql) == expected


def test_network_address_prefixes_mark_what_matched(
    con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]
) -> None:
    src = [r for r in sessions if (r["SrcIpAddr"] or "").startswith("10.")]
    assert src and len(src) < len(sessions)
    got = rows(con, "_Im_NetworkSession(srcipaddr_has_any_prefix=dynamic(['10.']))")
    assert len(got) == len(src)
    assert {r["ASimMatchingIpAddr"] for r in got} <= {"SrcIpAddr", "Both"}
    either = rows(con, "_Im_NetworkSession(ipaddr_has_any_prefix=dynamic(['10.']))")
    expected = sum(
        1
        for r in sessions
        if (r["SrcIpAddr"] or "").startswith("10.") or (r["DstIpAddr"] or "").startswith("10.")
    )
    assert len(either) == expected
    both = [
        r for r in either if r["SrcIpAddr"].startswith("10.") and r["DstIpAddr"].startswith("10.")
    ]
    assert all(r["ASimMatchingIpAddr"] == "Both" for r in both)
    unfiltered = {r["ASimMatchingIpAddr"] for r in rows(con, "_Im_NetworkSession | take 5")}
    assert unfiltered == {"-"}


def test_network_hostname_and_result(
    con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]
) -> None:
    failures = sum(1 for r in sessions if r["EventResult"] == "Failure")
    assert count(con, "_Im_NetworkSession(eventresult='Failure')") == failures
    host = next(r["DstHostname"] for r in sessions if r["NetworkApplicationProtocol"] == "TLS")
    word = host.split(".")[0]
    expected = sum(
        1
        for r in sessions
        if _has(r["SrcHostname"] or "", word) or _has(r["DstHostname"] or "", word)
    )
    got = rows(con, f"_Im_NetworkSession(hostname_has_any=dynamic(['{word}']))")
    assert len(got) == expected > 0
    assert {r["ASimMatchingHostname"] for r in got} <= {"SrcHostname", "DstHostname"}


def test_network_aliases_and_computed_fields(con: duckdb.DuckDBPyConnection) -> None:
    for r in rows(con, "_Im_NetworkSession | where NetworkDirection == 'Inbound' | take 20"):
        assert r["IpAddr"] == r["DstIpAddr"] and r["Hostname"] == r["SrcHostname"]
        assert r["Src"] == (r["SrcHostname"] or r["SrcIpAddr"])
    for r in rows(con, "_Im_NetworkSession | where NetworkDirection == 'Outbound' | take 20"):
        assert r["IpAddr"] == r["SrcIpAddr"] and r["Hostname"] == r["DstHostname"]
        assert r["Dst"] == (r["DstHostname"] or r["DstIpAddr"])
        assert r["EventSchema"] == "NetworkSession"


# -- Dns -------------------------------------------------------------------------------------


def test_dns_filters(con: duckdb.DuckDBPyConnection, dns: list[dict[str, Any]]) -> None:
    nx = sum(1 for r in dns if r["EventResultDetails"] == "NXDOMAIN")
    assert nx > 0
    assert count(con, "_Im_Dns(responsecodename='NXDOMAIN')") == nx
    client = next(r["SrcIpAddr"] for r in dns if r["SrcIpAddr"])
    assert count(con, f"_Im_Dns(srcipaddr='{client}')") == sum(
        1 for r in dns if r["SrcIpAddr"] == client
    )
    domain = "cluster"
    expected = sum(1 for r in dns if _has(r["DnsQuery"], domain))
    assert count(con, f"_Im_Dns(domain_has_any=dynamic(['{domain}']))") == expected > 0
    # by position: starttime, endtime, srcipaddr, domain_has_any, responsecodename
    positional = f"_Im_Dns(datetime(null), datetime(null), '*', dynamic(['{domain}']), 'NXDOMAIN')"
    both = sum(
        1 for r in dns if _has(r["DnsQuery"], domain) and r["EventResultDetails"] == "NXDOMAIN"
    )
    assert count(con, positional) == both


def test_dns_response_address_filters(
    con: duckdb.DuckDBPyConnection, dns: list[dict[str, Any]]
) -> None:
    answered = [r for r in dns if r["DnsResponseName"]]
    address = answered[0]["DnsResponseName"].split(",")[0]
    expected = sum(1 for r in dns if address in (r["DnsResponseName"] or "").split(","))
    assert count(con, f"_Im_Dns(response_has_ipv4='{address}')") == expected
    prefix = ".".join(address.split(".")[:2]) + "."
    expected = sum(
        1
        for r in dns
        if any(a.startswith(prefix) for a in (r["DnsResponseName"] or "").split(",") if a)
    )
    assert count(con, f"_Im_Dns(response_has_any_prefix=dynamic(['{prefix}']))") == expected


def test_dns_aliases(con: duckdb.DuckDBPyConnection) -> None:
    for r in rows(con, "imDns | where EventSubType == 'response' | take 20"):
        assert r["DnsResponseCodeName"] == r["EventResultDetails"]
        assert r["Domain"] == r["DnsQuery"] and r["IpAddr"] == r["SrcIpAddr"]
        assert r["EventSchema"] == "Dns"


# -- ProcessEvent ------------------------------------------------------------------------------


def test_process_filters(con: duckdb.DuckDBPyConnection, processes: list[dict[str, Any]]) -> None:
    word = "curl"
    expected = sum(1 for r in processes if _has(r["TargetProcessCommandLine"], word))
    assert expected > 0
    assert count(con, f"_Im_ProcessEvent(commandline_has_any=dynamic(['{word}']))") == expected
    assert count(con, f"imProcessCreate(commandline_has_any=dynamic(['{word}']))") == expected
    both = sum(
        1
        for r in processes
        if _has(r["TargetProcessCommandLine"], word) and _has(r["TargetProcessCommandLine"], "http")
    )
    assert count(con, f"_Im_ProcessEvent(commandline_has_all=dynamic(['{word}', 'http']))") == both
    acting = "sh"
    expected = sum(1 for r in processes if _has(r["ActingProcessName"], acting))
    assert (
        count(con, f"_ASim_ProcessEvent_Create(actingprocess_has_any=dynamic(['{acting}']))")
        == expected
    )
    # by position: starttime, endtime, commandline_has_any
    assert count(
        con, f"imProcessCreate(datetime(null), datetime(null), dynamic(['{word}']))"
    ) == sum(1 for r in processes if _has(r["TargetProcessCommandLine"], word))
    assert count(con, "_Im_ProcessEvent(eventtype='ProcessTerminated')") == 0
    assert count(con, "imProcessTerminate") == 0


def test_process_aliases(con: duckdb.DuckDBPyConnection) -> None:
    for r in rows(con, "imProcessCreate | take 20"):
        assert r["CommandLine"] == r["TargetProcessCommandLine"]
        assert r["Process"] == r["TargetProcessName"] and r["User"] == r["TargetUsername"]
        assert r["EventSchema"] == "ProcessEvent" and r["EventType"] == "ProcessCreated"


def test_web_session_over_tls_server_names(
    con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]
) -> None:
    names = [r["DstHostname"] for r in sessions if r["NetworkApplicationProtocol"] == "TLS"]
    word = names[0].split(".")[-2]
    got = rows(con, f"_Im_WebSession(url_has_any=dynamic(['{word}']))")
    assert len(got) == sum(1 for n in names if _has(n, word)) > 0
    assert {r["Url"] for r in got} <= set(names)
    assert {r["EventType"] for r in got} == {"HTTPsession"}


# -- binding rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kql", "message"),
    [
        ("_Im_Dns(nosuch=1)", "has no parameter 'nosuch'"),
        ("_Im_Dns(starttime=ago(1d), ago(2d))", "positional argument cannot follow a named one"),
        ("_Im_Dns(starttime=ago(1d), starttime=ago(2d))", "given twice"),
    ],
)
def test_bad_calls_are_explained(con: duckdb.DuckDBPyConnection, kql: str, message: str) -> None:
    with pytest.raises(engine.HuntError, match=message):
        engine.execute(con, kql)


def test_callers_let_reaches_named_arguments(con: duckdb.DuckDBPyConnection) -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    kql = "let lookback = 1d; _Im_Dns(starttime=ago(lookback), endtime=now()) | count"
    # the simulation is in the past: nothing in the last day of 2029
    assert engine.execute(con, kql, now=now).table.column(0)[0].as_py() == 0
