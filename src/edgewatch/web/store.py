"""Read-only access to the store for the dashboard, friendly to an agent writing it.

DuckDB lets one process write a file, or any number read it, never both. Two modes:

* **File** (``edgewatch serve``): the dashboard opens the store read-only only while it
  answers requests and closes it after ``idle_close_s`` without one: an agent can then
  start on the same file. While an agent holds the write lock, requests fail with
  :class:`StoreBusyError` (HTTP 503 with a message saying so) and the next request
  tries again.
* **Shared** (the dashboard inside the agent): it reads through the writer's own
  database instance (cursors of the writer's connection), so there is no lock to wait
  for and every page shows what the writer has flushed. That instance is writable, so
  every query is checked first and runs in a read-only transaction (``readonly.py``);
  nothing instance-wide (memory limit, configuration lock) is changed, as it would
  bind the writer too.

KQL runs on one connection prepared by the hunting engine (its ContainerLogV2 view,
IP functions; in file mode also the memory limit, then the configuration locked); page
queries run on cursors of the same database with a time limit of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from edgewatch.hunt import engine
from edgewatch.hunt.watchlists import WatchlistSettings
from edgewatch.store.database import StoreBusyError, StoreError, open_store
from edgewatch.store.schema import all_schemas
from edgewatch.web import readonly

log = logging.getLogger(__name__)

__all__ = ["QueryTimeoutError", "StoreAccess", "StoreBusyError", "StoreError"]

#: how long the shared mode reuses the list of tables (pages ask for it often)
_TABLES_TTL_S = 2.0
#: how long closing waits for requests still running on the writer's instance
_CLOSE_WAIT_S = 5.0


class QueryTimeoutError(StoreError):
    """A page query ran past its time limit."""


@dataclass(frozen=True)
class AccessSettings:
    path: Path
    #: DuckDB's cap on what it tracks (hash tables, sorts) for the whole dashboard
    memory_limit: str = engine.DEFAULT_MEMORY_LIMIT
    threads: int | None = None
    #: a page query running longer is interrupted (HTTP 503)
    page_timeout_s: float = 20.0
    #: a KQL query running longer is interrupted (HTTP 400, like ``edgewatch hunt``)
    kql_timeout_s: float = engine.DEFAULT_TIMEOUT_S
    #: close the store after this long without a request, so a writer can open it
    idle_close_s: float = 10.0
    #: the writer's connection: read through its database instance (the agent's own
    #: dashboard) instead of opening the file; memory_limit and threads are then the
    #: writer's, and idle_close_s does not apply
    shared: duckdb.DuckDBPyConnection | None = field(default=None, compare=False)
    #: where the KQL page's ``_GetWatchlist`` reads (None: such queries are refused)
    watchlists: WatchlistSettings | None = None


class StoreAccess:
    """Opens the store on demand, shares it between requests, closes it when idle.

    In shared mode it opens and closes no database: the writer owns it.
    """

    def __init__(self, settings: AccessSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._no_users = threading.Condition(self._lock)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._hunt: duckdb.DuckDBPyConnection | None = None
        self._hunt_lock = threading.Lock()
        self._users = 0
        self._last_used = 0.0
        self._tables: frozenset[str] = frozenset()
        self._tables_at = -1e9
        #: shared mode: page cursors in use (interrupted at close), and closed for good
        self._running: set[duckdb.DuckDBPyConnection] = set()
        self._closed = False
        self._stop = threading.Event()
        if settings.shared is None:
            reaper = threading.Thread(target=self._reap, name="store-idle", daemon=True)
            reaper.start()

    @property
    def path(self) -> Path:
        return self.settings.path

    @property
    def shared(self) -> bool:
        """Reading through a writer's database instance (the agent's own dashboard)."""
        return self.settings.shared is not None

    # -- connections -------------------------------------------------------------------

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self.settings.shared is not None:
                if self._closed:
                    raise StoreError("the dashboard is stopping")
                self._users += 1
                return self.settings.shared
            if self._con is None:
                try:
                    self._con = open_store(
                        self.settings.path,
                        read_only=True,
                        threads=self.settings.threads,
                        memory_limit=self.settings.memory_limit,
                    )
                except StoreBusyError as exc:
                    raise StoreBusyError(
                        f"{exc}. The agent's own dashboard shows the store live: "
                        "'dashboard: {enabled: true}' in its config"
                    ) from exc
                rows = self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
                self._tables = frozenset(r[0] for r in rows)
            self._users += 1
            return self._con

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            self._last_used = time.monotonic()
            if self._users == 0:
                self._no_users.notify_all()

    def _new_cursor(
        self, con: duckdb.DuckDBPyConnection, *, track: bool = True
    ) -> duckdb.DuckDBPyConnection:
        if self.settings.shared is None:
            return con.cursor()
        with self._lock:  # the writer's connection hands out cursors one at a time
            cur = con.cursor()
            if track:
                self._running.add(cur)
            return cur

    @contextmanager
    def _read_only(self, cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        """Shared mode: DuckDB refuses any write to the store from inside this."""
        if self.settings.shared is None:
            yield cur
            return
        cur.execute("BEGIN TRANSACTION READ ONLY").fetchall()
        done = False
        try:
            yield cur
            done = True
        finally:
            try:  # COMMIT keeps the temp views a KQL query made, for the next one
                cur.execute("COMMIT" if done else "ROLLBACK").fetchall()
            except duckdb.Error:  # an interrupted query aborted the transaction
                with suppress(duckdb.Error):
                    cur.execute("ROLLBACK").fetchall()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for one request (DuckDB cursors are not shared)."""
        con = self._acquire()
        try:
            cur = self._new_cursor(con)
            try:
                with self._read_only(cur):
                    yield cur
            finally:
                with self._lock:
                    self._running.discard(cur)
                cur.close()
        finally:
            self._release()

    @contextmanager
    def hunting(self, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """The one connection prepared for KQL; one query at a time runs on it."""
        con = self._acquire()
        try:
            if not self._hunt_lock.acquire(timeout=wait_s):
                raise QueryTimeoutError("another KQL query is still running; try again shortly")
            try:
                if self._hunt is None:
                    self._hunt = self._prepared_hunt(con)
                with self._read_only(self._hunt) as hunt:
                    yield hunt
            finally:
                self._hunt_lock.release()
        finally:
            self._release()

    def _prepared_hunt(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        hunt = self._new_cursor(con, track=False)  # interrupted at close as ``_hunt``
        try:
            engine.prepare(
                hunt,
                memory_limit=self.settings.memory_limit,
                shared_instance=self.shared,
                watchlists=self.settings.watchlists,
            )
        except BaseException:
            hunt.close()
            raise
        return hunt

    def check(self, sql: str) -> None:
        """Shared mode: refuse what is not one SELECT that only reads (``readonly.py``).

        File mode needs no check: DuckDB opened the file read-only.
        """
        if self.settings.shared is not None:
            readonly.check(sql)

    def tables(self) -> frozenset[str]:
        """The store's table names (as of when it was opened; shared: a moment ago)."""
        if self.settings.shared is None:
            with self.cursor():
                return self._tables
        if time.monotonic() - self._tables_at >= _TABLES_TTL_S:
            with self.cursor() as cur:
                rows = self.query("SELECT table_name FROM duckdb_tables()", cur=cur)
            self._tables = frozenset(r[0] for r in rows)
            self._tables_at = time.monotonic()
        return self._tables

    def event_tables(self) -> list[tuple[str, str]]:
        """(family, table) for every event table the store has."""
        names = self.tables()
        return [(s.family, s.name) for s in all_schemas() if s.name in names]

    def query(
        self, sql: str, params: dict[str, Any] | None = None, *, cur: duckdb.DuckDBPyConnection
    ) -> list[tuple[Any, ...]]:
        """Run one page query on ``cur`` with the page time limit."""
        self.check(sql)
        timer = threading.Timer(self.settings.page_timeout_s, cur.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return cur.execute(sql, params or {}).fetchall()
        except duckdb.InterruptException as exc:
            raise QueryTimeoutError(
                f"a page query ran longer than {self.settings.page_timeout_s:g} s; "
                "choose a shorter time window"
            ) from exc
        finally:
            timer.cancel()

    # -- idle close --------------------------------------------------------------------

    def _reap(self) -> None:
        while not self._stop.wait(min(1.0, self.settings.idle_close_s / 2)):
            with self._lock:
                idle = time.monotonic() - self._last_used
                if (
                    self._con is not None
                    and self._users == 0
                    and idle >= self.settings.idle_close_s
                ):
                    self._close_locked()

    def _close_locked(self) -> None:
        for con in (self._hunt, self._con):
            if con is None:
                continue
            try:
                con.interrupt()  # a query still running (only at shutdown) stops
                con.close()
            except duckdb.Error as exc:
                log.warning("closing the store: %s", exc)
        self._hunt = None
        self._con = None

    def _close_shared_locked(self) -> None:
        """Stop the queries still running, wait for them, close the cursors made.

        The writer's connection stays open: it is the writer's. Its cursors must be
        gone before the writer closes it, which closes them under a running query.
        """
        self._closed = True
        for cur in (*self._running, self._hunt):
            if cur is not None:
                with suppress(duckdb.Error):
                    cur.interrupt()
        if not self._no_users.wait_for(lambda: self._users == 0, timeout=_CLOSE_WAIT_S):
            log.warning("dashboard requests still running on the store at shutdown")
            return
        if self._hunt is not None:
            with suppress(duckdb.Error):
                self._hunt.close()
            self._hunt = None

    @property
    def is_open(self) -> bool:
        if self.settings.shared is not None:
            return not self._closed
        return self._con is not None

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.settings.shared is not None:
                self._close_shared_locked()
            else:
                self._close_locked()
