"""The seed queries on the store return what Log Analytics would, computed here in Python."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest

from edgewatch.events.base import Event
from edgewatch.hunt import engine
from edgewatch.simulate import generate
from edgewatch.store.database import open_store
from tests.store.conftest import fill_store, hunting_connection

SEEDS = Path(__file__).resolve().parents[2] / "src/edgewatch/hunt/queries"
NODE = "edge-node-1"


def seed(name: str) -> str:
    return (SEEDS / f"{name}.kql").read_text()


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate(6000, seed=11, scenarios=["all"]))


@pytest.fixture(scope="module")
def con(events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("store") / "s.duckdb"
    fill_store(path, events, node=NODE).close()
    return hunting_connection(path)


def _of(events: list[Event], family: str) -> list[Event]:
    return [e for e in events if e.gadget_family == family]


def _computer(e: Event) -> str:
    return e.node or NODE


def _time(ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ns // 1000)


def _rows(con: duckdb.DuckDBPyConnection, kql: str) -> list[dict[str, object]]:
    return engine.execute(con, kql).table.to_pylist()


def _kusto_private(addr: str) -> bool | None:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    if ip.version != 4:
        return None
    return any(
        ip in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    )


def test_tls_sni_seed_query(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    expected = Counter(
        (
            _time(e.time_ns),
            _computer(e),
            e.namespace,
            e.pod,
            e.container,
            e.image,
            e.name,  # type: ignore[attr-defined]
            str(e.pid),
            e.pcomm,
        )
        for e in _of(events, "sni")
        if e.namespace
    )
    got = Counter(tuple(r.values()) for r in _rows(con, seed("tls_sni")))
    assert expected and got == expected


def test_dns_seed_query(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    expected = Counter()
    for e in _of(events, "dns"):
        qr = {"R": "Response", "Q": "REQUEST"}.get(e.qr, e.qr)  # type: ignore[attr-defined]
        if not (
            e.namespace
            and e.qtype == "A"  # type: ignore[attr-defined]
            and not e.name.lower().endswith(".cluster.local.")  # type: ignore[attr-defined]
            and qr == "Response"
            and e.pkt_type == "HOST"  # type: ignore[attr-defined]
            and "error" not in e.rcode.lower()  # type: ignore[attr-defined]
            and e.comm != "coredns"
        ):
            continue
        expected[
            (
                _time(e.time_ns),
                _computer(e),
                e.namespace,
                e.pod,
                e.container,
                e.comm,
                qr,
                "A",
                e.rcode,  # type: ignore[attr-defined]
                e.name,  # type: ignore[attr-defined]
                ",".join(e.addresses),  # type: ignore[attr-defined]
                e.src_addr,  # type: ignore[attr-defined]
                str(e.src_port),  # type: ignore[attr-defined]
                e.dst_addr,  # type: ignore[attr-defined]
                e.pkt_type,  # type: ignore[attr-defined]
            )
        ] += 1
    got = Counter(tuple(r.values()) for r in _rows(con, seed("dns_responses")))
    assert expected and got == expected


def test_seccomp_seed_query(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    expected: Counter[tuple[object, ...]] = Counter()
    for e in _of(events, "seccomp"):
        hour = _time(e.time_ns).replace(minute=0, second=0, microsecond=0)
        key = (
            hour,
            _computer(e),
            e.namespace,
            e.pod,
            e.container,
            e.image,
            e.syscall,  # type: ignore[attr-defined]
            str(e.syscall_raw),  # type: ignore[attr-defined]
            e.code,  # type: ignore[attr-defined]
        )
        expected[key] += 1
    got = {tuple(r.values())[:-1]: r["count_"] for r in _rows(con, seed("seccomp_syscalls"))}
    assert expected and got == dict(expected)


def test_public_outbound_tcp_seed_query(
    con: duckdb.DuckDBPyConnection, events: list[Event]
) -> None:
    groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for e in _of(events, "tcp"):
        if not e.namespace or e.src_addr == "127.0.0.1":  # type: ignore[attr-defined]
            continue
        if e.type != "connect":  # type: ignore[attr-defined]
            continue
        if _kusto_private(e.dst_addr) is not False:  # type: ignore[attr-defined]
            continue  # private, or not IPv4 (null): the where drops both
        key = (
            _computer(e),
            e.namespace,
            e.pod,
            e.container,
            e.image,
            e.comm,
            e.pcomm,
            "Outbound",
            "connect",
            e.src_addr,  # type: ignore[attr-defined]
            str(e.dst_port),  # type: ignore[attr-defined]
        )
        groups[key].append(e.dst_addr)  # type: ignore[attr-defined]
    got = {}
    for r in _rows(con, seed("public_outbound_tcp")):
        key = (
            r["Computer"],
            r["log_namespace"],
            r["log_podName"],
            r["log_containerName"],
            r["log_containerImage"],
            r["log_comm"],
            r["log_parent"],
            r["direction"],
            r["log_operation"],
            r["log_srcIp"],
            r["log_dstPort"],
        )
        got[key] = (sorted(json.loads(r["set_log_dstIp"])), r["count_"])
    expected = {k: (sorted(set(v)), len(v)) for k, v in groups.items()}
    assert expected and got == expected
    # the c2-ip scenario's address is there
    assert any(k[1] for k in got)


def test_unnamed_paths_keep_kustos_names(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(
        con,
        'ContainerLogV2 | where ContainerName == "ig-tcp" | take 3 '
        "| project LogMessage.k8s.namespace, LogMessage.dst.port",
    )
    assert list(rows[0]) == ["LogMessage_k8s_namespace", "LogMessage_dst_port"]


def test_internal_columns_never_reach_the_result(con: duckdb.DuckDBPyConnection) -> None:
    table = engine.execute(con, "ContainerLogV2 | take 5").table
    assert table.column_names == [
        "TimeGenerated",
        "Computer",
        "ContainerId",
        "ContainerName",
        "PodName",
        "PodNamespace",
        "LogMessage",
        "LogSource",
        "LogLevel",
        "KubernetesMetadata",
        "SourceSystem",
        "Type",
    ]


def test_log_message_reassigned_is_not_rewritten(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(
        con,
        'ContainerLogV2 | where ContainerName == "ig-tcp" | take 1 '
        '| extend LogMessage = parse_json(\'{"k8s": {"namespace": "other"}}\') '
        "| project ns = tostring(LogMessage.k8s.namespace)",
    )
    assert rows == [{"ns": "other"}]


def test_paths_without_a_typed_column_still_work(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(
        con,
        'ContainerLogV2 | where ContainerName == "ig-tcp" | take 1 '
        "| project uid = tostring(LogMessage.proc.creds.uid), creds = LogMessage.proc.creds",
    )
    creds = json.loads(rows[0]["creds"])
    assert rows[0]["uid"] == str(creds["uid"])


# -- guards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kql",
    [
        ".drop table events_tcp",
        ".set-or-replace events_tcp <| ContainerLogV2 | take 1",
        "// comment first\n.create table T (a: string)",
    ],
)
def test_management_commands_are_refused(con: duckdb.DuckDBPyConnection, kql: str) -> None:
    with pytest.raises(engine.HuntError, match="only queries"):
        engine.execute(con, kql)


def test_externaldata_cannot_read_files(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\nTOP-SECRET\n")
    with pytest.raises(engine.HuntError):
        engine.execute(con, f'externaldata (a: string) ["{secret}"] with (format="csv")')


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM '{secret}'",
        "COPY (SELECT 1) TO '{out}'",
        "ATTACH '{out}.duckdb' AS other",
        "INSTALL httpfs",
        "SET enable_external_access = true",
    ],
)
def test_the_engine_itself_cannot_touch_files(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, statement: str
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\nTOP-SECRET\n")
    out = tmp_path / "out.csv"
    with pytest.raises(duckdb.Error):
        con.execute(statement.format(secret=secret, out=out)).fetchall()
    assert not out.exists()


def test_a_hunting_connection_cannot_change_the_store(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error):
        con.execute("DELETE FROM events_tcp").fetchall()
    with pytest.raises(duckdb.Error):
        con.execute("DROP TABLE events_tcp").fetchall()
    assert con.execute("SELECT count(*) FROM events_tcp").fetchall()[0][0] > 0


def test_only_a_single_select_runs_even_on_a_writable_store(tmp_path: Path) -> None:
    writable = open_store(tmp_path / "w.duckdb")
    with pytest.raises(engine.HuntError, match="read-only"):
        engine._only_select("DROP TABLE events_tcp")
    with pytest.raises(engine.HuntError, match="read-only"):
        engine._only_select("SELECT 1; DELETE FROM events_tcp")
    with pytest.raises(duckdb.Error):  # the writer's connection is locked down too
        writable.execute("SELECT * FROM read_csv('/etc/hostname')").fetchall()


def test_a_slow_query_is_stopped(con: duckdb.DuckDBPyConnection) -> None:
    # a self-join of every event with every other: tens of millions of pairs
    slow = (
        "ContainerLogV2 | extend k = 1 | join kind=inner (ContainerLogV2 | extend k = 1) on k "
        "| summarize count() by tostring(LogMessage.k8s.podName)"
    )
    started = time.monotonic()
    with pytest.raises(engine.HuntError, match="time limit"):
        engine.execute(con, slow, timeout_s=0.3)
    assert time.monotonic() - started < 10


def test_a_range_too_big_for_memory_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(engine.HuntError, match="over the limit"):
        engine.execute(con, "range x from 1 to 3000000000 step 1 | count")
    assert engine.execute(con, "range x from 1 to 1000 step 1 | count").table.num_rows == 1


# -- errors point at the KQL -------------------------------------------------------------


def test_syntax_error_names_the_kql_position(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(engine.HuntError) as info:
        engine.execute(con, "ContainerLogV2\n| where ContainerName = = 'x'")
    text = str(info.value)
    assert "line 2" in text and "SELECT" not in text


def test_unknown_column_names_the_kql_position(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(engine.HuntError) as info:
        engine.execute(con, "ContainerLogV2\n| where PodLabel == 'x'")
    text = str(info.value)
    assert "PodLabel" in text and "line 2, column 9" in text
    assert "SELECT" not in text and "LogMessage." not in text


def test_unsupported_function_is_reported_as_kql(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(engine.HuntError, match="not supported"):
        engine.execute(con, "print x = no_such_function(1)")


def test_since_window(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    start = int((now - dt.timedelta(hours=48)).timestamp() * 1e9)
    evs = list(generate(500, seed=9, start_ns=start))
    fill_store(tmp_path / "s.duckdb", evs).close()
    con = open_store(tmp_path / "s.duckdb", read_only=True)
    engine.prepare(con, since=dt.timedelta(hours=24), now=now)
    got = engine.execute(con, "ContainerLogV2 | count").table.to_pylist()[0]["Count"]
    cutoff = int((now - dt.timedelta(hours=24)).timestamp() * 1e9)
    assert got == sum(e.time_ns >= cutoff for e in evs)
