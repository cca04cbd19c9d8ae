"""The runtime: bounded queues, nothing lost silently, clean stops, commits after delivery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from edgewatch.agent import build_pipeline
from edgewatch.config import parse_config
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.runtime import Pipeline, Runtime
from edgewatch.pipeline.stats import Stats
from edgewatch.sinks.base import SinkClosedError
from edgewatch.sources.base import Emit, RawBatch
from edgewatch.sources.memory import IterableSource
from tests.conftest import all_ig_lines

LINES = [line for _, line in all_ig_lines()]


class ListSink:
    name = "list"
    columns = None

    def __init__(self, delay: float = 0.0, close_after: int | None = None) -> None:
        self.batches: list[EventBatch] = []
        self.delay = delay
        self.close_after = close_after
        self.closed = False

    def write(self, batch: EventBatch) -> int:
        if self.close_after is not None and len(self.batches) >= self.close_after:
            raise SinkClosedError("reader went away")
        time.sleep(self.delay)
        self.batches.append(batch)
        return sum(map(len, batch.raws))

    @property
    def events(self) -> list:
        return [e for b in self.batches for e in b.events]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def noisy_lines(n: int) -> Iterator[bytes]:
    junk = [b"not json", b"", b'{"level":"info"}', b"2025-06-18T09:00:00Z stderr F WARN[0000] x"]
    for i in range(n):
        yield LINES[i % len(LINES)]
        if i % 7 == 0:
            yield junk[i % len(junk)]


def test_every_line_is_accounted_for(tmp_path: Path) -> None:
    cfg = parse_config(
        f"state_dir: {tmp_path}\n"
        "filters:\n  exclude: {namespaces: [kube-system]}\n  noise: {loopback: true}\n"
    )
    sink = ListSink()
    pipeline, _ = build_pipeline(cfg, sinks=[sink])
    lines = list(noisy_lines(5000))
    Runtime([IterableSource(iter(lines), batch_lines=97)], pipeline).run()
    pipeline.close()
    s = pipeline.stats
    assert s.lines_in == len(lines)
    # each line became an event, a reject or a deliberate skip
    assert s.total_in + s.total_rejected + sum(s.skipped.values()) == len(lines)
    # each event was forwarded or dropped with a reason
    out = sum(n for (sink_name, _), n in s.events_out.items() if sink_name == "list")
    assert out + s.total_dropped == s.total_in
    assert out == len(sink.events)
    junk = [i for i in range(5000) if i % 7 == 0]
    assert s.rejected == {
        "invalid_json": sum(1 for i in junk if i % 4 == 0),
        "unknown_gadget": sum(1 for i in junk if i % 4 == 2),
    }
    assert s.skipped == {
        "blank": sum(1 for i in junk if i % 4 == 1),
        "stderr": sum(1 for i in junk if i % 4 == 3),
    }
    dead = (tmp_path / "dead-letter.ndjson").read_bytes().splitlines()
    assert len(dead) == s.total_rejected
    assert sink.closed


def test_order_is_kept_end_to_end(tmp_path: Path) -> None:
    sink = ListSink()
    pipeline, _ = build_pipeline(parse_config(f"state_dir: {tmp_path}"), sinks=[sink])
    Runtime([IterableSource(iter(LINES * 50), batch_lines=13)], pipeline).run()
    assert [e.time_ns for e in sink.events] == [e.time_ns for e in LineDecoderAll(LINES * 50)]


def LineDecoderAll(lines: list[bytes]) -> list:  # noqa: N802 - reads like a value
    from edgewatch.decode.decoder import LineDecoder

    return LineDecoder().decode(lines).events


def test_queue_is_bounded_and_backpressure_reaches_the_source() -> None:
    sink = ListSink(delay=0.002)
    pipeline = Pipeline([], [sink])
    produced = 0

    def lines() -> Iterator[bytes]:
        nonlocal produced
        for i in range(20000):
            produced += 1
            yield LINES[i % len(LINES)]

    runtime = Runtime([IterableSource(lines(), batch_lines=10)], pipeline, queue_batches=4)
    depth = []
    t = threading.Thread(target=runtime.run)
    t.start()
    for _ in range(50):
        depth.append(runtime.queue_depth)
        # the source can be at most queue + one batch in hand + one being handled ahead
        assert produced - len(sink.events) <= (4 + 2) * 10 + 10
        time.sleep(0.005)
    runtime.stop.set()
    t.join(timeout=10)
    assert not t.is_alive()
    assert max(depth) <= 4


class CommittingSource:
    name = "committing"

    def __init__(self) -> None:
        self.committed: list[int] = []
        self.delivered_at_commit: list[int] = []
        self.sink: ListSink | None = None

    def run(self, emit: Emit, stop: threading.Event) -> None:
        for i in range(10):
            batch = RawBatch(LINES[:5], "c", commit=lambda i=i: self._commit(i))
            emit(batch)

    def _commit(self, i: int) -> None:
        assert self.sink is not None
        self.committed.append(i)
        self.delivered_at_commit.append(len(self.sink.events))


def test_offsets_are_committed_only_after_the_sinks_have_the_batch() -> None:
    sink = ListSink()
    source = CommittingSource()
    source.sink = sink
    pipeline = Pipeline([], [sink])
    Runtime([source], pipeline).run()
    assert source.committed == list(range(10))
    assert source.delivered_at_commit == [5 * (i + 1) for i in range(10)]


def test_a_closed_sink_ends_the_run_when_it_was_the_only_one() -> None:
    sink = ListSink(close_after=3)
    pipeline = Pipeline([], [sink])
    started = time.monotonic()
    Runtime([IterableSource(iter(LINES * 100000), batch_lines=100)], pipeline).run()
    assert time.monotonic() - started < 10
    assert len(sink.batches) == 3


class ForeverSource:
    name = "forever"

    def run(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set():
            emit(RawBatch(LINES[:10], "f"))


class BrokenSource:
    name = "broken"

    def run(self, emit: Emit, stop: threading.Event) -> None:
        emit(RawBatch(LINES[:3], "b"))
        raise OSError("disk on fire")


def test_stop_drains_and_returns_promptly() -> None:
    sink = ListSink()
    pipeline = Pipeline([], [sink], stats=Stats())
    runtime = Runtime([ForeverSource()], pipeline, queue_batches=8)
    timer = threading.Timer(0.3, runtime.stop.set)
    timer.start()
    started = time.monotonic()
    result = runtime.run()
    assert time.monotonic() - started < 5
    assert result.interrupted
    # everything that entered the queue was delivered
    assert pipeline.stats.total_in == len(sink.events)


def test_a_failing_source_is_reported_not_fatal() -> None:
    sink = ListSink()
    pipeline = Pipeline([], [sink])
    result = Runtime([BrokenSource(), IterableSource(iter(LINES))], pipeline).run()
    assert result.source_errors == {"broken": "OSError: disk on fire"}
    assert len(sink.events) == 3 + len(LINES)
