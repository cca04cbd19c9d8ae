"""Read-only access to the store for the dashboard, friendly to an agent writing it.

DuckDB lets one process write a file, or any number read it, never both. So the
dashboard opens the store read-only only while it answers requests and closes it
after ``idle_close_s`` without one: an agent can then start on the same file. While
an agent holds the write lock, requests fail with :class:`StoreBusyError` (HTTP 503
with a message saying so) and the next request tries again.

KQL runs on one connection prepared by the hunting engine (its ContainerLogV2 view,
IP functions, memory limit, then the configuration locked); page queries run on
cursors of the same database with a time limit of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from edgewatch.hunt import engine
from edgewatch.store.database import StoreBusyError, StoreError, open_store
from edgewatch.store.schema import all_schemas

log = logging.getLogger(__name__)

__all__ = ["QueryTimeoutError", "StoreAccess", "StoreBusyError", "StoreError"]


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


class StoreAccess:
    """Opens the store on demand, shares it between requests, closes it when idle."""

    def __init__(self, settings: AccessSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._hunt: duckdb.DuckDBPyConnection | None = None
        self._hunt_lock = threading.Lock()
        self._users = 0
        self._last_used = 0.0
        self._tables: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="store-idle", daemon=True)
        self._reaper.start()

    @property
    def path(self) -> Path:
        return self.settings.path

    # -- connections -------------------------------------------------------------------

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = open_store(
                    self.settings.path,
                    read_only=True,
                    threads=self.settings.threads,
                    memory_limit=self.settings.memory_limit,
                )
                rows = self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
                self._tables = frozenset(r[0] for r in rows)
            self._users += 1
            return self._con

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            self._last_used = time.monotonic()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for one request (DuckDB cursors are not shared)."""
        con = self._acquire()
        try:
            cur = con.cursor()
            try:
                yield cur
            finally:
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
                    hunt = con.cursor()
                    engine.prepare(hunt, memory_limit=self.settings.memory_limit)
                    self._hunt = hunt
                yield self._hunt
            finally:
                self._hunt_lock.release()
        finally:
            self._release()

    def tables(self) -> frozenset[str]:
        """The store's table names (as of when it was opened)."""
        with self.cursor():
            return self._tables

    def event_tables(self) -> list[tuple[str, str]]:
        """(family, table) for every event table the store has."""
        names = self.tables()
        return [(s.family, s.name) for s in all_schemas() if s.name in names]

    def query(
        self, sql: str, params: dict[str, Any] | None = None, *, cur: duckdb.DuckDBPyConnection
    ) -> list[tuple[Any, ...]]:
        """Run one page query on ``cur`` with the page time limit."""
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

    @property
    def is_open(self) -> bool:
        return self._con is not None

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_locked()
