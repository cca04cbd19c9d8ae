"""Writing events into the store from a thread of its own.

The caller (the pipeline thread) turns events into Arrow tables — Python work, so it
holds the GIL wherever it runs. The insert is DuckDB's C++ and releases the GIL, so it
runs here, on the other core, while the pipeline decodes the next batches. The queue
between them is bounded by rows: when the store falls behind, ``write`` blocks, which is
the back-pressure the runtime expects from a slow sink.

Batches are merged per gadget into inserts of a whole DuckDB row group (or whatever
has waited ``flush_interval_s``): DuckDB writes a full row group straight to the file,
while a smaller insert goes through the write-ahead log first. The log is checkpointed
when it passes a few MiB, and at close.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from edgewatch.events import sql
from edgewatch.events.base import Event
from edgewatch.store import retention
from edgewatch.store.columns import ColumnBuilder
from edgewatch.store.containerlog import ContainerLogSettings, settings_to_json
from edgewatch.store.database import open_store, run, set_meta
from edgewatch.store.schema import schema_for

log = logging.getLogger(__name__)

_STOP = object()
#: marks a queued item as rows for a named table rather than a gadget family's events
TABLE_PREFIX = "table:"
WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoreSettings:
    path: Path
    #: events older than this are deleted (None: kept until the size cap needs room)
    max_age_ns: int | None = 7 * 24 * 3600 * 1_000_000_000
    max_bytes: int | None = 1024**3
    #: the node this store belongs to: ``Computer`` for events IG gave no ``k8s.node``
    node: str = ""
    retention_interval_s: float = 30.0
    #: rows waiting for the writer thread before ``write`` blocks (the memory bound:
    #: about 0.4 KiB of Arrow per row)
    queue_rows: int = 600_000
    #: a gadget's rows are inserted once this many wait: one DuckDB row group (122,880),
    #: written straight to the file; smaller inserts go through the write-ahead log
    #: first and cost 3-4x as much per row (measured) …
    insert_rows: int = 122_880
    #: … or whatever has waited this long: how stale a hunt can see the store
    flush_interval_s: float = 5.0
    #: DuckDB threads of the writer's connection (None: one per core). One: the insert
    #: runs beside the pipeline thread, which holds the GIL and is the ingest bottleneck;
    #: a second insert thread only takes CPU from it (measured: ~8% slower ingest, more
    #: CPU per event, no faster inserts).
    threads: int | None = 1
    #: how the store's ContainerLogV2 view describes the collecting container
    container_log: ContainerLogSettings = field(default_factory=ContainerLogSettings)
    #: bytes DuckDB may hold for this store (None: DuckDB's default, 80% of memory)
    memory_limit: int | None = None


@dataclass
class WriterStats:
    rows: Counter[str] = field(default_factory=Counter)
    inserts: int = 0
    out_of_range: int = 0
    insert_seconds: float = 0.0
    errors: int = 0
    last_error: str = ""


class StoreWriter:
    def __init__(self, settings: StoreSettings) -> None:
        if settings.max_bytes is not None and settings.max_bytes < retention.MIN_BYTES:
            raise ValueError(f"store max_bytes must be at least {retention.MIN_BYTES // 2**20} MiB")
        self.settings = settings
        self.con = open_store(
            settings.path,
            threads=settings.threads,
            memory_limit=None if settings.memory_limit is None else f"{settings.memory_limit}B",
        )
        if settings.node:
            set_meta(self.con, "node", settings.node)
        set_meta(self.con, "container_log", settings_to_json(settings.container_log))
        self.stats = WriterStats()
        self.retention = retention.RetentionStats()
        self._builders: dict[str, ColumnBuilder] = {}
        self._queue: queue.Queue[object] = queue.Queue()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._last_retention = 0.0
        #: the most an insert round has grown the files: room retention keeps free
        self._growth = 0
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # -- caller side ------------------------------------------------------------------

    def write(self, family: str, events: Sequence[Event]) -> None:
        """Queue one family's events; blocks while the writer is a full queue behind."""
        if not events:
            return
        builder = self._builders.get(family)
        if builder is None:
            builder = self._builders[family] = ColumnBuilder(schema_for(family))
        built = builder.build(events)
        self.stats.out_of_range += built.out_of_range
        rows = built.table.num_rows
        with self._cond:
            while self._queued_rows >= self.settings.queue_rows and self._error is None:
                self._cond.wait(0.5)
            self._raise_if_failed()
            self._queued_rows += rows
        self._queue.put((family, built.table))

    def write_table(self, table: str, rows: pa.Table) -> None:
        """Queue rows for a table not derived from an event type (the ``alerts`` table).

        Inserted by the writer thread like events, so every write to the store stays on
        one connection (no checkpoint racing another writer).
        """
        if not rows.num_rows:
            return
        with self._cond:
            self._raise_if_failed()
            self._queued_rows += rows.num_rows
        self._queue.put((TABLE_PREFIX + table, rows))

    def flush(self) -> None:
        """Return once everything written so far is in the database."""
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.2):
            self._raise_if_failed()
            if not self._thread.is_alive():
                break
        self._raise_if_failed()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self.con.close()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"store writer failed: {self._error}") from self._error

    # -- writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            pending: dict[str, list[pa.Table]] = defaultdict(list)
            rows: Counter[str] = Counter()
            first_at = 0.0
            while True:
                timeout = None
                if rows:
                    timeout = max(0.0, first_at + self.settings.flush_interval_s - time.monotonic())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    item = None
                markers: list[threading.Event] = []
                stop = False
                while item is not None:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, threading.Event):
                        markers.append(item)
                    else:
                        family, table = item  # type: ignore[misc]
                        if not rows:
                            first_at = time.monotonic()
                        pending[family].append(table)
                        rows[family] += table.num_rows
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        item = None
                due = bool(rows) and time.monotonic() - first_at >= self.settings.flush_interval_s
                if markers or stop or due:
                    ready = list(pending)
                else:
                    ready = [f for f, n in rows.items() if n >= self.settings.insert_rows]
                if ready:
                    self._insert({f: pending.pop(f) for f in ready})
                    for f in ready:
                        del rows[f]
                    if rows:
                        first_at = time.monotonic()
                if ready or markers or stop:
                    self._maybe_enforce_retention(force=bool(markers) or stop)
                for marker in markers:
                    marker.set()
                if stop:
                    run(self.con, "CHECKPOINT")
                    return
        except BaseException as exc:  # reported to the caller, never lost
            log.exception("store writer stopped")
            self._error = exc
            self.stats.errors += 1
            self.stats.last_error = str(exc)
            with self._cond:
                self._cond.notify_all()

    def _insert(self, pending: dict[str, list[pa.Table]]) -> None:
        started = time.perf_counter()
        rows = 0
        if self.settings.max_bytes is not None:
            self._maybe_enforce_retention(force=False)
        before = retention.file_bytes(self.settings.path)
        for family, tables in pending.items():
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
            name = f"_batch_{family}".replace(":", "_")
            self.con.register(name, table)
            try:
                target = (
                    family[len(TABLE_PREFIX) :]
                    if family.startswith(TABLE_PREFIX)
                    else schema_for(family).name
                )
                # by name: a store upgraded from an older edgewatch has its newer columns
                # at the end (ALTER TABLE ADD COLUMN), not where the event declares them
                run(self.con, f"INSERT INTO {sql.col(target)} BY NAME SELECT * FROM {name}")
            finally:
                self.con.unregister(name)
            self.stats.rows[family] += table.num_rows
            self.stats.inserts += 1
            rows += table.num_rows
        # the log is part of the footprint the cap counts; keep it small
        if retention.wal_bytes(self.settings.path) > WAL_CHECKPOINT_BYTES:
            run(self.con, "CHECKPOINT")
        self._growth = max(self._growth, retention.file_bytes(self.settings.path) - before)
        self.stats.insert_seconds += time.perf_counter() - started
        with self._cond:
            self._queued_rows -= rows
            self._cond.notify_all()

    def _maybe_enforce_retention(self, force: bool) -> None:
        """Run retention when forced (flush, stop), due, or the size trigger is crossed."""
        over = False
        if self.settings.max_bytes is not None:
            used = retention.used_bytes(self.con, self.settings.path)
            over = used > retention.trigger_bytes(self.settings.max_bytes, self._growth)
        now = time.monotonic()
        due = now - self._last_retention >= self.settings.retention_interval_s
        if not (over or due or force):
            return
        if due or force:
            self._last_retention = now
        retention.enforce(
            self.con,
            self.settings.path,
            max_age_ns=self.settings.max_age_ns,
            max_bytes=self.settings.max_bytes,
            stats=self.retention,
            headroom=self._growth,
        )
