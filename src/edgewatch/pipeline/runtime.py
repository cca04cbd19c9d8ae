"""Wiring: sources -> bounded queue -> decode -> stages -> sinks.

Sources run on their own threads and block in ``emit`` when the queue is full, so a slow
sink slows the readers instead of growing memory: the queue is bounded in batches and in
bytes, so the raw input the agent holds never exceeds ``queue_bytes`` (plus the batch
being decoded), whatever the input. One pipeline thread does all decoding, filtering and
writing; with the GIL a second one would only add contention.

Shutdown (SIGTERM, end of input) stops the sources, drains what is already queued, and
flushes the sinks, so nothing a source handed over is lost on a clean stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from edgewatch.decode.decoder import Decoded, LineDecoder
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.batchqueue import BatchQueue, QueueEmptyError, QueueFullError
from edgewatch.pipeline.deadletter import DeadLetter
from edgewatch.pipeline.stats import Stats, count_by_gadget
from edgewatch.sinks.base import Sink, SinkClosedError
from edgewatch.sources.base import RawBatch, Source

log = logging.getLogger("edgewatch.runtime")


class Stage(Protocol):
    name: str

    @property
    def columns(self) -> frozenset[str] | None: ...

    def process(self, batch: EventBatch) -> EventBatch: ...


#: A stage may also define ``flush(final: bool) -> EventBatch | None``: called on the
#: runtime's flush tick and on close (``final``), for stages that hold events back (time
#: windows). What it returns goes through the stages after it and on to the sinks.
#: A stage with ``writes_events = True`` sets fields on events, so it needs event objects
#: rather than the read-only views a filter-and-forward pipeline decodes into.


def _union_columns(parts: Sequence[frozenset[str] | None]) -> frozenset[str] | None:
    out: set[str] = set()
    for p in parts:
        if p is None:
            return None
        out |= p
    return frozenset(out)


class Pipeline:
    """The synchronous core: one raw batch in, events decoded, staged and written.

    It owns one LineDecoder per source stream (partial-line state must not mix) and
    decodes only the columns its stages and sinks read.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        sinks: Sequence[Sink],
        stats: Stats | None = None,
        dead_letter: DeadLetter | None = None,
        node: str = "",
    ) -> None:
        self.stages = list(stages)
        self.sinks = list(sinks)
        self.stats = stats or Stats()
        self.dead_letter = dead_letter or DeadLetter(None)
        self.node = node
        self.columns = _union_columns(
            [s.columns for s in self.stages] + [s.columns for s in self.sinks]
        )
        self._views = self.columns is not None and not any(
            getattr(s, "writes_events", False) for s in self.stages
        )
        self._decoders: dict[str, LineDecoder] = {}
        self._closed_sinks: set[str] = set()
        self.on_batch: Callable[[EventBatch], None] | None = None

    @property
    def open_sinks(self) -> int:
        return len(self.sinks) - len(self._closed_sinks)

    def replace_stages(self, stages: Sequence[Stage]) -> None:
        """Swap in a new stage list between two batches (hot reload).

        Stages that hold events back hand them on first, through the old stages, so
        nothing is lost, unless a new stage takes them over (``take_over``: an unchanged
        aggregation keeps its open windows); decoders keep their partial lines and only
        learn the new columns.
        """
        for stage in stages:
            if hasattr(stage, "take_over"):
                stage.take_over(self.stages)  # held state that outlives the reload (windows)
        self.flush_stages(final=True)
        old, self.stages = self.stages, list(stages)
        for stage in self.stages:
            if hasattr(stage, "adopt"):
                stage.adopt(old)  # take over what outlives a config (alert outputs, memory)
        self.columns = _union_columns(
            [s.columns for s in self.stages] + [s.columns for s in self.sinks]
        )
        self._views = self.columns is not None and not any(
            getattr(s, "writes_events", False) for s in self.stages
        )
        for dec in self._decoders.values():
            dec.reconfigure(self.columns, self._views)

    def _decoder(self, stream: str) -> LineDecoder:
        dec = self._decoders.get(stream)
        if dec is None:
            dec = self._decoders[stream] = LineDecoder(
                columns=self.columns, node=self.node, views=self._views
            )
        return dec

    def handle(self, raw: RawBatch) -> None:
        stats = self.stats
        dec = self._decoder(raw.stream)
        dec.gadget = raw.gadget
        decoded = dec.decode(raw.lines)
        if raw.end_of_stream:
            decoded.extend(dec.flush())
            del self._decoders[raw.stream]
        with stats._lock:
            stats.lines_in += len(raw.lines)
            stats.bytes_in += sum(map(len, raw.lines)) + len(raw.lines)
            stats.skipped.update(decoded.skipped)
            for r in decoded.rejects:
                stats.rejected[r.reason] += 1
        if decoded.rejects:
            self.dead_letter.write(decoded.rejects, raw.stream)
        self._process(decoded, raw.stream)
        if raw.commit is not None:
            raw.commit()

    def _process(self, decoded: Decoded, stream: str) -> None:
        if not decoded.events:
            return
        stats = self.stats
        batch = EventBatch(decoded.events, decoded.raws, stream)
        counts = count_by_gadget(batch.types)
        with stats._lock:
            stats.events_in.update(counts)
        self._run_stages(batch, 0)

    def _run_stages(self, batch: EventBatch, start: int) -> None:
        """``batch`` through the stages from index ``start`` on, then to the sinks."""
        stats = self.stats
        for stage in self.stages[start:]:
            batch = stage.process(batch)
            if not batch.events:
                return
        if self.on_batch is not None:
            self.on_batch(batch)
        out_counts = count_by_gadget(batch.types)
        for sink in self.sinks:
            if sink.name in self._closed_sinks:
                continue
            try:
                written = sink.write(batch)
            except SinkClosedError as exc:
                log.info("sink %s closed: %s", sink.name, exc)
                self._closed_sinks.add(sink.name)
                continue
            with stats._lock:
                stats.bytes_out[sink.name] += written
                for gadget, n in out_counts.items():
                    stats.events_out[(sink.name, gadget)] += n

    def flush_stages(self, final: bool = False) -> None:
        """Let stages that hold events back (windows) hand on what is due."""
        for i, stage in enumerate(self.stages):
            flush = getattr(stage, "flush", None)
            if flush is None:
                continue
            out = flush(final)
            if out is not None and out.events:
                self._run_stages(out, i + 1)

    def flush(self) -> None:
        self.flush_stages()
        for sink in self.sinks:
            if sink.name in self._closed_sinks:
                continue
            try:
                sink.flush()
            except SinkClosedError:
                self._closed_sinks.add(sink.name)

    def close(self) -> None:
        for stream, dec in list(self._decoders.items()):
            rest = dec.flush()
            if rest.rejects:
                with self.stats._lock:
                    for r in rest.rejects:
                        self.stats.rejected[r.reason] += 1
                self.dead_letter.write(rest.rejects, stream)
        self._decoders.clear()
        try:
            self.flush_stages(final=True)
        except Exception:  # the sinks must still close (and keep what they hold)
            log.exception("flushing the stages failed")
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # a failing sink must not keep the others from closing
                log.exception("closing sink %s failed", sink.name)
        self.dead_letter.close()


@dataclass
class RunResult:
    seconds: float
    interrupted: bool
    source_errors: dict[str, str]


class Runtime:
    """Runs sources on threads and the pipeline on the calling thread until done or stopped."""

    def __init__(
        self,
        sources: Sequence[Source],
        pipeline: Pipeline,
        queue_batches: int = 64,
        queue_bytes: int = 16 * 1024 * 1024,
        flush_interval: float = 0.5,
        join_timeout: float = 4.0,
    ) -> None:
        self.sources = list(sources)
        self.pipeline = pipeline
        self.queue: BatchQueue[RawBatch | None] = BatchQueue(queue_batches, queue_bytes)
        self.stop = threading.Event()
        self.flush_interval = flush_interval
        self.join_timeout = join_timeout
        self._errors: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        #: called on the pipeline thread between batches (hot reload swaps stages here)
        self.between_batches: list[Callable[[], None]] = []

    @property
    def queue_depth(self) -> int:
        return self.queue.qsize()

    @property
    def failed_sources(self) -> dict[str, str]:
        """Sources that ended with an error, and why (for readiness)."""
        return dict(self._errors)

    def _emit(self, batch: RawBatch) -> None:
        while True:
            try:
                self.queue.put(batch, size=sum(map(len, batch.lines)), timeout=0.1)
                return
            except QueueFullError:
                if self.stop.is_set():
                    # Shutting down with a full queue: the batch stays uncommitted, so a
                    # tailing source re-reads it after restart (at-least-once).
                    raise SourceStoppedError from None

    def _run_source(self, source: Source) -> None:
        try:
            source.run(self._emit, self.stop)
        except SourceStoppedError:
            pass
        except Exception as exc:  # a broken source must not take the agent down silently
            log.exception("source %s failed", source.name)
            self._errors[source.name] = f"{type(exc).__name__}: {exc}"
        finally:
            self.queue.put_nowait_unbounded(None)  # one sentinel per finished source

    def run(self) -> RunResult:
        started = time.monotonic()
        for source in self.sources:
            t = threading.Thread(
                target=self._run_source, args=(source,), name=f"source-{source.name}", daemon=True
            )
            t.start()
            self._threads.append(t)
        remaining = len(self.sources)
        last_flush = time.monotonic()
        pipeline = self.pipeline
        interrupted = False
        try:
            while remaining and pipeline.open_sinks:
                try:
                    item = self.queue.get(timeout=0.2)
                except QueueEmptyError:
                    item = False  # type: ignore[assignment]
                if item is None:
                    remaining -= 1
                elif item is not False:
                    pipeline.handle(item)
                for hook in self.between_batches:
                    hook()
                now = time.monotonic()
                if now - last_flush >= self.flush_interval:
                    pipeline.flush()
                    last_flush = now
                if self.stop.is_set() and item is False:
                    break
            interrupted = self.stop.is_set()
        finally:
            self.stop.set()
            self._drain(deadline=time.monotonic() + 2.0)
            join_deadline = time.monotonic() + self.join_timeout
            for t in self._threads:
                t.join(timeout=max(0.0, join_deadline - time.monotonic()))
                if t.is_alive():
                    log.warning("source thread %s did not stop in time", t.name)
            self._drain(deadline=time.monotonic() + 0.5)
            pipeline.flush()
        return RunResult(
            seconds=time.monotonic() - started,
            interrupted=interrupted,
            source_errors=dict(self._errors),
        )

    def _drain(self, deadline: float) -> None:
        """Process what sources already handed over (bounded by the queue size)."""
        while time.monotonic() < deadline:
            try:
                item = self.queue.get_nowait()
            except QueueEmptyError:
                return
            if item is not None and self.pipeline.open_sinks:
                self.pipeline.handle(item)


class SourceStoppedError(Exception):
    """Raised inside ``emit`` when the runtime is stopping and the queue is full."""
