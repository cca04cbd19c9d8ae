"""The JSON API against a store of simulated events: numbers checked by independent SQL."""

from __future__ import annotations

import json
import subprocess
import sys

import requests

from edgewatch.hunt import catalog
from edgewatch.web.window import NS
from tests.web.conftest import NODE, Site

DAY = 86_400 * NS


def get(site: Site, path: str, **params: object) -> dict:  # type: ignore[type-arg]
    r = requests.get(site.url + path, params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_store_info(site: Site) -> None:
    info = get(site, "/api/store")
    assert info["node"] == NODE
    counts = {t["gadget"]: t["events"] for t in info["tables"]}
    for family in ("tcp", "dns", "sni", "exec", "seccomp"):
        (n,) = site.sql(f"SELECT count(*) FROM events_{family}")[0]
        assert counts[family] == n


def test_overview_totals_match_the_store(site: Site) -> None:
    end = site.newest()
    data = get(site, "/api/overview", since="24h")
    assert data["window"]["end_ns"] == end
    totals = {t["gadget"]: t["events"] for t in data["totals"]}
    for family in ("tcp", "dns", "sni", "exec", "seccomp"):
        (n,) = site.sql(
            f"SELECT count(*) FROM events_{family} WHERE time_ns BETWEEN ? AND ?", [end - DAY, end]
        )[0]
        assert totals[family] == n, family
        series = next(s for s in data["over_time"] if s["name"] == family)
        assert sum(series["y"]) == n
    ns_rows = {r[0]: r[-1] for r in data["by_namespace"]["rows"]}
    (shop,) = site.sql(
        "SELECT sum(n) FROM (SELECT count(*) n FROM events_tcp WHERE namespace='shop' "
        "UNION ALL SELECT count(*) FROM events_dns WHERE namespace='shop' "
        "UNION ALL SELECT count(*) FROM events_sni WHERE namespace='shop' "
        "UNION ALL SELECT count(*) FROM events_exec WHERE namespace='shop' "
        "UNION ALL SELECT count(*) FROM events_seccomp WHERE namespace='shop')"
    )[0]
    assert ns_rows["shop"] == shop


def test_overview_shows_agent_drops_and_destinations(site: Site) -> None:
    agent = get(site, "/api/overview")["agent"]
    assert agent["present"]
    assert ["filtered", "dns", 1200] in agent["drops"]["rows"]
    assert ["rejected: malformed", "", 3] in agent["drops"]["rows"]
    assert agent["destinations"]["rows"][0][0] == "sentinel"


def test_a_short_window_counts_less(site: Site) -> None:
    end = site.newest()
    data = get(site, "/api/overview", since="1m")
    (n,) = site.sql(
        "SELECT count(*) FROM events_tcp WHERE time_ns BETWEEN ? AND ?", [end - 60 * NS, end]
    )[0]
    assert {t["gadget"]: t["events"] for t in data["totals"]}["tcp"] == n
    assert n < site.sql("SELECT count(*) FROM events_tcp")[0][0]


def test_network_edges_and_filters(site: Site) -> None:
    data = get(site, "/api/network", since="all", limit=500)
    assert not data["truncated"]
    (connects,) = site.sql("SELECT count(*) FROM events_tcp WHERE type = 'connect'")[0]
    assert sum(e["connections"] for e in data["edges"]) == connects
    public = [e for e in data["edges"] if e["address_class"] == "public"]
    assert public and data["public_destinations"] == len({e["destination"] for e in public})
    named = [e for e in data["edges"] if e["name"]]
    assert named, "destinations should be named from DNS answers"
    e = named[0]
    (hits,) = site.sql(
        "SELECT count(*) FROM events_dns WHERE qr = 'R' AND list_contains(addresses, ?) "
        "AND rtrim(name, '.') = ?",
        [e["destination"], e["name"]],
    )[0]
    assert hits > 0
    only = get(site, "/api/network", since="all", namespace="payments")
    assert only["edges"] and {x["namespace"] for x in only["edges"]} == {"payments"}
    (n,) = site.sql(
        "SELECT count(*) FROM events_tcp WHERE type='connect' AND namespace='payments'"
    )[0]
    assert sum(x["connections"] for x in only["edges"]) == n
    pod = only["edges"][0]["pod"]
    one = get(site, "/api/network", since="all", namespace="payments", pod=pod)
    assert {x["pod"] for x in one["edges"]} == {pod}


def test_options_list_namespaces_and_pods(site: Site) -> None:
    data = get(site, "/api/options", since="all")
    expected = {
        r[0] for r in site.sql("SELECT DISTINCT namespace FROM events_tcp WHERE namespace <> ''")
    }
    assert expected <= set(data["namespaces"])


def test_dns_page_numbers(site: Site) -> None:
    data = get(site, "/api/dns", since="all")
    (q,) = site.sql("SELECT count(*) FROM events_dns WHERE qr='Q' AND comm <> 'coredns'")[0]
    assert data["queries"] == q
    top = data["top_names"]["rows"][0]
    (n,) = site.sql(
        "SELECT count(*) FROM events_dns WHERE qr='Q' AND comm <> 'coredns' AND name = ?",
        [top[0]],
    )[0]
    assert top[1] == n
    assert all(not r[0].endswith(".cluster.local.") for r in data["failed"]["rows"])
    # the simulator's DNS tunnelling scenario is caught
    assert data["suspicious"]["rows"], "the tunnelling scenario should look suspicious"
    assert data["suspicious"]["rows"][0][2] >= 40


def test_tls_first_seen(site: Site) -> None:
    data = get(site, "/api/tls", since="all")
    rows = data["sni"]["rows"]
    (pairs,) = site.sql(
        "SELECT count(*) FROM (SELECT DISTINCT namespace, pod, name FROM events_sni "
        "WHERE name <> '')"
    )[0]
    assert len(rows) == min(pairs, 200)
    ns, pod, name, count = rows[0][:4]
    (n,) = site.sql(
        "SELECT count(*) FROM events_sni WHERE namespace=? AND pod=? AND name=?", [ns, pod, name]
    )[0]
    assert count == n
    assert data["new_in_window"] == pairs  # window 'all': every pair is new in it


def test_processes_shells(site: Site) -> None:
    data = get(site, "/api/processes", since="all")
    (shells,) = site.sql(
        "SELECT count(*) FROM events_exec WHERE comm IN ('sh','bash','dash','ash','zsh','ksh',"
        "'csh','tcsh','fish','busybox')"
    )[0]
    assert data["shell_execs"] == shells > 0
    assert {r[4] for r in data["shells"]["rows"]} <= {"sh", "bash", "dash", "ash", "busybox"}
    (execs,) = site.sql("SELECT count(*) FROM events_exec")[0]
    assert sum(r[4] for r in data["containers"]["rows"]) == execs


def test_seccomp(site: Site) -> None:
    data = get(site, "/api/seccomp", since="all")
    (n,) = site.sql("SELECT count(*) FROM events_seccomp")[0]
    assert sum(r[2] for r in data["by_syscall"]["rows"]) == n


def test_alerts_empty_state(site: Site) -> None:
    data = get(site, "/api/alerts", since="all")
    tables = {r[0] for r in site.sql("SELECT table_name FROM duckdb_tables()")}
    if not ({"events_alert", "events_alerts", "alerts", "edgewatch_alerts"} & tables):
        assert data["present"] is False and data["alerts"]["rows"] == []
        assert "no alerts" in data["note"]


def test_bad_window_is_a_400(site: Site) -> None:
    r = requests.get(site.url + "/api/overview", params={"since": "soon"}, timeout=10)
    assert r.status_code == 400
    assert "duration" in r.json()["error"]
    r = requests.get(site.url + "/api/dns", params={"namespace": "Bad Name"}, timeout=10)
    assert r.status_code == 422


def test_kql_runs_a_bundled_query_like_hunt(site: Site) -> None:
    text = catalog.get("public_outbound_tcp").text
    r = requests.post(site.url + "/api/kql", json={"query": text}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    # the same query through `edgewatch hunt`, in a process of its own
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgewatch",
            "hunt",
            "public_outbound_tcp",
            "--db",
            str(site.db),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    expected = json.loads(out)
    assert body["row_count"] == len(expected) > 0
    assert body["columns"] == list(expected[0])
    key = body["columns"].index("count_")
    assert sorted(r[key] for r in body["rows"]) == sorted(x["count_"] for x in expected)


def test_kql_error_points_at_the_position(site: Site) -> None:
    r = requests.post(
        site.url + "/api/kql",
        json={
            "query": "ContainerLogV2\n| where ContainerName == 'ig-dns'\n| summarize count( by x"
        },
        timeout=30,
    )
    assert r.status_code == 400
    body = r.json()
    assert body["line"] == 3 and body["column"] >= 1
    assert "line 3" in body["error"]


def test_kql_is_read_only(site: Site) -> None:
    for query in (".drop table ContainerLogV2", ".set-or-append T <| print 1"):
        r = requests.post(site.url + "/api/kql", json={"query": query}, timeout=30)
        assert r.status_code == 400
        assert "management commands" in r.json()["error"]


def test_kql_row_cap(site: Site) -> None:
    r = requests.post(
        site.url + "/api/kql",
        json={"query": "ContainerLogV2 | project ContainerName", "max_rows": 10},
        timeout=60,
    )
    body = r.json()
    assert len(body["rows"]) == 10 and body["truncated"] and body["row_count"] > 10


def test_queries_list_is_the_catalogue(site: Site) -> None:
    r = requests.get(site.url + "/api/queries", timeout=10)
    assert [q["name"] for q in r.json()] == catalog.names()


def test_openapi_spec_documents_every_endpoint(site: Site) -> None:
    spec = requests.get(site.url + "/api/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    for path in (
        "/api/overview",
        "/api/network",
        "/api/dns",
        "/api/tls",
        "/api/processes",
        "/api/seccomp",
        "/api/alerts",
        "/api/kql",
        "/api/queries",
        "/api/store",
        "/api/options",
    ):
        assert path in paths, path
    assert "400" in spec["paths"]["/api/kql"]["post"]["responses"]
