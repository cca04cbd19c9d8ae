"""Sentinel watchlists: ``_GetWatchlist('alias')`` reads ``<alias>.csv`` from a directory.

What a SOC relies on: a watchlist joins and filters events the way Sentinel's does
(``SearchKey`` is the configured column's value, the CSV's columns are strings), a
missing watchlist is named with how to provide it, an edited file is read again, and
the query engine itself still cannot read a file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from edgewatch.hunt import check, engine
from edgewatch.hunt.extensions.watchlist import aliases, readable, rewrite, table_name
from edgewatch.hunt.watchlists import WatchlistSettings, install, settings_for
from edgewatch.simulate import generate
from edgewatch.store.database import open_store
from tests.store.conftest import fill_store, hunting_connection
from tests.test_cli import run

COLUMNS = ["_DTItemId", "LastUpdatedTimeUTC", "SearchKey", "WatchlistItem"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("watchlist") / "store.duckdb"
    fill_store(path, list(generate(1500, seed=5, scenarios=["all"]))).close()
    return path


@pytest.fixture(scope="module")
def con(store: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = hunting_connection(store)
    yield connection
    connection.close()


@pytest.fixture
def folder(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> Path:
    """A watchlist directory of this test's own, on the shared hunting connection."""
    path = tmp_path / "watchlists"
    path.mkdir()
    install(con, WatchlistSettings(path))
    return path


@pytest.fixture(scope="module")
def dns_sources(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """DNS queries per source address, without any watchlist: the baseline."""
    rows = engine.execute(con, "ASimDnsActivityLogs | summarize n = count() by SrcIpAddr")
    counts = {r["SrcIpAddr"]: r["n"] for r in rows.table.to_pylist() if r["SrcIpAddr"]}
    assert len(counts) >= 3, counts
    return counts


def rows(con: duckdb.DuckDBPyConnection, kql: str) -> list[dict[str, object]]:
    return engine.execute(con, kql).table.to_pylist()


def write_csv(path: Path, header: list[str], *data: list[str]) -> None:
    path.write_text("\n".join(",".join(r) for r in (header, *data)) + "\n", encoding="utf-8")


# -- what a query gets -------------------------------------------------------------------


def test_a_join_to_a_watchlist_returns_the_listed_sources(
    con: duckdb.DuckDBPyConnection, folder: Path, dns_sources: dict[str, int]
) -> None:
    listed = sorted(dns_sources)[:2]
    write_csv(
        folder / "KnownClients.csv",
        ["IPAddress", "Owner"],
        [listed[0], "payments"],
        [listed[1], "search"],
        ["203.0.113.250", "nobody"],  # in the watchlist, never in the store
    )
    got = rows(
        con,
        "ASimDnsActivityLogs\n"
        "| join kind=inner (_GetWatchlist('KnownClients') | project SearchKey, Owner)\n"
        "    on $left.SrcIpAddr == $right.SearchKey\n"
        "| summarize n = count() by SrcIpAddr, Owner",
    )
    assert sorted((r["SrcIpAddr"], r["Owner"], r["n"]) for r in got) == [
        (listed[0], "payments", dns_sources[listed[0]]),
        (listed[1], "search", dns_sources[listed[1]]),
    ]


def test_in_and_not_in_a_watchlist_as_published_content_writes_it(
    con: duckdb.DuckDBPyConnection, folder: Path, dns_sources: dict[str, int]
) -> None:
    allowed = sorted(dns_sources)[:2]
    write_csv(
        folder / "ipwatchlist.csv", ["IPAddress", "Location"], *([a, "Home"] for a in allowed)
    )
    inside = rows(
        con,
        "ASimDnsActivityLogs\n"
        "| where SrcIpAddr in ((_GetWatchlist('ipwatchlist') | project SearchKey))\n"
        "| summarize n = count()",
    )
    outside = rows(
        con,
        "let watchlist = (_GetWatchlist('ipwatchlist') | project IPAddress);\n"
        "ASimDnsActivityLogs | where isnotempty(SrcIpAddr) and SrcIpAddr !in (watchlist)\n"
        "| summarize n = count()",
    )
    assert inside[0]["n"] == sum(dns_sources[a] for a in allowed)
    assert outside[0]["n"] == sum(n for a, n in dns_sources.items() if a not in allowed)


def test_a_threshold_read_from_a_watchlist_as_the_dns_rules_do(
    con: duckdb.DuckDBPyConnection, folder: Path, dns_sources: dict[str, int]
) -> None:
    threshold = sorted(dns_sources.values())[len(dns_sources) // 2]
    write_csv(
        folder / "DNS_Config.csv",
        ["wl_RuleName", "wl_Type", "wl_Threshold"],
        ["Busy clients", "Detection", str(threshold)],
        ["Other rule", "Detection", "1"],
    )
    got = rows(
        con,
        "let threshold = materialize (_GetWatchlist('DNS_Config')\n"
        "  | where wl_RuleName == 'Busy clients' and wl_Type == 'Detection'\n"
        "  | project toint(wl_Threshold));\n"
        "ASimDnsActivityLogs | summarize n = count() by SrcIpAddr\n"
        "| where n > toscalar(threshold)",
    )
    assert {r["SrcIpAddr"]: r["n"] for r in got} == {
        a: n for a, n in dns_sources.items() if n > threshold
    }


def test_the_columns_sentinel_returns_all_strings_but_the_time(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    path = folder / "Assets.csv"
    write_csv(path, ["Host", "Port", "Tier"], ["db-1", "0042", "gold"], ["web-1", "443", ""])
    result = engine.execute(con, "_GetWatchlist('Assets')")
    assert result.table.column_names == [*COLUMNS, "Host", "Port", "Tier"]
    assert result.json_columns == frozenset({"WatchlistItem"})
    got = result.table.to_pylist()
    assert [r["Port"] for r in got] == ["0042", "443"]  # a string, leading zero and all
    assert [r["SearchKey"] for r in got] == ["db-1", "web-1"]  # the first column
    assert json.loads(str(got[0]["WatchlistItem"])) == {
        "Host": "db-1",
        "Port": "0042",
        "Tier": "gold",
    }
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, dt.UTC).replace(tzinfo=None)
    assert all(abs(r["LastUpdatedTimeUTC"] - mtime) < dt.timedelta(milliseconds=1) for r in got)
    ids = [r["_DTItemId"] for r in got]
    assert len(set(ids)) == 2 and ids == [
        r["_DTItemId"] for r in rows(con, "_GetWatchlist('Assets')")
    ]
    unpacked = rows(con, "_GetWatchlist('Assets') | extend t = tostring(WatchlistItem.Tier)")
    assert [r["t"] for r in unpacked] == ["gold", ""]


def test_the_sidecar_names_the_search_key(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    write_csv(folder / "VIPUsers.csv", ["Name", "UPN"], ["Ada", "ada@example.com"])
    assert rows(con, "_GetWatchlist('VIPUsers') | project SearchKey") == [{"SearchKey": "Ada"}]
    (folder / "VIPUsers.yaml").write_text("search_key: UPN\n")
    assert rows(con, "_GetWatchlist('VIPUsers') | project SearchKey") == [
        {"SearchKey": "ada@example.com"}
    ]


def test_the_alias_is_matched_regardless_of_case_an_exact_name_first(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "PenTestIPs.csv", ["IP"], ["10.9.9.9"])
    got = rows(
        con,
        "_GetWatchlist('pentestips') | join kind=inner (_GetWatchlist('PENTESTIPS')) on SearchKey"
        " | project SearchKey",
    )
    assert got == [{"SearchKey": "10.9.9.9"}]
    write_csv(folder / "vip.csv", ["Name"], ["lower"])
    write_csv(folder / "VIP.csv", ["Name"], ["upper"])
    assert rows(con, "_GetWatchlist('VIP') | project Name") == [{"Name": "upper"}]
    with pytest.raises(engine.HuntError, match=r"several files .*VIP\.csv, vip\.csv"):
        rows(con, "_GetWatchlist('Vip')")


def test_an_edited_watchlist_is_read_again(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    path = folder / "Blocked.csv"
    write_csv(path, ["Domain"], ["a.example"])
    assert rows(con, "_GetWatchlist('Blocked') | count") == [{"Count": 1}]
    write_csv(path, ["Domain"], ["a.example"], ["b.example"], ["c.example"])
    assert rows(con, "_GetWatchlist('Blocked') | count") == [{"Count": 3}]


# -- what does not run, and why -------------------------------------------------------------


def test_a_missing_watchlist_is_named_with_what_the_directory_holds(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    write_csv(folder / "Known.csv", ["IP"], ["10.0.0.1"])
    with pytest.raises(engine.HuntError) as caught:
        rows(
            con,
            "DeviceNetworkEvents\n"
            "| where RemoteIP in (_GetWatchlist('TorNodes') | project SearchKey)",
        )
    message = str(caught.value)
    assert "TorNodes.csv" in message and str(folder) in message and "Known" in message
    assert check.classify(caught.value) == ("missing watchlist", "TorNodes")


def test_without_a_directory_the_error_says_how_to_give_one(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    install(con, None)
    verdict = check.check_one(con, check.Query("q.kql", "q", "_GetWatchlist('VIPUsers') | take 1"))
    assert (verdict.status, verdict.reason) == ("missing watchlist", "VIPUsers")
    with pytest.raises(engine.HuntError, match=r"VIPUsers.*--watchlists DIR"):
        rows(con, "_GetWatchlist('VIPUsers')")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"W.csv": "IP,ip\n1,2\n"}, "'IP' and 'ip' have the same name"),
        ({"W.csv": "SearchKey,Owner\n1,2\n"}, "'SearchKey' is one _GetWatchlist adds"),
        ({"W.csv": "IP,Owner\n1,2\n3,4,5\n"}, "W.csv, line 3: 3 values for 2 columns"),
        ({"W.csv": "IP,,Owner\n1,2,3\n"}, "column 2 has no name"),
        ({"W.csv": "\n\n"}, "empty"),
        ({"W.csv": "IP\n\xe9\n".encode("latin-1")}, "not UTF-8"),
        ({"W.csv": "IP\n1\n", "W.yaml": "search_key: Owner\n"}, "'Owner' is not one of"),
        ({"W.csv": "IP\n1\n", "W.yaml": "searchkey: IP\n"}, "unknown key(s) searchkey"),
        ({"W.csv": "IP\n1\n", "W.yaml": "a: [\n"}, "not valid YAML"),
        ({"W.csv": "IP\n1\n", "W.yaml": "x: 1\n", "W.yml": "x: 1\n"}, "keep one"),
    ],
)
def test_a_watchlist_file_that_cannot_be_read_says_why(
    con: duckdb.DuckDBPyConnection, folder: Path, files: dict[str, str | bytes], message: str
) -> None:
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    verdict = check.check_one(con, check.Query("q.kql", "q", "_GetWatchlist('W') | take 1"))
    assert verdict.status == "error" and message in verdict.reason, verdict


def test_a_watchlist_over_the_limits_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    write_csv(tmp_path / "Big.csv", ["IP"], *([f"10.0.0.{i}"] for i in range(10)))
    install(con, WatchlistSettings(tmp_path, max_rows=9))
    with pytest.raises(engine.HuntError, match="more than 9 rows"):
        rows(con, "_GetWatchlist('Big')")
    install(con, WatchlistSettings(tmp_path, max_bytes=64))
    with pytest.raises(engine.HuntError, match="over the limit of 64 bytes"):
        rows(con, "_GetWatchlist('Big')")
    install(con, WatchlistSettings(tmp_path, max_rows=10, max_bytes=1024))
    assert rows(con, "_GetWatchlist('Big') | count") == [{"Count": 10}]


def test_the_alias_must_be_a_string_literal(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    with pytest.raises(engine.HuntError, match=r"string literal(.|\n)*line 2, column 17"):
        rows(con, "let name = 'x';\nprint 1 | join (_GetWatchlist(name)) on $left.a == $right.b")


# -- files stay out of the query engine's reach ------------------------------------------------


def test_the_alias_never_becomes_a_path(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    inner = tmp_path / "watchlists"
    inner.mkdir()
    write_csv(tmp_path / "secret.csv", ["token"], ["TOP-SECRET"])
    write_csv(inner / "ok.csv", ["a"], ["1"])
    install(con, WatchlistSettings(inner))
    for alias in ("../secret", str(tmp_path / "secret"), "secret"):
        with pytest.raises(engine.HuntError, match="no watchlist"):
            rows(con, f"_GetWatchlist(@'{alias}')")


def test_the_hunting_connection_still_cannot_read_files(
    con: duckdb.DuckDBPyConnection, folder: Path
) -> None:
    path = folder / "Known.csv"
    write_csv(path, ["IP"], ["10.0.0.1"])
    assert rows(con, "_GetWatchlist('Known') | count") == [{"Count": 1}]
    for statement in (f"SELECT * FROM read_csv('{path}')", f"SELECT * FROM '{path}'"):
        with pytest.raises(duckdb.Error):
            con.execute(statement).fetchall()
    with pytest.raises(duckdb.Error):  # the Arrow table handed over is gone again
        con.execute("SELECT * FROM ew_watchlist_staging").fetchall()
    with pytest.raises(engine.HuntError):
        rows(con, f'externaldata (IP: string) ["{path}"] with (format="csv")')


# -- translation ---------------------------------------------------------------------------


def test_a_call_becomes_a_table_and_keeps_every_position() -> None:
    kql = "T\n| where a in (_GetWatchlist(\n  'Known') | project SearchKey)\n| take 1"
    out = rewrite(kql)
    assert table_name("KNOWN") in out and "_GetWatchlist" not in out
    assert out.splitlines()[2].endswith("| project SearchKey)") and len(out.splitlines()) == 4
    assert aliases(kql + ' | union (_GetWatchlist("known"))') == ("Known", "known")
    message = f"Table with name {table_name('Known')} does not exist"
    assert readable(message, kql) == "Table with name _GetWatchlist('Known') does not exist"


def test_settings_come_from_the_option_else_the_config(tmp_path: Path) -> None:
    from edgewatch.config import DashboardConfig

    assert settings_for(None) is None
    options = DashboardConfig(watchlists=tmp_path, watchlist_max_rows=5)
    assert settings_for(None, options) == WatchlistSettings(tmp_path, 16 * 1024 * 1024, 5)
    assert settings_for(tmp_path / "other", options) == WatchlistSettings(
        tmp_path / "other", 16 * 1024 * 1024, 5
    )


# -- where KQL runs: the command, the dashboard --------------------------------------------------


def test_edgewatch_hunt_reads_the_directory_it_is_given(
    store: Path, tmp_path: Path, dns_sources: dict[str, int]
) -> None:
    address = sorted(dns_sources)[0]
    write_csv(tmp_path / "Known.csv", ["IP", "Owner"], [address, "payments"])
    kql = (
        "ASimDnsActivityLogs | where SrcIpAddr in (_GetWatchlist('known') | project SearchKey)"
        " | summarize n = count()"
    )
    out = run(["hunt", kql, "--db", str(store), "--watchlists", str(tmp_path), "-f", "json"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": dns_sources[address]}]
    refused = run(["hunt", kql, "--db", str(store), "-f", "json"])
    assert refused.returncode == 1 and "--watchlists" in refused.stderr
    rule = tmp_path / "rules"
    rule.mkdir()
    (rule / "r.kql").write_text(kql)
    report = run(
        [
            "hunt",
            "--check",
            str(rule),
            "--db",
            str(store),
            "--watchlists",
            str(tmp_path),
            "-f",
            "json",
        ]
    )
    assert json.loads(report.stdout)["queries"][0]["status"] == "runs", report.stdout


def test_hunt_help_shows_the_option_with_an_example() -> None:
    out = run(["hunt", "--help"])
    assert "--watchlists" in out.stdout and "_GetWatchlist('PenTestIPs')" in out.stdout


@pytest.mark.parametrize("shared", [False, True], ids=["edgewatch serve", "agent dashboard"])
def test_the_dashboard_kql_page_reads_watchlists(tmp_path: Path, shared: bool) -> None:
    from edgewatch.web import kql
    from edgewatch.web.store import AccessSettings, StoreAccess

    path = tmp_path / "dash.duckdb"
    fill_store(path, list(generate(300, seed=3, scenarios=["all"]))).close()
    folder = tmp_path / "watchlists"
    folder.mkdir()
    write_csv(folder / "Known.csv", ["IP"], ["10.0.0.1"], ["10.0.0.2"])
    writer = open_store(path) if shared else None
    access = StoreAccess(
        AccessSettings(path=path, shared=writer, watchlists=WatchlistSettings(folder))
    )
    try:
        for expected in (2, 3):  # the second time, an edited file
            with access.hunting(5.0) as hunt:
                result = kql.run(hunt, "_GetWatchlist('Known') | count", 10.0, 100, access.check)
            assert result.rows == [[expected]]
            write_csv(folder / "Known.csv", ["IP"], ["10.0.0.1"], ["10.0.0.2"], ["10.0.0.3"])
            os.utime(folder / "Known.csv", ns=(1, 1))
        with access.hunting(5.0) as hunt, pytest.raises(engine.HuntError, match=r"Missing\.csv"):
            kql.run(hunt, "_GetWatchlist('Missing')", 10.0, 100, access.check)
    finally:
        access.close()
        if writer is not None:
            writer.close()
