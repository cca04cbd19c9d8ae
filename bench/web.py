"""Dashboard benchmark: each page's HTML and API calls on a store of 10,000,000 events.

    python -m bench.web                                   # build (or reuse) a 10M store
    python -m bench.web --db /path/to/store.duckdb        # time an existing store
    EDGEWATCH_WEB_BENCH_DB=/path/store.duckdb python -m bench.web --runs 3

The store is built the way ``bench.store`` builds its own: ``--base`` simulated events
ingested through ``edgewatch ingest``'s path, then copied inside DuckDB a day apart
until it holds ``--events`` (``--base`` x scale). It is kept in ``bench/.cache`` and
reused on the next run.

A page's time is what a browser waits for before the page is drawn: its HTML plus every
API call its script makes (store info, filter options, the page's data), made one
after another over real HTTP on 127.0.0.1 against ``edgewatch serve``'s server. Median
of ``--runs`` runs after one warm-up; the first (cold) load, which opens the store,
is shown apart. Default window (the last 24 hours) and the whole store (``all``).

Baseline, in the same process: the overview's events-per-gadget chart computed by
KQL over the ContainerLogV2 view (how a Sentinel workbook would ask), next to the page
query over typed columns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb
import requests

from bench.store import CACHE, ROOT, ingest_edgewatch, scale_store, write_section

BEGIN, END = "<!-- web:begin -->", "<!-- web:end -->"
TARGET_S = 1.0

#: page -> the requests its script makes (besides its HTML)
PAGES: dict[str, tuple[str, list[str]]] = {
    "overview": ("/", ["/api/store", "/api/options", "/api/overview"]),
    "network": ("/network", ["/api/store", "/api/options", "/api/network"]),
    "dns": ("/dns", ["/api/store", "/api/options", "/api/dns"]),
    "tls": ("/tls", ["/api/store", "/api/options", "/api/tls"]),
    "processes": ("/processes", ["/api/store", "/api/options", "/api/processes"]),
    "seccomp": ("/seccomp", ["/api/store", "/api/options", "/api/seccomp"]),
    "alerts": ("/alerts", ["/api/store", "/api/options", "/api/alerts"]),
    "kql": ("/kql", ["/api/store", "/api/queries"]),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def count_events(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT sum(estimated_size) FROM duckdb_tables() WHERE table_name LIKE 'events_%'"
        ).fetchall()
        return int(rows[0][0] or 0)
    finally:
        con.close()


def build_store(db: Path, events: int, base: int, seed: int) -> None:
    from bench.__main__ import make_inputs

    src, _ = make_inputs(base, seed)
    log(f"ingesting {base:,} simulated events ...")
    ingest_edgewatch(src, db)
    scale = max(1, round(events / base))
    log(f"copying them x{scale} a day apart ...")
    scale_store(db, scale)


def timed_page(session: requests.Session, url: str, page: str, since: str) -> float:
    html, calls = PAGES[page]
    started = time.perf_counter()
    r = session.get(url + html, timeout=120)
    r.raise_for_status()
    for call in calls:
        params = {"since": since} if call not in ("/api/store", "/api/queries") else {}
        r = session.get(url + call, params=params, timeout=120)
        r.raise_for_status()
    return time.perf_counter() - started


def baseline(db: Path, since_ns: int, end_ns: int) -> tuple[float, float]:
    """The over-time chart: KQL over ContainerLogV2 vs the page's SQL over typed columns."""
    import datetime as dt

    from edgewatch.hunt import engine
    from edgewatch.store.database import open_store
    from edgewatch.store.schema import all_schemas

    def t(ns: int) -> str:
        return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")

    kql = (
        f"ContainerLogV2 | where TimeGenerated between (datetime({t(since_ns)}) .. "
        f"datetime({t(end_ns)})) | summarize count() by ContainerName, bin(TimeGenerated, 30m)"
    )
    con = open_store(db, read_only=True)
    try:
        engine.prepare(con)
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        sql = " UNION ALL ".join(
            f"SELECT '{s.family}', (time_ns - {since_ns}) // {1800 * 10**9} AS b, count(*) "
            f'FROM "{s.name}" WHERE time_ns BETWEEN {since_ns} AND {end_ns} GROUP BY b'
            for s in all_schemas()
            if s.name in tables
        )
        kql_s, sql_s = [], []
        for _ in range(3):
            started = time.perf_counter()
            engine.execute(con, kql, timeout_s=600)
            kql_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            con.execute(sql).fetchall()
            sql_s.append(time.perf_counter() - started)
        return statistics.median(kql_s), statistics.median(sql_s)
    finally:
        con.close()


def run(db: Path, runs: int) -> dict:  # type: ignore[type-arg]
    from edgewatch.web.app import ServeSettings
    from edgewatch.web.security import Guard
    from edgewatch.web.server import Dashboard, Listener
    from edgewatch.web.store import AccessSettings

    settings = ServeSettings(
        access=AccessSettings(path=db, idle_close_s=3600),
        guard=Guard.for_bind("127.0.0.1", 0, None),
    )
    dash = Dashboard(settings, Listener("127.0.0.1", 0))
    settings.guard.allowed_hosts = Guard.for_bind("127.0.0.1", dash.port, None).allowed_hosts
    dash.start()
    out: dict = {"pages": {}}  # type: ignore[type-arg]
    try:
        session = requests.Session()
        out["cold"] = timed_page(session, dash.url, "overview", "24h")
        for since in ("24h", "all"):
            for page in PAGES:
                timed_page(session, dash.url, page, since)  # warm-up
                times = [timed_page(session, dash.url, page, since) for _ in range(runs)]
                out["pages"].setdefault(page, {})[since] = times
                log(f"{page:<10} {since:>4}: median {statistics.median(times) * 1000:7.1f} ms")
        window = session.get(dash.url + "/api/overview", timeout=120).json()["window"]
        out["window"] = window
    finally:
        dash.stop()
    out["baseline"] = baseline(db, window["start_ns"], window["end_ns"])
    return out


def report(args: argparse.Namespace, events: int, results: dict) -> str:  # type: ignore[type-arg]
    from bench.__main__ import machine

    m = machine()
    med = {p: {s: statistics.median(v) for s, v in d.items()} for p, d in results["pages"].items()}
    worst = max(v["24h"] for v in med.values())
    worst_all = max(v["all"] for v in med.values())
    kql_s, sql_s = results["baseline"]
    lines = [
        BEGIN,
        "## Dashboard pages",
        "",
        f"`python -m bench.web --runs {args.runs}` on {m['cpu']}, {m['cores']} cores, Python "
        f"{m['python']}, DuckDB {duckdb.__version__}, a store of **{events:,} events**. A page "
        "is its HTML plus every API call its script makes, one after another over HTTP on "
        f"127.0.0.1; median of {args.runs} warm runs. The first load after start (which "
        f"opens the store) took {results['cold'] * 1000:.0f} ms.",
        "",
        "| page | last 24 h (ms) | whole store (ms) |",
        "|---|---:|---:|",
    ]
    for page, v in med.items():
        lines.append(f"| {page} | {v['24h'] * 1000:.0f} | {v['all'] * 1000:.0f} |")
    lines += [
        "",
        f"Target: every page under {TARGET_S:.0f} s at {events:,} events (default window): "
        f"{'met' if worst < TARGET_S else '**not met**'} (slowest {worst * 1000:.0f} ms; over "
        f"the whole store {worst_all * 1000:.0f} ms).",
        "",
        "Baseline, same process: the overview's events-per-gadget chart for the default "
        f"window as KQL over ContainerLogV2 took {kql_s * 1000:.0f} ms; the page's SQL over "
        f"the typed columns {sql_s * 1000:.0f} ms (**{kql_s / max(sql_s, 1e-9):.1f}×** faster).",
        "",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.web",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--db", type=Path, default=os.environ.get("EDGEWATCH_WEB_BENCH_DB"))
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--base", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()
    db = args.db
    if db is None:
        db = CACHE / f"web-{args.events}.duckdb"
        if not db.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            build_store(db, args.events, args.base, args.seed)
    elif not Path(db).exists():
        raise SystemExit(f"no store at {db}")
    db = Path(db)
    events = count_events(db)
    log(f"store {db}: {events:,} events")
    results = run(db, args.runs)
    write_section(args.output, report(args, events, results), BEGIN, END)
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
