"""The Azure sink the pipeline writes to: route, shape, buffer on disk, deliver.

``write`` (pipeline thread) splits a batch by route, shapes each destination's events
into table records (``tables/``) and appends them to that destination's disk buffer.
Once ``append`` returns they are on disk: that is the point at which the source may
commit its offsets. One worker thread per destination reads the buffer, sends through
``AzureDelivery`` and acks only what was delivered (or dead-lettered), so delivery is
at-least-once, in order per destination, and one slow tenant never holds up another:
each has its own buffer, thread and back-off.

A buffer item is ``stream\\n<record JSON>``: the stream a record belongs to travels with
it, so a batch read back after a restart needs nothing else. The JSON is made once, by
the layout's ``encoded``, when the record is buffered; from there on it is only sliced
and joined: request bodies are the records' bytes between brackets, and a record the
service refuses goes to the dead-letter file as those same bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from edgewatch.buffer import BufferSet, DiskBuffer
from edgewatch.config import BufferConfig, RouteConfig
from edgewatch.decode.decoder import Reject
from edgewatch.events.base import Event
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.deadletter import DeadLetter
from edgewatch.pipeline.route import NO_ROUTE, Router
from edgewatch.pipeline.stats import Stats
from edgewatch.sinks.azure.config import AzureLogsIngestionConfig
from edgewatch.sinks.azure.sink import AzureDelivery
from edgewatch.tables import LAYOUTS, TableLayout

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


def buffer_items(layout: TableLayout, events: list[Event]) -> list[bytes]:
    """The buffer items for ``events``: ``stream\\n<record JSON>``, one per record."""
    return [
        prefix + record
        for stream, records in layout.encoded(events).items()
        for prefix in (stream.encode() + b"\n",)
        for record in records
    ]


def _raw(record: Any) -> bytes:
    """A record's JSON (records from the buffer already are)."""
    return record if isinstance(record, bytes) else _encode(record)


#: Records (and their bytes) handed to one worker round. A round ends each stream with a
#: part-filled request, so rounds much larger than a request (~1 MB) keep the request
#: count, and the SDK's fixed cost per request, near its minimum; bounded memory all
#: the same.
READ_ITEMS = 20_000
READ_BYTES = 16 * 1024 * 1024
#: A round smaller than this waits up to ``LINGER_SECONDS`` for more (see ``_gather``).
ROUND_BYTES = 4 * 1024 * 1024
LINGER_SECONDS = 0.1


class _Worker(threading.Thread):
    """Delivers one destination's buffer, in order, until stopped."""

    def __init__(
        self,
        cfg: AzureLogsIngestionConfig,
        buffer: DiskBuffer,
        delivery: AzureDelivery,
        dead_letter: DeadLetter | None,
    ) -> None:
        super().__init__(name=f"deliver-{cfg.name}", daemon=True)
        self.cfg = cfg
        self.buffer = buffer
        self.delivery = delivery
        self.dead_letter = dead_letter
        self.stop_now = threading.Event()
        self.rejected: Counter[str] = Counter()
        self.error: BaseException | None = None
        #: time spent in requests, and how many, for the delivery latency metric
        self.request_seconds = 0.0
        self.requests_timed = 0

    def run(self) -> None:
        try:
            while not self.stop_now.is_set():
                batch = self.buffer.read(max_items=READ_ITEMS, max_bytes=READ_BYTES, timeout=0.2)
                if batch is None:
                    continue
                items, last = self._gather(batch.items, batch.nbytes, batch.seq)
                if self._deliver(items):
                    self.buffer.ack(last)
                else:
                    self.buffer.nack()  # stopped mid-batch: it stays for the next start
        except BaseException as exc:  # kept for status and close; the buffer keeps the data
            log.exception("delivery to %s stopped", self.cfg.name)
            self.error = exc

    def _gather(self, items: list[bytes], nbytes: int, last: int) -> tuple[list[bytes], int]:
        """Add what arrives within ``LINGER_SECONDS`` to a round that is still small.

        Without it a worker that keeps up with its input sends every appended batch on
        its own, in part-filled requests (one per stream at least): twice the requests,
        and the SDK's fixed cost, for the same records. A round is never held longer
        than the linger, whatever arrives.
        """
        deadline = time.monotonic() + LINGER_SECONDS
        while nbytes < ROUND_BYTES and len(items) < READ_ITEMS and not self.stop_now.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self.buffer.read(
                max_items=READ_ITEMS - len(items), max_bytes=READ_BYTES - nbytes, timeout=remaining
            )
            if more is None:
                break
            items = items + more.items
            nbytes += more.nbytes
            last = more.seq
        return items, last

    def _deliver(self, items: list[bytes]) -> bool:
        by_stream: dict[bytes, list[bytes]] = defaultdict(list)
        for item in items:
            stream, _, record = item.partition(b"\n")
            by_stream[stream].append(record)
        for stream_name, records in by_stream.items():
            stream = stream_name.decode()
            pending: Sequence[bytes] = records
            while True:
                started = time.monotonic()
                outcome = self.delivery.send_encoded(stream, pending)
                self.request_seconds += time.monotonic() - started
                self.requests_timed += 1
                for rejected in outcome.rejected:
                    self.rejected[rejected.reason] += len(rejected.records)
                    if self.dead_letter is not None:
                        self.dead_letter.write(
                            [
                                Reject(f"azure_{rejected.reason}", rejected.detail, _raw(r))
                                for r in rejected.records
                            ],
                            source=f"{self.cfg.name}/{stream}",
                        )
                if outcome.retry is None:
                    break
                log.info(
                    "%s: %s; retrying in %.1fs",
                    self.cfg.name,
                    outcome.retry.reason,
                    outcome.retry.after_seconds,
                )
                if self.stop_now.wait(outcome.retry.after_seconds):
                    return False
                pending = [_raw(r) for r in outcome.retry.records]
        return True


class AzureSink:
    """Every configured destination, behind its own disk buffer and delivery thread."""

    name = "azure"
    #: table records need whole events
    columns: frozenset[str] | None = None

    def __init__(
        self,
        destinations: Sequence[AzureLogsIngestionConfig],
        routes: Sequence[RouteConfig],
        buffer: BufferConfig,
        buffer_root: Path,
        stats: Stats,
        dead_letter: DeadLetter | None = None,
        drain_on_close: bool = False,
    ) -> None:
        self.stats = stats
        self.drain_on_close = drain_on_close
        self.router = Router(routes, [d.name for d in destinations])
        self.buffers = BufferSet(
            buffer_root,
            max_bytes=int(buffer.max_bytes),
            overflow=buffer.overflow,
            fsync=buffer.fsync,
        )
        self.layouts = {d.name: LAYOUTS[d.layout] for d in destinations}
        self.workers: dict[str, _Worker] = {}
        #: destinations whose delivery thread died (known after ``close``)
        self.failed: list[str] = []
        for cfg in destinations:
            worker = _Worker(cfg, self.buffers.get(cfg.name), AzureDelivery(cfg), dead_letter)
            self.workers[cfg.name] = worker
            worker.start()

    def write(self, batch: EventBatch) -> int:
        groups, unrouted = self.router.split(batch.events)
        if unrouted:
            self.stats.add_dropped(NO_ROUTE, unrouted)
        written = 0
        for name, events in groups.items():
            items = buffer_items(self.layouts[name], events)
            if items:
                self.workers[name].buffer.append(items)
                written += sum(map(len, items))
        return written

    def flush(self) -> None:
        """Nothing to do: what ``write`` returned for is already on disk."""

    def status(self) -> dict[str, dict[str, Any]]:
        """Per destination: the buffer's figures and the delivery's health."""
        out = {}
        for name, worker in self.workers.items():
            health = worker.delivery.health()
            buf = worker.buffer.stats()
            out[name] = {
                "queued_events": buf.queued_events,
                "bytes_on_disk": buf.bytes_on_disk,
                "oldest_unsent_age_s": round(buf.oldest_unsent_age, 3),
                "dropped_events": dict(buf.dropped_events),
                "rejected_records": dict(worker.rejected),
                "last_success": getattr(health, "last_success", None),
                "last_error": getattr(health, "last_error", None),
                "records_sent": getattr(health, "records_sent", 0),
                "worker_alive": worker.is_alive(),
                "request_seconds": round(worker.request_seconds, 6),
                "requests_timed": worker.requests_timed,
            }
        return out

    def close(self) -> None:
        """With ``drain_on_close`` (``run --once``) wait until every buffer is delivered."""
        if self.drain_on_close:
            for name, worker in self.workers.items():
                last_note = 0.0
                while worker.is_alive() and worker.buffer.stats().queued_events:
                    if time.monotonic() - last_note > 10:
                        last_note = time.monotonic()
                        health = worker.delivery.health()
                        log.warning(
                            "%s: %d events still to deliver%s",
                            name,
                            worker.buffer.stats().queued_events,
                            f"; last error: {health.last_error}" if health.last_error else "",
                        )
                    time.sleep(0.05)
        for worker in self.workers.values():
            worker.stop_now.set()
        for worker in self.workers.values():
            worker.join()
            worker.delivery.close()
        self.buffers.close()
        self.failed = [n for n, w in self.workers.items() if w.error is not None]
        if self.failed:
            log.error("delivery failed for %s; events stay buffered", ", ".join(self.failed))
