"""Hot reload under load: new filters apply between two batches, and no event is lost.

Events carry their position in the stream (as the process id) and cycle through three
namespaces. The first config drops namespace ``ns-a``, the second ``ns-b``; the reload
is requested while the source is emitting as fast as the pipeline takes it. Afterwards
there must be one point in the stream before which every event was judged by the old
filter and from which every event was judged by the new one, and every event must be
either written or counted as dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from edgewatch.agent import build_pipeline
from edgewatch.config import load_config
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.runtime import Pipeline, Runtime
from edgewatch.reload import ConfigReloader
from edgewatch.sources.base import Emit, RawBatch
from tests.conftest import ig_lines

NAMESPACES = ("ns-a", "ns-b", "ns-c")
BATCH = 250

CONFIG = """\
state_dir: {state}
sources: [{{type: file, path: /dev/null}}]
filters:
  exclude: {{namespaces: [{drop}]}}
sinks: []
dead_letter: {{enabled: false}}
"""


TEMPLATE = json.loads(ig_lines("trace_tcp")[0])


def tcp_line(seq: int) -> bytes:
    """An event from the container of pod ``api`` in one of three namespaces."""
    ns = NAMESPACES[seq % 3]
    TEMPLATE["k8s"]["namespace"] = ns
    TEMPLATE["runtime"]["containerId"] = f"{ns:0>64}"  # one container per namespace
    TEMPLATE["proc"]["pid"] = seq
    return json.dumps(TEMPLATE).encode()


class Collect:
    """A sink that remembers (position, namespace) of every event written."""

    name = "collect"
    columns = frozenset({"pid", "namespace"})

    def __init__(self) -> None:
        self.seen: list[tuple[int, str]] = []

    def write(self, batch: EventBatch) -> int:
        self.seen.extend((e.pid, e.namespace) for e in batch.events)
        return 0

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Stream:
    """Emits batches without pause; after ``trigger_at`` batches it calls ``trigger``
    once, and keeps emitting until ``done()`` holds, then ``tail`` batches more."""

    name = "stream"

    def __init__(self, trigger_at: int, trigger: object, done: object, tail: int) -> None:
        self.trigger_at = trigger_at
        self.trigger = trigger
        self.done = done
        self.tail = tail
        self.emitted = 0
        self.batches_before_done = 0

    def _batch(self, n: int) -> RawBatch:
        lines = [tcp_line(self.emitted + i) for i in range(n)]
        self.emitted += n
        return RawBatch(lines, self.name)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        batches = 0
        while not self.done():  # type: ignore[operator]
            emit(self._batch(BATCH))
            batches += 1
            if batches == self.trigger_at:
                self.trigger()  # type: ignore[operator]
            if batches > 10_000:
                raise AssertionError("the reload never happened")
        for _ in range(self.tail):
            emit(self._batch(BATCH))
        emit(RawBatch([], self.name, end_of_stream=True))


def write_config(path: Path, drop: str) -> None:
    path.write_text(CONFIG.format(state=path.parent / "state", drop=drop))


def _reloading(tmp_path: Path) -> tuple[Path, Collect, Pipeline, ConfigReloader]:
    """An agent config keeping namespace ns-a, its pipeline and a reloader watching it."""
    path = tmp_path / "agent.yaml"
    write_config(path, "ns-a")
    config = load_config(path)
    sink = Collect()
    pipeline, _ = build_pipeline(config, sinks=[sink])
    return path, sink, pipeline, ConfigReloader(path, config, pipeline, poll_interval=3600)


def test_filters_switch_between_two_batches_and_nothing_is_lost(tmp_path: Path) -> None:
    path, sink, pipeline, reloader = _reloading(tmp_path)

    def change_config() -> None:
        write_config(path, "ns-b")
        reloader.request()  # what SIGHUP does

    stream = Stream(trigger_at=20, trigger=change_config, done=lambda: reloader.applied, tail=20)
    runtime = Runtime([stream], pipeline, queue_batches=8)
    runtime.between_batches.append(reloader.apply_pending)
    reloader.start()
    try:
        result = runtime.run()
    finally:
        reloader.stop()
    pipeline.close()
    assert not result.source_errors
    assert reloader.applied == 1 and reloader.refused == 0

    total = stream.emitted
    kept = dict(sink.seen)
    assert len(kept) == len(sink.seen), "an event was written twice"
    # the new filter lets ns-a through and drops ns-b: the first ns-a event written and
    # the last ns-b one bracket the switch, which must be the start of a batch
    first_a = min(seq for seq, ns in sink.seen if ns == "ns-a")
    last_b = max(seq for seq, ns in sink.seen if ns == "ns-b")
    switch = first_a - first_a % BATCH
    assert last_b < switch <= first_a, "the switch must fall between two batches"
    assert 20 * BATCH <= switch < total - 20 * BATCH  # mid-stream, after the request
    expected = {
        seq
        for seq in range(total)
        if (NAMESPACES[seq % 3] != "ns-a" if seq < switch else NAMESPACES[seq % 3] != "ns-b")
    }
    assert set(kept) == expected
    # nothing lost: every event is written or counted as dropped by the filter
    dropped = sum(pipeline.stats.dropped.values())
    assert pipeline.stats.total_in == total
    assert len(kept) + dropped == total


def test_an_invalid_config_is_refused_and_the_old_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, sink, pipeline, reloader = _reloading(tmp_path)
    old_stages = list(pipeline.stages)

    path.write_text(path.read_text() + "filterz: {}\n")
    with caplog.at_level(logging.ERROR, logger="edgewatch.reload"):
        assert reloader.prepare() is False
    reloader.apply_pending()
    assert reloader.refused == 1 and reloader.applied == 0
    assert pipeline.stages == old_stages
    assert any("filterz" in r.getMessage() and ":7:" in r.getMessage() for r in caplog.records)
    assert any("keeping the running config" in r.getMessage() for r in caplog.records)

    # the old filter still holds
    pipeline.handle(RawBatch([tcp_line(0), tcp_line(1)], "s"))
    assert {ns for _, ns in sink.seen} == {"ns-b"}


def test_sections_that_need_a_restart_are_named_and_the_rest_applies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, sink, pipeline, reloader = _reloading(tmp_path)
    running = reloader.config

    write_config(path, "ns-c")
    path.write_text(path.read_text().replace("sinks: []", "sinks: [{type: stdout}]"))
    with caplog.at_level(logging.INFO, logger="edgewatch.reload"):
        assert reloader.prepare() is True
        reloader.apply_pending()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sinks take effect after a restart" in w for w in warnings)
    assert reloader.config.sinks == running.sinks  # still the running ones
    assert reloader.config.filters.exclude.namespaces == ["ns-c"]
    pipeline.handle(RawBatch([tcp_line(i) for i in range(3)], "s"))
    assert sorted(ns for _, ns in sink.seen) == ["ns-a", "ns-b"]


def test_a_changed_file_is_noticed_without_a_signal(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    write_config(path, "ns-a")
    config = load_config(path)
    pipeline, _ = build_pipeline(config, sinks=[Collect()])
    reloader = ConfigReloader(path, config, pipeline, poll_interval=0.02).start()
    try:
        # a ConfigMap update: the file is replaced, not rewritten in place
        new = tmp_path / "agent.yaml.new"
        new.write_text(CONFIG.format(state=tmp_path / "state", drop="ns-b") + "# v2\n")
        new.replace(path)
        for _ in range(250):
            reloader.apply_pending()
            if reloader.wait_applied(0.02):
                break
        assert reloader.applied == 1
        assert reloader.config.filters.exclude.namespaces == ["ns-b"]
    finally:
        reloader.stop()


def test_stages_the_config_drives_are_rebuilt_by_a_reload(tmp_path: Path) -> None:
    """Detection rules switched on in the file: the running pipeline gains the stage."""
    path = tmp_path / "agent.yaml"
    write_config(path, "ns-a")
    config = load_config(path)
    pipeline, _ = build_pipeline(config, sinks=[Collect()])
    assert [s.name for s in pipeline.stages] == ["filter"]
    reloader = ConfigReloader(path, config, pipeline, poll_interval=3600)
    path.write_text(path.read_text() + "detect: {enabled: true, sigma_builtin: false}\n")
    assert reloader.prepare() is True
    assert [s.name for s in pipeline.stages] == ["filter"]  # not before the batch boundary
    reloader.apply_pending()
    assert "detect" in [s.name for s in pipeline.stages]


ROUTED = """\
state_dir: {state}
sources: [{{type: file, path: /dev/null}}]
sinks: []
destinations:
  - {{name: a, endpoint: "https://a.westeurope-1.ingest.monitor.azure.com",
      dcr_immutable_id: dcr-0123456789abcdef0123456789abcdef}}
  - {{name: b, endpoint: "https://b.westeurope-1.ingest.monitor.azure.com",
      dcr_immutable_id: dcr-0123456789abcdef0123456789abcdee}}
routes:
  - {{match: {{namespace: [ns-a]}}, to: [{first}]}}
  - {{to: [{rest}]}}
"""


class Routing(Collect):
    """Stands in for the Azure sink: routes each event with the router it holds."""

    columns = None  # type: ignore[assignment]  # like the Azure sink: whole events

    def __init__(self, routes: object, destinations: list[str]) -> None:
        from edgewatch.pipeline.route import Router

        super().__init__()
        self.router = Router(routes, destinations)  # type: ignore[arg-type]
        self.to: list[tuple[str, str]] = []

    def write(self, batch: EventBatch) -> int:
        groups, _ = self.router.split(batch.events)
        self.to.extend((name, e.namespace) for name, events in groups.items() for e in events)
        return 0


def test_routes_are_swapped_between_batches(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(ROUTED.format(state=tmp_path / "s", first="a", rest="b"))
    config = load_config(path)
    sink = Routing(config.routes, ["a", "b"])
    pipeline, _ = build_pipeline(config, sinks=[sink])
    reloader = ConfigReloader(path, config, pipeline, poll_interval=3600)
    pipeline.handle(RawBatch([tcp_line(0), tcp_line(1)], "s"))
    path.write_text(ROUTED.format(state=tmp_path / "s", first="b", rest="a"))
    assert reloader.prepare() is True
    pipeline.handle(RawBatch([tcp_line(3), tcp_line(4)], "s"))  # before the swap: old routes
    reloader.apply_pending()
    pipeline.handle(RawBatch([tcp_line(6), tcp_line(7)], "s"))
    assert sink.to == [
        ("a", "ns-a"),
        ("b", "ns-b"),
        ("a", "ns-a"),
        ("b", "ns-b"),
        ("b", "ns-a"),
        ("a", "ns-b"),
    ]
