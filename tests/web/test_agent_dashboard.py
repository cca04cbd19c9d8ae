"""The dashboard inside the agent: live pages on the store the agent is writing.

DuckDB lets one process write a file or many read it, so ``edgewatch serve`` answers
503 while an agent runs. The agent's own dashboard reads through the writer's database
instance instead. These tests check what a user relies on: pages answer while events
are written and show them once flushed; nothing sent to the dashboard (a page query or
KQL) changes the store or the writer's settings; ``edgewatch run`` starts and stops it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import requests

from edgewatch import simulate
from edgewatch.agent import build_pipeline
from edgewatch.config import Config, ConfigError, parse_config
from edgewatch.pipeline.runtime import Pipeline
from edgewatch.sinks.store import StoreSink
from edgewatch.sources.base import RawBatch
from edgewatch.store.database import StoreError
from edgewatch.store.writer import StoreSettings, StoreWriter
from edgewatch.web import readonly
from edgewatch.web.agent import DashboardError, start_dashboard
from edgewatch.web.security import TOKEN_ENV, TokenError, read_token
from edgewatch.web.server import Dashboard
from edgewatch.web.store import AccessSettings, StoreAccess

TOKEN = "agent-token-0123456789abcdef"


def sim_lines(n: int, seed: int) -> list[bytes]:
    buf = io.BytesIO()
    simulate.write(simulate.generate(n, seed=seed, scenarios=simulate.SCENARIOS), buf, "current")
    return buf.getvalue().splitlines()


def agent_yaml(tmp_path: Path, dashboard: str, sources: str = "") -> str:
    return f"""
node: edge-live
state_dir: {tmp_path / "state"}
{sources}
sinks:
  - type: store
    name: local
    path: {tmp_path / "store.duckdb"}
    max_age: null
dashboard:
{dashboard}
"""


def event_count(con: duckdb.DuckDBPyConnection) -> int:
    """Every stored event, counted on a cursor of the test's own."""
    cur = con.cursor()
    try:
        tables = [
            t
            for (t,) in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'events\\_%' "
                "ESCAPE '\\'"
            ).fetchall()
        ]
        return sum(cur.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)  # type: ignore[index]
    finally:
        cur.close()


@dataclass
class LiveAgent:
    cfg: Config
    pipeline: Pipeline
    dash: Dashboard

    @property
    def writer(self) -> StoreWriter:
        sink = next(s for s in self.pipeline.sinks if isinstance(s, StoreSink))
        return sink.writer

    def feed(self, lines: list[bytes]) -> None:
        """Lines through the agent's pipeline, then into the store (the writer's flush)."""
        self.pipeline.handle(RawBatch(lines, "sim"))
        self.pipeline.flush()
        self.writer.flush()

    def get(self, path: str, **kw: object) -> requests.Response:
        return requests.get(self.dash.url + path, timeout=30, **kw)  # type: ignore[arg-type]

    def kql(self, query: str, **kw: object) -> requests.Response:
        return requests.post(
            self.dash.url + "/api/kql",
            json={"query": query},
            timeout=30,
            **kw,  # type: ignore[arg-type]
        )

    def shown_events(self) -> int:
        r = self.get("/api/store")
        assert r.status_code == 200, r.text
        return sum(t["events"] for t in r.json()["tables"])


@contextmanager
def live_agent(root: Path) -> Iterator[LiveAgent]:
    """An agent's pipeline writing a store in ``root``, its dashboard on 127.0.0.1."""
    cfg = parse_config(agent_yaml(root, "  enabled: true\n  listen: 127.0.0.1:0"))
    pipeline, _ = build_pipeline(cfg)
    dash = start_dashboard(cfg, pipeline.sinks)
    assert dash is not None
    try:
        yield LiveAgent(cfg, pipeline, dash)
    finally:
        dash.stop()
        pipeline.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveAgent]:
    with live_agent(tmp_path) as agent:
        yield agent


# -- live data ------------------------------------------------------------------------


def test_pages_show_events_as_the_agent_writes_them(live: LiveAgent) -> None:
    lines = sim_lines(3000, seed=5)
    live.feed(lines[:1500])
    first = live.shown_events()
    assert first == event_count(live.writer.con) > 0
    live.feed(lines[1500:])
    second = live.shown_events()
    assert second == event_count(live.writer.con) > first
    r = live.kql("ContainerLogV2 | count")
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[second]]


def test_no_page_is_busy_while_the_writer_inserts(live: LiveAgent) -> None:
    lines = sim_lines(4000, seed=9)
    live.feed(lines[:500])
    done = threading.Event()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            for start in range(500, len(lines), 250):
                live.feed(lines[start : start + 250])
        except BaseException as exc:
            failure.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    statuses: list[tuple[str, int]] = []
    pages = ["/api/store", "/api/overview?since=all", "/api/network?since=all", "/api/dns"]
    try:
        while not done.is_set() or len(statuses) < len(pages):
            for page in pages:
                statuses.append((page, live.get(page).status_code))
            statuses.append(("kql", live.kql("ContainerLogV2 | take 5").status_code))
    finally:
        writer.join()
    assert not failure, failure
    assert all(code == 200 for _, code in statuses), [s for s in statuses if s[1] != 200]
    assert live.shown_events() == event_count(live.writer.con)


def test_the_dashboard_of_an_agent_beyond_loopback_needs_its_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    cfg = parse_config(
        agent_yaml(tmp_path, f"  enabled: true\n  listen: 0.0.0.0:0\n  token_file: {token_file}")
    )
    pipeline, _ = build_pipeline(cfg)
    dash = start_dashboard(cfg, pipeline.sinks)
    assert dash is not None
    try:
        url = f"http://127.0.0.1:{dash.port}/api/store"
        assert requests.get(url, timeout=10).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(url, headers=auth, timeout=10).status_code == 200
        assert dash.login_url() is not None
    finally:
        dash.stop()
        pipeline.close()


def test_a_short_token_stops_the_dashboard_from_starting(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("short")
    cfg = parse_config(
        agent_yaml(tmp_path, f"  enabled: true\n  listen: 0.0.0.0:0\n  token_file: {token_file}")
    )
    pipeline, _ = build_pipeline(cfg)
    try:
        with pytest.raises(DashboardError, match="at least 16 characters"):
            start_dashboard(cfg, pipeline.sinks)
    finally:
        pipeline.close()


def test_the_token_comes_from_a_file_or_the_environment_never_short(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    env = {TOKEN_ENV: "from-the-environment-0123"}
    assert read_token(token_file, env) == TOKEN
    assert read_token(None, env) == "from-the-environment-0123"
    assert read_token(None) is None  # the agent: no environment lookup
    token_file.write_text("short")
    with pytest.raises(TokenError, match="at least 16"):
        read_token(token_file)
    with pytest.raises(TokenError, match="cannot read"):
        read_token(tmp_path / "missing")


# -- nothing the dashboard runs changes the store ---------------------------------------

WRITES = [
    "INSERT INTO events_tcp SELECT * FROM events_tcp",
    "DELETE FROM events_dns",
    "UPDATE events_exec SET comm = 'x'",
    "DROP TABLE events_tcp",
    "CREATE TABLE stolen AS SELECT 1",
    "COPY events_dns TO '/tmp/edgewatch-stolen.csv'",
    "ATTACH '/tmp/edgewatch-other.duckdb' AS other",
    "SET memory_limit = '1MB'",
    "SET enable_external_access = true",
    "CHECKPOINT",
    "SELECT * FROM checkpoint()",
    "SELECT * FROM force_checkpoint()",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM query('DELETE FROM events_dns')",
    "SELECT * FROM enable_logging()",
    "SELECT 1; DELETE FROM events_dns",
    "SELECT nextval('x')",
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveAgent, StoreAccess]]:
    """One agent for the attempts below: each checks the store is as it found it."""
    with live_agent(tmp_path_factory.mktemp("shared")) as agent:
        agent.feed(sim_lines(1500, seed=2))
        yield agent, agent.dash.app.state.access


def settings_of(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('memory_limit', 'lock_configuration', 'enable_external_access', 'threads') "
        "ORDER BY name"
    ).fetchall()


@pytest.mark.parametrize("sql", WRITES)
def test_a_page_query_cannot_change_the_store(
    shared: tuple[LiveAgent, StoreAccess], sql: str
) -> None:
    live, access = shared
    assert access.shared
    before, settings = event_count(live.writer.con), settings_of(live.writer.con)
    with access.cursor() as cur, pytest.raises(StoreError):
        access.query(sql, cur=cur)
    assert event_count(live.writer.con) == before
    assert settings_of(live.writer.con) == settings


def test_files_stay_out_of_reach_of_a_query_that_passes_the_check(
    shared: tuple[LiveAgent, StoreAccess], tmp_path: Path
) -> None:
    """A file named as a table is read by a replacement scan: external access stops it."""
    _, access = shared
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    with access.cursor() as cur, pytest.raises(duckdb.PermissionException):
        access.query(f"SELECT * FROM '{secret}'", cur=cur)


def test_even_a_raw_cursor_of_the_dashboard_cannot_write(
    shared: tuple[LiveAgent, StoreAccess],
) -> None:
    """The read-only transaction: DuckDB's own refusal, below the statement check."""
    live, access = shared
    before = event_count(live.writer.con)
    with access.cursor() as cur, pytest.raises(duckdb.Error, match="read-only"):
        cur.execute("DELETE FROM events_dns").fetchall()
    with access.hunting(wait_s=5) as hunt, pytest.raises(duckdb.Error, match="read-only"):
        hunt.execute("INSERT INTO events_tcp SELECT * FROM events_tcp").fetchall()
    assert event_count(live.writer.con) == before


@pytest.mark.parametrize(
    "kql",
    [
        ".drop table events_dns",
        ".set-or-append events_tcp <| events_tcp",
        ".delete table events_dns records <| events_dns",
        ".ingest into table events_tcp ('/etc/passwd')",
        "externaldata (line: string) [@'/etc/passwd']",
        "['/etc/passwd'] | take 1",
        "print x = nextval('s')",
        "print x = checkpoint()",
        "evaluate checkpoint()",
        "ContainerLogV2 | take 1; .drop table events_dns",
        "events_dns | take 1 | project x = write_log('x')",
    ],
)
def test_a_kql_query_cannot_change_the_store(
    shared: tuple[LiveAgent, StoreAccess], kql: str
) -> None:
    live, _ = shared
    before, settings = event_count(live.writer.con), settings_of(live.writer.con)
    r = live.kql(kql)
    assert r.status_code == 400, r.text
    assert event_count(live.writer.con) == before
    assert settings_of(live.writer.con) == settings
    assert live.kql("ContainerLogV2 | count").json()["rows"] == [[before]]


def test_the_check_refuses_acting_sql_and_passes_every_bundled_hunt() -> None:
    from edgewatch.hunt import catalog, engine

    for sql in WRITES:
        with pytest.raises(readonly.ReadOnlyError):
            readonly.check(sql)
    for query in catalog.bundled():
        readonly.check(engine.translate(query.text).sql)


def test_the_writer_keeps_working_after_the_dashboard_prepared_to_hunt(
    live: LiveAgent,
) -> None:
    live.feed(sim_lines(800, seed=20))
    access: StoreAccess = live.dash.app.state.access
    con = live.writer.con
    settings = settings_of(con)
    with access.hunting(wait_s=5) as hunt:
        assert hunt.execute("SELECT count(*) FROM ContainerLogV2").fetchone()
    # nothing instance-wide changed: no memory limit, no configuration lock for the writer
    assert settings_of(con) == settings
    assert ("lock_configuration", "false") in settings
    assert ("enable_external_access", "false") in settings
    before = event_count(con)
    live.feed(sim_lines(800, seed=21))  # insert, retention, all on the writer's connection
    con.execute("CHECKPOINT").fetchall()
    con.execute("SET TimeZone = 'UTC'").fetchall()  # the writer may still change a setting
    assert event_count(con) > before
    assert live.writer.stats.errors == 0


def test_shared_access_makes_no_idle_close_and_no_503(tmp_path: Path) -> None:
    writer = StoreWriter(StoreSettings(path=tmp_path / "s.duckdb", max_age_ns=None))
    try:
        access = StoreAccess(
            AccessSettings(path=writer.settings.path, idle_close_s=0.01, shared=writer.con)
        )
        with access.cursor() as cur:
            assert access.query("SELECT 1", cur=cur) == [(1,)]
        time.sleep(0.05)
        assert access.is_open
        assert "events_tcp" in access.tables()
        access.close()
        assert not access.is_open
        with pytest.raises(StoreError, match="stopping"), access.cursor():
            pass
        # the writer's connection is the writer's: still open after the dashboard closed
        assert writer.con.execute("SELECT 1").fetchone() == (1,)
    finally:
        writer.close()


# -- configuration ----------------------------------------------------------------------


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "agent.yaml")
    return "\n".join(str(p) for p in exc.value.problems)


def test_the_dashboard_is_off_unless_enabled() -> None:
    cfg = parse_config("sinks: [{type: stdout}]")
    assert not cfg.dashboard.enabled
    assert cfg.dashboard.listen == "127.0.0.1:8765"
    assert cfg.dashboard_store() is None


def test_a_dashboard_without_a_store_is_refused_at_load() -> None:
    found = problems("sinks: [{type: stdout}]\ndashboard: {enabled: true}")
    assert "dashboard.enabled needs a sink of type store" in found


@pytest.mark.parametrize(
    ("dashboard", "message"),
    [
        ("{enabled: true, listen: '0.0.0.0:8765'}", "set token_file"),
        ("{enabled: true, listen: '192.0.2.7:8765'}", "beyond this machine"),
        ("{enabled: true, tls_cert: /c.pem}", "both tls_cert and tls_key"),
        ("{enabled: true, listen: '8765'}", "not host:port"),
        ("{enabled: true, store: elsewhere}", "'elsewhere' is not a store sink"),
        ("{enabled: true, kql_timeout: 0s}", "at least 0.1s"),
        ("{enabled: true, port: 80}", "unknown key"),
    ],
)
def test_unsafe_or_wrong_dashboard_settings_are_named(dashboard: str, message: str) -> None:
    text = f"sinks: [{{type: store, path: /tmp/s.duckdb}}]\ndashboard: {dashboard}"
    assert message in problems(text)


def test_the_store_shown_is_the_one_named(tmp_path: Path) -> None:
    cfg = parse_config(
        f"""
sinks:
  - {{type: store, name: a, path: {tmp_path / "a.duckdb"}}}
  - {{type: store, name: b, path: {tmp_path / "b.duckdb"}}}
dashboard: {{enabled: true, store: b, listen: "[::1]:0", token_file: /run/token}}
"""
    )
    shown = cfg.dashboard_store()
    assert shown is not None and shown.name == "b"
    assert (cfg.dashboard.host, cfg.dashboard.port) == ("[::1]", 0)


# -- edgewatch run ------------------------------------------------------------------------

EDGEWATCH = [sys.executable, "-m", "edgewatch"]


def _agent_with_dashboard(tmp_path: Path, seed: int, follow: bool) -> Path:
    """A config reading 2,000 simulated events from a file, dashboard on loopback."""
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"\n".join(sim_lines(2000, seed=seed)) + b"\n")
    cfg = tmp_path / "agent.yaml"
    source = f"{{type: file, path: {events}" + (", follow: true}" if follow else "}")
    cfg.write_text(
        agent_yaml(tmp_path, "  enabled: true\n  listen: 127.0.0.1:0", f"sources:\n  - {source}")
    )
    return cfg


def test_run_once_with_the_dashboard_exits_when_the_input_ends(tmp_path: Path) -> None:
    cfg = _agent_with_dashboard(tmp_path, seed=4, follow=False)
    out = subprocess.run(
        [*EDGEWATCH, "run", "-c", str(cfg), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "dashboard on http://127.0.0.1:" in out.stderr
    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    try:
        assert event_count(con) == 2000
    finally:
        con.close()


def test_a_running_agent_serves_its_store_and_stops_on_sigterm(tmp_path: Path) -> None:
    cfg = _agent_with_dashboard(tmp_path, seed=8, follow=True)
    agent = subprocess.Popen(
        [*EDGEWATCH, "run", "-c", str(cfg)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert agent.stderr is not None
        url = None
        for line in agent.stderr:
            if "dashboard on " in line:
                url = line.split("dashboard on ", 1)[1].split("/ ", 1)[0]
                break
        assert url is not None, "the agent did not say where its dashboard is"
        r = requests.get(url + "/api/store", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["path"] == str(tmp_path / "store.duckdb")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/api/store", timeout=5)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
