"""``edgewatch hunt --check``: which published queries run on the store, and why not.

The corpus under ``corpus/`` is real content from Azure-Sentinel and Microsoft's Defender
hunting-query repository (see ``corpus/SOURCES``). It runs over a simulated cluster with
every attack scenario, at the moment the simulation ends, so ``ago(1d)`` windows see it,
with the watchlist its DNS rules read (``corpus/watchlists``, as the DNS Essentials
solution ships it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from edgewatch import simulate
from edgewatch.events import ExecEvent
from edgewatch.hunt import check, engine
from edgewatch.hunt.watchlists import WatchlistSettings, install
from tests.store.conftest import fill_store, hunting_connection
from tests.test_cli import run

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dt.datetime]:
    events = list(simulate.generate(3000, seed=7, scenarios=("all",), node_names=True))
    # what the Shlayer query looks for, which no simulated workload does
    events.append(
        ExecEvent(
            time_ns=max(e.time_ns for e in events),
            node="edge-node-01",
            pid=4100,
            ppid=4099,
            comm="openssl",
            pcomm="sh",
            args=[
                "openssl",
                "enc",
                "-aes-256-cbc",
                "-d",
                "-A",
                "-base64",
                "-nosalt",
                "-out",
                "/tmp/p",
            ],
            cmdline="openssl enc -aes-256-cbc -d -A -base64 -nosalt -out /tmp/p",
            exepath="/usr/bin/openssl",
            loginuid=4294967295,
            sessionid=4294967295,
        )
    )
    path = tmp_path_factory.mktemp("check") / "store.duckdb"
    fill_store(path, events).close()
    end = dt.datetime.fromtimestamp(max(e.time_ns for e in events) / 1e9, dt.UTC)
    return path, end + dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def con(store: tuple[Path, dt.datetime]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = hunting_connection(store[0])
    install(connection, WatchlistSettings(CORPUS / "watchlists"))
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def verdicts(
    con: duckdb.DuckDBPyConnection, store: tuple[Path, dt.datetime]
) -> dict[str, check.Verdict]:
    return {v.path: v for v in check.check(con, check.read_queries(CORPUS), now=store[1])}


# -- reading content ----------------------------------------------------------------------


def test_reads_every_kind_of_file(tmp_path: Path) -> None:
    (tmp_path / "a.kql").write_text("DeviceProcessEvents | take 1")
    (tmp_path / "rule.yaml").write_text("id: x\nname: My rule\nquery: |\n  imDns\n  | take 1\n")
    (tmp_path / "notes.yaml").write_text("description: no query here\n")
    (tmp_path / "broken.yml").write_text("query: [unclosed\n")
    (tmp_path / "q.md").write_text(
        "# Rare hosts\n\ntext\n\n```kusto\nDeviceNetworkEvents\n| take 2\n```\n"
    )
    (tmp_path / "ignored.txt").write_text("not read")
    queries = {q.path: q for q in check.read_queries(tmp_path)}
    assert sorted(queries) == ["a.kql", "broken.yml", "q.md", "rule.yaml"]
    assert queries["rule.yaml"].name == "My rule"
    assert queries["rule.yaml"].kql.startswith("imDns")
    assert queries["q.md"].name == "Rare hosts" and queries["q.md"].kql.startswith(
        "DeviceNetworkEvents"
    )


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(check.CheckInputError):
        check.read_queries(tmp_path / "nope.kql")


@pytest.mark.parametrize(
    ("kql", "status", "reason"),
    [
        ("SecurityEvent | take 1", "unknown table", "SecurityEvent"),
        ("let x = DeviceFileEvents | take 1; x", "unknown table", "DeviceFileEvents"),
        ("_GetWatchlist('w') | take 1", "missing watchlist", "w"),
        (
            "DeviceNetworkEvents | make-series c = count() on Timestamp step 1h",
            "unsupported operator",
            "make-series",
        ),
        ("DeviceNetworkEvents | where RemoteUrl == 'x", "parse error", ""),
        ("DeviceNetworkEvents | project NoSuchColumn", "unknown column", "NoSuchColumn"),
        ("DeviceNetworkEvents | extend remoteip = 1", "case collision", "RemoteIP / remoteip"),
        ("print series_fir(dynamic([1]), dynamic([1]))", "unsupported function", "series_fir"),
    ],
)
def test_why_a_query_cannot_run(
    con: duckdb.DuckDBPyConnection, kql: str, status: str, reason: str
) -> None:
    verdict = check.check_one(con, check.Query("q.kql", "q", kql))
    assert verdict.status == status, verdict
    assert reason in verdict.reason
    assert verdict.rows is None


def test_a_query_that_runs_reports_its_rows(con: duckdb.DuckDBPyConnection) -> None:
    verdict = check.check_one(con, check.Query("q.kql", "q", "DeviceProcessEvents | take 3"))
    assert (verdict.status, verdict.rows) == ("runs", 3)


# -- the published corpus ---------------------------------------------------------------------

#: Published queries this store cannot run, and the reason: a change in what runs must
#: be a decision (update this list and BENCHMARKS.md), not an accident.
EXPECTED_BLOCKED = {
    "defender/DetectTorRelayConnectivity.kql": "unsupported operator",  # externaldata
    "defender/Sudden Changes in Process Creation Activity by Filename.kql": "unsupported operator",
    "defender/Sudden Increases in Outbound Communication by FQDN.kql": "unsupported operator",
    "defender/detect-nbtscan-activity.kql": "unknown table",  # FileCreationEvents
    "defender/python-use-by-ransomware-macos.kql": "unknown table",  # DeviceFileEvents
    "defender/reverse-shell-ransomware-macos.kql": "unknown table",  # DeviceFileEvents
    "sentinel/DNSPattern [Nobelium].yaml": "unknown table",  # DeviceEvents
    "sentinel/Detect Outbound LDAP Traffic(ASIM Network Session schema).yaml": "parse error",
    "sentinel/Remote Desktop Network Traffic(ASIM Network Session schema).yaml": "parse error",
    "sentinel/imProcess_NetworkEndpointCorrelation.yaml": "unknown table",  # CommonSecurityLog
    "sentinel/imProcess_new_processes.yaml": "unknown table",  # imProcessCreation (retired)
    # iff() of a string and a dynamic branch: DuckDB casts the string to JSON and fails
    "defender/Device network events w low count FQDN.kql": "error",
}

#: Queries whose target the simulated data holds, and must therefore return rows.
MUST_FIND = {
    "sentinel/imDNS_Miners.yaml",  # miner scenario: pool.supportxmr.com
    "sentinel/DNSQueryWithFailuresInLast24Hours.yaml",  # NXDOMAINs of search lists
    "sentinel/UnexpectedTopLevelDomains.yaml",  # *.cluster.local
    "sentinel/DomainsWithLargeNumberOfSubDomains.yaml",
    "defender/Connection to Rare DNS Hosts.kql",  # RemoteUrl from the DNS answers
    "defender/locate-shlayer-payload-decryption-activity.kql",  # the openssl exec added
}


def test_corpus_runs_as_recorded(verdicts: dict[str, check.Verdict]) -> None:
    assert len(verdicts) == 48
    blocked = {p: v.status for p, v in verdicts.items() if not v.runs}
    assert blocked == EXPECTED_BLOCKED, {
        p: verdicts[p].reason for p in set(blocked) ^ set(EXPECTED_BLOCKED)
    }
    summary = check.summarize(verdicts.values())
    assert summary.runs == 36 and summary.total == 48


def test_queries_find_what_the_data_holds(verdicts: dict[str, check.Verdict]) -> None:
    empty = {p: verdicts[p].rows for p in MUST_FIND if not verdicts[p].rows}
    assert not empty, f"ran but found nothing the data holds: {empty}"


def test_miner_query_names_the_pool(
    con: duckdb.DuckDBPyConnection, store: tuple[Path, dt.datetime]
) -> None:
    import yaml

    kql = yaml.safe_load((CORPUS / "sentinel" / "imDNS_Miners.yaml").read_text())["query"]
    got = engine.execute(con, kql, now=store[1]).table.to_pylist()
    assert got and all("supportxmr.com" in r["DnsQuery"] for r in got)


# -- the command ------------------------------------------------------------------------------


def test_cli_reports_json(store: tuple[Path, dt.datetime], tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "ok.kql").write_text("DeviceNetworkEvents | summarize count() by ActionType")
    (folder / "legacy.kql").write_text("SecurityEvent | where EventID == 4688")
    (folder / "rule.yaml").write_text(
        "name: DNS\nquery: |\n  _Im_Dns(responsecodename='NXDOMAIN')\n  | take 5\n"
    )
    out = run(["hunt", "--check", str(folder), "--db", str(store[0]), "-f", "json"])
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["summary"]["runs"] == 2 and report["summary"]["total"] == 3
    by_path = {q["path"]: q for q in report["queries"]}
    assert by_path["legacy.kql"]["status"] == "unknown table"
    assert by_path["legacy.kql"]["reason"] == "SecurityEvent"
    assert by_path["rule.yaml"]["status"] == "runs" and by_path["rule.yaml"]["rows"] == 5


def test_table_report_ranks_blockers(verdicts: dict[str, check.Verdict]) -> None:
    from edgewatch.hunt.check_cli import render_table

    text = render_table(list(verdicts.values()), check.summarize(verdicts.values()))
    assert "36 of 48 queries run on this store (75%)" in text
    blockers = text.split("What stops the others, most queries first:\n", 1)[1].splitlines()
    counts = [int(line.split()[0]) for line in blockers]
    assert counts == sorted(counts, reverse=True) and sum(counts) == 12
    assert any("unknown table: DeviceFileEvents" in line for line in blockers)


def test_cli_explains_an_empty_folder(
    store: tuple[Path, dt.datetime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgewatch.hunt.check_cli import BAD_INPUT, run_check

    assert run_check(tmp_path, store[0], "table", None, 10.0) == BAD_INPUT
    assert "no .kql" in capsys.readouterr().err
