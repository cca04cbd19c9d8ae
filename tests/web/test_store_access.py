"""The dashboard and an agent sharing one store file: DuckDB allows one writer or readers.

The dashboard holds the store only while it answers and closes it when idle, so a
writer can take it; while a writer holds it, pages answer 503 saying so, and recover
when it is gone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from edgewatch.web.security import Guard
from tests.web.conftest import start

WRITER = """
import sys, time
from edgewatch.store.database import open_store
con = open_store(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def test_a_writer_and_the_dashboard_take_turns(
    web_store: tuple[Path, Path], tmp_path: Path
) -> None:
    db = tmp_path / "store.duckdb"
    shutil.copy(web_store[0], db)
    dash = start(db, None, Guard.for_bind("127.0.0.1", 0, None), idle_close_s=0.3)
    dash.settings.guard.allowed_hosts = Guard.for_bind("127.0.0.1", dash.port, None).allowed_hosts
    access = dash.app.state.access
    try:
        assert requests.get(dash.url + "/api/store", timeout=10).status_code == 200
        deadline = time.monotonic() + 10
        while access.is_open and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not access.is_open, "the idle dashboard should let go of the store"
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
            r = requests.get(dash.url + "/api/overview", timeout=10)
            assert r.status_code == 503
            assert "in use by a writer" in r.json()["error"]
        finally:
            writer.kill()
            writer.wait()
        assert requests.get(dash.url + "/api/overview", timeout=10).status_code == 200
    finally:
        dash.stop()
