"""A dashboard on localhost over a store filled with simulated events, for the web tests.

The store is written once per session through the real store writer (about 30,000
simulated events with every attack scenario), with an agent status file beside it.
Tests compare what the API and the pages show with independent SQL on the same file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from edgewatch import simulate
from edgewatch.web.app import ServeSettings
from edgewatch.web.security import Guard
from edgewatch.web.server import Dashboard, Listener
from edgewatch.web.store import AccessSettings
from tests.store.conftest import fill_store

EVENTS = 30_000
NODE = "edge-test-1"
TOKEN = "test-token-0123456789abcdef"


@dataclass
class Site:
    db: Path
    status: Path
    url: str
    dash: Dashboard

    def sql(self, query: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        """Independent SQL on a connection of the test's own (not the dashboard's)."""
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"ATTACH '{self.db}' AS s (READ_ONLY)")
            con.execute("USE s")
            return con.execute(query, params).fetchall()
        finally:
            con.close()

    def newest(self) -> int:
        parts = " UNION ALL ".join(
            f"SELECT max(time_ns) FROM {t}"
            for (t,) in self.sql(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'events_%'"
            )
        )
        return int(self.sql(f"SELECT max(m) FROM ({parts}) AS x(m)")[0][0])


def write_status(path: Path) -> None:
    doc = {
        "written_at": time.time(),
        "pid": 4242,
        "stats": {
            "dropped": {"filtered/dns": 1200, "over-quota/tcp": 7},
            "rejected": {"malformed": 3},
        },
        "destinations": {
            "sentinel": {
                "queued_events": 15,
                "bytes_on_disk": 4096,
                "oldest_unsent_age_s": 2.5,
                "records_sent": 9000,
                "last_success": time.time() - 3,
                "last_error": "",
            }
        },
    }
    path.write_text(json.dumps(doc))


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("web")
    db = root / "store.duckdb"
    events = simulate.generate(EVENTS, seed=11, scenarios=simulate.SCENARIOS)
    writer = fill_store(db, events, node=NODE, max_age_ns=None, max_bytes=None)
    writer.close()
    status = root / "status.json"
    write_status(status)
    return db, status


def start(db: Path, status: Path | None, guard: Guard, **access: object) -> Dashboard:
    settings = ServeSettings(
        access=AccessSettings(path=db, **access),  # type: ignore[arg-type]
        guard=guard,
        status_path=status,
    )
    dash = Dashboard(settings, Listener("127.0.0.1", 0))
    dash.start()
    return dash


@pytest.fixture(scope="session")
def site(web_store: tuple[Path, Path]) -> Iterator[Site]:
    db, status = web_store
    dash = start(db, status, Guard.for_bind("127.0.0.1", 0, None), kql_timeout_s=20.0)
    # the Host check knows the real port only now
    dash.settings.guard.allowed_hosts = Guard.for_bind("127.0.0.1", dash.port, None).allowed_hosts
    try:
        yield Site(db, status, dash.url, dash)
    finally:
        dash.stop()
